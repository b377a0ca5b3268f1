use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[subscriber(topic = "user.created", queue = "audit*")]
async fn on_user_created(event: UserCreated) -> Result<(), Error> {
    let _ = event.id;
    Ok(())
}

fn main() {}
