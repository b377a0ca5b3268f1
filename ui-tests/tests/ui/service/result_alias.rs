use micro_core::prelude::*;

type MyResult<T> = Result<T, Error>;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> MyResult<String>;
}

fn main() {}
