use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, names: Vec<&'static [u8]>) -> Result<String, Error>;
}

fn main() {}
