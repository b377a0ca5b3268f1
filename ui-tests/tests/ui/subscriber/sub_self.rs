use micro_core::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

struct Audit;

impl Audit {
    #[subscriber(topic = "user.created")]
    async fn on_user_created(&self, event: UserCreated) -> Result<(), Error> {
        let _ = event.id;
        Ok(())
    }
}

fn main() {}
