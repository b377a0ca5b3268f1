//! `shop-notifications`: tells customers about their orders, driven by events.

use std::sync::{Arc, Mutex};

use micro::prelude::*;
use micro::server::handler::event_fn;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{ORDER_PLACED, OrderPlaced, REQUEST_ID, lock, money};

/// The queue group of the [`ORDER_PLACED`] subscription: with several instances running, each
/// order is announced by one of them, not by all.
pub const QUEUE: &str = "shop-notifications";

/// A message sent to a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// To whom.
    pub user: String,
    /// About which order.
    pub order_id: String,
    /// What it says.
    pub text: String,
    /// The `x-request-id` the event carried from the call that placed the order.
    pub request_id: Option<String>,
}

/// Lists what was sent.
#[service(name = "shop-notifications", version = "1.0.0")]
pub trait Notifications {
    /// The notifications this instance sent, oldest first.
    #[micro(idempotent)]
    async fn sent(&self) -> Result<Vec<Notification>, Error>;
}

/// The in-memory notifications service: a subscriber to [`ORDER_PLACED`] and an endpoint
/// listing what it sent. Clones share the list.
#[derive(Clone, Debug)]
pub struct NotificationsService {
    sent: Arc<Mutex<Vec<Notification>>>,
    count: Arc<watch::Sender<usize>>,
}

impl Default for NotificationsService {
    fn default() -> Self {
        NotificationsService::new()
    }
}

impl NotificationsService {
    /// Nothing sent yet.
    pub fn new() -> Self {
        NotificationsService {
            sent: Arc::default(),
            count: Arc::new(watch::channel(0).0),
        }
    }

    /// Adds the endpoint and the [`ORDER_PLACED`] subscription to `service`.
    pub fn serve(self, service: Service) -> Service {
        let me = self.clone();
        let on_placed = event_fn(move |event: OrderPlaced| {
            let me = me.clone();
            async move {
                me.order_placed(event);
                Ok(())
            }
        });
        service
            .subscribe(ORDER_PLACED, Some(QUEUE), on_placed)
            .handle(NotificationsServer::new(self))
    }

    /// Counts notifications sent: lets a caller in the same process wait for one.
    pub fn watch(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// What was sent so far.
    pub fn all(&self) -> Vec<Notification> {
        lock(&self.sent).clone()
    }

    fn order_placed(&self, event: OrderPlaced) {
        // The event carries the metadata of the call that published it.
        let request_id = Context::current()
            .metadata()
            .get(REQUEST_ID)
            .map(str::to_owned);
        let text = format!(
            "Dear {}, your order {} of {} x {} ({}) is on its way.",
            event.user,
            event.order_id,
            event.qty,
            event.sku,
            money(event.amount_cents)
        );
        tracing::info!(order_id = %event.order_id, user = %event.user, ?request_id, "notified: {text}");
        let n = {
            let mut sent = lock(&self.sent);
            sent.push(Notification {
                user: event.user,
                order_id: event.order_id,
                text,
                request_id,
            });
            sent.len()
        };
        self.count.send_replace(n);
    }
}

impl Notifications for NotificationsService {
    async fn sent(&self) -> Result<Vec<Notification>, Error> {
        Ok(self.all())
    }
}
