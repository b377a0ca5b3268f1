use micro_core::prelude::*;

pub struct Point {
    pub x: i32,
}

#[service]
pub trait Geometry {
    async fn origin(&self) -> Result<Point, Error>;
}

fn main() {}
