//! Subscribers: `#[subscriber]` registration, fan-out, queues, and failures that do not stop
#![allow(missing_docs)]
//! delivery.

use std::sync::Mutex;
use std::time::Duration;

use micro_core::codec::ContentType;
use micro_core::memory::Memory;
use micro_core::prelude::*;
use micro_core::server::handler::event_fn;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    pub id: u64,
}

/// (event id, `x-tenant` metadata) as the registered subscriber saw them.
type Seen = mpsc::UnboundedSender<(u64, Option<String>)>;

static REGISTERED: Mutex<Option<Seen>> = Mutex::new(None);

#[subscriber(topic = "user.created")]
async fn on_user_created(ev: UserCreated) -> Result<(), Error> {
    let tenant = Context::current()
        .metadata()
        .get("x-tenant")
        .map(str::to_owned);
    if let Some(tx) = REGISTERED.lock().unwrap().as_ref() {
        let _ = tx.send((ev.id, tenant));
    }
    Ok(())
}

async fn recv_n<T>(rx: &mut mpsc::UnboundedReceiver<T>, n: usize) -> Vec<T> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(v)) => out.push(v),
            _ => panic!("expected {n} events, got {}", out.len()),
        }
    }
    out
}

/// Nothing more arrives within a short while.
async fn assert_quiet<T: std::fmt::Debug>(rx: &mut mpsc::UnboundedReceiver<T>) {
    if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(150), rx.recv()).await {
        panic!("unexpected extra event {v:?}");
    }
}

#[tokio::test]
async fn registered_subscriber_receives_typed_events_with_metadata() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    *REGISTERED.lock().unwrap() = Some(tx);
    let running = Service::builder()
        .backend(Memory::new().backend())
        .start()
        .await
        .unwrap();
    let client = running.client().with_metadata("x-tenant", "acme");
    client
        .publish("user.created", &UserCreated { id: 1 })
        .await
        .unwrap();
    client
        .with_content_type(ContentType::MsgPack)
        .publish("user.created", &UserCreated { id: 2 })
        .await
        .unwrap();
    let mut got = recv_n(&mut rx, 2).await;
    got.sort();
    assert_eq!(got, [(1, Some("acme".into())), (2, Some("acme".into()))]);
    running.stop().await;
}

fn forwarder(
    tag: &'static str,
    tx: mpsc::UnboundedSender<(&'static str, u64)>,
) -> micro_core::server::handler::EventHandler {
    event_fn(move |ev: UserCreated| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((tag, ev.id));
            Ok(())
        }
    })
}

#[tokio::test]
async fn fan_out_without_queue_and_once_per_queue_with_one() {
    let memory = Memory::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut nodes = Vec::new();
    for tag in ["a", "b"] {
        nodes.push(
            Service::builder()
                .backend(memory.backend())
                .only_explicit()
                .subscribe("user.*", None, forwarder(tag, tx.clone()))
                .subscribe(
                    "user.created",
                    Some("workers"),
                    forwarder("worker", tx.clone()),
                )
                .start()
                .await
                .unwrap(),
        );
    }
    let client = memory.client();
    for id in 0..10 {
        client
            .publish("user.created", &UserCreated { id })
            .await
            .unwrap();
    }
    let got = recv_n(&mut rx, 30).await;
    assert_quiet(&mut rx).await;
    for id in 0..10 {
        let count = |tag| got.iter().filter(|(t, i)| *t == tag && *i == id).count();
        assert_eq!(count("a"), 1, "fan-out to a for {id}");
        assert_eq!(count("b"), 1, "fan-out to b for {id}");
        assert_eq!(count("worker"), 1, "queue members share {id}");
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test]
async fn failing_and_panicking_subscribers_keep_receiving() {
    let memory = Memory::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = event_fn(move |ev: UserCreated| {
        let tx = tx.clone();
        async move {
            match ev.id {
                0 => Err(Error::internal("cannot handle 0")),
                1 => panic!("cannot handle 1"),
                id => {
                    let _ = tx.send(id);
                    Ok(())
                }
            }
        }
    });
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .subscribe("user.created", None, handler)
        .start()
        .await
        .unwrap();
    let client = memory.client();
    for id in 0..4 {
        client
            .publish("user.created", &UserCreated { id })
            .await
            .unwrap();
    }
    // A body that does not decode is logged, and delivery goes on too.
    client
        .publish("user.created", &"not an event")
        .await
        .unwrap();
    client
        .publish("user.created", &UserCreated { id: 9 })
        .await
        .unwrap();
    let mut got = recv_n(&mut rx, 3).await;
    got.sort();
    assert_eq!(got, [2, 3, 9]);
    running.stop().await;
}

#[tokio::test]
async fn publish_refuses_invalid_topics() {
    let client = Memory::new().client();
    for topic in ["", "user..created", "user.*", "a b"] {
        let err = client.publish(topic, &1).await.unwrap_err();
        assert_eq!(err.code(), 400, "{topic}: {err}");
    }
}

#[tokio::test]
async fn a_layer_wraps_every_subscriber() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let counted = Arc::new(AtomicUsize::new(0));
    let seen_by_layer = counted.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let memory = Memory::new();
    let running = Service::builder()
        .backend(memory.backend())
        .only_explicit()
        .subscribe("user.created", None, forwarder("layered", tx))
        .layer_events(tower::util::MapRequestLayer::new(
            move |event: micro_core::broker::Event| {
                seen_by_layer.fetch_add(1, Ordering::SeqCst);
                event
            },
        ))
        .start()
        .await
        .unwrap();
    let client = memory.client();
    for id in 0..3 {
        client
            .publish("user.created", &UserCreated { id })
            .await
            .unwrap();
    }
    assert_eq!(recv_n(&mut rx, 3).await.len(), 3);
    assert_eq!(
        counted.load(Ordering::SeqCst),
        3,
        "the layer saw every event"
    );
    running.stop().await;
}
