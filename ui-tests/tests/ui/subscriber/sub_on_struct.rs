use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[subscriber(topic = "user.created")]
struct Audit;

fn main() {}
