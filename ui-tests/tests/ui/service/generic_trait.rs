use micro_core::prelude::*;

#[service]
pub trait Store<T> {
    async fn get(&self, id: u64) -> Result<String, Error>;
}

fn main() {}
