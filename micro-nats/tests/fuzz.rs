//! Property tests of what the network can send a service: generated bodies (random bytes, deep
//! nesting, numbers at and past their limits, MessagePack) and headers (`Content-Type`,
//! `Micro-Timeout`, metadata, anything) sent raw to every endpoint of a real service. Every
//! request must get an answer (a reply or a structured error with its code), and the service
//! must still serve afterwards. Bounded: a fixed number of cases, each with a 5 s limit.

mod common;

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use proptest::prelude::*;
use test_support::NatsServer;

const ENDPOINTS: &[&str] = &[
    "nothing", "several", "structs", "options", "nested", "unit", "bytes", "context", "slow",
];

/// A body: random bytes, nesting past every depth limit (JSON and MessagePack), or a JSON
/// object whose fields hold edge values.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let edge = prop_oneof![
        Just("null".to_owned()),
        Just("-9223372036854775809".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e400".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("\"\u{10ffff}\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\\PC{0,16}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ];
    let field = prop_oneof![
        Just("a"),
        Just("b"),
        Just("c"),
        Just("d"),
        Just("p"),
        Just("maybe"),
        Just("v"),
        Just("data"),
        Just("key"),
        Just("millis"),
        Just("x"),
        Just("y"),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        (1usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        (1usize..5000).prop_map(|n| {
            let mut v = vec![0x81, 0xa1, b'a'];
            v.extend(std::iter::repeat_n(0x91, n));
            v.push(0xc0);
            v
        }),
        proptest::collection::btree_map(field, edge, 0..6).prop_map(|fields| {
            let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", inner.join(",")).into_bytes()
        }),
    ]
}

/// Header values NATS can carry (no CR or LF).
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_owned()),
        Just("application/msgpack".to_owned()),
        Just("text/plain; charset=utf-8".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("99999999999999999999999".to_owned()),
        (0u64..10_000_000).prop_map(|n| n.to_string()),
        "[ -~]{0,40}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("Content-Type".to_owned()),
        Just("Micro-Timeout".to_owned()),
        Just("Micro-Attempt".to_owned()),
        Just("X-Micro-User".to_owned()),
        Just("Nats-Service-Error-Code".to_owned()),
        "[A-Za-z][A-Za-z0-9-]{0,20}",
    ];
    proptest::collection::vec((name, header_value()), 0..4)
}

#[test]
fn every_generated_request_is_answered_and_the_service_keeps_serving() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = NatsServer::start();
    let (raw, running, _nats) = runtime.block_on(async {
        let nats = common::connect(&server).await;
        let running = common::serve_shapes(&nats).await;
        (common::raw(&server).await, running, nats)
    });
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(endpoint in proptest::sample::select(ENDPOINTS), body in body(), headers in headers())| {
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            map.insert(name.as_str(), value.as_str());
        }
        if endpoint == "slow" {
            // `slow` sleeps for as long as it is asked (a generated `millis` may be years), and
            // a call without a deadline may wait for it: bound it within the test's wait, so
            // that such a case is answered (a 408) rather than counted as unanswered.
            map.insert("Micro-Timeout", "1000");
        }
        let subject = format!("shapes.{endpoint}");
        let reply = runtime.block_on(async {
            let request = async_nats::Request::new()
                .payload(Bytes::from(body.clone()))
                .headers(map)
                .timeout(Some(Duration::from_secs(5)));
            raw.send_request(subject, request).await
        });
        let reply = match reply {
            Ok(reply) => reply,
            // A `Micro-Timeout` that ran out on arrival is answered, and so is everything
            // else: no request may go unanswered.
            Err(err) => return Err(TestCaseError::fail(format!("no answer: {err}"))),
        };
        if let Some(code) = common::header(&reply, "Nats-Service-Error-Code") {
            let code: u16 = code.parse().map_err(|_| TestCaseError::fail("a code that is not a number"))?;
            prop_assert!((400..600).contains(&code), "code {code}");
        }
    });
    // Still serving, and its counters add up.
    runtime.block_on(async {
        let reply = raw
            .request(
                "shapes.several",
                r#"{"a":1,"b":2.5,"c":true,"d":"x"}"#.into(),
            )
            .await
            .expect("still answers");
        assert!(common::header(&reply, "Nats-Service-Error-Code").is_none());
        running.stop().await;
    });
}
