use micro_core::prelude::*;

#[service]
pub trait Counter {
    async fn incr(by: u64) -> Result<u64, Error>;
}

fn main() {}
