use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, ContentType};

/// The JSON codec (`application/json`), via `serde_json`.
///
/// An empty body decodes as `null`, so an endpoint without arguments can be called with no
/// payload at all, as NATS tools do.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl Codec for Json {
    const CONTENT_TYPE: &'static str = "application/json";

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, CodecError> {
        super::encode_buffered(|buf| serde_json::to_writer(buf, value)).map_err(|e| {
            CodecError::Encode {
                content_type: ContentType::Json,
                message: e.to_string(),
            }
        })
    }

    fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            body
        };
        serde_json::from_slice(body).map_err(|e| CodecError::Decode {
            content_type: ContentType::Json,
            message: e.to_string(),
        })
    }
}
