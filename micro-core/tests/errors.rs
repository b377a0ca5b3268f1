//! Errors cross intact; bad input gets a clear error and the service keeps serving.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;

#[service(name = "vault", version = "1.0.0")]
pub trait Vault {
    async fn open(&self, pin: u32) -> Result<String, Error>;
    async fn boom(&self) -> Result<(), Error>;
    async fn touch(&self, key: Touchy) -> Result<u32, Error>;
}

/// An argument whose hand-written `Deserialize` panics on 13: decoding runs user code too.
#[derive(Debug, serde::Serialize)]
pub struct Touchy(u32);

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        assert!(n != 13, "unlucky key");
        Ok(Touchy(n))
    }
}

#[derive(Default)]
struct MyVault {
    calls: AtomicUsize,
}

impl Vault for Arc<MyVault> {
    async fn open(&self, pin: u32) -> Result<String, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match pin {
            1234 => Ok("opened".into()),
            0 => Err(Error::new(418, "I am a teapot")
                .with_id("vault.custom")
                .with_status("Teapot")),
            _ => Err(Error::forbidden(format!("wrong pin {pin}"))),
        }
    }
    async fn boom(&self) -> Result<(), Error> {
        panic!("the vault exploded")
    }
    async fn touch(&self, key: Touchy) -> Result<u32, Error> {
        Ok(key.0)
    }
}

async fn start(vault: Arc<MyVault>) -> micro_core::service::Running {
    Service::builder()
        .backend(Memory::new().backend())
        .only_explicit()
        .handle(VaultServer::new(vault))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn structured_errors_cross_intact() {
    let running = start(Arc::default()).await;
    for codec in [ContentType::Json, ContentType::MsgPack] {
        let vault = VaultClient::new(&running.client().with_content_type(codec));
        assert_eq!(vault.open(1234).await.unwrap(), "opened");

        let err = vault.open(1).await.unwrap_err();
        assert_eq!(err.code(), 403);
        assert_eq!(err.status(), "Forbidden");
        assert_eq!(err.detail(), "wrong pin 1");
        // The server names the endpoint when the handler did not.
        assert_eq!(err.id(), "vault.open");

        let err = vault.open(0).await.unwrap_err();
        assert_eq!(
            err,
            Error::new(418, "I am a teapot")
                .with_id("vault.custom")
                .with_status("Teapot")
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn unknown_endpoint_and_service() {
    let running = start(Arc::default()).await;
    let client = running.client();
    let err = client
        .call_raw("vault", "steal", ContentType::Json, "{}".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 404);
    assert!(err.detail().contains("unknown endpoint `steal`"), "{err}");

    let err = client
        .call_raw("bank", "open", ContentType::Json, "{}".into())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 503);
    assert!(err.detail().contains("`bank`"), "{err}");
    running.stop().await;
}

#[tokio::test]
async fn malformed_payload_is_rejected_without_calling_the_handler() {
    let vault = Arc::new(MyVault::default());
    let running = start(vault.clone()).await;
    let client = running.client();
    let cases: [(ContentType, &[u8], &str); 4] = [
        (
            ContentType::Json,
            b"{not json",
            "invalid arguments for `vault.open`",
        ),
        (ContentType::Json, br#"{"pin":"1234"}"#, "invalid type"),
        (
            ContentType::Json,
            br#"{"pinn":1234}"#,
            "missing field `pin`",
        ),
        (
            ContentType::MsgPack,
            b"\xc1\xc1",
            "invalid arguments for `vault.open`",
        ),
    ];
    for (codec, body, needle) in cases {
        let err = client
            .call_raw("vault", "open", codec, bytes::Bytes::copy_from_slice(body))
            .await
            .unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
        assert!(err.detail().contains(needle), "{needle:?} not in {err}");
    }
    assert_eq!(
        vault.calls.load(Ordering::SeqCst),
        0,
        "handler must not run"
    );
    // Still serving.
    assert_eq!(
        VaultClient::new(&client).open(1234).await.unwrap(),
        "opened"
    );
    assert_eq!(vault.calls.load(Ordering::SeqCst), 1);

    let stats = client.registry().stats(Some("vault")).await.unwrap();
    let open = &stats[0].endpoints[0];
    assert_eq!(open.name, "open");
    assert_eq!(open.num_requests, 5);
    assert_eq!(open.num_errors, 4);
    assert!(open.last_error.starts_with("400:"), "{}", open.last_error);
    running.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_is_an_internal_error_and_the_service_survives() {
    let running = start(Arc::default()).await;
    let vault = VaultClient::new(&running.client());
    let err = vault.boom().await.unwrap_err();
    assert_eq!(err.code(), 500);
    assert!(err.detail().contains("the vault exploded"), "{err}");
    assert_eq!(vault.open(1234).await.unwrap(), "opened");
    running.stop().await;
}

#[tokio::test]
async fn a_panic_while_decoding_arguments_is_an_internal_error_and_the_service_survives() {
    // Arguments are decoded before the handler's future starts; a panic there is caught all
    // the same (here on the in-process path; `micro_core::server`'s tests cover the serve loop).
    let running = start(Arc::default()).await;
    let vault = VaultClient::new(&running.client());
    let err = vault.touch(Touchy(13)).await.unwrap_err();
    assert_eq!(err.code(), 500);
    assert_eq!(err.id(), "vault.touch");
    assert!(err.detail().contains("unlucky key"), "{err}");
    assert_eq!(vault.touch(Touchy(7)).await.unwrap(), 7);
    running.stop().await;
}
