use micro_core::prelude::*;

#[derive(Default)]
struct MyGreeter;

#[service]
impl MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(name)
    }
}

fn main() {}
