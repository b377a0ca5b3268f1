use micro_core::prelude::*;

#[service]
pub trait Greeter {
    #[micro(idempotent = "yes")]
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
