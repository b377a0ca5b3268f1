use micro_core::prelude::*;

pub trait Greeter {
    fn hello(&self) -> String;
    fn bye(&self) -> String;
}

#[derive(Default)]
struct MyGreeter;

#[service]
impl Greeter for MyGreeter {
    fn hello(&self) -> String {
        String::new()
    }
    fn bye(&self) -> String {
        String::new()
    }
}

fn main() {}
