//! The `micro` toolkit: a command line, an HTTP API gateway and a web dashboard for services
//! that speak the NATS services protocol (`$SRV.PING/INFO/STATS`), whether written with micro
//! or with another language's NATS client.
//!
//! The binary is `micro` (`cargo install --path micro-cli`); this library holds everything it
//! runs, so the gateway can be embedded and tested in-process:
//!
//! - [`cmd`]: the command line (`micro services`, `describe`, `call`, `publish`, `subscribe`,
//!   `stats`, `ping`, `gen`, `api`, `web`), parsed with clap;
//! - [`api`]: the axum gateway: [`api::router`] turns a [`Client`](micro_core::Client) into an
//!   HTTP API (`POST /{service}/{endpoint}`, `GET /services`, `GET /stats`, `GET /healthz`) and
//!   serves the dashboard under `/ui`;
//! - [`web`]: the dashboard's page, script and style sheet, embedded in the binary;
//! - [`view`]: the JSON shapes of discovery data that the command line and the gateway share;
//! - [`gen`](mod@gen): typed clients in TypeScript and Python written from a service's INFO
//!   (`micro gen ts|py`);
//! - [`schema`]: fields, types and example bodies read from the endpoints' JSON Schemas.
//!
//! The gateway works over any backend; on the in-process one it needs no server:
//!
//! ```
//! use micro_cli::api::{self, ApiOptions};
//! use micro_core::memory::Memory;
//!
//! let memory = Memory::new();
//! let app: axum::Router = api::router(memory.client(), ApiOptions::default());
//! # let _ = app;
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod catalog;
pub mod cmd;
pub mod connect;
pub mod error;
pub mod r#gen;
pub mod output;
pub mod schema;
pub mod view;
pub mod web;

pub use error::CliError;
