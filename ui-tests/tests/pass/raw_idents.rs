//! Raw identifiers as method and argument names: the wire uses the name without `r#`.

#![deny(warnings)]

use micro_core::memory::Memory;
use micro_core::prelude::*;

/// Keywords everywhere.
#[service]
pub trait Keywords {
    /// `match` is a keyword.
    async fn r#match(&self, r#type: String, r#in: Option<u8>) -> Result<String, Error>;
}

#[derive(Default)]
struct Impl;

impl Keywords for Impl {
    async fn r#match(&self, r#type: String, r#in: Option<u8>) -> Result<String, Error> {
        let (ty, within) = (r#type, r#in);
        Ok(format!("{ty}:{within:?}"))
    }
}

#[derive(serde::Serialize)]
struct Raw {
    r#type: &'static str,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let e = &KeywordsClient::DESCRIPTOR.endpoints[0];
    assert_eq!((e.name, e.method), ("match", "match"));
    assert_eq!(e.request[0].name, "type");
    assert_eq!(e.request[1].name, "in");

    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .handle(KeywordsServer::new(Impl))
        .start()
        .await?;
    let client = KeywordsClient::new(&running.client());
    assert_eq!(client.r#match("t".into(), Some(1)).await?, "t:Some(1)");
    let raw: String = running.client().invoke("keywords", "match", &Raw { r#type: "x" }).await?;
    assert_eq!(raw, "x:None");
    running.stop().await;
    Ok(())
}
