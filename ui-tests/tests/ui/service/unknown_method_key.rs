use micro_core::prelude::*;

#[service]
pub trait Greeter {
    #[micro(retries = "3")]
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
