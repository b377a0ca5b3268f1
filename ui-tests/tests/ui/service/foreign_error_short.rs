use std::io;

use micro_core::prelude::*;

#[service]
pub trait Files {
    async fn read(&self, path: String) -> Result<String, io::Error>;
}

fn main() {}
