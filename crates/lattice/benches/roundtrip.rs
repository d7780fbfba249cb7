//! Request/reply over the in-process lattice and over NATS on loopback, side by side: the
//! transport cost every control call, API call and (later) cross-host component call pays.
//!
//! `cargo bench -p trellis-lattice --bench roundtrip -- --nats nats://127.0.0.1:4222 [--requests N]`
//! (`benches/lattice.sh` starts a nats-server and writes the report.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use trellis_lattice::{InProcess, Lattice, Message, Nats, NatsOptions, respond};

const PAYLOAD: usize = 64;
const CONCURRENCY: usize = 32;

struct Figures {
    p50_us: f64,
    p99_us: f64,
    sequential_per_s: f64,
    concurrent_per_s: f64,
}

async fn measure(lattice: Arc<dyn Lattice>, requests: usize) -> Figures {
    let mut server = lattice.subscribe("bench.echo", Some("bench")).await.unwrap();
    let responder = lattice.clone();
    tokio::spawn(async move {
        while let Some(m) = server.next().await {
            let _ = respond(responder.as_ref(), &m, m.payload.clone()).await;
        }
    });
    let body = vec![7u8; PAYLOAD];
    let call = |lattice: Arc<dyn Lattice>, body: Vec<u8>| async move {
        lattice.request(Message::new("bench.echo", body), Duration::from_secs(5)).await.unwrap();
    };
    for _ in 0..requests / 10 {
        call(lattice.clone(), body.clone()).await;
    }
    let mut latencies = Vec::with_capacity(requests);
    let started = Instant::now();
    for _ in 0..requests {
        let t = Instant::now();
        call(lattice.clone(), body.clone()).await;
        latencies.push(t.elapsed());
    }
    let sequential = requests as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64() * 1e6;

    let started = Instant::now();
    let per_task = requests / CONCURRENCY;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (lattice, body) = (lattice.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..per_task {
                    call(lattice.clone(), body.clone()).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let concurrent = (per_task * CONCURRENCY) as f64 / started.elapsed().as_secs_f64();
    Figures { p50_us: at(0.50), p99_us: at(0.99), sequential_per_s: sequential, concurrent_per_s: concurrent }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let url = value("--nats").expect("--nats nats://HOST:PORT");
    let requests: usize = value("--requests").map_or(20_000, |n| n.parse().expect("--requests N"));

    let in_process = measure(Arc::new(InProcess::new()), requests).await;
    let nats = Nats::connect(&NatsOptions { url, name: "bench".into(), ..Default::default() }).await.unwrap();
    let over_nats = measure(Arc::new(nats), requests).await;

    println!("| lattice | p50 µs | p99 µs | sequential req/s | {CONCURRENCY} concurrent req/s |");
    println!("|---|---|---|---|---|");
    for (name, f) in [("in-process", &in_process), ("NATS (loopback)", &over_nats)] {
        println!("| {name} | {:.1} | {:.1} | {:.0} | {:.0} |", f.p50_us, f.p99_us, f.sequential_per_s, f.concurrent_per_s);
    }
    println!();
    println!(
        "NATS / in-process: p50 {:.1}×, concurrent throughput {:.2}× ({requests} requests of {PAYLOAD} bytes each way)",
        over_nats.p50_us / in_process.p50_us,
        over_nats.concurrent_per_s / in_process.concurrent_per_s
    );
}
