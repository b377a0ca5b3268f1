use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

#[derive(Clone)]
struct AppState;

struct MyGreeter;

#[service(state = "AppState")]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
}

fn main() {}
