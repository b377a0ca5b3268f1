//! `#[service(state = "...")]` impls and subscribers that take state compile.
use micro_core::prelude::*;

#[service]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, Error>;
}

#[derive(Clone)]
pub struct AppState {
    greeting: &'static str,
}

pub struct MyGreeter {
    greeting: &'static str,
}

impl From<AppState> for MyGreeter {
    fn from(state: AppState) -> Self {
        MyGreeter {
            greeting: state.greeting,
        }
    }
}

#[service(state = "AppState")]
impl Greeter for MyGreeter {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(format!("{} {name}", self.greeting))
    }
}

#[subscriber(topic = "user.created")]
async fn on_user_created(id: u64, state: AppState) -> Result<(), Error> {
    let _ = (id, state.greeting);
    Ok(())
}

fn main() {}
