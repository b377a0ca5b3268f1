//! Discovery over a real nats-server: the `$SRV` replies field by field, and the registry built
//! on them (list, get, stats, watch).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use micro_core::registry::{Change, WatchOptions};
use serde_json::Value;
use test_support::NatsServer;

/// Every reply to `subject` within a short while (scatter-gather with a plain client).
async fn gather(raw: &async_nats::Client, subject: &str) -> Vec<Value> {
    let inbox = raw.new_inbox();
    let mut sub = raw.subscribe(inbox.clone()).await.unwrap();
    raw.publish_with_reply(subject.to_owned(), inbox, Bytes::new())
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        if msg.status.is_some() {
            break;
        }
        assert!(msg.headers.is_none(), "$SRV replies carry no headers");
        out.push(serde_json::from_slice(&msg.payload).unwrap());
    }
    out
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn srv_replies_field_by_field() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let running = serve_shapes(&nats).await;
    let id = running.instances()[0].id.clone();
    assert_eq!(id.len(), 22, "a NUID");
    let raw = raw(&server).await;

    // Calls first, one of them an error, so STATS has something to count.
    let c = ShapesClient::new(&nats.micro_client());
    c.nothing().await.unwrap();
    c.nothing().await.unwrap();
    c.unit(0).await.unwrap_err();

    let ping = raw
        .request(format!("$SRV.PING.shapes.{id}"), Bytes::new())
        .await
        .unwrap();
    let ping: Value = serde_json::from_slice(&ping.payload).unwrap();
    assert_eq!(keys(&ping), ["id", "metadata", "name", "type", "version"]);
    assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
    assert_eq!(ping["name"], "shapes");
    assert_eq!(ping["id"], id.as_str());
    assert_eq!(ping["version"], "2.1.0");
    assert_eq!(ping["metadata"], serde_json::json!({"lang": "rust"}));

    let info = raw
        .request(format!("$SRV.INFO.shapes.{id}"), "{}".into())
        .await
        .unwrap();
    let info: Value = serde_json::from_slice(&info.payload).unwrap();
    assert_eq!(
        keys(&info),
        [
            "description",
            "endpoints",
            "id",
            "metadata",
            "name",
            "type",
            "version"
        ]
    );
    assert_eq!(info["type"], "io.nats.micro.v1.info_response");
    assert_eq!(info["description"], "Every endpoint shape.");
    assert_eq!(info["metadata"]["lang"], "rust");
    let endpoints = info["endpoints"].as_array().unwrap();
    let names: Vec<&str> = endpoints
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "nothing", "several", "structs", "options", "nested", "unit", "bytes", "context",
            "slow"
        ],
        "declaration order"
    );
    let several = &endpoints[1];
    assert_eq!(
        keys(several),
        ["metadata", "name", "queue_group", "subject"]
    );
    assert_eq!(several["subject"], "shapes.several");
    assert_eq!(several["queue_group"], "q");
    assert_eq!(several["metadata"]["doc"], "Several arguments.");
    let request: Value =
        serde_json::from_str(several["metadata"]["request"].as_str().unwrap()).unwrap();
    assert_eq!(
        request,
        serde_json::json!({"a":"i64","b":"f64","c":"bool","d":"char"})
    );
    assert_eq!(several["metadata"]["response"], "String");

    let stats = raw
        .request("$SRV.STATS.shapes", Bytes::new())
        .await
        .unwrap();
    let stats: Value = serde_json::from_slice(&stats.payload).unwrap();
    assert_eq!(
        keys(&stats),
        [
            "endpoints",
            "id",
            "metadata",
            "name",
            "started",
            "type",
            "version"
        ]
    );
    assert_eq!(stats["type"], "io.nats.micro.v1.stats_response");
    assert_eq!(stats["metadata"]["lang"], "rust", "metadata in STATS too");
    let started = stats["started"].as_str().unwrap();
    assert!(started.ends_with('Z') && started.contains('T'), "{started}");
    let eps = stats["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 9);
    let nothing = &eps[0];
    assert_eq!(
        keys(nothing),
        [
            "average_processing_time",
            "data",
            "last_error",
            "name",
            "num_errors",
            "num_requests",
            "processing_time",
            "queue_group",
            "subject"
        ]
    );
    assert_eq!(nothing["name"], "nothing");
    assert_eq!(nothing["subject"], "shapes.nothing");
    assert_eq!(nothing["queue_group"], "q");
    assert_eq!(nothing["num_requests"], 2);
    assert_eq!(nothing["num_errors"], 0);
    assert_eq!(nothing["last_error"], "");
    let total = nothing["processing_time"]
        .as_u64()
        .expect("integer nanoseconds");
    let average = nothing["average_processing_time"].as_u64().unwrap();
    assert!(total > 0);
    assert_eq!(average, total / 2);
    let unit = &eps[5];
    assert_eq!(unit["name"], "unit");
    assert_eq!(unit["num_requests"], 1);
    assert_eq!(unit["num_errors"], 1);
    assert_eq!(unit["last_error"], "400:v must be positive");
    assert_eq!(eps[1]["num_requests"], 0);
    running.stop().await;
}

#[tokio::test]
async fn every_level_of_srv_subject_answers() {
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let shapes = serve_shapes(&nats).await;
    let who = serve_who(&nats, "a").await;
    let id = who.instances()[0].id.clone();
    let raw = raw(&server).await;
    for verb in ["PING", "INFO", "STATS"] {
        assert_eq!(
            gather(&raw, &format!("$SRV.{verb}")).await.len(),
            2,
            "{verb}"
        );
        let by_name = gather(&raw, &format!("$SRV.{verb}.who")).await;
        assert_eq!(by_name.len(), 1, "{verb}");
        assert_eq!(by_name[0]["name"], "who");
        let by_id = gather(&raw, &format!("$SRV.{verb}.who.{id}")).await;
        assert_eq!(by_id.len(), 1, "{verb}");
        assert_eq!(by_id[0]["id"], id.as_str());
        assert!(
            gather(&raw, &format!("$SRV.{verb}.nobody"))
                .await
                .is_empty()
        );
    }
    // After deregistering (stop), the instance no longer answers.
    who.stop().await;
    assert_eq!(gather(&raw, "$SRV.PING").await.len(), 1);
    shapes.stop().await;
}

#[tokio::test]
async fn discovers_several_services_and_instances() {
    let server = NatsServer::start();
    let a = serve_who(&connect(&server).await, "a").await;
    let b = serve_who(&connect(&server).await, "b").await;
    let shapes = serve_shapes(&connect(&server).await).await;
    let registry = connect(&server).await.registry().clone();
    use micro_core::registry::Registry;

    let services = registry.list_services().await.unwrap();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["shapes", "who"]);
    assert_eq!(services[1].instances.len(), 2);

    let mut ids: Vec<String> = registry
        .get_service("who")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    let mut expected = vec![a.instances()[0].id.clone(), b.instances()[0].id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    let who = &registry.get_service("who").await.unwrap()[0];
    assert_eq!(who.version, "1.0.0");
    assert_eq!(who.endpoints[0].subject, "who.who");
    assert!(registry.get_service("nobody").await.unwrap().is_empty());
    assert_eq!(
        registry.get_service("bad name").await.unwrap_err().code(),
        400
    );

    // Figures of every instance, counted for real.
    let client = WhoClient::new(&connect(&server).await.micro_client());
    for _ in 0..10 {
        client.who().await.unwrap();
    }
    let stats = registry.stats(Some("who")).await.unwrap();
    assert_eq!(stats.len(), 2);
    let total: u64 = stats.iter().map(|s| s.endpoints[0].num_requests).sum();
    assert_eq!(total, 10);
    assert!(stats.iter().all(|s| s.started > std::time::UNIX_EPOCH));
    assert_eq!(registry.stats(None).await.unwrap().len(), 3);
    a.stop().await;
    b.stop().await;
    shapes.stop().await;
}

async fn next(changes: &mut futures::stream::BoxStream<'static, Change>) -> Change {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("a change within 5 s")
        .expect("the stream goes on")
}

#[tokio::test]
async fn watch_sees_instances_come_and_leave() {
    use micro_core::registry::Registry;
    let server = NatsServer::start();
    let a = serve_who(&connect(&server).await, "a").await;
    let a_id = a.instances()[0].id.clone();
    let _other = serve_shapes(&connect(&server).await).await;
    let registry = connect(&server).await.registry().clone();
    let mut changes = registry
        .watch(
            WatchOptions::default()
                .service("who")
                .interval(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    // The initial set.
    match next(&mut changes).await {
        Change::Added(i) => {
            assert_eq!(i.id, a_id);
            assert_eq!(i.endpoints[0].name, "who");
        }
        other => panic!("expected Added, got {other:?}"),
    }
    // A newcomer.
    let b = serve_who(&connect(&server).await, "b").await;
    let b_id = b.instances()[0].id.clone();
    match next(&mut changes).await {
        Change::Added(i) => assert_eq!(i.id, b_id),
        other => panic!("expected Added, got {other:?}"),
    }
    // One leaves.
    a.stop().await;
    match next(&mut changes).await {
        Change::Removed { name, id } => {
            assert_eq!(name, "who");
            assert_eq!(id, a_id);
        }
        other => panic!("expected Removed, got {other:?}"),
    }
    b.stop().await;
    match next(&mut changes).await {
        Change::Removed { id, .. } => assert_eq!(id, b_id),
        other => panic!("expected Removed, got {other:?}"),
    }
}

/// With a poll far away, instances that start and stop are seen at once, from their
/// announcements; forged or malformed announcements change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_learns_of_instances_from_their_announcements_at_once() {
    use micro_core::registry::Registry;
    let server = NatsServer::start();
    let registry = connect(&server).await.registry().clone();
    let mut changes = registry
        .watch(
            WatchOptions::default()
                .service("who")
                .interval(Duration::from_secs(600)),
        )
        .await
        .unwrap();
    let raw = raw(&server).await;
    // Lies and garbage first: a DOWN for nobody, an UP whose INFO names another instance, an
    // UP that is not INFO, an UP of another service.
    raw.publish("$MICRO.REGISTRY.DOWN.who.nobody", Bytes::new())
        .await
        .unwrap();
    let shapes = serve_shapes(&connect(&server).await).await;
    let shapes_info = gather(&raw, "$SRV.INFO.shapes").await.remove(0);
    raw.publish(
        "$MICRO.REGISTRY.UP.who.forged",
        Bytes::from(serde_json::to_vec(&shapes_info).unwrap()),
    )
    .await
    .unwrap();
    raw.publish(
        "$MICRO.REGISTRY.UP.who.junk",
        Bytes::from_static(b"{not json"),
    )
    .await
    .unwrap();
    sync(&raw).await;

    let started = std::time::Instant::now();
    let a = serve_who(&connect(&server).await, "a").await;
    let a_id = a.instances()[0].id.clone();
    match tokio::time::timeout(Duration::from_secs(2), changes.next()).await {
        Ok(Some(Change::Added(i))) => assert_eq!(i.id, a_id),
        other => panic!("expected Added for the new instance within 2 s, got {other:?}"),
    }
    a.stop().await;
    match tokio::time::timeout(Duration::from_secs(2), changes.next()).await {
        Ok(Some(Change::Removed { id, .. })) => assert_eq!(id, a_id),
        other => panic!("expected Removed within 2 s, got {other:?}"),
    }
    eprintln!("start and stop seen in {:?}", started.elapsed());
    shapes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_service_stops_answering_srv() {
    let server = NatsServer::start();
    let service_side = connect(&server).await;
    let running = serve_who(&service_side, "a").await;
    let raw = raw(&server).await;
    assert_eq!(gather(&raw, "$SRV.PING.who").await.len(), 1);
    let caller = connect(&server).await;
    let who = WhoClient::new(
        &caller
            .micro_client()
            .with_timeout(Duration::from_millis(500)),
    );
    assert_eq!(who.who().await.unwrap(), "a");
    // Dropped, not stopped, while its connection stays open: no ghost answers discovery or
    // calls.
    drop(running);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gather(&raw, "$SRV.PING.who").await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped instance still answers $SRV.PING"
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match who.who().await {
            Err(err) if err.code() == 503 => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "the dropped instance still serves: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(service_side);
}
