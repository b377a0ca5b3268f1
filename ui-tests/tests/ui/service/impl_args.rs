use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

#[derive(Default)]
struct MyGreeter;

#[service(name = "greeter")]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
}

fn main() {}
