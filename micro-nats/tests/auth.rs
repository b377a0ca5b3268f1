//! Connecting: auth, unreachable servers and bad URLs give clear errors, quickly.

mod common;

use std::time::{Duration, Instant};

use common::*;
use micro_core::prelude::*;
use micro_core::service::{Backend, Config};
use micro_nats::{Nats, NatsOptions};
use test_support::NatsServer;

#[tokio::test]
async fn wrong_or_missing_token_is_a_clear_error() {
    let server = NatsServer::start_with_token("s3cret");
    for options in [
        NatsOptions::new().url(&server.url()).token("wrong"),
        NatsOptions::new().url(&server.url()),
    ] {
        let err = Nats::connect(options).await.unwrap_err();
        assert_eq!(err.code(), 401, "{err}");
        assert!(err.detail().contains(&server.url()), "{err}");
        assert!(err.detail().contains("refused"), "{err}");
        assert!(err.detail().contains("MICRO_NATS_TOKEN"), "{err}");
    }
}

#[tokio::test]
async fn the_right_token_connects_from_config() {
    let server = NatsServer::start_with_token("s3cret");
    let config = Config::from_pairs([
        ("nats-url", server.url()),
        ("nats-token", "s3cret".to_owned()),
    ]);
    let backend = Backend::from_config(&config).await.unwrap();
    let running = Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .handle(WhoServer::new(Tagged("t".into())))
        .start()
        .await
        .unwrap();
    assert_eq!(WhoClient::new(&backend.client()).who().await.unwrap(), "t");
    running.stop().await;
}

#[tokio::test]
async fn no_server_is_an_error_naming_the_url_and_how_to_start_one() {
    // A port nobody listens on: bind, read, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    let err = Nats::connect(NatsOptions::new().url(&url))
        .await
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("no server: failed after {took:?}: {err}");
    assert_eq!(err.code(), 503, "{err}");
    assert!(err.detail().contains(&url), "{err}");
    assert!(
        err.detail()
            .contains(&format!("nats-server -a 127.0.0.1 -p {port}")),
        "{err}"
    );
    assert!(
        err.detail().contains("apt-get install nats-server"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(3),
        "no retrying forever: {took:?}"
    );

    // Through the environment path too (what `Service::from_env` uses).
    let config = Config::from_pairs([("nats-url", url.clone())]);
    let err = Service::with_config(config)
        .only_explicit()
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503, "{err}");
}

#[tokio::test]
async fn bad_urls_are_refused_before_connecting() {
    let err = Nats::connect(NatsOptions::new().url("http://127.0.0.1:4222"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("`http://127.0.0.1:4222`"), "{err}");
    assert!(err.detail().contains("MICRO_NATS_URL"), "{err}");
}

#[tokio::test]
async fn user_and_password_auth() {
    let server = NatsServer::start_with_user("svc", "pw");
    let err = Nats::connect(
        NatsOptions::new()
            .url(&server.url())
            .user_password("svc", "nope"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), 401, "{err}");
    let config = Config::from_pairs([
        ("nats-url", server.url()),
        ("nats-user", "svc".to_owned()),
        ("nats-password", "pw".to_owned()),
    ]);
    let nats = Nats::from_config(&config).await.unwrap();
    let running = serve_who(&nats, "u").await;
    assert_eq!(
        WhoClient::new(&nats.micro_client()).who().await.unwrap(),
        "u"
    );
    running.stop().await;
}

#[tokio::test]
async fn missing_credential_files_are_named() {
    let err = Nats::connect(NatsOptions::new().tls_ca("/nonexistent/ca.pem"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(err.detail().contains("/nonexistent/ca.pem"), "{err}");
    assert!(err.detail().contains("MICRO_NATS_TLS_CA"), "{err}");
}

#[tokio::test]
async fn credentials_in_the_url_are_used_and_never_echoed() {
    let server = NatsServer::start_with_token("s3cret-token");
    let with_token = |token: &str| format!("nats://{token}@127.0.0.1:{}", server.port());
    // The right token in the URL connects.
    let nats = Nats::connect(NatsOptions::new().url(&with_token("s3cret-token")))
        .await
        .expect("a token in the URL is used");
    drop(nats);
    // A wrong one is refused, and neither the message nor the options' Debug shows it.
    let options = NatsOptions::new().url(&with_token("wrong-secret"));
    let debug = format!("{options:?}");
    assert!(!debug.contains("wrong-secret"), "{debug}");
    let err = Nats::connect(options).await.unwrap_err();
    assert_eq!(err.code(), 401, "{err}");
    assert!(!err.to_string().contains("wrong-secret"), "{err}");
    assert!(
        err.detail()
            .contains(&format!("127.0.0.1:{}", server.port())),
        "{err}"
    );
    // A malformed URL with a secret in it: the error names the URL without the secret.
    let err = Nats::connect(NatsOptions::new().url("nats://hunter2@127.0.0.1:notaport"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let server = NatsServer::start_with_user("ada", "pa55word");
    let url = format!("nats://ada:pa55word@127.0.0.1:{}", server.port());
    let options = NatsOptions::new().url(&url);
    assert!(!format!("{options:?}").contains("pa55word"));
    Nats::connect(options)
        .await
        .expect("user and password in the URL are used");
    let url = format!("nats://ada:wrong-pass@127.0.0.1:{}", server.port());
    let err = Nats::connect(NatsOptions::new().url(&url))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 401, "{err}");
    assert!(!err.to_string().contains("wrong-pass"), "{err}");
}
