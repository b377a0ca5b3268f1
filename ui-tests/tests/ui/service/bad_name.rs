use micro_core::prelude::*;

#[service(name = "my greeter")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
