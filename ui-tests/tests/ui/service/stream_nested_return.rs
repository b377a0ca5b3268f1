use micro_core::prelude::*;

#[service]
pub trait Feed {
    async fn maybe(&self) -> Result<Option<Streaming<u32>>, Error>;
    async fn many(&self) -> Result<Vec<Streaming<u32>>, Error>;
    async fn bare(&self) -> Option<Streaming<u32>>;
}

fn main() {}
