use micro_core::prelude::*;

#[service(version = "one")]
pub trait Greeter {
    fn hello(&self, name: &str) -> Result<String, Error>;
    async fn bye(&mut self) -> String;
}

fn main() {}
