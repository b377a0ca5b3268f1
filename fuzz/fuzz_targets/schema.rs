//! The endpoint JSON Schemas an INFO reply carries, as `micro describe`, the gateway and the
//! dashboard read them: fields, a short type, an example body. Any participant can publish an
//! INFO, so these must stay bounded in time and memory whatever the schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micro_cli::schema;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = schema::fields(&value);
    let _ = schema::type_name(&value);
    let _ = schema::example(&value);
});
