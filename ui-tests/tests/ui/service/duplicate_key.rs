use micro_core::prelude::*;

#[service(name = "greeter", name = "other")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
