//! The shop example system: its scenario in one process, and its services as separate instances
//! over a private nats-server, one of them restarted under a stream of orders.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use examples::shop::{
    InventoryClient, InventoryServer, InventoryService, NotificationsService, OrdersClient,
    OrdersServer, OrdersService, PaymentsServer, PaymentsService, REQUEST_ID, Shop, USER,
};
use micro::memory::Memory;
use micro::nats::{Nats, NatsOptions};
use micro::prelude::*;
use micro::service::{Config, Running};
use test_support::NatsServer;
use tokio::sync::watch;

/// A caller: Ada, with a request id and a 1 s deadline.
fn ada(client: &Client, request_id: &str) -> OrdersClient {
    OrdersClient::new(
        &client
            .with_metadata(USER, "ada")
            .with_metadata(REQUEST_ID, request_id)
            .with_timeout(Duration::from_secs(1)),
    )
}

async fn available(inventory: &InventoryClient, sku: &str) -> u32 {
    inventory
        .stock(sku.into())
        .await
        .unwrap_or_else(|err| panic!("stock of {sku}: {err}"))
        .available
}

/// Waits until `count` notifications were sent, at most 5 s.
async fn notified(watch: &mut watch::Receiver<usize>, count: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|n| *n >= count))
        .await
        .map(|r| r.is_ok());
    let got = *watch.borrow();
    assert_eq!(
        waited,
        Ok(true),
        "{count} notifications within 5 s, got {got}"
    );
}

/// The calls of `examples/shop.rs` and the outcomes it prints, checked.
async fn scenario(client: &Client, notifications: &NotificationsService) {
    let inventory = InventoryClient::new(client);
    let mut sent = notifications.watch();
    let already = notifications.all().len();

    // Placed: stock down, metadata seen by both services downstream, the event delivered.
    let before = available(&inventory, "widget").await;
    let order = ada(client, "req-1")
        .place("widget".into(), 2)
        .await
        .expect("2 widgets are in stock");
    assert_eq!(
        (order.user.as_str(), order.qty, order.amount_cents),
        ("ada", 2, 5_000)
    );
    assert_eq!(order.request_id, "req-1");
    assert_eq!(available(&inventory, "widget").await, before - 2);
    for seen in [&order.reservation.seen, &order.payment.seen] {
        assert_eq!(seen.request_id.as_deref(), Some("req-1"), "{seen:?}");
        assert_eq!(seen.user.as_deref(), Some("ada"), "{seen:?}");
        // The caller's 1 s deadline, not orders' own 2 s, reached them.
        let left = seen.time_left_ms.expect("the deadline travels");
        assert!(left <= 1000, "{seen:?}");
    }
    assert_eq!(order.reservation.seen.service, "shop-inventory");
    assert_eq!(order.payment.seen.service, "shop-payments");
    assert_eq!(order.payment.order_id, order.id);
    notified(&mut sent, already + 1).await;
    let note = notifications.all().pop().expect("one notification");
    assert_eq!(note.order_id, order.id);
    assert_eq!(note.user, "ada");
    assert_eq!(
        note.request_id.as_deref(),
        Some("req-1"),
        "the event carried the metadata"
    );

    let found = ada(client, "req-1b")
        .get(order.id.clone())
        .await
        .expect("get");
    assert_eq!(found, order);

    // Sold out: inventory's 409 reaches the caller through orders as inventory raised it.
    let err = ada(client, "req-2")
        .place("gizmo".into(), 1)
        .await
        .expect_err("gizmos are sold out");
    assert_eq!(err.code(), 409, "{err}");
    assert_eq!(err.id(), "shop-inventory.reserve", "{err}");
    assert_eq!(
        err.detail(),
        "out of stock: 0 of `gizmo` available, 1 wanted"
    );

    // Declined: payments' 402 reaches the caller, and the reservation is released.
    let gadgets = available(&inventory, "gadget").await;
    let err = ada(client, "req-3")
        .place("gadget".into(), 5)
        .await
        .expect_err("600.00 is over the limit");
    assert_eq!(err.code(), 402, "{err}");
    assert_eq!(err.status(), "Payment Required");
    assert_eq!(err.id(), "shop-payments.charge", "{err}");
    assert_eq!(
        err.detail(),
        "card of `ada` declined: 600.00 is over its limit of 500.00"
    );
    assert_eq!(available(&inventory, "gadget").await, gadgets);

    // Unknown item and unknown order: 404s from the service that knows.
    let err = ada(client, "req-4")
        .place("sprocket".into(), 1)
        .await
        .expect_err("no sprockets");
    assert_eq!(
        (err.code(), err.id()),
        (404, "shop-inventory.reserve"),
        "{err}"
    );
    let err = ada(client, "req-5")
        .get("ord-nope".into())
        .await
        .expect_err("no such order");
    assert_eq!((err.code(), err.id()), (404, "shop-orders.get"), "{err}");

    // Nothing was announced for the failed orders.
    assert_eq!(notifications.all().len(), already + 1);
}

/// A deadline shorter than a charge takes: a 408, and the stock held for it released.
async fn too_short_a_deadline(client: &Client, check_stock: bool) {
    let inventory = InventoryClient::new(client);
    let before = available(&inventory, "widget").await;
    let hurried = OrdersClient::new(
        &client
            .with_metadata(USER, "ada")
            .with_timeout(Duration::from_millis(10)),
    );
    let err = hurried
        .place("widget".into(), 1)
        .await
        .expect_err("10 ms is less than a charge takes");
    assert_eq!(err.code(), 408, "{err}");
    if check_stock {
        assert_eq!(err.id(), "shop-payments.charge", "{err}");
        assert!(err.detail().contains("not charging"), "{err}");
        assert_eq!(available(&inventory, "widget").await, before);
    }
}

#[tokio::test]
async fn the_scenario_in_one_process() {
    let backend = Memory::new().backend();
    let shop = Shop::start(&Config::default(), &backend)
        .await
        .expect("the shop starts");
    let client = backend.client();
    scenario(&client, &shop.notifications).await;
    too_short_a_deadline(&client, true).await;
    assert_eq!(shop.inventory.stock_of("widget"), Some(98));
    shop.stop().await;
}

async fn connect(server: &NatsServer, name: &str) -> Nats {
    Nats::connect(
        NatsOptions::new()
            .url(&server.url())
            .name(name)
            .discovery_timeout(Duration::from_millis(250)),
    )
    .await
    .unwrap_or_else(|err| panic!("{name} connects: {err}"))
}

/// Serves `handler` alone on a connection of its own, as a separate process would.
async fn instance(
    server: &NatsServer,
    name: &str,
    add: impl FnOnce(Service) -> Service,
) -> Running {
    let nats = connect(server, name).await;
    add(Service::builder().backend(nats.backend()).only_explicit())
        .start()
        .await
        .unwrap_or_else(|err| panic!("{name} starts: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_instances_over_nats_and_a_graceful_restart() {
    let server = NatsServer::start();
    // Two inventory instances sharing one stock, as instances sharing a database would.
    let stock = InventoryService::with_items([
        ("widget", 2_500, 1_000),
        ("gadget", 12_000, 5),
        ("gizmo", 30_000, 0),
    ]);
    let notifications = NotificationsService::new();
    let inventory_a = instance(&server, "inventory-a", |s| {
        s.handle(InventoryServer::new(stock.clone()))
    })
    .await;
    let inventory_b = instance(&server, "inventory-b", |s| {
        s.handle(InventoryServer::new(stock.clone()))
    })
    .await;
    let payments = instance(&server, "payments", |s| {
        s.handle(PaymentsServer::new(PaymentsService::new()))
    })
    .await;
    let notifier = instance(&server, "notifications", |s| notifications.clone().serve(s)).await;
    let orders_nats = connect(&server, "orders").await;
    let orders = Service::builder()
        .backend(orders_nats.backend())
        .only_explicit()
        .handle(OrdersServer::new(OrdersService::new(
            &orders_nats.micro_client(),
        )))
        .start()
        .await
        .expect("orders starts");
    let caller = connect(&server, "caller").await.micro_client();

    scenario(&caller, &notifications).await;
    // Over NATS the 408 may come from whichever hop the 10 ms ran out in.
    too_short_a_deadline(&caller, false).await;

    // A bounded stream of orders while instance A of inventory is stopped and started again;
    // B serves throughout, and orders' retries cover the calls that met A stopping.
    let widgets = stock.stock_of("widget").expect("widgets");
    let notes = notifications.all().len();
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (progress, progressed) = watch::channel(0_u64);
    let progress = Arc::new(progress);
    const WORKERS: u64 = 8;
    const PER_WORKER: u64 = 25;
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (caller, ok, failed, progress) =
                (caller.clone(), ok.clone(), failed.clone(), progress.clone());
            tokio::spawn(async move {
                for i in 0..PER_WORKER {
                    let orders = OrdersClient::new(
                        &caller
                            .with_metadata(USER, "ada")
                            .with_metadata(REQUEST_ID, format!("load-{w}-{i}"))
                            .with_timeout(Duration::from_secs(5)),
                    );
                    match orders.place("widget".into(), 1).await {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            eprintln!("order load-{w}-{i} failed: {err}");
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    progress.send_modify(|n| *n += 1);
                }
            })
        })
        .collect();
    let total = WORKERS * PER_WORKER;
    let at = |n: u64| {
        let mut progressed = progressed.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(30),
                progressed.wait_for(|done| *done >= n),
            )
            .await
            .unwrap_or_else(|_| panic!("{n} orders within 30 s"))
            .expect("workers running");
        }
    };
    at(total / 4).await;
    // Stopped while calls stream in, then started again on a new connection: a restart.
    inventory_a.stop().await;
    at(total / 2).await;
    let inventory_a = instance(&server, "inventory-a2", |s| {
        s.handle(InventoryServer::new(stock.clone()))
    })
    .await;
    for w in workers {
        w.await.expect("worker");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert_eq!(
        failed, 0,
        "{failed} of {total} orders failed across the restart"
    );
    assert_eq!(ok, total);
    // Every order reserved exactly once, retries included, and was announced once.
    assert_eq!(stock.stock_of("widget"), Some(widgets - total as u32));
    let mut sent = notifications.watch();
    notified(&mut sent, notes + total as usize).await;
    assert_eq!(notifications.all().len(), notes + total as usize);

    for running in [orders, notifier, payments, inventory_a, inventory_b] {
        running.stop().await;
    }
}
