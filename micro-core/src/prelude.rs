//! The names almost every service needs: `use micro_core::prelude::*;`.

pub use crate::{Client, Context, Error, Service, service, subscriber};
