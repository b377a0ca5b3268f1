use micro_core::prelude::*;

#[service(name = "store")]
pub trait Store {
    #[micro(idempotent, idempotent)]
    async fn get(&self, key: String) -> Result<String, Error>;
}

fn main() {}
