//! Metadata, `Content-Type`, deadline and errors ↔ NATS headers.
//!
//! | header | meaning |
//! |---|---|
//! | `Content-Type` | the body's codec (`application/json`, `application/msgpack`); missing means JSON, or MessagePack when the body is a MessagePack map ([`ContentType::detect`]) |
//! | `Micro-Timeout` | time left for the call in whole microseconds, relative so clock skew cannot expire it |
//! | `Nats-Service-Error` | error replies (NATS services convention): the description |
//! | `Nats-Service-Error-Code` | error replies: the numeric code |
//! | anything else | one metadata entry each |
//!
//! Headers starting with `Nats-` belong to NATS and are never metadata.

use std::str::FromStr;
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use micro_core::codec::ContentType;
use micro_core::metadata::keys;
use micro_core::transport::Reply;
use micro_core::{Error, Metadata};

/// True for headers micro or NATS own, which never become metadata.
pub(crate) fn is_reserved(key: &str) -> bool {
    key.eq_ignore_ascii_case(keys::CONTENT_TYPE)
        || key.eq_ignore_ascii_case(keys::TIMEOUT)
        || key
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("nats-"))
}

/// True for the headers of the stream protocol: read by the stream's ends, never metadata a
/// handler sees or passes on to its own calls.
pub(crate) fn is_stream_key(key: &str) -> bool {
    [
        keys::STREAM,
        keys::SEQ,
        keys::CREDIT,
        keys::HEARTBEAT,
        keys::BATCH,
        keys::CREDIT_BYTES,
    ]
    .iter()
    .any(|k| key.eq_ignore_ascii_case(k))
}

/// The first value of `key`, compared case-insensitively.
pub(crate) fn get<'a>(headers: Option<&'a HeaderMap>, key: &str) -> Option<&'a str> {
    headers?
        .iter()
        .find(|(name, _)| AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(key))
        .and_then(|(_, values)| values.first())
        .map(HeaderValue::as_str)
}

/// Every non-reserved header as metadata. Header names are unique in a `HeaderMap`, so entries
/// are appended unchecked: a message with thousands of headers costs linear time, not
/// quadratic.
pub(crate) fn metadata(headers: Option<&HeaderMap>) -> Metadata {
    let mut md = Metadata::new();
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            let name: &str = name.as_ref();
            if is_reserved(name) || is_stream_key(name) {
                continue;
            }
            if let Some(value) = values.first() {
                md.append(name, value.as_str());
            }
        }
    }
    md
}

/// Inserts one header, refusing names and values NATS cannot carry (instead of panicking as
/// `HeaderMap::insert(&str, &str)` would).
pub(crate) fn insert(headers: &mut HeaderMap, key: &str, value: &str) -> Result<(), Error> {
    let name = HeaderName::from_str(key).map_err(|_| {
        Error::bad_request(format!(
            "metadata key `{key}` cannot be a NATS header: use printable ASCII without `:` or spaces"
        ))
    })?;
    let value = HeaderValue::from_str(value).map_err(|_| {
        Error::bad_request(format!(
            "metadata value of `{key}` cannot be a NATS header: it contains a line break"
        ))
    })?;
    headers.insert(name, value);
    Ok(())
}

/// Inserts a header micro builds itself; line breaks become spaces so it always fits.
fn insert_lossy(headers: &mut HeaderMap, key: &'static str, value: &str) {
    let clean: String = value
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&clean) {
        headers.insert(HeaderName::from_static(key), value);
    }
}

/// Adds every metadata entry that is not reserved.
pub(crate) fn put_metadata(headers: &mut HeaderMap, metadata: &Metadata) -> Result<(), Error> {
    for (k, v) in metadata.iter() {
        // Stream headers are set by the stream's ends only: as metadata, they would turn a
        // call into a stream's frame.
        if !is_reserved(k) && !is_stream_key(k) {
            insert(headers, k, v)?;
        }
    }
    Ok(())
}

/// Headers of an outgoing call or event: metadata, `Content-Type` only when the receiver could
/// not tell the codec from the body ([`ContentType::needs_label`]), and, with a deadline,
/// `Micro-Timeout`. `None` when there is nothing to say: a message without headers costs NATS
/// noticeably less to route and parse (about a fifth of the throughput of a hello call,
/// measured with the bench), so a plain call, JSON or MessagePack, goes without.
pub(crate) fn outgoing(
    content_type: ContentType,
    body: &[u8],
    metadata: &Metadata,
    deadline: Option<Instant>,
) -> Result<Option<HeaderMap>, Error> {
    let label = content_type.needs_label(body);
    if metadata.is_empty() && !label && deadline.is_none() {
        return Ok(None);
    }
    let mut headers = HeaderMap::new();
    put_metadata(&mut headers, metadata)?;
    if label {
        insert_lossy(&mut headers, keys::CONTENT_TYPE, content_type.as_str());
    }
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        insert_lossy(&mut headers, keys::TIMEOUT, &left.as_micros().to_string());
    }
    Ok(Some(headers))
}

/// The deadline a received `Micro-Timeout` sets, counted from now.
pub(crate) fn deadline(headers: Option<&HeaderMap>) -> Option<Instant> {
    let raw = get(headers, keys::TIMEOUT)?;
    match raw.trim().parse::<u64>() {
        Ok(micros) => Instant::now().checked_add(Duration::from_micros(micros)),
        Err(_) => {
            tracing::debug!(value = raw, "ignoring an unparsable Micro-Timeout header");
            None
        }
    }
}

/// The codec of a received call or event: the one its `Content-Type` names, or without one,
/// the one its body shows ([`ContentType::detect`]).
#[inline]
pub(crate) fn content_type(headers: Option<&HeaderMap>, body: &[u8]) -> Result<ContentType, Error> {
    ContentType::detect(get(headers, keys::CONTENT_TYPE), body).map_err(Error::from)
}

/// Headers and body of the reply to a request made in `request_ct`.
///
/// An error reply carries the NATS services headers (`Nats-Service-Error`,
/// `Nats-Service-Error-Code`) **and** the whole structured error as the body, so tools that
/// only know the convention and micro clients that rebuild the error both get what they need.
///
/// A successful reply is labelled with `Content-Type` when the request was labelled or the reply
/// is not in the request's codec: an unlabelled reply is read in the codec of its request (a
/// reply need not be a map, so its body cannot always show its codec), and a plain request gets
/// a plain reply, with no headers at all.
// By value: cloning the body would promote an unshared `Bytes` to a shared one, an allocation
// per reply.
#[inline]
pub(crate) fn reply(
    result: Result<Reply, Error>,
    request_ct: ContentType,
    labelled: bool,
) -> (Option<HeaderMap>, Bytes) {
    match result {
        Ok(reply) if reply.metadata.is_empty() && !labelled && reply.content_type == request_ct => {
            (None, reply.body)
        }
        Ok(reply) => {
            let mut headers = HeaderMap::new();
            for (k, v) in reply.metadata.iter() {
                if !is_reserved(k)
                    && let Err(err) = insert(&mut headers, k, v)
                {
                    tracing::warn!(error = %err, "dropping a reply header");
                }
            }
            if labelled || reply.content_type != request_ct {
                insert_lossy(
                    &mut headers,
                    keys::CONTENT_TYPE,
                    reply.content_type.as_str(),
                );
            }
            (Some(headers), reply.body)
        }
        Err(err) => {
            let mut headers = HeaderMap::new();
            insert_lossy(&mut headers, keys::SERVICE_ERROR, err.description());
            insert_lossy(
                &mut headers,
                keys::SERVICE_ERROR_CODE,
                &err.code.to_string(),
            );
            let (ct, body) = match request_ct.encode(&err) {
                Ok(body) => (request_ct, body),
                // JSON of a struct of strings and a number cannot fail; MessagePack neither, but
                // keep the convention's headers even if it did.
                Err(_) => (ContentType::Json, Bytes::new()),
            };
            insert_lossy(&mut headers, keys::CONTENT_TYPE, ct.as_str());
            (Some(headers), body)
        }
    }
}

/// Rebuilds the outcome of a call made in `request_ct` from the reply message: the structured
/// error for an error reply, else the [`Reply`]. An unlabelled reply is in the request's codec.
pub(crate) fn read_reply(
    headers: Option<&HeaderMap>,
    body: Bytes,
    request_ct: ContentType,
    service: &str,
    endpoint: &str,
) -> Result<Reply, Error> {
    // The common reply: no headers, so in the request's codec, with no metadata.
    let Some(headers) = headers else {
        return Ok(Reply::new(request_ct, body));
    };
    let headers = Some(headers);
    if get(headers, keys::SEQ).is_some() {
        // An item or the end marker of a stream: the endpoint streams, and this caller took
        // it for a unary one (another version of the service?).
        return Err(Error::bad_gateway(format!(
            "`{service}.{endpoint}` answered with a stream: call it as a streaming endpoint"
        ))
        .with_id(format!("{service}.{endpoint}")));
    }
    let code = get(headers, keys::SERVICE_ERROR_CODE);
    let description = get(headers, keys::SERVICE_ERROR);
    let content_type = match get(headers, keys::CONTENT_TYPE) {
        None => Ok(request_ct),
        label => ContentType::from_header(label).map_err(Error::from),
    };
    if code.is_none() && description.is_none() {
        // The call succeeded but its answer is in a codec we cannot read: the peer's fault, not
        // the caller's (502, as a gateway would say), named after the endpoint.
        let content_type = content_type.map_err(|e| {
            Error::bad_gateway(format!(
                "cannot read the reply of `{service}.{endpoint}`: {e}"
            ))
            .with_id(format!("{service}.{endpoint}"))
        })?;
        let mut reply = Reply::new(content_type, body);
        reply.metadata = metadata(headers);
        return Ok(reply);
    }
    let id = format!("{service}.{endpoint}");
    // Prefer the structured body: it keeps id, code, detail and status exactly.
    if !body.is_empty()
        && let Ok(ct) = &content_type
        && let Ok(mut err) = ct.decode::<Error>(&body)
    {
        if err.id.is_empty() {
            err.id = id;
        }
        return Err(err);
    }
    // A service in another language: only the convention's headers.
    let code = code
        .and_then(|c| c.trim().parse::<u16>().ok())
        .unwrap_or(micro_core::error::code::INTERNAL);
    Err(Error::new(code, description.unwrap_or_default()).with_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_headers_are_not_metadata() {
        let mut h = HeaderMap::new();
        h.insert("Content-Type", "application/json");
        h.insert("Micro-Timeout", "10");
        h.insert("Nats-Msg-Id", "x");
        h.insert("X-User", "alice");
        let md = metadata(Some(&h));
        assert_eq!(md.len(), 1);
        assert_eq!(md.get("x-user"), Some("alice"));
    }

    #[test]
    fn outgoing_headers_carry_codec_metadata_and_timeout() {
        let md: Metadata = [("X-Req", "r1")].into_iter().collect();
        let deadline = Instant::now() + Duration::from_secs(2);
        // A MessagePack string cannot show its codec: labelled.
        let packed_str = ContentType::MsgPack.encode("hi").unwrap();
        let h = outgoing(ContentType::MsgPack, &packed_str, &md, Some(deadline)).unwrap();
        assert_eq!(get(h.as_ref(), "content-type"), Some("application/msgpack"));
        assert_eq!(get(h.as_ref(), "X-Req"), Some("r1"));
        let micros: u64 = get(h.as_ref(), "Micro-Timeout").unwrap().parse().unwrap();
        assert!(micros > 1_900_000 && micros <= 2_000_000, "{micros}");
        // A plain call, JSON or a MessagePack map, carries no headers at all; with metadata,
        // no Content-Type.
        let packed_map = ContentType::MsgPack
            .encode(&serde_json::json!({"name": "World"}))
            .unwrap();
        for (ct, body) in [
            (ContentType::Json, &b"{}"[..]),
            (ContentType::MsgPack, &packed_map[..]),
        ] {
            assert!(
                outgoing(ct, body, &Metadata::new(), None)
                    .unwrap()
                    .is_none()
            );
            let h = outgoing(ct, body, &md, None).unwrap();
            assert_eq!(get(h.as_ref(), "content-type"), None);
            assert_eq!(get(h.as_ref(), "X-Req"), Some("r1"));
            // What the receiver makes of it is what was sent.
            assert_eq!(content_type(h.as_ref(), body).unwrap(), ct);
        }
        let bad: Metadata = [("X-Bad", "a\nb")].into_iter().collect();
        assert_eq!(
            outgoing(ContentType::Json, b"{}", &bad, None)
                .unwrap_err()
                .code(),
            400
        );
        let bad: Metadata = [("X Bad", "v")].into_iter().collect();
        assert_eq!(
            outgoing(ContentType::Json, b"{}", &bad, None)
                .unwrap_err()
                .code(),
            400
        );
    }

    #[test]
    fn unlabelled_replies_are_read_in_the_request_codec() {
        // A MessagePack reply that is a plain number, to an unlabelled MessagePack request.
        let packed = Ok(Reply::new(
            ContentType::MsgPack,
            Bytes::from_static(b"\x07"),
        ));
        let (h, body) = reply(packed.clone(), ContentType::MsgPack, false);
        assert!(h.is_none());
        let back = read_reply(h.as_ref(), body, ContentType::MsgPack, "s", "e").unwrap();
        assert_eq!(back.content_type, ContentType::MsgPack);
        assert_eq!(ContentType::MsgPack.decode::<u8>(&back.body).unwrap(), 7);
        // A reply in another codec than the request's says so.
        let (h, body) = reply(packed, ContentType::Json, false);
        let back = read_reply(h.as_ref(), body, ContentType::Json, "s", "e").unwrap();
        assert_eq!(back.content_type, ContentType::MsgPack);
    }

    #[test]
    fn error_replies_round_trip_in_both_codecs() {
        for ct in [ContentType::Json, ContentType::MsgPack] {
            let err = Error::conflict("taken\nreally").with_id("users.create");
            let (h, body) = reply(Err(err.clone()), ct, false);
            assert_eq!(get(h.as_ref(), keys::SERVICE_ERROR), Some("taken really"));
            assert_eq!(get(h.as_ref(), keys::SERVICE_ERROR_CODE), Some("409"));
            let back = read_reply(h.as_ref(), body, ct, "users", "create").unwrap_err();
            assert_eq!(back, err);
        }
    }

    #[test]
    fn replies_are_labelled_like_their_request() {
        let json = Ok(Reply::new(ContentType::Json, Bytes::from_static(b"1")));
        assert!(reply(json.clone(), ContentType::Json, false).0.is_none());
        let (h, _) = reply(json, ContentType::Json, true);
        assert_eq!(
            get(h.as_ref(), keys::CONTENT_TYPE),
            Some("application/json")
        );
        let packed = Ok(Reply::new(
            ContentType::MsgPack,
            Bytes::from_static(b"\x01"),
        ));
        let (h, _) = reply(packed, ContentType::MsgPack, true);
        assert_eq!(
            get(h.as_ref(), keys::CONTENT_TYPE),
            Some("application/msgpack")
        );
    }

    #[test]
    fn a_reply_in_an_unknown_codec_is_a_bad_gateway() {
        let mut h = HeaderMap::new();
        h.insert(keys::CONTENT_TYPE, "text/plain");
        let err = read_reply(
            Some(&h),
            Bytes::from_static(b"hi"),
            ContentType::Json,
            "py",
            "echo",
        )
        .unwrap_err();
        assert_eq!((err.code(), err.id()), (502, "py.echo"));
        assert!(err.detail().contains("text/plain"), "{err}");
    }

    #[test]
    fn header_only_errors_are_rebuilt() {
        let mut h = HeaderMap::new();
        h.insert(keys::SERVICE_ERROR, "bad input");
        h.insert(keys::SERVICE_ERROR_CODE, "422");
        let err = read_reply(
            Some(&h),
            Bytes::from_static(b"{\"why\":1}"),
            ContentType::Json,
            "py",
            "echo",
        )
        .unwrap_err();
        assert_eq!(err.code(), 422);
        assert_eq!(err.detail(), "bad input");
        assert_eq!(err.id(), "py.echo");
    }
}
