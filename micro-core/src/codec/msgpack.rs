use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecError, ContentType};

/// The MessagePack codec (`application/msgpack`), via `rmp-serde`.
///
/// Structs are written as maps with field names (`to_vec_named`), so a MessagePack body has the
/// same shape as its JSON twin and other languages can decode it without a schema. An empty body
/// decodes as nil.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgPack;

impl Codec for MsgPack {
    const CONTENT_TYPE: &'static str = "application/msgpack";

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, CodecError> {
        super::encode_buffered(|buf| rmp_serde::encode::write_named(buf, value)).map_err(|e| {
            CodecError::Encode {
                content_type: ContentType::MsgPack,
                message: e.to_string(),
            }
        })
    }

    fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
        // 0xc0 is MessagePack nil.
        let body: &[u8] = if body.is_empty() { &[0xc0] } else { body };
        let mut de = rmp_serde::Deserializer::from_read_ref(body);
        // rmp-serde's own limit (1,024) is deeper than a debug build's stack survives.
        de.set_max_depth(super::MAX_DEPTH);
        T::deserialize(&mut de).map_err(|e| CodecError::Decode {
            content_type: ContentType::MsgPack,
            message: e.to_string(),
        })
    }
}
