//! Registered implementations built from state given to the service: a
//! `#[service(state = "...")]` impl and a `#[subscriber]` that takes state after its event, and
//! the error when the state is missing.
#![allow(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro_core::memory::Memory;
use micro_core::prelude::*;

/// A shop's shared state: no `Default` (it needs a real connection in a real program).
#[derive(Clone)]
struct Shop {
    name: String,
    seen: Arc<Mutex<Vec<String>>>,
}

#[service(name = "stateful", version = "1.0.0")]
pub trait Stateful {
    async fn whose(&self) -> Result<String, Error>;
}

struct Counter {
    shop: Shop,
}

impl From<Shop> for Counter {
    fn from(shop: Shop) -> Self {
        Counter { shop }
    }
}

#[service(state = "Shop")]
impl Stateful for Counter {
    async fn whose(&self) -> Result<String, Error> {
        Ok(self.shop.name.clone())
    }
}

#[subscriber(topic = "stateful.noted")]
async fn on_noted(note: String, shop: Shop) -> Result<(), Error> {
    shop.seen
        .lock()
        .map_err(|_| Error::internal("poisoned"))?
        .push(note);
    Ok(())
}

#[tokio::test]
async fn registered_impls_and_subscribers_are_built_from_the_state_given() {
    let shop = Shop {
        name: "corner shop".into(),
        seen: Arc::default(),
    };
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .state(shop.clone())
        .start()
        .await
        .expect("starts with its state");
    let client = running.client();
    assert_eq!(
        StatefulClient::new(&client).whose().await.unwrap(),
        "corner shop"
    );
    client.publish("stateful.noted", "hello").await.unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while shop.seen.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < until,
            "the subscriber never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*shop.seen.lock().unwrap(), ["hello"]);
    running.stop().await;
}

#[tokio::test]
async fn a_missing_state_value_stops_the_start_with_its_type_named() {
    let memory = Memory::new();
    let err = Service::builder()
        .backend(memory.backend())
        .state(42_u32)
        .start()
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail.contains("state::Shop"), "{err}");
    assert!(err.detail.contains(".state(value)"), "{err}");
    assert!(err.detail.contains("u32"), "{err}");
}
