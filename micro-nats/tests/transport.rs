//! Request/reply over a real nats-server: shapes, codecs, errors, load sharing, metadata and
//! deadlines.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use micro_core::codec::ContentType;
use micro_core::prelude::*;
use micro_core::registry::Registry as _;
use micro_core::service::{Backend, Config};
use test_support::NatsServer;

#[tokio::test]
async fn every_shape_in_both_codecs() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    // A second connection as the caller, so the call really crosses the server.
    let caller = connect(&server).await.micro_client();
    for codec in [ContentType::Json, ContentType::MsgPack] {
        let c = ShapesClient::new(&caller.with_content_type(codec));
        assert_eq!(c.nothing().await.unwrap(), "nothing");
        assert_eq!(
            c.several(-7, 2.5, true, 'λ').await.unwrap(),
            "-7|2.5|true|λ"
        );
        assert_eq!(
            c.structs(Point { x: 1, y: 2 }).await.unwrap(),
            Point { x: 2, y: 1 }
        );
        assert_eq!(c.options(Some(4)).await.unwrap(), Some(8));
        assert_eq!(c.options(None).await.unwrap(), None);
        let shape = Shape {
            name: "tri".into(),
            points: vec![Point { x: 0, y: 0 }, Point { x: 1, y: 1 }],
            tags: BTreeMap::from([("a".to_owned(), Some(1)), ("b".to_owned(), None)]),
            kind: Kind::Closed { filled: true },
        };
        let (back, n) = c
            .nested(shape.clone(), vec![Some(vec![1, 2]), None, Some(vec![3])])
            .await
            .unwrap();
        assert_eq!((back, n), (shape, 3));
        c.unit(1).await.unwrap();
        let err = c.unit(0).await.unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert_eq!(err.detail(), "v must be positive");
        assert_eq!(err.id(), "shapes.unit");
        assert_eq!(c.bytes(vec![0, 255, 7]).await.unwrap(), vec![7, 255, 0]);
    }
    running.stop().await;
}

#[tokio::test]
async fn error_replies_carry_both_headers_and_the_structured_body() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let raw = raw(&server).await;
    // Plain JSON, no Content-Type: what any NATS client would send.
    let ok = raw
        .request(
            "shapes.several",
            r#"{"a":1,"b":0.5,"c":false,"d":"x"}"#.into(),
        )
        .await
        .unwrap();
    assert_eq!(&ok.payload[..], br#""1|0.5|false|x""#);
    // A plain JSON request gets a plain JSON reply: no headers to route or parse.
    assert!(ok.headers.is_none(), "{:?}", ok.headers);
    // A request that names its codec gets a reply that names it too.
    let mut labelled = async_nats::HeaderMap::new();
    labelled.insert("Content-Type", "application/json");
    let ok = raw
        .request_with_headers("shapes.nothing", labelled, "{}".into())
        .await
        .unwrap();
    assert_eq!(&ok.payload[..], br#""nothing""#);
    assert_eq!(header(&ok, "Content-Type"), Some("application/json"));
    assert_eq!(header(&ok, "Nats-Service-Error"), None);

    let msg = raw
        .request("shapes.unit", r#"{"v":0}"#.into())
        .await
        .unwrap();
    assert_eq!(
        header(&msg, "Nats-Service-Error"),
        Some("v must be positive")
    );
    assert_eq!(header(&msg, "Nats-Service-Error-Code"), Some("400"));
    assert_eq!(header(&msg, "Content-Type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"id": "shapes.unit", "code": 400, "detail": "v must be positive", "status": "Bad Request"})
    );

    // In MessagePack the body is the same error in MessagePack.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/msgpack");
    let args = ContentType::MsgPack
        .encode(&serde_json::json!({"v": 0}))
        .unwrap();
    let msg = raw
        .request_with_headers("shapes.unit", headers, args)
        .await
        .unwrap();
    assert_eq!(header(&msg, "Nats-Service-Error-Code"), Some("400"));
    assert_eq!(header(&msg, "Content-Type"), Some("application/msgpack"));
    let err: Error = ContentType::MsgPack.decode(&msg.payload).unwrap();
    assert_eq!((err.code(), err.id()), (400, "shapes.unit"));

    // A MessagePack map shows its codec: sent without a header, it is answered in MessagePack,
    // also without one (the caller reads an unlabelled reply in its request's codec).
    let args = ContentType::MsgPack
        .encode(&serde_json::json!({"a": 2, "b": 1.5, "c": true, "d": "y"}))
        .unwrap();
    let msg = raw.request("shapes.several", args).await.unwrap();
    assert!(msg.headers.is_none(), "{:?}", msg.headers);
    let reply: String = ContentType::MsgPack.decode(&msg.payload).unwrap();
    assert_eq!(reply, "2|1.5|true|y");

    // Undecodable arguments are the caller's fault, also with both headers.
    let msg = raw.request("shapes.unit", "not json".into()).await.unwrap();
    assert_eq!(header(&msg, "Nats-Service-Error-Code"), Some("400"));
    assert!(
        header(&msg, "Nats-Service-Error")
            .unwrap()
            .contains("shapes.unit")
    );
    running.stop().await;
}

#[tokio::test]
async fn unknown_content_type_is_answered_with_415() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let raw = raw(&server).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "text/xml");
    let msg = raw
        .request_with_headers("shapes.nothing", headers, "<x/>".into())
        .await
        .unwrap();
    assert_eq!(header(&msg, "Nats-Service-Error-Code"), Some("415"));
    assert!(
        header(&msg, "Nats-Service-Error")
            .unwrap()
            .contains("text/xml")
    );
    // Counted like any other failed request.
    let stats = nats.registry().stats(Some("shapes")).await.unwrap();
    let nothing = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "nothing")
        .unwrap();
    assert_eq!((nothing.num_requests, nothing.num_errors), (1, 1));
    assert!(
        nothing.last_error.starts_with("415:"),
        "{}",
        nothing.last_error
    );
    running.stop().await;
}

#[tokio::test]
async fn unknown_service_or_endpoint_is_unavailable_naming_it() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let client = nats.micro_client();
    let started = Instant::now();
    let err = client
        .call_raw("shapes", "nope", ContentType::Json, Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(
        err.detail().contains("`shapes`") && err.detail().contains("`nope`"),
        "{err}"
    );
    let err = client
        .call_raw("greeter", "hello", ContentType::Json, Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
    assert!(
        err.detail().contains("`greeter`") && err.detail().contains("`hello`"),
        "{err}"
    );
    assert_eq!(err.id(), "greeter.hello");
    // No responders comes back at once, not at the deadline.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Names that cannot be subjects are refused before anything is sent.
    let err = client
        .call_raw("bad service", "x", ContentType::Json, Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("whitespace"), "{err}");
    running.stop().await;
}

#[tokio::test]
async fn two_instances_share_the_load() {
    let server = NatsServer::start();
    let a = serve_who(&connect(&server).await, "a").await;
    let b = serve_who(&connect(&server).await, "b").await;
    let client = WhoClient::new(&connect(&server).await.micro_client());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..60 {
        *seen.entry(client.who().await.unwrap()).or_default() += 1;
    }
    assert_eq!(seen.values().sum::<usize>(), 60);
    assert!(seen.get("a").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(seen.get("b").copied().unwrap_or(0) > 0, "{seen:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn metadata_and_deadline_travel_with_the_call() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let client = connect(&server)
        .await
        .micro_client()
        .with_metadata("X-User", "alice")
        .with_timeout(Duration::from_secs(3));
    let c = ShapesClient::new(&client);
    let (user, left) = c.context("x-user".into()).await.unwrap();
    assert_eq!(user.as_deref(), Some("alice"));
    let left = left.expect("the deadline reaches the handler");
    assert!(left > 2_000 && left <= 3_000, "{left} ms left");
    running.stop().await;
}

#[tokio::test]
async fn a_passed_deadline_is_a_timeout_naming_the_endpoint() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let client = nats.micro_client().with_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = ShapesClient::new(&client).slow(2_000).await.unwrap_err();
    assert_eq!(err.code(), 408, "{err}");
    assert!(err.to_string().contains("shapes.slow"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    running.stop().await;
}

#[tokio::test]
async fn requests_are_handled_concurrently() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let c = ShapesClient::new(&nats.micro_client());
    let started = Instant::now();
    let calls = (0..20).map(|_| c.slow(300));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap(), 300);
    }
    // Twenty 300 ms calls in well under twenty times 300 ms.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    running.stop().await;
}

#[tokio::test]
async fn stop_lets_calls_in_flight_finish() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let c = ShapesClient::new(&connect(&server).await.micro_client());
    let call = tokio::spawn(async move { c.slow(400).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.stop().await;
    assert_eq!(call.await.unwrap().unwrap(), 400);
    // And nobody serves afterwards.
    let err = ShapesClient::new(&nats.micro_client())
        .nothing()
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
}

#[tokio::test]
async fn from_config_picks_nats_when_the_url_is_set() {
    micro_nats::install();
    let server = NatsServer::start();
    let config = Config::from_pairs([("nats-url", server.url())]);
    assert_eq!(config.backend_name(), "nats");
    let backend = Backend::from_config(&config).await.expect("nats backend");
    let running = Service::with_config(config)
        .backend(backend.clone())
        .only_explicit()
        .handle(ShapesServer::new(ShapesImpl))
        .start()
        .await
        .unwrap();
    let subject = running.instances()[0].endpoints[0].subject.clone();
    assert_eq!(subject, "shapes.nothing");
    let c = ShapesClient::new(&connect(&server).await.micro_client());
    assert_eq!(c.nothing().await.unwrap(), "nothing");
    running.stop().await;
}

#[tokio::test]
async fn a_subject_prefix_applies_to_every_endpoint() {
    let server = NatsServer::start();
    let options = micro_nats::NatsOptions::new()
        .url(&server.url())
        .prefix("acme.prod");
    let nats = micro_nats::Nats::connect(options).await.unwrap();
    let running = serve_shapes(&nats).await;
    assert_eq!(
        running.instances()[0].endpoints[0].subject,
        "acme.prod.shapes.nothing"
    );
    let raw = raw(&server).await;
    let msg = raw
        .request("acme.prod.shapes.nothing", Bytes::new())
        .await
        .unwrap();
    assert_eq!(&msg.payload[..], br#""nothing""#);
    assert_eq!(
        ShapesClient::new(&nats.micro_client())
            .nothing()
            .await
            .unwrap(),
        "nothing"
    );
    running.stop().await;
}

#[tokio::test]
async fn without_a_queue_group_every_instance_gets_every_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);
    impl Who for Counting {
        async fn who(&self) -> Result<String, Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok("x".into())
        }
    }

    let server = NatsServer::start();
    let (a, b) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut running = Vec::new();
    for counter in [&a, &b] {
        running.push(
            Service::builder()
                .backend(connect(&server).await.backend())
                .only_explicit()
                .queue_group(None)
                .handle(WhoServer::new(Counting(counter.clone())))
                .start()
                .await
                .unwrap(),
        );
    }
    assert_eq!(running[0].instances()[0].endpoints[0].queue_group, "");
    let client = WhoClient::new(&connect(&server).await.micro_client());
    for _ in 0..10 {
        client.who().await.unwrap();
    }
    // The caller takes the first reply; the other instance's reply is dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)) != (10, 10) {
        assert!(Instant::now() < deadline, "{a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for r in running {
        r.stop().await;
    }
}

#[tokio::test]
async fn an_oversized_reply_is_a_413_not_a_timeout() {
    let server = NatsServer::start_with_config("max_payload: 4096");
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let c = ShapesClient::new(&connect(&server).await.micro_client());
    // The request fits, the reply (bytes as a JSON array, ~4 chars each) does not.
    let err = c.bytes(vec![255; 2000]).await.unwrap_err();
    assert_eq!(err.code(), 413, "{err}");
    // A request that is too large is refused before sending.
    let err = c.bytes(vec![255; 8000]).await.unwrap_err();
    assert_eq!(err.code(), 413, "{err}");
    running.stop().await;
}

/// Not a test of behaviour: prints round-trip figures (`cargo test -p micro-nats --release
/// --test transport -- --ignored --nocapture throughput`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn throughput() {
    let server = NatsServer::start();
    let running = serve_shapes(&connect(&server).await).await;
    let c = ShapesClient::new(&connect(&server).await.micro_client());
    for _ in 0..100 {
        c.nothing().await.unwrap();
    }
    let n = 2_000;
    let started = Instant::now();
    for _ in 0..n {
        c.nothing().await.unwrap();
    }
    let sequential = started.elapsed();
    let started = Instant::now();
    let calls = (0..n).map(|_| c.structs(Point { x: 1, y: 2 }));
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let concurrent = started.elapsed();
    eprintln!(
        "sequential: {:?} per call; {n} concurrent: {:?} total, {:.0} calls/s",
        sequential / n,
        concurrent,
        f64::from(n) / concurrent.as_secs_f64()
    );
    running.stop().await;
}
