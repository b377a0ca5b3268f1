//! The bytes a NATS server sends, read by the (patched) async-nats connection reader: `MSG`,
//! `HMSG` (its control line and header block), `INFO`, `-ERR`, `PING`. Nothing may panic, and
//! the operations read must not depend on how the bytes are split across socket reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((split, bytes)) = data.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split));
    async_nats::connection::__fuzz::read_ops(bytes, split);
});
