//! `crate = "..."` points generated code at a renamed `micro-core`.

#![deny(warnings)]

extern crate micro_core as renamed;

use renamed::Error;

/// A service whose generated code goes through `::renamed`.
#[renamed::service(crate = "::renamed")]
pub trait Renamed {
    /// Pings.
    async fn ping(&self, n: u8) -> Result<u8, Error>;
}

#[derive(Default)]
struct Impl;

#[renamed::service(crate = "::renamed")]
impl Renamed for Impl {
    async fn ping(&self, n: u8) -> Result<u8, Error> {
        Ok(n)
    }
}

#[renamed::subscriber(topic = "renamed.*", crate = "::renamed")]
async fn on_event(n: u8) -> Result<(), Error> {
    let _ = n;
    Ok(())
}

fn main() {
    assert_eq!(RenamedClient::DESCRIPTOR.name, "renamed");
}
