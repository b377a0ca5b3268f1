use super::{Candidate, Selector, random_below};

/// The less busy of two instances picked at random ("power of two choices"): the one with
/// fewer calls from this client still waiting for a reply.
///
/// Two random choices spread load almost as well as always taking the least busy instance, and
/// never herd every caller onto the one instance that just became free.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastOutstanding;

impl Selector for LeastOutstanding {
    fn select(&self, candidates: &[Candidate<'_>]) -> Option<usize> {
        match candidates.len() {
            0 => None,
            1 => Some(0),
            n => {
                let a = random_below(n);
                // A second, different one: an offset of 1..n from the first.
                let b = (a + 1 + random_below(n - 1)) % n;
                let busy = |i: usize| candidates.get(i).map_or(usize::MAX, |c| c.outstanding);
                Some(if busy(b) < busy(a) { b } else { a })
            }
        }
    }
}
