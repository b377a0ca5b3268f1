use micro_core::prelude::*;

#[service]
pub trait Files {
    async fn read(&self, path: String) -> Result<String, std::io::Error>;
}

fn main() {}
