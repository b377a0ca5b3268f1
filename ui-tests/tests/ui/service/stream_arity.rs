use micro_core::prelude::*;

#[service]
pub trait Feed {
    async fn upload(&self, chunks: Streaming) -> Result<(), Error>;
    async fn pairs(&self) -> Result<Streaming<String, u32>, Error>;
}

fn main() {}
