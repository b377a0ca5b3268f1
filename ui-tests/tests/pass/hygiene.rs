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
struct open;
struct content_type;
struct input;
struct stream_open;
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
    /// Both ways, the stream between two arguments.
    async fn relay(
        &self,
        first: u32,
        items: Streaming<Item>,
        last: u32,
    ) -> ::core::result::Result<::micro_core::stream::Streaming<Item>, Error>;
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

    async fn relay(
        &self,
        first: u32,
        items: Streaming<Item>,
        last: u32,
    ) -> ::core::result::Result<::micro_core::stream::Streaming<Item>, Error> {
        ::std::assert_eq!((first, last), (1, 2));
        ::core::result::Result::Ok(Streaming::try_new(items))
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
        let relayed = client
            .relay(1, Streaming::iter([Item { id: 8 }]), 2)
            .await
            .expect("relay");
        let relayed: ::std::vec::Vec<Item> =
            ::futures::TryStreamExt::try_collect(relayed).await.expect("relayed");
        ::std::assert_eq!(relayed, [Item { id: 8 }]);
        ::std::assert_eq!(HygieneClient::DESCRIPTOR.endpoints.len(), 3);
        running.stop().await;
    });
}
