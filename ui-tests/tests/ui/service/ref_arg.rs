use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: &str) -> Result<String, Error>;
}

fn main() {}
