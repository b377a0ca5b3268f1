use micro_core::prelude::*;
use serde::{Deserialize, Serialize};

mod mine {
    /// Not micro's stream.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct Streaming<T>(pub Vec<T>);
}

#[derive(Serialize, Deserialize)]
pub struct Tick;

#[service]
pub trait Feed {
    async fn ticks(&self) -> Result<mine::Streaming<Tick>, Error>;
    async fn upload(&self, ticks: mine::Streaming<Tick>) -> Result<(), Error>;
}

fn main() {}
