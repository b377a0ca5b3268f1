//! An `HMSG` header block, parsed by the (patched) async-nats reader, and what micro then reads
//! from the headers of a request, a reply and a stream frame.
#![no_main]

use async_nats::Message;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use micro_core::codec::ContentType;
use micro_nats::__fuzz;

fuzz_target!(|data: &[u8]| {
    // The header block and the body, as `HMSG` frames them.
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok((headers, status, description)) = async_nats::connection::__fuzz::parse_headers(header)
    else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    __fuzz::request_headers(Some(&headers), &body);
    for ct in [ContentType::Json, ContentType::MsgPack] {
        let _ = __fuzz::read_reply(Some(&headers), body.clone(), ct);
        for opener in [true, false] {
            let message = Message {
                subject: "_INBOX.x".into(),
                reply: None,
                payload: body.clone(),
                headers: Some(headers.clone()),
                status,
                description: description.clone(),
                length: body.len(),
            };
            let _ = __fuzz::stream_frame(message, ct, opener);
        }
    }
});
