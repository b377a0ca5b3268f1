use micro_core::prelude::*;

#[service]
pub trait Upload {
    async fn many(&self, parts: Vec<Streaming<u8>>) -> Result<(), Error>;
    async fn paired(&self, part: (Streaming<u8>, u32)) -> Result<(), Error>;
    async fn maybe(&self, part: Option<Streaming<u8>>) -> Result<(), Error>;
}

fn main() {}
