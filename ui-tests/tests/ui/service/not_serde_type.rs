use micro_core::prelude::*;

pub struct Point {
    pub x: i32,
}

#[service]
pub trait Geometry {
    async fn area(&self, p: Point) -> Result<f64, Error>;
}

fn main() {}
