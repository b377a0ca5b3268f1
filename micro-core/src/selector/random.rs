use super::{Candidate, Selector, random_below};

/// A uniformly random instance.
#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl Selector for Random {
    fn select(&self, candidates: &[Candidate<'_>]) -> Option<usize> {
        (!candidates.is_empty()).then(|| random_below(candidates.len()))
    }
}
