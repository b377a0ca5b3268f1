use micro_core::prelude::*;

#[service]
pub trait Greeter {
    fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
