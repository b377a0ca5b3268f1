use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: impl Into<String>) -> Result<String, Error>;
}

fn main() {}
