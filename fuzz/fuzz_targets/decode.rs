//! Request and reply bodies in both codecs: decoded as the generated endpoint decodes its
//! arguments (`__private::decode_args`), into representative argument types, the structured
//! error and the generic value the gateway and the CLI read, and checked as the gateway checks
//! a JSON body before sending it on.
#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use micro_core::Error;
use micro_core::codec::ContentType;
use micro_core::transport::Call;
use serde::{Deserialize, Serialize};

/// Shaped like a generated request struct: one field per argument, named.
#[derive(Debug, Serialize, Deserialize)]
struct OrderArgs<A, B, C, D, E, F> {
    id: A,
    customer: B,
    lines: C,
    note: D,
    kind: E,
    attributes: F,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
    price: f64,
    #[serde(default)]
    gift: bool,
}

#[derive(Debug, Serialize, Deserialize)]
enum Kind {
    Pickup,
    Delivery { address: String, floor: Option<i16> },
    Split(Vec<u8>, i128),
}

type Order = OrderArgs<u64, String, Vec<Line>, Option<String>, Kind, BTreeMap<String, i64>>;

/// No arguments (`async fn ping(&self)`).
#[derive(Debug, Serialize, Deserialize)]
struct NoArgs {}

fn decode_all(content_type: ContentType, body: &Bytes) {
    let call = Call::new("svc", "ep", content_type, body.clone());
    let _ = micro_core::__private::decode_args::<Order>(&call);
    let _ = micro_core::__private::decode_args::<NoArgs>(&call);
    let _ = micro_core::__private::decode_args::<OrderArgs<String, (), (), (), (), ()>>(&call);
    let _ = content_type.decode::<Error>(body);
    let _ = content_type.decode::<Line>(body);
    if let Ok(value) = content_type.decode::<serde_json::Value>(body) {
        // What the gateway does with a MessagePack reply to a JSON caller, and `micro call`
        // with any reply: back out as JSON.
        let json = serde_json::to_vec(&value).expect("a decoded value encodes as JSON");
        let again: serde_json::Value =
            serde_json::from_slice(&json).expect("JSON micro wrote reads back");
        let _ = ContentType::MsgPack.encode(&again);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    match selector % 3 {
        0 => decode_all(ContentType::Json, &body),
        1 => decode_all(ContentType::MsgPack, &body),
        // No `Content-Type`: the codec the body shows, as a receiver reads it.
        _ => {
            if let Ok(ct) = ContentType::detect(None, &body) {
                decode_all(ct, &body);
            }
        }
    }
    // The gateway's check of a JSON body.
    let _ = serde_json::from_slice::<serde::de::IgnoredAny>(&body);
});
