use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

#[derive(Clone)]
pub struct Db;

#[subscriber(topic = "user.created")]
async fn on_user_created(event: UserCreated, db: Db, extra: u32) -> Result<(), Error> {
    let _ = (event.id, db, extra);
    Ok(())
}

fn main() {}
