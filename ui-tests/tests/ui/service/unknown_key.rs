use micro_core::prelude::*;

#[service(nme = "greeter")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
