use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

#[derive(Default)]
struct MyGreeter<T>(T);

#[service]
impl<T: Default + Send + Sync + 'static> Greeter for MyGreeter<T> {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
}

fn main() {}
