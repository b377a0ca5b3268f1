//! Micro-benchmarks of the call path: `cargo bench -p micro-core --bench hot_path`.
//!
//! Encode + decode of the hello request and reply in both codecs, and one whole call on the
//! in-process backend (client encode, dispatch, handler, reply encode, client decode).
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct HelloArgs {
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloReply {
    pub msg: String,
}

#[service(name = "bench", version = "1.0.0")]
pub trait Bench {
    async fn hello(&self, name: String) -> Result<HelloReply, Error>;
}

struct Impl;

impl Bench for Impl {
    async fn hello(&self, name: String) -> Result<HelloReply, Error> {
        Ok(HelloReply {
            msg: format!("Hello {name}"),
        })
    }
}

fn codecs(c: &mut Criterion) {
    for ct in [ContentType::Json, ContentType::MsgPack] {
        let label = if ct == ContentType::Json {
            "json"
        } else {
            "msgpack"
        };
        c.bench_function(&format!("codec/{label}/hello request encode+decode"), |b| {
            b.iter(|| {
                let args = HelloArgs {
                    name: "World".to_owned(),
                };
                let body = ct.encode(std::hint::black_box(&args)).unwrap();
                let back: HelloArgs = ct.decode(&body).unwrap();
                std::hint::black_box(back)
            })
        });
        c.bench_function(&format!("codec/{label}/hello reply encode+decode"), |b| {
            b.iter(|| {
                let reply = HelloReply {
                    msg: "Hello World".to_owned(),
                };
                let body = ct.encode(std::hint::black_box(&reply)).unwrap();
                let back: HelloReply = ct.decode(&body).unwrap();
                std::hint::black_box(back)
            })
        });
    }
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = Memory::new();
    let running = rt
        .block_on(
            Service::builder()
                .backend(memory.backend())
                .only_explicit()
                .handle(BenchServer::new(Impl))
                .start(),
        )
        .unwrap();
    for ct in [ContentType::Json, ContentType::MsgPack] {
        let label = if ct == ContentType::Json {
            "json"
        } else {
            "msgpack"
        };
        let client = BenchClient::new(&memory.client().with_content_type(ct));
        c.bench_function(&format!("dispatch/in-process/{label}/hello"), |b| {
            b.to_async(&rt).iter(|| {
                let client = client.clone();
                async move { client.hello("World".to_owned()).await.unwrap() }
            })
        });
    }
    rt.block_on(running.stop());
}

criterion_group!(benches, codecs, dispatch);
criterion_main!(benches);
