//! Selector: picks one instance of a service among those the registry knows.
//!
//! On NATS, queue groups already spread calls across instances; a selector is for clients that
//! choose an instance themselves (pinning a call to one instance, or client-side balancing).

mod random;
mod round_robin;

use std::fmt;

pub use random::Random;
pub use round_robin::RoundRobin;

use crate::registry::Instance;

/// Chooses one instance for a call.
pub trait Selector: Send + Sync + fmt::Debug + 'static {
    /// Picks one of `instances`; `None` when the slice is empty.
    fn select<'a>(&self, instances: &'a [Instance]) -> Option<&'a Instance>;
}

/// Keeps only the instances whose metadata has `key` set to `value`.
pub fn filter_metadata<'a>(
    instances: &'a [Instance],
    key: &'a str,
    value: &'a str,
) -> impl Iterator<Item = &'a Instance> + 'a {
    instances
        .iter()
        .filter(move |i| i.metadata.get(key).is_some_and(|v| v == value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn instance(id: &str, region: &str) -> Instance {
        Instance {
            name: "svc".into(),
            id: id.into(),
            version: "1.0.0".into(),
            description: String::new(),
            metadata: BTreeMap::from([("region".to_owned(), region.to_owned())]),
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn round_robin_cycles() {
        let all = [
            instance("a", "eu"),
            instance("b", "us"),
            instance("c", "eu"),
        ];
        let rr = RoundRobin::default();
        let picked: Vec<&str> = (0..6)
            .map(|_| rr.select(&all).map(|i| i.id.as_str()).unwrap_or(""))
            .collect();
        assert_eq!(picked, ["a", "b", "c", "a", "b", "c"]);
        assert!(rr.select(&[]).is_none());
    }

    #[test]
    fn random_stays_in_bounds() {
        let all = [instance("a", "eu"), instance("b", "us")];
        let r = Random;
        for _ in 0..100 {
            let id = r.select(&all).map(|i| i.id.as_str());
            assert!(matches!(id, Some("a" | "b")));
        }
        assert!(r.select(&[]).is_none());
    }

    #[test]
    fn metadata_filter() {
        let all = [
            instance("a", "eu"),
            instance("b", "us"),
            instance("c", "eu"),
        ];
        let eu: Vec<&str> = filter_metadata(&all, "region", "eu")
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(eu, ["a", "c"]);
    }
}
