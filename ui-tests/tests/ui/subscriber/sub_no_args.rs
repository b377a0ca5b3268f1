use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[subscriber(topic = "user.created")]
async fn on_user_created() -> Result<(), Error> {
    Ok(())
}

fn main() {}
