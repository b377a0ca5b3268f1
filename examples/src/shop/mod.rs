//! The shop: four services that call each other, the example system of this repository.
//!
//! | service | endpoints | what it does |
//! |---|---|---|
//! | `shop-orders` ([`orders`]) | `place`, `get` | reserves stock, charges the payment, publishes [`ORDER_PLACED`]; compensates on failure |
//! | `shop-inventory` ([`inventory`]) | `stock`, `reserve`, `release` | stock levels; `409` when an item is out of stock |
//! | `shop-payments` ([`payments`]) | `charge` | a card network stand-in; `402` when a card is declined, `408` when the deadline leaves too little time |
//! | `shop-notifications` ([`notifications`]) | `sent` | subscribes to [`ORDER_PLACED`] and "mails" the customer |
//!
//! Every call carries the caller's `x-request-id` and `x-user` metadata down the chain (orders
//! adds a request id when the caller sent none), and every reply says what each service saw of
//! it ([`Seen`]), so propagation is visible without reading logs. Errors raised downstream reach
//! the caller as they were raised, with the id of the endpoint that raised them.
//!
//! `examples/shop.rs` runs all four in one process and plays a scenario;
//! `examples/shop_service.rs` runs one per process, and `examples/shop.sh` starts them on NATS
//! behind the `micro api` gateway.
//!
//! The impls are handed to the service builder explicitly ([`serve`]), never registered with
//! `#[service] impl` or `#[subscriber]`: a registration in a library reaches only the binaries
//! that link the code around it, and a process serving one part must not serve the others.

use std::fmt;
use std::str::FromStr;

use micro::prelude::*;
use serde::{Deserialize, Serialize};

pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;

pub use inventory::{InventoryClient, InventoryServer, InventoryService, Item, Reservation};
pub use notifications::{
    Notification, NotificationsClient, NotificationsServer, NotificationsService,
};
pub use orders::{Order, OrderPlaced, OrdersClient, OrdersServer, OrdersService};
pub use payments::{Payment, PaymentsClient, PaymentsServer, PaymentsService};

/// The metadata key of the request id that every service logs and echoes.
pub const REQUEST_ID: &str = "x-request-id";
/// The metadata key of the calling user.
pub const USER: &str = "x-user";
/// The topic orders publishes a placed order on.
pub const ORDER_PLACED: &str = "shop.order.placed";

/// What a service saw of the call it handled: the metadata that reached it and how much of the
/// caller's deadline was left, returned in replies to show propagation across services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The service that saw the call.
    pub service: String,
    /// The call's `x-request-id`.
    pub request_id: Option<String>,
    /// The call's `x-user`.
    pub user: Option<String>,
    /// The attempt number when the call was a retry (`Micro-Attempt`).
    pub attempt: Option<String>,
    /// Milliseconds left of the deadline when the handler started, if the call had one.
    pub time_left_ms: Option<u64>,
}

impl Seen {
    /// What `service` sees of the call being handled on this task.
    pub fn current(service: &str) -> Seen {
        let ctx = Context::current();
        let md = ctx.metadata();
        Seen {
            service: service.to_owned(),
            request_id: md.get(REQUEST_ID).map(str::to_owned),
            user: md.get(USER).map(str::to_owned),
            attempt: md.get(micro::metadata::keys::ATTEMPT).map(str::to_owned),
            time_left_ms: ctx
                .time_left()
                .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// One of the shop's services, as `shop_service` takes it on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// `shop-orders`.
    Orders,
    /// `shop-inventory`.
    Inventory,
    /// `shop-payments`.
    Payments,
    /// `shop-notifications`.
    Notifications,
}

impl Part {
    /// Every part, in the order a one-process shop starts them (callees first).
    pub const ALL: [Part; 4] = [
        Part::Inventory,
        Part::Payments,
        Part::Notifications,
        Part::Orders,
    ];

    /// The short name `shop_service` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Orders => "orders",
            Part::Inventory => "inventory",
            Part::Payments => "payments",
            Part::Notifications => "notifications",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Part {
    type Err = Error;

    fn from_str(s: &str) -> Result<Part, Error> {
        Part::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "unknown shop service `{s}`: expected orders, inventory, payments or \
                     notifications"
                ))
            })
    }
}

/// Adds `part`, with its demo state, to `service`; orders calls the others and publishes
/// through `client`.
pub fn serve(part: Part, service: Service, client: &Client) -> Service {
    match part {
        Part::Orders => service.handle(OrdersServer::new(OrdersService::new(client))),
        Part::Inventory => service.handle(InventoryServer::new(InventoryService::demo())),
        Part::Payments => service.handle(PaymentsServer::new(PaymentsService::new())),
        Part::Notifications => NotificationsService::new().serve(service),
    }
}

/// A short random id with a prefix (`ord-3f9c0a7e12b4d5c6`): unique across instances and
/// processes without a coordinator.
pub(crate) fn new_id(prefix: &str) -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    // `RandomState` is seeded randomly per process; hashing a counter with it gives distinct,
    // unpredictable ids with nothing but std.
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let hash = SEED.get_or_init(Default::default).hash_one(n);
    format!("{prefix}-{hash:016x}")
}

/// Locks `mutex`, also after a panic elsewhere poisoned it: the shop's state is plain data that
/// every operation leaves consistent before it could panic.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Formats cents as `12.34`.
pub fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The four services started together, as `examples/shop.rs` and the tests run them.
#[derive(Debug)]
pub struct Shop {
    /// The running services, callees first.
    pub running: Vec<micro::service::Running>,
    /// The inventory's state, for looking at stock levels from outside.
    pub inventory: InventoryService,
    /// The notifications' state, for waiting for one.
    pub notifications: NotificationsService,
}

impl Shop {
    /// Starts every part on `backend`, each as a service of its own configured by `config`.
    pub async fn start(
        config: &micro::service::Config,
        backend: &micro::service::Backend,
    ) -> Result<Shop, Error> {
        let inventory = InventoryService::demo();
        let notifications = NotificationsService::new();
        let client = backend.client();
        let mut running = Vec::new();
        for part in Part::ALL {
            let service = Service::with_config(config.clone())
                .backend(backend.clone())
                .only_explicit();
            let service = match part {
                Part::Inventory => service.handle(InventoryServer::new(inventory.clone())),
                Part::Notifications => notifications.clone().serve(service),
                other => serve(other, service, &client),
            };
            match service.start().await {
                Ok(r) => running.push(r),
                Err(err) => {
                    for r in running.into_iter().rev() {
                        r.stop().await;
                    }
                    return Err(err);
                }
            }
        }
        Ok(Shop {
            running,
            inventory,
            notifications,
        })
    }

    /// Stops every part gracefully, callers first.
    pub async fn stop(self) {
        for running in self.running.into_iter().rev() {
            running.stop().await;
        }
    }
}
