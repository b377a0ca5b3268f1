use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

struct MyGreeter;

#[service(state = "not a type!")]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
}

fn main() {}
