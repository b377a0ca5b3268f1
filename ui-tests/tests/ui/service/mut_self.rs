use micro_core::prelude::*;

#[service]
pub trait Counter {
    async fn incr(&mut self) -> Result<u64, Error>;
}

fn main() {}
