use micro_core::prelude::*;

#[service]
pub trait Store {
    async fn new(&self, name: String) -> Result<u64, Error>;
}

fn main() {}
