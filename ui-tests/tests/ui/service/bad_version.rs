use micro_core::prelude::*;

#[service(version = "1.0")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
