//! Serves `trellis:calls/greeter@0.1.0`, the unversioned `trellis:plain/echo` and, as
//! wasmCloud's examples do, `wasmcloud:examples/invoke` to other components: what a call
//! between components reaches.

wit_bindgen::generate!({ path: "../wit", world: "trellis:guests/callee", generate_all });

use exports::trellis::calls::greeter::{Greeting, Guest, Mood, Shape, Style};

struct Callee;

impl Guest for Callee {
    fn greet(name: String, times: u32) -> Greeting {
        Greeting { text: vec![format!("Hello, {name}!"); times as usize].join(" "), count: times, loud: times > 2 }
    }

    #[expect(clippy::too_many_arguments, reason = "the WIT function exercises every kind of value")]
    fn describe(mood: Mood, shape: Shape, tags: Vec<String>, maybe: Option<u16>, style: Style, c: char, small: i8, big: u64, neg: i32, f: f32) -> Result<String, String> {
        if mood == Mood::Grumpy {
            return Err(format!("grumpy about {}", tags.join("+")));
        }
        let shape = match shape {
            Shape::Circle(r) => format!("circle({r})"),
            Shape::Square((a, b)) => format!("square({a},{b})"),
            Shape::Dot => "dot".into(),
        };
        let mut styles = Vec::new();
        for (flag, name) in [(Style::BOLD, "bold"), (Style::ITALIC, "italic"), (Style::UNDERLINE, "underline")] {
            if style.contains(flag) {
                styles.push(name);
            }
        }
        let maybe = maybe.map_or("none".into(), |m| m.to_string());
        Ok(format!("{shape} [{}] {maybe} {} {c} {small} {big} {neg} {f}", tags.join(","), styles.join("|")))
    }

    fn fail() -> String {
        panic!("the callee fails on purpose")
    }

    fn spin() -> u64 {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
            if n == u64::MAX {
                return n;
            }
        }
    }
}

impl exports::trellis::plain::echo::Guest for Callee {
    fn echo(data: Vec<u8>) -> Vec<u8> {
        data.into_iter().rev().collect()
    }
}

impl exports::wasmcloud::examples::invoke::Guest for Callee {
    fn call() -> String {
        "invoked".into()
    }
}

export!(Callee);
