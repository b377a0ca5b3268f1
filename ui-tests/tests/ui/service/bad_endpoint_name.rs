use micro_core::prelude::*;

#[service]
pub trait Greeter {
    #[micro(name = "say.hello")]
    async fn hello(&self, name: String) -> Result<String, Error>;
}

fn main() {}
