//! Choosing the instance: client-side selection among the instances discovery shows.
//!
//! By default a call goes to the endpoint's shared subject and the NATS server picks an
//! instance of the queue group. A client with a [`Selection`] picks the instance itself: it
//! keeps the service's instances from discovery (refreshed in the background), keeps those that
//! match its filters (a semver range, metadata), skips those its circuit breaker has seen fail,
//! lets a [`Selector`] choose, and sends the call to that instance alone
//! ([`Call::instance`](crate::transport::Call::instance), on NATS the subject the instance
//! announced as its own, [`Call::instance_subject`](crate::transport::Call::instance_subject)).
//!
//! Only instances that list the endpoint are candidates, and only those announcing an instance
//! subject that can be sent to as it is can be called alone (instances in other languages that
//! announce none, or a wildcard or something else no message can be sent to, are called on the
//! shared subject instead). With a [`RetryPolicy`](crate::client::RetryPolicy), a retry
//! avoids the instances the call already failed on while others are usable. The breaker counts
//! what an instance did (no answer in time, a lost connection, a 5xx), never an error raised
//! before the call was sent.
//!
//! ```
//! use std::time::Duration;
//! use micro_core::selector::Selection;
//!
//! // Only v2 instances in the EU, the less busy of two at random, an instance that failed
//! // three calls in a row skipped for 10 s.
//! let selection = Selection::least_outstanding()
//!     .version(">=2.0.0")?
//!     .metadata("region", "eu")
//!     .breaker(3, Duration::from_secs(10));
//! # Ok::<(), micro_core::Error>(())
//! ```

mod balancer;
mod least_outstanding;
mod random;
mod round_robin;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use least_outstanding::LeastOutstanding;
pub use random::Random;
pub use round_robin::RoundRobin;

pub(crate) use balancer::Balancer;

use crate::Error;
use crate::registry::Instance;

/// One instance a [`Selector`] may choose, with what this client knows of it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Candidate<'a> {
    /// The instance, as discovery describes it.
    pub instance: &'a Instance,
    /// Calls from this client to it still waiting for their reply.
    pub outstanding: usize,
}

impl<'a> Candidate<'a> {
    /// A candidate with this many calls outstanding.
    pub fn new(instance: &'a Instance, outstanding: usize) -> Self {
        Candidate {
            instance,
            outstanding,
        }
    }
}

/// Chooses one instance for a call.
pub trait Selector: Send + Sync + fmt::Debug + 'static {
    /// The index in `candidates` of the instance to call; `None` when it is empty.
    fn select(&self, candidates: &[Candidate<'_>]) -> Option<usize>;
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

/// A number in `0..n` (`n > 0`), random enough to spread load, without a dependency on `rand`:
/// a randomly keyed hasher over a counter.
pub(crate) fn random_below(n: usize) -> usize {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let r = std::collections::hash_map::RandomState::new()
        .hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    let n64 = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    usize::try_from(r % n64).unwrap_or(0)
}

/// How a [`Client`](crate::Client) picks the instance of each call itself (see the
/// [module docs](self)).
#[derive(Clone)]
pub struct Selection {
    pub(crate) selector: Arc<dyn Selector>,
    pub(crate) version: Option<semver::VersionReq>,
    pub(crate) metadata: Vec<(String, String)>,
    pub(crate) failures: u32,
    pub(crate) cool_down: Duration,
    pub(crate) refresh: Duration,
}

impl fmt::Debug for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selection")
            .field("selector", &self.selector)
            .field("version", &self.version.as_ref().map(ToString::to_string))
            .field("metadata", &self.metadata)
            .field("failures", &self.failures)
            .field("cool_down", &self.cool_down)
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl Selection {
    /// Selection by `selector`, with no filters, a breaker that skips an instance for 5 s after
    /// 3 failed calls in a row, and instances refreshed from discovery every 2 s.
    pub fn new(selector: impl Selector) -> Self {
        Selection {
            selector: Arc::new(selector),
            version: None,
            metadata: Vec::new(),
            failures: 3,
            cool_down: Duration::from_secs(5),
            refresh: Duration::from_secs(2),
        }
    }

    /// Each instance in turn ([`RoundRobin`]).
    pub fn round_robin() -> Self {
        Selection::new(RoundRobin::default())
    }

    /// A random instance ([`Random`]).
    pub fn random() -> Self {
        Selection::new(Random)
    }

    /// The less busy of two random instances ([`LeastOutstanding`]).
    pub fn least_outstanding() -> Self {
        Selection::new(LeastOutstanding)
    }

    /// Only instances whose version matches `range`, a semver requirement (`>=2.0.0`,
    /// `^1.4`, `=1.2.3`); a range that does not parse is a 400.
    pub fn version(mut self, range: &str) -> Result<Self, Error> {
        let req = semver::VersionReq::parse(range).map_err(|e| {
            Error::bad_request(format!(
                "invalid version range `{range}`: {e}; write, say, `>=2.0.0` or `^1.4`"
            ))
        })?;
        self.version = Some(req);
        Ok(self)
    }

    /// Only instances whose metadata has `key` set to `value` (repeat for several).
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Skips an instance for `cool_down` once `failures` calls to it in a row failed (the
    /// connection, a timeout or a 5xx answer; a 4xx answer is the caller's business and counts
    /// as a success), then lets one call try it again. `failures` of 0 turns the breaker off.
    #[must_use]
    pub fn breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.failures = failures;
        self.cool_down = cool_down;
        self
    }

    /// How old the instances known from discovery may get before they are looked up again (in
    /// the background: calls go on meanwhile with what is known).
    #[must_use]
    pub fn refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Whether `instance` passes the version and metadata filters.
    pub fn matches(&self, instance: &Instance) -> bool {
        let version_ok = self.version.as_ref().is_none_or(|req| {
            semver::Version::parse(&instance.version).is_ok_and(|v| req.matches(&v))
        });
        version_ok
            && self
                .metadata
                .iter()
                .all(|(k, v)| instance.metadata.get(k).is_some_and(|have| have == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn instance(id: &str, version: &str, region: &str) -> Instance {
        let mut i = Instance::new("svc", id, version);
        i.metadata = BTreeMap::from([("region".to_owned(), region.to_owned())]);
        i
    }

    fn candidates<'a>(all: &'a [Instance], busy: &[usize]) -> Vec<Candidate<'a>> {
        all.iter()
            .zip(busy)
            .map(|(i, &b)| Candidate::new(i, b))
            .collect()
    }

    #[test]
    fn round_robin_cycles() {
        let all = [
            instance("a", "1.0.0", "eu"),
            instance("b", "1.0.0", "us"),
            instance("c", "1.0.0", "eu"),
        ];
        let c = candidates(&all, &[0, 0, 0]);
        let rr = RoundRobin::default();
        let picked: Vec<usize> = (0..6).filter_map(|_| rr.select(&c)).collect();
        assert_eq!(picked, [0, 1, 2, 0, 1, 2]);
        assert!(rr.select(&[]).is_none());
    }

    #[test]
    fn random_stays_in_bounds_and_spreads() {
        let all = [instance("a", "1.0.0", "eu"), instance("b", "1.0.0", "us")];
        let c = candidates(&all, &[0, 0]);
        let mut seen = [0; 2];
        for _ in 0..200 {
            seen[Random.select(&c).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
        assert!(Random.select(&[]).is_none());
    }

    #[test]
    fn least_outstanding_avoids_the_busy_one() {
        let all = [instance("a", "1.0.0", "eu"), instance("b", "1.0.0", "us")];
        // With two candidates, the two choices are always both: the idle one wins.
        let c = candidates(&all, &[5, 0]);
        for _ in 0..50 {
            assert_eq!(LeastOutstanding.select(&c), Some(1));
        }
        assert_eq!(LeastOutstanding.select(&c[..1]), Some(0));
    }

    #[test]
    fn filters_by_semver_range_and_metadata() {
        let v1 = instance("a", "1.4.0", "eu");
        let v2 = instance("b", "2.1.0", "eu");
        let v2us = instance("c", "2.0.0", "us");
        let canary = Selection::random().version(">=2.0.0").unwrap();
        assert!(!canary.matches(&v1));
        assert!(canary.matches(&v2) && canary.matches(&v2us));
        let eu = canary.metadata("region", "eu");
        assert!(eu.matches(&v2) && !eu.matches(&v2us));
        let err = Selection::random().version("two").unwrap_err();
        assert_eq!(err.code(), 400, "{err}");
    }

    #[test]
    fn metadata_filter() {
        let all = [
            instance("a", "1.0.0", "eu"),
            instance("b", "1.0.0", "us"),
            instance("c", "1.0.0", "eu"),
        ];
        let eu: Vec<&str> = filter_metadata(&all, "region", "eu")
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(eu, ["a", "c"]);
    }
}
