//! The names almost every service needs: `use micro_core::prelude::*;`.

pub use crate::stream::{StreamSender, Streaming};
pub use crate::{Client, Context, Error, Service, service, subscriber};
/// Read a [`Streaming`] with `.next()`, `.try_collect()` and the rest, without a `futures`
/// dependency of your own.
pub use futures::{StreamExt as _, TryStreamExt as _};
/// Derive it (with `#[schemars(crate = "micro_core::schemars")]`) on request, reply and event
/// types so their JSON Schemas describe their fields.
pub use schemars::JsonSchema;
