use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
    #[micro(name = "hello")]
    async fn hello_again(&self, name: String) -> Result<String, Error>;
}

fn main() {}
