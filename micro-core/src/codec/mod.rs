//! Codecs: how bodies are encoded, chosen per message by its `Content-Type`.
//!
//! Two codecs ship: JSON ([`Json`], `application/json`, the default, so any language can call a
//! service with plain JSON) and MessagePack ([`MsgPack`], `application/msgpack`, with named
//! fields so it carries the same shape as JSON). The server answers in the request's codec.

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

/// Encodes through a per-thread scratch buffer, so a small body costs exactly one allocation
/// (an exactly-sized copy): a fresh `Vec` would cost its own allocation, growth reallocations,
/// and one more when `Bytes` takes over a `Vec` whose capacity exceeds its length.
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
}
