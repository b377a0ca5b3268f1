use micro_core::prelude::*;

#[service]
pub struct Greeter {
    name: String,
}

fn main() {}
