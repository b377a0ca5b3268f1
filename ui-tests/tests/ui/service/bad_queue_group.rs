use micro_core::prelude::*;

#[service(name = "jobs", queue_group = "work ers")]
pub trait Jobs {
    #[micro(queue_group = "a>")]
    async fn run(&self) -> Result<(), Error>;
}

fn main() {}
