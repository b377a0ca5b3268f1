//! Codecs: how bodies are encoded, chosen per message by its `Content-Type`.
//!
//! Two codecs ship: JSON ([`Json`], `application/json`, the default, so any language can call a
//! service with plain JSON) and MessagePack ([`MsgPack`], `application/msgpack`, with named
//! fields so it carries the same shape as JSON). The server answers in the request's codec.
//!
//! A message may leave its codec unnamed when its body says it: a MessagePack map starts with a
//! byte (`0x80`–`0x8f`, `0xde`, `0xdf`) that no JSON text can start with, so
//! [`ContentType::detect`] tells the two apart without a header. Requests are maps (arguments
//! are named), which lets a MessagePack call travel as light as a JSON one.

mod json;
mod msgpack;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use json::Json;
pub use msgpack::MsgPack;

/// Encoded bodies up to this size are copied out of the thread's scratch buffer; larger ones
/// take the buffer over instead of copying it.
const COPY_LIMIT: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Encodes through a per-thread scratch buffer, then copies the body out into an exactly-sized
/// allocation (or, for a large one, takes the buffer over). A fresh `Vec` per body would cost its own allocation, growth reallocations, and one more when
/// `Bytes` takes over a `Vec` whose capacity exceeds its length.
fn encode_buffered<E>(write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Bytes, E> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            write(&mut buf)?;
            if buf.len() <= COPY_LIMIT {
                Ok(Bytes::copy_from_slice(&buf))
            } else {
                Ok(Bytes::from(std::mem::take(&mut *buf)))
            }
        }
        // Re-entered from inside a `Serialize` impl: fall back to a fresh buffer.
        Err(_) => {
            let mut buf = Vec::new();
            write(&mut buf)?;
            Ok(Bytes::from(buf))
        }
    })
}

/// How deeply arrays and maps may nest in a body micro decodes, in either codec: serde_json's
/// own recursion limit, applied to MessagePack too, so that no body (a request, a reply, an
/// event) can exhaust the stack of the task that decodes it, whatever the build.
pub const MAX_DEPTH: usize = 128;

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The `Content-Type` names no codec micro speaks.
    #[error("unsupported content type `{0}`: expected `application/json` or `application/msgpack`")]
    UnsupportedContentType(String),
    /// A value could not be encoded.
    #[error("cannot encode {content_type} body: {message}")]
    Encode {
        /// The codec that failed.
        content_type: ContentType,
        /// The serializer's message.
        message: String,
    },
    /// A body could not be decoded into the expected type.
    #[error("cannot decode {content_type} body: {message}")]
    Decode {
        /// The codec that failed.
        content_type: ContentType,
        /// The deserializer's message.
        message: String,
    },
}

/// Encodes and decodes message bodies.
///
/// Codecs are chosen per message through [`ContentType`], so this trait is generic rather than
/// object-safe; implement it for a new codec and add a [`ContentType`] variant.
pub trait Codec {
    /// The MIME type written in the `Content-Type` header.
    const CONTENT_TYPE: &'static str;

    /// Encodes `value`.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, CodecError>;

    /// Decodes a `T` from `body`.
    fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError>;
}

/// The codec of one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentType {
    /// `application/json`.
    #[default]
    Json,
    /// `application/msgpack`.
    MsgPack,
}

impl ContentType {
    /// The MIME type.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContentType::Json => Json::CONTENT_TYPE,
            ContentType::MsgPack => MsgPack::CONTENT_TYPE,
        }
    }

    /// Parses a `Content-Type` header value. A missing header means JSON; parameters such as
    /// `; charset=utf-8` are ignored; `application/x-msgpack` and `application/vnd.msgpack` are
    /// accepted as MessagePack.
    pub fn from_header(value: Option<&str>) -> Result<Self, CodecError> {
        let Some(value) = value else {
            return Ok(ContentType::Json);
        };
        let mime = value.split(';').next().unwrap_or("").trim();
        if mime.is_empty() || mime.eq_ignore_ascii_case("application/json") {
            Ok(ContentType::Json)
        } else if mime.eq_ignore_ascii_case("application/msgpack")
            || mime.eq_ignore_ascii_case("application/x-msgpack")
            || mime.eq_ignore_ascii_case("application/vnd.msgpack")
        {
            Ok(ContentType::MsgPack)
        } else {
            Err(CodecError::UnsupportedContentType(value.to_owned()))
        }
    }

    /// The codec of a message from its `Content-Type` header, or, without one, from its body:
    /// a body that starts like a MessagePack map (see [`is_msgpack_map`]) is MessagePack, any
    /// other is JSON.
    pub fn detect(header: Option<&str>, body: &[u8]) -> Result<Self, CodecError> {
        match header {
            Some(_) => ContentType::from_header(header),
            None if is_msgpack_map(body) => Ok(ContentType::MsgPack),
            None => Ok(ContentType::Json),
        }
    }

    /// Whether a message in this codec with `body` must name its codec, because
    /// [`detect`](Self::detect) would take it for the other one without a header.
    pub fn needs_label(self, body: &[u8]) -> bool {
        match self {
            ContentType::Json => is_msgpack_map(body),
            ContentType::MsgPack => !is_msgpack_map(body),
        }
    }

    /// Encodes `value` with this codec.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Bytes, CodecError> {
        match self {
            ContentType::Json => Json::encode(value),
            ContentType::MsgPack => MsgPack::encode(value),
        }
    }

    /// Decodes a `T` from `body` with this codec.
    pub fn decode<T: DeserializeOwned>(self, body: &[u8]) -> Result<T, CodecError> {
        match self {
            ContentType::Json => Json::decode(body),
            ContentType::MsgPack => MsgPack::decode(body),
        }
    }
}

/// Whether `body` starts like a MessagePack map (fixmap `0x80`–`0x8f`, map 16 `0xde`, map 32
/// `0xdf`). No JSON text starts with these bytes (they are not ASCII, and no JSON value starts
/// outside ASCII), so the test cannot mistake JSON for MessagePack.
pub fn is_msgpack_map(body: &[u8]) -> bool {
    matches!(body.first(), Some(0x80..=0x8f | 0xde | 0xdf))
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentType {
    type Err = CodecError;

    /// Accepts a MIME type or the short names `json` and `msgpack`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(ContentType::Json),
            "msgpack" => Ok(ContentType::MsgPack),
            other => ContentType::from_header(Some(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Hello {
        name: String,
        n: Option<u32>,
    }

    #[test]
    fn bodies_of_every_size_keep_their_bytes() {
        // Medium bodies are copied out of the scratch buffer, large ones take it over: every
        // body must keep exactly its own bytes while later ones are encoded.
        let sizes = [0, 1, 15, 1000, COPY_LIMIT - 2, COPY_LIMIT + 10];
        let mut kept = Vec::new();
        for round in 0..20 {
            for &size in &sizes {
                let text = format!("{round}:{}", "x".repeat(size));
                let body = ContentType::Json.encode(&text).unwrap();
                kept.push((serde_json::to_vec(&text).unwrap(), body));
            }
        }
        for (expected, body) in &kept {
            assert_eq!(&body[..], &expected[..]);
        }
    }

    #[test]
    fn header_parsing() {
        assert_eq!(ContentType::from_header(None).unwrap(), ContentType::Json);
        assert_eq!(
            ContentType::from_header(Some("application/json; charset=utf-8")).unwrap(),
            ContentType::Json
        );
        assert_eq!(
            ContentType::from_header(Some("Application/MsgPack")).unwrap(),
            ContentType::MsgPack
        );
        let err = ContentType::from_header(Some("text/xml")).unwrap_err();
        assert!(err.to_string().contains("text/xml"), "{err}");
    }

    #[test]
    fn unlabelled_bodies_are_told_apart() {
        let v = Hello {
            name: "World".into(),
            n: None,
        };
        let packed = ContentType::MsgPack.encode(&v).unwrap();
        let json = ContentType::Json.encode(&v).unwrap();
        assert_eq!(
            ContentType::detect(None, &packed).unwrap(),
            ContentType::MsgPack
        );
        assert_eq!(ContentType::detect(None, &json).unwrap(), ContentType::Json);
        // An empty body and JSON with leading space are JSON; a header always wins.
        assert_eq!(ContentType::detect(None, b"").unwrap(), ContentType::Json);
        assert_eq!(
            ContentType::detect(None, b" {}").unwrap(),
            ContentType::Json
        );
        assert_eq!(
            ContentType::detect(Some("application/json"), &packed).unwrap(),
            ContentType::Json
        );
        assert!(ContentType::detect(Some("text/xml"), &json).is_err());
        // An empty argument list and a large map are maps too.
        #[derive(Serialize)]
        struct Empty {}
        assert!(is_msgpack_map(
            &ContentType::MsgPack.encode(&Empty {}).unwrap()
        ));
        let big: std::collections::BTreeMap<u32, u32> = (0..100).map(|i| (i, i)).collect();
        assert!(is_msgpack_map(&ContentType::MsgPack.encode(&big).unwrap()));
        // What must be labelled: MessagePack that is not a map, JSON that looks like one.
        assert!(!ContentType::MsgPack.needs_label(&packed));
        assert!(ContentType::MsgPack.needs_label(&ContentType::MsgPack.encode("hi").unwrap()));
        assert!(!ContentType::Json.needs_label(&json));
        assert!(ContentType::Json.needs_label(b"\x81"));
    }

    #[test]
    fn no_json_text_starts_like_a_msgpack_map() {
        // Every byte a JSON text may start with (whitespace, a value's first byte).
        for first in b" \t\r\n{[\"-0123456789tfn" {
            assert!(!is_msgpack_map(&[*first]), "{first:#x}");
        }
    }

    #[test]
    fn both_codecs_round_trip_the_same_shape() {
        let v = Hello {
            name: "World".into(),
            n: Some(3),
        };
        for ct in [ContentType::Json, ContentType::MsgPack] {
            let bytes = ct.encode(&v).unwrap();
            assert_eq!(ct.decode::<Hello>(&bytes).unwrap(), v);
        }
        // MessagePack keeps field names, so a map decodes into the same struct.
        let packed = ContentType::MsgPack.encode(&v).unwrap();
        let as_json: serde_json::Value = ContentType::MsgPack.decode(&packed).unwrap();
        assert_eq!(as_json, serde_json::json!({"name": "World", "n": 3}));
    }

    #[test]
    fn decode_errors_are_descriptive() {
        let err = ContentType::Json
            .decode::<Hello>(b"{\"name\": 1}")
            .unwrap_err();
        assert!(matches!(err, CodecError::Decode { .. }));
        assert!(err.to_string().contains("application/json"), "{err}");
        let err = ContentType::MsgPack.decode::<Hello>(b"\xc1").unwrap_err();
        assert!(matches!(err, CodecError::Decode { .. }));
    }

    /// `{"name":"x","skip":<depth nested arrays>}`: the nesting sits in a field `Hello` ignores.
    fn nested_in_an_ignored_field(depth: usize, open: u8) -> Vec<u8> {
        let mut body = vec![0x83, 0xa4];
        body.extend_from_slice(b"name");
        body.extend_from_slice(&[0xa1, b'x', 0xa4]);
        body.extend_from_slice(b"skip");
        for _ in 0..depth {
            body.push(open);
            if open == 0x81 {
                // A map of one entry: key "k", then the next level as its value.
                body.extend_from_slice(&[0xa1, b'k']);
            }
        }
        body.push(0xc0);
        body.extend_from_slice(&[0xa1, b'n', 0x03]);
        body
    }

    #[test]
    fn msgpack_nesting_deeper_than_json_allows_is_refused_not_a_stack_overflow() {
        // Within the limit: decoded, the nesting skipped.
        let ok = nested_in_an_ignored_field(MAX_DEPTH - 2, 0x91);
        let hello: Hello = ContentType::MsgPack.decode(&ok).unwrap();
        assert_eq!(hello.name, "x");
        // Past it (arrays or maps, ignored or read as values): a decode error, in every build.
        for (depth, open) in [
            (MAX_DEPTH + 1, 0x91),
            (700, 0x91),
            (1_000, 0x81),
            (100_000, 0x91),
        ] {
            let body = nested_in_an_ignored_field(depth, open);
            let err = ContentType::MsgPack.decode::<Hello>(&body).unwrap_err();
            assert!(matches!(err, CodecError::Decode { .. }), "{depth}: {err}");
            assert!(err.to_string().contains("depth"), "{depth}: {err}");
            let err = ContentType::MsgPack
                .decode::<serde_json::Value>(&body)
                .unwrap_err();
            assert!(err.to_string().contains("depth"), "{depth}: {err}");
        }
        // JSON refuses the same depth.
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(
            ContentType::Json
                .decode::<serde_json::Value>(deep.as_bytes())
                .is_err()
        );
    }
}
