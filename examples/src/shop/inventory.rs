//! `shop-inventory`: stock levels and the stock held for orders.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use micro::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Seen, lock};

/// An item of the catalog and how many are available.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The stock-keeping unit, the item's id.
    pub sku: String,
    /// Price of one, in cents.
    pub price_cents: u64,
    /// How many can still be ordered.
    pub available: u32,
}

/// Stock held for one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order holding the stock.
    pub order_id: String,
    /// What is held.
    pub sku: String,
    /// How many.
    pub qty: u32,
    /// Price of one, in cents, when reserved.
    pub price_cents: u64,
    /// How many are left available after this reservation.
    pub remaining: u32,
    /// What inventory saw of the call that made the reservation.
    pub seen: Seen,
}

/// Stock levels and reservations.
#[service(name = "shop-inventory", version = "1.0.0")]
pub trait Inventory {
    /// One item and how many are available; `404` for an unknown item.
    #[micro(idempotent)]
    async fn stock(&self, sku: String) -> Result<Item, Error>;

    /// Holds `qty` of `sku` for order `order_id`: `404` for an unknown item, `409` when fewer
    /// are available. Reserving again for the same order returns the first reservation, so a
    /// retry after a lost reply holds the stock once: that is what makes it idempotent.
    #[micro(idempotent)]
    async fn reserve(&self, order_id: String, sku: String, qty: u32) -> Result<Reservation, Error>;

    /// Makes the stock held for `order_id` available again; `false` when it held none, so
    /// releasing twice is harmless.
    #[micro(idempotent)]
    async fn release(&self, order_id: String) -> Result<bool, Error>;
}

#[derive(Debug, Default)]
struct Stock {
    items: HashMap<String, Item>,
    reservations: HashMap<String, Reservation>,
}

/// The in-memory inventory.
///
/// Clones share their stock, as instances sharing one database would: two instances serving
/// clones of one `InventoryService` can take each other's place.
#[derive(Clone, Debug, Default)]
pub struct InventoryService {
    stock: Arc<Mutex<Stock>>,
}

impl InventoryService {
    /// An inventory holding `items` (sku, price in cents, available).
    pub fn with_items<'a>(items: impl IntoIterator<Item = (&'a str, u64, u32)>) -> Self {
        let items = items
            .into_iter()
            .map(|(sku, price_cents, available)| {
                let item = Item {
                    sku: sku.to_owned(),
                    price_cents,
                    available,
                };
                (item.sku.clone(), item)
            })
            .collect();
        InventoryService {
            stock: Arc::new(Mutex::new(Stock {
                items,
                reservations: HashMap::new(),
            })),
        }
    }

    /// The demo catalog: 100 widgets at 25.00, 5 gadgets at 120.00, and gizmos (300.00), sold
    /// out.
    pub fn demo() -> Self {
        Self::with_items([
            ("widget", 2_500, 100),
            ("gadget", 12_000, 5),
            ("gizmo", 30_000, 0),
        ])
    }

    /// How many of `sku` are available, read directly (a test or the process holding the
    /// service); `None` for an unknown item.
    pub fn stock_of(&self, sku: &str) -> Option<u32> {
        lock(&self.stock).items.get(sku).map(|item| item.available)
    }
}

impl Inventory for InventoryService {
    async fn stock(&self, sku: String) -> Result<Item, Error> {
        lock(&self.stock)
            .items
            .get(&sku)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no item `{sku}`")))
    }

    async fn reserve(&self, order_id: String, sku: String, qty: u32) -> Result<Reservation, Error> {
        if qty == 0 {
            return Err(Error::bad_request("qty must be at least 1"));
        }
        let seen = Seen::current("shop-inventory");
        let mut stock = lock(&self.stock);
        if let Some(held) = stock.reservations.get(&order_id) {
            if held.sku == sku && held.qty == qty {
                tracing::info!(%order_id, attempt = ?seen.attempt, "reservation repeated; holding it once");
                return Ok(held.clone());
            }
            return Err(Error::conflict(format!(
                "order `{order_id}` already holds {} of `{}`",
                held.qty, held.sku
            )));
        }
        let item = stock
            .items
            .get_mut(&sku)
            .ok_or_else(|| Error::not_found(format!("no item `{sku}`")))?;
        if item.available < qty {
            tracing::info!(%order_id, %sku, qty, available = item.available, request_id = ?seen.request_id, "out of stock");
            return Err(Error::conflict(format!(
                "out of stock: {} of `{sku}` available, {qty} wanted",
                item.available
            )));
        }
        item.available -= qty;
        let reservation = Reservation {
            order_id: order_id.clone(),
            sku,
            qty,
            price_cents: item.price_cents,
            remaining: item.available,
            seen,
        };
        tracing::info!(
            %order_id,
            sku = %reservation.sku,
            qty,
            remaining = reservation.remaining,
            request_id = ?reservation.seen.request_id,
            user = ?reservation.seen.user,
            "reserved"
        );
        stock.reservations.insert(order_id, reservation.clone());
        Ok(reservation)
    }

    async fn release(&self, order_id: String) -> Result<bool, Error> {
        let mut stock = lock(&self.stock);
        let Some(held) = stock.reservations.remove(&order_id) else {
            return Ok(false);
        };
        if let Some(item) = stock.items.get_mut(&held.sku) {
            item.available = item.available.saturating_add(held.qty);
        }
        let request_id = Context::current()
            .metadata()
            .get(super::REQUEST_ID)
            .map(str::to_owned);
        tracing::info!(%order_id, sku = %held.sku, qty = held.qty, ?request_id, "released");
        Ok(true)
    }
}
