use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[subscriber(topic = "user.created")]
async fn on_user_created(event: UserCreated, ctx: Context) -> Result<(), Error> {
    let _ = (event.id, ctx);
    Ok(())
}

fn main() {}
