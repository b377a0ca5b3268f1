//! `shop-payments`: a stand-in for a card network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use micro::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Seen, USER, lock, money, new_id};

/// A charge that went through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The payment's id.
    pub payment_id: String,
    /// The order paid for.
    pub order_id: String,
    /// Who paid.
    pub user: String,
    /// How much, in cents.
    pub amount_cents: u64,
    /// What payments saw of the call.
    pub seen: Seen,
}

/// Takes payments.
#[service(name = "shop-payments", version = "1.0.0")]
pub trait Payments {
    /// Charges the calling user (the `x-user` metadata) `amount_cents` for `order_id`.
    ///
    /// `401` without a user, `402` when the card is declined (over the card's limit), `408`
    /// when less of the call's deadline is left than the card network takes to answer: refused
    /// at once rather than charged after the caller gave up. Not idempotent: a charge repeated
    /// after a lost reply would charge twice, so clients retry it only when it reached no
    /// handler.
    async fn charge(&self, order_id: String, amount_cents: u64) -> Result<Payment, Error>;
}

/// The in-memory payments service.
#[derive(Clone, Debug)]
pub struct PaymentsService {
    limit_cents: u64,
    latency: Duration,
    payments: Arc<Mutex<HashMap<String, Payment>>>,
}

impl Default for PaymentsService {
    fn default() -> Self {
        PaymentsService::new()
    }
}

impl PaymentsService {
    /// Cards with a limit of 500.00 per charge, on a card network that takes 20 ms to answer.
    pub fn new() -> Self {
        PaymentsService {
            limit_cents: 50_000,
            latency: Duration::from_millis(20),
            payments: Arc::default(),
        }
    }

    /// How long the card network takes to answer.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Payments taken by this instance.
    pub fn taken(&self) -> Vec<Payment> {
        lock(&self.payments).values().cloned().collect()
    }
}

impl Payments for PaymentsService {
    async fn charge(&self, order_id: String, amount_cents: u64) -> Result<Payment, Error> {
        let seen = Seen::current("shop-payments");
        let user = seen
            .user
            .clone()
            .ok_or_else(|| Error::unauthorized(format!("no `{USER}` metadata: who pays?")))?;
        if let Some(left) = Context::current().time_left()
            && left < self.latency
        {
            tracing::info!(%order_id, left_ms = left.as_millis(), request_id = ?seen.request_id, "too little time left to charge");
            return Err(Error::timeout(format!(
                "{} ms left of the deadline, the card network takes {} ms: not charging",
                left.as_millis(),
                self.latency.as_millis()
            )));
        }
        if amount_cents > self.limit_cents {
            tracing::info!(%order_id, %user, amount = %money(amount_cents), request_id = ?seen.request_id, "declined");
            return Err(Error::new(
                402,
                format!(
                    "card of `{user}` declined: {} is over its limit of {}",
                    money(amount_cents),
                    money(self.limit_cents)
                ),
            )
            .with_status("Payment Required"));
        }
        // The card network's round trip.
        tokio::time::sleep(self.latency).await;
        let payment = Payment {
            payment_id: new_id("pay"),
            order_id: order_id.clone(),
            user,
            amount_cents,
            seen,
        };
        tracing::info!(
            %order_id,
            user = %payment.user,
            amount = %money(amount_cents),
            request_id = ?payment.seen.request_id,
            "charged"
        );
        lock(&self.payments).insert(order_id, payment.clone());
        Ok(payment)
    }
}
