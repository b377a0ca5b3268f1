//! `shop-orders`: the front of the shop, calling inventory and payments and announcing orders.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::client::RetryPolicy;
use micro::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    InventoryClient, ORDER_PLACED, Payment, PaymentsClient, REQUEST_ID, Reservation, USER, lock,
    money, new_id,
};

/// How long orders gives each call to inventory or payments, unless its caller's deadline is
/// earlier: the caller's deadline always wins, as it travels with the call.
pub const DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a compensating release may take. It runs on a context of its own: it must happen
/// even when the order failed because the caller's deadline passed.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// A placed order, with what each service saw of the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id.
    pub id: String,
    /// Who ordered (the `x-user` metadata, `guest` without it).
    pub user: String,
    /// What.
    pub sku: String,
    /// How many.
    pub qty: u32,
    /// What was charged, in cents.
    pub amount_cents: u64,
    /// The call's `x-request-id`, or the one orders made up when the caller sent none.
    pub request_id: String,
    /// The stock inventory holds for it.
    pub reservation: Reservation,
    /// The charge.
    pub payment: Payment,
}

/// The event published on [`ORDER_PLACED`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order's id.
    pub order_id: String,
    /// Who ordered.
    pub user: String,
    /// What.
    pub sku: String,
    /// How many.
    pub qty: u32,
    /// What was charged, in cents.
    pub amount_cents: u64,
}

/// Takes orders.
#[service(name = "shop-orders", version = "1.0.0")]
pub trait Orders {
    /// Orders `qty` of `sku` for the calling user (`x-user`, else `guest`): reserves the stock,
    /// charges it and publishes `shop.order.placed`.
    ///
    /// Errors of inventory (`404`, `409`) and payments (`402`, `408`) come back as those
    /// services raised them, their `id` naming the endpoint that did; when the charge fails the
    /// reservation is released first.
    async fn place(&self, sku: String, qty: u32) -> Result<Order, Error>;

    /// An order placed through this instance; `404` otherwise.
    #[micro(idempotent)]
    async fn get(&self, id: String) -> Result<Order, Error>;
}

/// The in-memory orders service.
#[derive(Clone, Debug)]
pub struct OrdersService {
    /// Calls to inventory and payments: bounded by [`DOWNSTREAM_TIMEOUT`] and retried.
    downstream: Client,
    orders: Arc<Mutex<HashMap<String, Order>>>,
}

impl OrdersService {
    /// Orders calling the other services and publishing through `client`.
    pub fn new(client: &Client) -> Self {
        // Retried: calls that reached no handler (no instance, or one stopping: a graceful
        // restart), and for idempotent endpoints (`reserve`, `release`) attempts that got no
        // answer within 500 ms. Never a charge whose fate is unknown.
        let retry = RetryPolicy::new()
            .attempts(4)
            .backoff(Duration::from_millis(10), Duration::from_millis(200))
            .attempt_timeout(Duration::from_millis(500));
        OrdersService {
            downstream: client.with_timeout(DOWNSTREAM_TIMEOUT).with_retry(retry),
            orders: Arc::default(),
        }
    }

    /// Returns the stock held for `order_id` after a failed charge, logging a failure: the
    /// order's own error is what the caller needs to hear.
    async fn release(&self, inventory: &InventoryClient, order_id: &str, request_id: &str) {
        let inventory = inventory.clone();
        let order_id = order_id.to_owned();
        // A task of its own, on a fresh context with the request id but not the caller's
        // deadline: the server stops this handler once that deadline passes, and the release
        // must still happen.
        let ctx = Context::new()
            .with_metadata(REQUEST_ID, request_id)
            .with_timeout(RELEASE_TIMEOUT);
        let release = tokio::spawn(ctx.scope(async move {
            match inventory.release(order_id.clone()).await {
                Ok(_) => tracing::info!(%order_id, "reservation released after a failed charge"),
                Err(err) => {
                    tracing::warn!(%order_id, error = %err, "could not release the reservation")
                }
            }
        }));
        let _ = release.await;
    }
}

impl Orders for OrdersService {
    async fn place(&self, sku: String, qty: u32) -> Result<Order, Error> {
        let ctx = Context::current();
        let user = ctx.metadata().get(USER).unwrap_or("guest").to_owned();
        let request_id = ctx
            .metadata()
            .get(REQUEST_ID)
            .map_or_else(|| new_id("req"), str::to_owned);
        // The inherited context carries the caller's metadata and deadline down already; these
        // two are set here for a caller that sent none.
        let downstream = self
            .downstream
            .with_metadata(REQUEST_ID, request_id.clone())
            .with_metadata(USER, user.clone());
        let inventory = InventoryClient::new(&downstream);
        let payments = PaymentsClient::new(&downstream);
        let id = new_id("ord");
        tracing::info!(order_id = %id, %sku, qty, %user, %request_id, "placing");

        let reservation = inventory.reserve(id.clone(), sku.clone(), qty).await?;
        let amount_cents = reservation
            .price_cents
            .checked_mul(u64::from(qty))
            .ok_or_else(|| Error::bad_request("the order's total overflows"))?;
        let payment = match payments.charge(id.clone(), amount_cents).await {
            Ok(payment) => payment,
            Err(err) => {
                tracing::info!(order_id = %id, error = %err, "charge failed");
                self.release(&inventory, &id, &request_id).await;
                return Err(err);
            }
        };

        let order = Order {
            id: id.clone(),
            user: user.clone(),
            sku: sku.clone(),
            qty,
            amount_cents,
            request_id,
            reservation,
            payment,
        };
        lock(&self.orders).insert(id.clone(), order.clone());
        let event = OrderPlaced {
            order_id: id.clone(),
            user,
            sku,
            qty,
            amount_cents,
        };
        // The order stands once paid: a lost event is logged, not turned into a failed order
        // that was in fact charged.
        if let Err(err) = downstream.publish(ORDER_PLACED, &event).await {
            tracing::warn!(order_id = %id, error = %err, "could not publish {ORDER_PLACED}");
        }
        tracing::info!(order_id = %id, amount = %money(amount_cents), "placed");
        Ok(order)
    }

    async fn get(&self, id: String) -> Result<Order, Error> {
        lock(&self.orders)
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no order `{id}` here")))
    }
}
