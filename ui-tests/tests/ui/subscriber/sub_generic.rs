use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[subscriber(topic = "user.created")]
async fn on_user_created<E>(event: E) -> Result<(), Error> {
    let _ = event;
    Ok(())
}

fn main() {}
