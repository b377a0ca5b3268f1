//! The names almost every service needs: `use micro_core::prelude::*;`.

pub use crate::stream::{StreamSender, Streaming};
pub use crate::{Client, Context, Error, Service, service, subscriber};
/// Derive it (with `#[schemars(crate = "micro_core::schemars")]`) on request, reply and event
/// types so their JSON Schemas describe their fields.
pub use schemars::JsonSchema;
