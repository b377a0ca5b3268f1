//! micro's reading of headers on well-formed messages: `Micro-Timeout`, metadata, the codec,
//! `Nats-Service-Error`/`Nats-Service-Error-Code` replies rebuilt into structured errors, and
//! stream frames (`Micro-Stream`, `Micro-Seq`, `Micro-Credit`, `Micro-Credit-Bytes`,
//! `Micro-Batch`, `Micro-Heartbeat`), batches' bodies included. The header
//! names are mostly the ones micro reads, in any case, so the fuzzer spends its time on values.
#![no_main]

use std::str::FromStr;

use async_nats::{HeaderMap, HeaderName, HeaderValue, Message, StatusCode};
use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use micro_core::codec::ContentType;
use micro_nats::__fuzz;

const NAMES: &[&str] = &[
    "Content-Type",
    "content-type",
    "Micro-Timeout",
    "MICRO-TIMEOUT",
    "Nats-Service-Error",
    "Nats-Service-Error-Code",
    "nats-service-error-code",
    "Micro-Stream",
    "Micro-Seq",
    "micro-seq",
    "Micro-Credit",
    "Micro-Credit-Bytes",
    "Micro-Batch",
    "micro-batch",
    "Micro-Heartbeat",
    "Micro-Attempt",
    "Nats-Msg-Id",
    "X-User",
    "x-user",
    "Authorization",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Other(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    headers: Vec<(Name, String)>,
    /// `None`: a message without headers (`MSG`).
    with_headers: bool,
    status: Option<u16>,
    description: Option<String>,
    body: Vec<u8>,
    msgpack: bool,
    opener: bool,
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::Known(i) => NAMES[usize::from(*i) % NAMES.len()],
            Name::Other(name) => name.as_str(),
        };
        // Only what a well-formed message can carry; the parser's own target covers the rest.
        if let (Ok(name), Ok(value)) = (HeaderName::from_str(name), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    }
    let headers = input.with_headers.then_some(headers);
    let body = Bytes::from(input.body);
    let ct = if input.msgpack {
        ContentType::MsgPack
    } else {
        ContentType::Json
    };
    __fuzz::request_headers(headers.as_ref(), &body);
    let _ = __fuzz::read_reply(headers.as_ref(), body.clone(), ct);
    let message = Message {
        subject: "_INBOX.x".into(),
        reply: None,
        payload: body.clone(),
        headers,
        status: input.status.and_then(|s| StatusCode::from_u16(s).ok()),
        description: input.description,
        length: body.len(),
    };
    let _ = __fuzz::stream_frame(message, ct, input.opener);
});
