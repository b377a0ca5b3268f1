use micro_core::prelude::*;

// `idempotent` marks one method, not the whole service.
#[service(name = "store", idempotent)]
pub trait Store {
    async fn get(&self, key: String) -> Result<String, Error>;
}

fn main() {}
