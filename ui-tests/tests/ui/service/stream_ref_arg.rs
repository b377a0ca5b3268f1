use micro_core::prelude::*;

#[service]
pub trait Upload {
    async fn upload(&self, chunks: &Streaming<Vec<u8>>) -> Result<(), Error>;
}

fn main() {}
