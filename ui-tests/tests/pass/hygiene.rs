//! Generated code must not depend on the user's scope: no prelude, and local items named like
//! everything the expansion could reach for unqualified.

#![no_implicit_prelude]
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

use ::micro_core::prelude::*;
use ::std::string::String;

// Traps: if generated code names any of these unqualified, it picks up the wrong item.
struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Box;
struct Vec;
struct Arc;
struct Send;
struct Sync;
struct Sized;
struct Clone;
struct Debug;
struct Default;
struct Future;
struct Serialize;
struct Deserialize;
struct Handler;
struct Call;
struct f;
struct call;
struct err;
struct args;
struct endpoints;
mod serde {}
mod inventory {}
mod core {}
mod std {}

mod types {
    /// A type from another module.
    #[derive(::serde::Serialize, ::serde::Deserialize, ::core::fmt::Debug, ::core::cmp::PartialEq)]
    pub struct Item {
        pub id: u32,
    }
}

use self::types::Item;

/// A service written in a crate without a prelude.
#[service(name = "hygiene", version = "1.0.0")]
pub trait Hygiene {
    /// Echoes the item.
    async fn echo(&self, item: Item, note: ::core::option::Option<String>)
    -> ::core::result::Result<Item, Error>;
    /// No arguments, unit reply.
    async fn ping(&self) -> ::std::result::Result<(), ::micro_core::Error>;
}

#[derive(::core::default::Default)]
struct Impl;

#[service]
impl Hygiene for Impl {
    async fn echo(
        &self,
        item: Item,
        _note: ::core::option::Option<String>,
    ) -> ::core::result::Result<Item, Error> {
        ::core::result::Result::Ok(item)
    }

    async fn ping(&self) -> ::std::result::Result<(), ::micro_core::Error> {
        ::core::result::Result::Ok(())
    }
}

#[subscriber(topic = "hygiene.>", queue = "q")]
async fn on_item(item: Item) -> ::core::result::Result<(), Error> {
    let _ = item;
    ::core::result::Result::Ok(())
}

fn main() {
    let rt = ::tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let memory = ::micro_core::memory::Memory::new();
        let running = Service::builder()
            .backend(memory.backend())
            .only_explicit()
            .handle(HygieneServer::new(Impl))
            .start()
            .await
            .expect("start");
        let client = HygieneClient::new(&running.client());
        let item = client
            .echo(Item { id: 7 }, ::core::option::Option::None)
            .await
            .expect("echo");
        ::std::assert_eq!(item, Item { id: 7 });
        client.ping().await.expect("ping");
        ::std::assert_eq!(HygieneClient::DESCRIPTOR.endpoints.len(), 2);
        running.stop().await;
    });
}
