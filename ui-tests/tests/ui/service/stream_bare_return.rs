use micro_core::prelude::*;

#[service]
pub trait Feed {
    async fn ticks(&self, n: u32) -> Streaming<u32>;
}

fn main() {}
