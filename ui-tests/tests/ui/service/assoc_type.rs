use micro_core::prelude::*;

#[service]
pub trait Store {
    type Item;
    async fn get(&self, id: u64) -> Result<String, Error>;
}

fn main() {}
