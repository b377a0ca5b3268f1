//! Choosing the instance in-process: pinned calls and a version filter, the same semantics as
//! over NATS.
#![allow(missing_docs)]

use std::collections::BTreeMap;

use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use micro_core::selector::Selection;
use micro_core::service::{Backend, Running};
use micro_core::transport::Call;

#[service(name = "tagged", version = "1.0.0")]
pub trait Tagged {
    /// The instance's tag.
    async fn tag(&self) -> Result<String, Error>;
}

struct Impl(&'static str);

impl Tagged for Impl {
    async fn tag(&self) -> Result<String, Error> {
        Ok(self.0.to_owned())
    }
}

async fn start(backend: &Backend, tag: &'static str, version: &str) -> Running {
    Service::builder()
        .backend(backend.clone())
        .only_explicit()
        .version(version)
        .handle(TaggedServer::new(Impl(tag)))
        .start()
        .await
        .expect("starts")
}

#[tokio::test]
async fn pinned_calls_and_a_version_range_in_process() {
    let backend = Memory::new().backend();
    let v1 = start(&backend, "v1", "1.0.0").await;
    let v2 = start(&backend, "v2", "2.0.0").await;
    let client = backend.client();
    for (running, tag) in [(&v1, "v1"), (&v2, "v2")] {
        let call = Call::new("tagged", "tag", ContentType::Json, "{}".into())
            .with_instance(running.instances()[0].id.clone());
        let reply = client.call(call).await.unwrap();
        assert_eq!(reply.decode::<String>().unwrap(), tag);
    }
    let call = Call::new("tagged", "tag", ContentType::Json, "{}".into()).with_instance("nosuch");
    assert_eq!(client.call(call).await.unwrap_err().code(), 503);

    let canary =
        TaggedClient::new(&client.with_selection(Selection::round_robin().version("^2").unwrap()));
    let mut seen = BTreeMap::new();
    for _ in 0..10 {
        *seen.entry(canary.tag().await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(seen, BTreeMap::from([("v2".to_owned(), 10)]));
    v1.stop().await;
    v2.stop().await;
}
