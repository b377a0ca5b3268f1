//! Publish/subscribe over a real nats-server: fan-out, queues, headers, failing subscribers.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use micro_core::broker::{Broker, Event, Subscription};
use micro_core::codec::ContentType;
use micro_core::prelude::*;
use micro_core::server::handler::event_fn;
use serde::{Deserialize, Serialize};
use test_support::NatsServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserCreated {
    id: u64,
}

async fn next(sub: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("an event within 5 s")
        .expect("the subscription goes on")
}

/// Counts what arrives within `wait`.
async fn drain_count(sub: &mut Subscription, wait: Duration) -> usize {
    let mut n = 0;
    while let Ok(Some(_)) = tokio::time::timeout(wait, sub.next()).await {
        n += 1;
    }
    n
}

#[tokio::test]
async fn fan_out_by_default_and_once_per_queue() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let broker = nats.broker().clone();
    let mut fan1 = broker.subscribe("user.created", None).await.unwrap();
    let mut fan2 = broker.subscribe("user.*", None).await.unwrap();
    let mut q1 = broker
        .subscribe("user.created", Some("workers"))
        .await
        .unwrap();
    let mut q2 = connect(&server)
        .await
        .broker()
        .subscribe("user.created", Some("workers"))
        .await
        .unwrap();
    let publisher = connect(&server).await.micro_client();
    for id in 0..20u64 {
        publisher
            .publish("user.created", &UserCreated { id })
            .await
            .unwrap();
    }
    let quiet = Duration::from_millis(300);
    assert_eq!(drain_count(&mut fan1, quiet).await, 20);
    assert_eq!(drain_count(&mut fan2, quiet).await, 20);
    let (n1, n2) = (
        drain_count(&mut q1, quiet).await,
        drain_count(&mut q2, quiet).await,
    );
    assert_eq!(n1 + n2, 20, "each event once per queue ({n1} + {n2})");
    assert!(
        n1 > 0 && n2 > 0,
        "both queue members get a share ({n1}, {n2})"
    );
}

#[tokio::test]
async fn events_carry_content_type_and_metadata() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let mut sub = nats.broker().subscribe("audit.>", None).await.unwrap();
    let client = connect(&server)
        .await
        .micro_client()
        .with_metadata("X-Tenant", "acme")
        .with_content_type(ContentType::MsgPack);
    client
        .publish("audit.login", &UserCreated { id: 7 })
        .await
        .unwrap();
    let event = next(&mut sub).await;
    assert_eq!(event.topic, "audit.login");
    assert_eq!(event.content_type, ContentType::MsgPack);
    assert_eq!(event.metadata.get("x-tenant"), Some("acme"));
    assert_eq!(
        event.decode::<UserCreated>().unwrap(),
        UserCreated { id: 7 }
    );

    // What a plain NATS client sees.
    let raw = raw(&server).await;
    let mut raw_sub = raw.subscribe("audit.>").await.unwrap();
    sync(&raw).await;
    client
        .publish("audit.logout", &UserCreated { id: 8 })
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), raw_sub.next())
        .await
        .unwrap()
        .unwrap();
    // A struct is a MessagePack map, which shows its codec: no label needed.
    assert_eq!(header(&msg, "Content-Type"), None);
    assert_eq!(header(&msg, "X-Tenant"), Some("acme"));
    let back: UserCreated = ContentType::MsgPack.decode(&msg.payload).unwrap();
    assert_eq!(back, UserCreated { id: 8 });
    // Anything else in MessagePack names its codec, and subscribers read it right.
    client.publish("audit.note", "plain words").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), raw_sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header(&msg, "Content-Type"), Some("application/msgpack"));
    let logout = next(&mut sub).await;
    assert_eq!(logout.content_type, ContentType::MsgPack);
    assert_eq!(
        logout.decode::<UserCreated>().unwrap(),
        UserCreated { id: 8 }
    );
    let note = next(&mut sub).await;
    assert_eq!(note.content_type, ContentType::MsgPack);
    assert_eq!(note.decode::<String>().unwrap(), "plain words");

    // Bad topics are refused with the reason.
    let err = nats
        .broker()
        .publish(Event::new("a.*", ContentType::Json, "1".into()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    let err = nats.broker().subscribe("a b", None).await.unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
    let err = nats
        .broker()
        .subscribe("a", Some("bad queue"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), 400, "{err}");
}

#[tokio::test]
async fn a_failing_subscriber_keeps_receiving() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = {
        let seen = seen.clone();
        let calls = calls.clone();
        event_fn(move |ev: UserCreated| {
            let seen = seen.clone();
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                match ev.id {
                    1 => Err(Error::internal("cannot handle 1")),
                    2 => panic!("cannot handle 2"),
                    id => {
                        seen.lock().unwrap().push(id);
                        Ok(())
                    }
                }
            }
        })
    };
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .subscribe("user.created", Some("mailer"), handler)
        .start()
        .await
        .unwrap();
    let client = connect(&server).await.micro_client();
    for id in 0..5u64 {
        client
            .publish("user.created", &UserCreated { id })
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while calls.load(Ordering::SeqCst) < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut got = seen.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, [0, 3, 4]);
    running.stop().await;
}

#[tokio::test]
async fn draining_a_subscription_ends_its_stream() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let mut sub = nats.broker().subscribe("tick", None).await.unwrap();
    let client = nats.micro_client();
    for i in 0..3 {
        client.publish("tick", &i).await.unwrap();
    }
    // Drain right away: what was already on its way is still delivered, then the stream ends.
    sub.take_drain().unwrap().drain().await;
    let rest: Vec<Event> = tokio::time::timeout(Duration::from_secs(5), sub.collect())
        .await
        .expect("the stream ends after a drain");
    assert_eq!(rest.len(), 3);
}
