//! The shop, all four services in one process, playing a scripted scenario:
//! `cargo run --example shop`.
//!
//! In-process by default; with `MICRO_NATS_URL` set, the same services and calls go over NATS.
//! The services live in `examples/src/shop/`; `examples/shop.sh` runs them as separate
//! processes behind the `micro api` gateway. `RUST_LOG=info` shows each service's log lines.

use std::io::IsTerminal;
use std::time::Duration;

use examples::shop::{
    InventoryClient, NotificationsClient, Order, OrderPlaced, OrdersClient, REQUEST_ID, Shop, USER,
    money,
};
use micro::prelude::*;
use micro::service::{Backend, Config};

/// An audit log of every placed order: a `#[subscriber]` in this binary, served by the one
/// service below that is started without `only_explicit`.
#[subscriber(topic = "shop.order.placed")]
async fn audit(event: OrderPlaced) -> Result<(), Error> {
    tracing::info!(order_id = %event.order_id, user = %event.user, amount = %money(event.amount_cents), "audit: order placed");
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env();
    let backend = Backend::from_config(&config).await?;
    println!("the shop on the `{}` backend", config.backend_name());
    let shop = Shop::start(&config, &backend).await?;
    // Serves the registered `#[subscriber]`s of this binary: `audit`.
    let audit = Service::with_config(config.clone())
        .backend(backend.clone())
        .start()
        .await?;
    let outcome = scenario(&shop, &backend.client()).await;
    audit.stop().await;
    shop.stop().await;
    outcome
}

async fn scenario(shop: &Shop, client: &Client) -> Result<(), Error> {
    // Ada's calls: who she is and a request id, as a web front end would send them.
    let ada = |request_id: &str| {
        client
            .with_metadata(USER, "ada")
            .with_metadata(REQUEST_ID, request_id)
            .with_timeout(Duration::from_secs(1))
    };
    let inventory = InventoryClient::new(client);
    let mut placed = shop.notifications.watch();

    println!("\n1. ada orders 2 widgets (x-request-id req-1)");
    let before = inventory.stock("widget".into()).await?.available;
    let order = OrdersClient::new(&ada("req-1"))
        .place("widget".into(), 2)
        .await?;
    print_order(&order);
    let after = inventory.stock("widget".into()).await?.available;
    println!("   widget stock: {before} -> {after}");
    tokio::time::timeout(Duration::from_secs(5), placed.wait_for(|n| *n >= 1))
        .await
        .map_err(|_| Error::timeout("no notification within 5 s"))?
        .map_err(|_| Error::internal("notifications stopped"))?;
    // Asked over the wire, as another process would.
    for sent in NotificationsClient::new(client).sent().await? {
        println!(
            "   shop-notifications (event {}): \"{}\" (x-request-id {})",
            examples::shop::ORDER_PLACED,
            sent.text,
            sent.request_id.as_deref().unwrap_or("none")
        );
    }

    println!("\n2. ada orders a gizmo, which is sold out");
    let err = expect_error(
        OrdersClient::new(&ada("req-2"))
            .place("gizmo".into(), 1)
            .await,
    )?;
    print_error(&err);

    println!("\n3. ada orders 5 gadgets, 600.00, over her card's limit");
    let err = expect_error(
        OrdersClient::new(&ada("req-3"))
            .place("gadget".into(), 5)
            .await,
    )?;
    print_error(&err);
    let gadgets = inventory.stock("gadget".into()).await?.available;
    println!("   gadget stock after orders released the reservation: {gadgets}");

    println!("\n4. ada orders a widget but gives the call 10 ms (a charge takes 20 ms)");
    let hurried = ada("req-4").with_timeout(Duration::from_millis(10));
    let err = expect_error(OrdersClient::new(&hurried).place("widget".into(), 1).await)?;
    print_error(&err);
    let widgets = inventory.stock("widget".into()).await?.available;
    println!("   widget stock, the reservation released: {widgets}");

    println!("\n5. ada looks up her order, and one that does not exist");
    let found = OrdersClient::new(&ada("req-5"))
        .get(order.id.clone())
        .await?;
    println!(
        "   {}: {} x {}, {}",
        found.id,
        found.qty,
        found.sku,
        money(found.amount_cents)
    );
    let err = expect_error(
        OrdersClient::new(&ada("req-6"))
            .get("ord-nope".into())
            .await,
    )?;
    print_error(&err);
    println!();
    Ok(())
}

fn print_order(order: &Order) {
    println!(
        "   shop-orders: order {} placed for {}: {} x {}, {} charged ({})",
        order.id,
        order.user,
        order.qty,
        order.sku,
        money(order.amount_cents),
        order.payment.payment_id
    );
    for seen in [&order.reservation.seen, &order.payment.seen] {
        println!(
            "   {} saw x-request-id {}, x-user {}, {} ms left of the 1 s deadline",
            seen.service,
            seen.request_id.as_deref().unwrap_or("none"),
            seen.user.as_deref().unwrap_or("none"),
            seen.time_left_ms
                .map_or("no".to_owned(), |ms| ms.to_string())
        );
    }
}

fn print_error(err: &Error) {
    println!(
        "   error {} {} from `{}`: {}",
        err.code(),
        err.status(),
        err.id(),
        err.detail()
    );
}

/// The error of a call that should have failed.
fn expect_error<T: std::fmt::Debug>(result: Result<T, Error>) -> Result<Error, Error> {
    match result {
        Ok(value) => Err(Error::internal(format!(
            "the call should have failed, but returned {value:?}"
        ))),
        Err(err) => Ok(err),
    }
}
