//! The server's token rotated under a running service: the service says what is wrong, backs
//! off instead of retrying a few times a second, reports itself not connected, fails calls at
//! once, and recovers by itself when the server takes its token again. In a file of its own:
//! it counts the process's log lines.

mod common;

use std::time::{Duration, Instant};

use common::*;
use micro_nats::{Nats, NatsOptions};
use test_support::NatsServer;

/// How long the service is left facing the rotated token.
const REFUSED_FOR: Duration = Duration::from_secs(8);

/// A line async-nats logs (at debug) per connection attempt.
const ATTEMPT: &str = "connecting to server";
/// The line micro logs while the server refuses the credentials.
const REFUSED: &str = "refuses this process's credentials";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_is_reported_backed_off_and_recovered_from() {
    let logs = Logs::capture("warn,micro_nats=info,async_nats::connector=debug");
    let mut server = NatsServer::start_with_token("before");
    let nats = Nats::connect(
        NatsOptions::new()
            .url(&server.url())
            .token("before")
            .discovery_timeout(Duration::from_millis(250)),
    )
    .await
    .expect("connects with the server's token");
    let running = serve_who(&nats, "w").await;
    let caller = Nats::connect(NatsOptions::new().url(&server.url()).token("before"))
        .await
        .unwrap();
    drop(caller);
    let who = WhoClient::new(&nats.micro_client());
    assert_eq!(who.who().await.unwrap(), "w");
    let attempts_before = logs.lines(ATTEMPT).len();

    // Rotated: same port, another token.
    server.restart_with_token(Some("after"));
    let rotated = Instant::now();
    let mut saw_disconnected = false;
    let mut fast_failures = 0;
    while rotated.elapsed() < REFUSED_FOR {
        let health = nats.health();
        if !health.connected {
            saw_disconnected = true;
            assert!(!health.healthy());
            // A call while refused fails at once, not at its deadline.
            let started = Instant::now();
            let err = who.who().await.unwrap_err();
            assert_eq!(err.code, 503, "{err}");
            assert!(started.elapsed() < Duration::from_millis(500), "{err}");
            fast_failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saw_disconnected, "the health never said disconnected");
    let attempts = logs.lines(ATTEMPT).len() - attempts_before;
    let refused = logs.lines(REFUSED);
    let micro_lines = logs
        .lines("micro_nats")
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    let rate = attempts as f64 / REFUSED_FOR.as_secs_f64();
    eprintln!(
        "refused for {REFUSED_FOR:?}: {attempts} connection attempts ({rate:.2}/s), \
         {} `refused` lines, {micro_lines} micro-nats warnings/errors in all, \
         {fast_failures} calls failed at once with 503",
        refused.len()
    );
    // Said once, clearly: what happened and what to check.
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(refused[0].contains("MICRO_NATS_TOKEN"), "{}", refused[0]);
    assert!(
        refused[0]
            .to_ascii_lowercase()
            .contains("authorization violation"),
        "{}",
        refused[0]
    );
    // Backed off: before, async-nats retried about 2.5 times a second, a line each time.
    assert!(attempts >= 1, "no attempt to reconnect");
    assert!(rate <= 0.5, "{attempts} attempts in {REFUSED_FOR:?}");
    assert!(micro_lines <= 3, "{micro_lines} warning lines");

    // The old token is back: the service reconnects at its next attempt and serves.
    server.restart_with_token(Some("before"));
    let restored = Instant::now();
    while !nats.health().connected {
        assert!(
            restored.elapsed() < Duration::from_secs(40),
            "not reconnected within 40 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "reconnected {:?} after the token came back",
        restored.elapsed()
    );
    // Its subscriptions are back once the server has them: retry briefly.
    let served = Instant::now();
    loop {
        match who.who().await {
            Ok(tag) => {
                assert_eq!(tag, "w");
                break;
            }
            Err(err) if served.elapsed() < Duration::from_secs(5) => {
                tracing::debug!(error = %err, "not served yet");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("not served after reconnecting: {err}"),
        }
    }
    assert!(nats.health().healthy());
    running.stop().await;
}
