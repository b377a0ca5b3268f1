use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello<T: serde::Serialize>(&self, name: T) -> Result<String, Error>;
}

fn main() {}
