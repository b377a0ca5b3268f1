//! The one error is the macro's: the impl, its registration and the client still type-check.
use micro_core::prelude::*;

#[service]
pub trait Merge {
    async fn merge(&self, left: Streaming<u32>, right: Streaming<u32>) -> Result<u64, Error>;
    async fn ticks(&self) -> Result<Streaming<u32>, Error>;
}

#[derive(Default)]
struct MyMerge;

#[service]
impl Merge for MyMerge {
    async fn merge(&self, _left: Streaming<u32>, _right: Streaming<u32>) -> Result<u64, Error> {
        Ok(0)
    }
    async fn ticks(&self) -> Result<Streaming<u32>, Error> {
        Ok(Streaming::empty())
    }
}

#[allow(dead_code)]
async fn call(client: MergeClient) -> Result<u64, Error> {
    let _ticks: Streaming<u32> = client.ticks().await?;
    client.merge(Streaming::empty(), Streaming::iter([1])).await
}

fn main() {}
