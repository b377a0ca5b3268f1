use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use super::Selector;
use crate::registry::Instance;

/// A uniformly random instance.
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl Selector for Random {
    fn select<'a>(&self, instances: &'a [Instance]) -> Option<&'a Instance> {
        if instances.is_empty() {
            return None;
        }
        // A fresh RandomState is randomly keyed: enough randomness for spreading load, without
        // a dependency on `rand`.
        let r = RandomState::new().hash_one(std::time::Instant::now());
        let len = u64::try_from(instances.len()).unwrap_or(u64::MAX);
        instances.get(usize::try_from(r % len).unwrap_or(0))
    }
}
