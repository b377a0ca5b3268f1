use micro_core::prelude::*;

use std::rc::Rc;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

#[derive(Default)]
struct MyGreeter;

impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        let rc = Rc::new(name);
        tokio::task::yield_now().await;
        Ok(rc.to_string())
    }
}

fn main() {}
