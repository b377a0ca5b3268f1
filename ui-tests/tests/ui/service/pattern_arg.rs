use micro_core::prelude::*;

#[service]
pub trait Math {
    async fn add(&self, (a, b): (i64, i64)) -> Result<i64, Error>;
}

fn main() {}
