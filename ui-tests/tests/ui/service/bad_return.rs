use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> String;
}

fn main() {}
