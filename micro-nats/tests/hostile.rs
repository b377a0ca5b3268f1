//! Hostile input from the network: messages no well-behaved client sends, written byte by byte
//! on a raw connection. None of them may stop a micro process from serving: a malformed message
//! costs that one message (answered with a 400 when it can be, and counted), never the
//! connection.

mod common;

use std::time::Duration;

use common::*;
use micro_core::codec::ContentType;
use micro_core::registry::Registry;
use test_support::{NatsServer, RawNats};

/// Header blocks async-nats 0.51 could not read: the first panicked its reader task (every
/// subscription of the process stopped for good), the others dropped the connection.
const MALFORMED_HEADERS: &[(&str, &[u8])] = &[
    ("a bare CR in a value", b"NATS/1.0\r\nX: a\rb\r\n\r\n"),
    ("a line without a colon", b"NATS/1.0\r\nnocolon\r\n\r\n"),
    ("a status that is not a number", b"NATS/1.0 abc\r\n\r\n"),
    ("a bad version", b"NATS/2.0\r\nX: y\r\n\r\n"),
    ("NUL in a name", b"NATS/1.0\r\nX\0Y: z\r\n\r\n"),
    ("a space in a name", b"NATS/1.0\r\nX Y: z\r\n\r\n"),
    ("non-UTF-8 in a value", b"NATS/1.0\r\nX: \xff\xfe\r\n\r\n"),
    ("non-UTF-8 in a name", b"NATS/1.0\r\n\xff: z\r\n\r\n"),
    ("no version line", b"\r\n\r\n"),
];

/// Runs `f` on a blocking thread: the raw connection blocks, the services under test must not.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the blocking part ran")
}

/// The first value of `name` in a raw header block.
fn raw_header(block: &str, name: &str) -> Option<String> {
    block.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

async fn assert_still_serving(nats: &micro_nats::Nats, server: &NatsServer) {
    let shapes = ShapesClient::new(&nats.micro_client());
    assert_eq!(shapes.nothing().await.unwrap(), "nothing");
    // `$SRV` answers too (its subscriptions are separate from the endpoints').
    let raw = raw(server).await;
    let ping = raw.request("$SRV.PING.shapes", "".into()).await.unwrap();
    assert!(
        String::from_utf8_lossy(&ping.payload).contains("io.nats.micro.v1.ping_response"),
        "{ping:?}"
    );
    let health = nats.health();
    assert!(health.healthy(), "{health:?}");
    assert_eq!(
        health.connects, 1,
        "the connection was never replaced: {health:?}"
    );
}

#[tokio::test]
async fn malformed_headers_on_a_request_get_a_400_and_cost_nothing_else() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let port = server.port();
    let answers = blocking(move || {
        let mut attacker = RawNats::connect(port).unwrap();
        attacker.subscribe("_INBOX.attacker.>", 1).unwrap();
        let mut answers = Vec::new();
        for (i, (what, block)) in MALFORMED_HEADERS.iter().enumerate() {
            let reply = format!("_INBOX.attacker.{i}");
            attacker
                .hpub(b"shapes.nothing", Some(reply.as_bytes()), block, b"{}")
                .unwrap();
            let answer = attacker
                .next_message(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{what}: no answer ({e})"));
            assert_eq!(answer.subject, reply, "{what}");
            answers.push((*what, answer));
        }
        answers
    })
    .await;
    for (what, answer) in answers {
        let headers = answer.headers_text();
        assert_eq!(
            raw_header(&headers, "Nats-Service-Error-Code").as_deref(),
            Some("400"),
            "{what}: {headers}"
        );
        let description = raw_header(&headers, "Nats-Service-Error").unwrap_or_default();
        assert!(
            description.contains("malformed") && description.contains("shapes.nothing"),
            "{what}: {description}"
        );
    }
    assert_still_serving(&nats, &server).await;
    let health = nats.health();
    assert_eq!(health.malformed_messages, MALFORMED_HEADERS.len() as u64);
    // Counted in STATS like any other refused request.
    let stats = nats.registry().stats(Some("shapes")).await.unwrap();
    let nothing = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "nothing")
        .unwrap();
    assert_eq!(nothing.num_errors, MALFORMED_HEADERS.len() as u64);
    running.stop().await;
}

#[tokio::test]
async fn malformed_headers_sent_to_every_instance_at_once_stop_none_of_them() {
    let server = NatsServer::start();
    // Two instances, each on its own connection, as two processes would be.
    let (a, b) = (connect(&server).await, connect(&server).await);
    let (ra, rb) = (serve_shapes(&a).await, serve_shapes(&b).await);
    let port = server.port();
    blocking(move || {
        let mut attacker = RawNats::connect(port).unwrap();
        for (_, block) in MALFORMED_HEADERS {
            // Every instance subscribes to `$SRV.PING`: one message reaches them all.
            attacker
                .hpub(b"$SRV.PING", Some(b"_INBOX.x"), block, b"")
                .unwrap();
            attacker.hpub(b"$SRV.INFO", None, block, b"").unwrap();
            // A request without a reply subject.
            attacker
                .hpub(b"shapes.nothing", None, block, b"{}")
                .unwrap();
        }
        attacker.sync().unwrap();
    })
    .await;
    // Messages are routed in order: what `sync` saw, the instances have seen once their
    // connections have (a round trip of their own).
    for nats in [&a, &b] {
        sync(nats.client()).await;
        assert_still_serving(nats, &server).await;
    }
    let malformed = a.health().malformed_messages + b.health().malformed_messages;
    // Each instance saw both `$SRV` messages; the queue group gave each request to one of them.
    assert_eq!(malformed, 5 * MALFORMED_HEADERS.len() as u64);
    ra.stop().await;
    rb.stop().await;
}

#[tokio::test]
async fn a_subject_or_reply_that_is_not_utf8_costs_one_message() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let port = server.port();
    blocking(move || {
        let mut attacker = RawNats::connect(port).unwrap();
        attacker
            .publish(b"shapes.nothing", Some(b"_INBOX.\xff\xfe"), b"{}")
            .unwrap();
        attacker
            .hpub(
                b"shapes.nothing",
                Some(b"_INBOX.\xff"),
                b"NATS/1.0\r\n\r\n",
                b"{}",
            )
            .unwrap();
        attacker.sync().unwrap();
    })
    .await;
    sync(nats.client()).await;
    assert_still_serving(&nats, &server).await;
    assert_eq!(nats.health().malformed_messages, 2);
    running.stop().await;
}

#[tokio::test]
async fn a_malformed_reply_fails_that_call_with_502_and_the_caller_keeps_its_connection() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    // A fake `evil.echo` endpoint that answers each request with the next malformed block.
    let mut evil = RawNats::connect(server.port()).unwrap();
    evil.subscribe("evil.echo", 1).unwrap();
    evil.sync().unwrap();
    let answering = tokio::task::spawn_blocking(move || {
        for (what, block) in MALFORMED_HEADERS {
            let request = evil
                .next_message(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{what}: no request ({e})"));
            let reply = request.reply.expect("a request has a reply subject");
            evil.hpub(reply.as_bytes(), None, block, b"\"hi\"").unwrap();
        }
    });
    let client = nats.micro_client().with_timeout(Duration::from_secs(5));
    for (what, _) in MALFORMED_HEADERS {
        let err = client
            .call_raw("evil", "echo", ContentType::Json, "{}".into())
            .await
            .unwrap_err();
        assert_eq!(err.code, 502, "{what}: {err}");
        assert!(err.detail.contains("evil.echo"), "{what}: {err}");
    }
    answering.await.unwrap();
    assert_still_serving(&nats, &server).await;
    running.stop().await;
}

#[tokio::test]
async fn a_connection_that_stops_reading_is_reported_and_ends_the_service() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    assert!(nats.health().healthy());
    let lost = running.lost();
    // The one way left to stop async-nats's reader from outside: drain the whole connection,
    // which ends its reader task and every subscription while the client still says
    // `Connected` (what a panicking reader did).
    nats.client().drain().await.unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), lost)
        .await
        .expect("the service notices within 5 s");
    assert_eq!(lost.code, 503, "{lost}");
    assert!(lost.detail.contains("shapes"), "{lost}");
    let health = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let health = nats.health();
            if health.reader_stopped {
                return health;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the watchdog notices within 5 s");
    assert!(!health.healthy(), "{health:?}");
    // Calls fail at once with a clear error instead of waiting for their deadline.
    let started = std::time::Instant::now();
    let err = ShapesClient::new(&nats.micro_client())
        .nothing()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{err}");
    assert_eq!(err.code, 503, "{err}");
    running.stop().await;
}

/// A MessagePack map `{"skip": <depth nested arrays>}`: no header needed, a map shows its codec.
fn deeply_nested_msgpack(depth: usize) -> Vec<u8> {
    let mut body = vec![0x81, 0xa4];
    body.extend_from_slice(b"skip");
    body.extend(std::iter::repeat_n(0x91, depth));
    body.push(0xc0);
    body
}

#[tokio::test]
async fn deeply_nested_msgpack_is_a_400_not_a_stack_overflow() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let raw = raw(&server).await;
    for depth in [700, 5_000, 100_000] {
        // `nothing` takes no arguments: the nesting sits in a field the decoder skips.
        let answer = raw
            .request("shapes.nothing", deeply_nested_msgpack(depth).into())
            .await
            .unwrap();
        assert_eq!(
            header(&answer, "Nats-Service-Error-Code"),
            Some("400"),
            "{depth}"
        );
        assert!(
            header(&answer, "Nats-Service-Error")
                .unwrap()
                .contains("depth"),
            "{depth}: {answer:?}"
        );
    }
    assert_still_serving(&nats, &server).await;
    running.stop().await;
}

#[tokio::test]
async fn a_deeply_nested_reply_is_a_502_for_the_caller() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let raw = raw(&server).await;
    let mut requests = raw.subscribe("evil.deep").await.unwrap();
    sync(&raw).await;
    let answering = tokio::spawn(async move {
        use futures::StreamExt;
        let request = requests.next().await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Content-Type", "application/msgpack");
        raw.publish_with_headers(
            request.reply.unwrap(),
            headers,
            deeply_nested_msgpack(5_000).into(),
        )
        .await
        .unwrap();
        raw.flush().await.unwrap();
    });
    let err = nats
        .micro_client()
        .invoke::<_, serde_json::Value>("evil", "deep", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code, 502, "{err}");
    assert!(err.detail.contains("depth"), "{err}");
    answering.await.unwrap();
    assert_still_serving(&nats, &server).await;
    running.stop().await;
}

/// A tiny deterministic generator (xorshift), so a failing case can be replayed by its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }

    /// A header block built from the pieces parsers trip over.
    fn header_block(&mut self) -> Vec<u8> {
        const PIECES: &[&[u8]] = &[
            b"NATS/1.0",
            b"NATS/1.0 ",
            b"NATS/1.0 503",
            b"NATS/1.0 9",
            b"NATS/2.0",
            b"nats/1.0",
            b"\r\n",
            b"\r",
            b"\n",
            b":",
            b": ",
            b" ",
            b"\t",
            b"\0",
            b"\xff",
            b"\xc3\x28",
            b"X",
            b"Content-Type",
            b"Micro-Timeout",
            b"Nats-Service-Error-Code",
            b"application/msgpack",
            b"18446744073709551616",
            b"-1",
            b"a",
            b"\xe2\x82\xac",
        ];
        let mut block = Vec::new();
        if !self.next().is_multiple_of(4) {
            block.extend_from_slice(b"NATS/1.0\r\n");
        }
        for _ in 0..(self.next() % 12) {
            block.extend_from_slice(self.pick(PIECES));
        }
        // Most blocks end as the protocol says; the rest end anywhere.
        if !self.next().is_multiple_of(3) {
            block.extend_from_slice(b"\r\n\r\n");
        }
        block
    }
}

#[tokio::test]
async fn a_generated_set_of_hostile_header_blocks_stops_nothing() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let port = server.port();
    let sent = blocking(move || {
        let mut attacker = RawNats::connect(port).unwrap();
        let mut blocks = Gen(0x9e37_79b9_7f4a_7c15);
        for i in 0..600 {
            let block = blocks.header_block();
            let subject: &[u8] = match i % 3 {
                0 => b"$SRV.PING",
                1 => b"shapes.nothing",
                _ => b"$SRV.STATS.shapes",
            };
            let payload: &[u8] = if i % 2 == 0 { b"{}" } else { b"\x81\xa1a\xc0" };
            attacker
                .hpub(subject, Some(b"_INBOX.gen"), &block, payload)
                .unwrap();
        }
        attacker.sync().unwrap();
        600
    })
    .await;
    sync(nats.client()).await;
    assert_still_serving(&nats, &server).await;
    let health = nats.health();
    eprintln!(
        "{sent} generated header blocks: {} malformed, connection kept",
        health.malformed_messages
    );
    assert!(health.malformed_messages > 0, "{health:?}");
    running.stop().await;
}
