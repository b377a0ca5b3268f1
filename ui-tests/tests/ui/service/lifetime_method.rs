use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello<'a>(&'a self, name: String) -> Result<String, Error>;
}

fn main() {}
