//! Entry points for the fuzz targets in `fuzz/` (see RELIABILITY.md, "Fuzzing"): each runs one
//! path that reads bytes from the network, as the crate runs it. Not API: hidden, and free to
//! change with the targets.

use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use micro_core::Error;
use micro_core::codec::ContentType;
use micro_core::registry::{Instance, InstanceStats};
use micro_core::stream::Frame;

use crate::registry::Announcement;
use crate::{headers, stream};

/// What micro reads from a received request's headers: metadata, deadline, codec, and for a
/// streaming endpoint its window and heartbeat. Panics if metadata holds a header micro or
/// NATS owns.
pub fn request_headers(headers: Option<&HeaderMap>, body: &[u8]) {
    let md = headers::metadata(headers);
    for (key, _) in md.iter() {
        assert!(
            !headers::is_reserved(key) && !headers::is_stream_key(key),
            "`{key}` became metadata"
        );
    }
    let _ = headers::deadline(headers);
    let _ = headers::content_type(headers, body);
    let _ = stream::open_params(headers, "svc", "ep");
}

/// A reply message read back into a call's outcome, as a caller in `request_ct` reads it.
pub fn read_reply(
    headers: Option<&HeaderMap>,
    body: Bytes,
    request_ct: ContentType,
) -> Result<(), Error> {
    headers::read_reply(headers, body, request_ct, "svc", "ep").map(drop)
}

/// One message of a stream read as a frame, by the opener's end (`opener`) or the server's.
pub fn stream_frame(message: Message, content_type: ContentType, opener: bool) -> Frame {
    stream::decode(message, content_type, "svc.ep", opener)
}

/// What an announcement on `$MICRO.REGISTRY.*` tells a watcher of `service` (any without one):
/// the instance of an `UP`, `None` for anything ignored.
pub fn announcement(subject: &str, payload: &[u8], service: Option<&str>) -> Option<Instance> {
    let (kind, name, id) = crate::registry::announced(subject, service)?;
    match kind {
        Announcement::Up => crate::registry::announced_instance(subject, name, id, payload),
        Announcement::Down => None,
    }
}

/// An INFO reply as discovery reads it.
pub fn parse_info(body: &[u8]) -> Result<Instance, String> {
    crate::srv::schema::parse_info(body)
}

/// A STATS reply as discovery reads it.
pub fn parse_stats(body: &[u8]) -> Result<InstanceStats, String> {
    crate::srv::schema::parse_stats(body)
}

/// A PING reply as discovery reads it: the instance's id and name.
pub fn parse_ping(body: &[u8]) -> Option<(String, String)> {
    serde_json::from_slice::<crate::srv::schema::Ping>(body)
        .ok()
        .map(|p| (p.id, p.name))
}

/// The key a message on `$MICRO.CANCEL.<service>` names.
pub fn cancel_key(payload: &[u8]) -> Option<&str> {
    crate::transport::cancel_key(payload)
}
