//! What discovery reads from any NATS participant: PING, INFO and STATS replies, announcements
//! on `$MICRO.REGISTRY.*` and cancellation keys; an INFO that reads is then shown as
//! `micro describe`, the gateway's `/services/{service}` and the dashboard show it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use micro_nats::__fuzz;

const SUBJECTS: &[&str] = &[
    "$MICRO.REGISTRY.UP.svc.id1",
    "$MICRO.REGISTRY.DOWN.svc.id1",
    "$MICRO.REGISTRY.UP.svc",
    "$MICRO.REGISTRY.UP..",
    "UP.svc.id1",
];

fuzz_target!(|data: &[u8]| {
    let _ = __fuzz::parse_ping(data);
    let _ = __fuzz::parse_stats(data);
    let _ = __fuzz::cancel_key(data);
    for subject in SUBJECTS {
        for service in [None, Some("svc")] {
            let _ = __fuzz::announcement(subject, data, service);
        }
    }
    if let Ok(instance) = __fuzz::parse_info(data) {
        let stats: Vec<_> = __fuzz::parse_stats(data).into_iter().collect();
        let name = instance.name.clone();
        let detail = micro_cli::view::service_detail(&name, &[instance], &stats);
        let _ = serde_json::to_vec(&detail);
    }
});
