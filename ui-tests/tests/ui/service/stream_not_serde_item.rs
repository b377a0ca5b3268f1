use micro_core::prelude::*;

pub struct Tick;

#[service]
pub trait Feed {
    async fn ticks(&self, n: u32) -> Result<Streaming<Tick>, Error>;
    async fn upload(&self, ticks: Streaming<Tick>) -> Result<(), Error>;
}

fn main() {}
