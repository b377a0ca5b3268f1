use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

struct MyGreeter {
    greeting: String,
}

#[service]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(format!("{} {name}", self.greeting))
    }
}

fn main() {}
