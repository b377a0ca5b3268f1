use micro_core::prelude::*;

#[service]
pub trait Counter {
    async fn incr(self: Box<Self>) -> Result<u64, Error>;
}

fn main() {}
