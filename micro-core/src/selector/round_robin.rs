use std::sync::atomic::{AtomicUsize, Ordering};

use super::Selector;
use crate::registry::Instance;

/// Each instance in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl Selector for RoundRobin {
    fn select<'a>(&self, instances: &'a [Instance]) -> Option<&'a Instance> {
        if instances.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        instances.get(n % instances.len())
    }
}
