//! The state behind a client's [`Selection`]: the instances known per service, the calls
//! outstanding to each, and the circuit breaker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Candidate, Selection};
use crate::Error;
use crate::error::{Delivery, code};
use crate::registry::{EndpointInfo, Instance, Registry};
use crate::service::INSTANCE_SUBJECT;

/// Picks instances for one client (and its clones) by a [`Selection`].
#[derive(Debug)]
pub(crate) struct Balancer {
    selection: Selection,
    pools: Mutex<HashMap<String, Arc<Pool>>>,
}

/// The known instances of one service.
#[derive(Debug, Default)]
struct Pool {
    state: Mutex<PoolState>,
    /// Woken when a fetch ends (stored, failed, or its task gone): the calls waiting for the
    /// first instances of the pool.
    fetch_ended: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct PoolState {
    members: Vec<Arc<Member>>,
    /// When discovery last answered; `None` before it first did.
    fetched: Option<Instant>,
    /// A background refresh is under way.
    refreshing: bool,
    /// A call found its instance gone: look again whatever the age.
    stale: bool,
    /// Why the last fetch failed, for the calls that waited for it.
    failed: Option<Error>,
}

/// One instance, with what this client has seen of it.
#[derive(Debug)]
struct Member {
    instance: Instance,
    outstanding: AtomicUsize,
    health: Mutex<Health>,
}

/// The circuit breaker of one instance.
#[derive(Debug, Default)]
struct Health {
    /// Failed calls in a row.
    failures: u32,
    /// Skipped until then, after `failures` reached the threshold.
    open_until: Option<Instant>,
    /// The cool-down passed and one call is trying the instance again.
    trial: bool,
}

/// The instance picked for one call; reports how the call went.
#[derive(Debug)]
pub(crate) struct Picked {
    member: Arc<Member>,
    /// The subject on which the instance alone serves the endpoint, as it announced it.
    instance_subject: String,
    pool: Arc<Pool>,
    failures: u32,
    cool_down: Duration,
    /// This call is the one trying a cooled-down instance again.
    trial: bool,
}

impl Picked {
    /// The instance's id.
    pub(crate) fn id(&self) -> &str {
        &self.member.instance.id
    }

    /// The subject on which the instance alone serves the endpoint, as it announced it; taken
    /// (it is needed once, for the call).
    pub(crate) fn take_instance_subject(&mut self) -> String {
        std::mem::take(&mut self.instance_subject)
    }

    /// Records the outcome of the call.
    pub(crate) fn finish<T>(self, result: &Result<T, Error>) {
        // A call that was never sent says nothing of the instance either way: neither a
        // failure nor a success that would close its breaker.
        if let Err(err) = result
            && err.delivery() == Delivery::NotSent
        {
            lock(&self.member.health).trial = false;
            // Nobody answered on the instance's own subject: it has likely gone, so look again.
            lock(&self.pool.state).stale = true;
            return;
        }
        let failed = match result {
            Ok(_) => false,
            Err(err) => is_failure(err),
        };
        {
            let mut health = lock(&self.member.health);
            health.trial = false;
            if failed {
                health.failures = health.failures.saturating_add(1);
                if self.failures > 0 && health.failures >= self.failures {
                    health.open_until = Instant::now().checked_add(self.cool_down);
                    tracing::debug!(instance = %self.member.instance.id, "instance skipped after failures");
                }
            } else {
                health.failures = 0;
                health.open_until = None;
            }
        }
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.member.outstanding.fetch_sub(1, Ordering::Relaxed);
        // A trial call dropped before its outcome (the caller gave up) must not leave the
        // instance waiting forever for a trial that will never report.
        if self.trial {
            lock(&self.member.health).trial = false;
        }
    }
}

/// Whether a failed call counts against the instance: it was sent and no answer came in time
/// (or the connection was lost with it), or the instance answered that it failed (5xx, or a
/// timeout of its own). What failed before anything was sent says nothing of the instance (this
/// client was disconnected, its own middleware shed the call, its deadline had passed), and a
/// 4xx other than a timeout is the caller's doing.
fn is_failure(err: &Error) -> bool {
    match err.delivery() {
        Delivery::NotSent => false,
        Delivery::InFlight => true,
        _ => err.code() >= code::INTERNAL || err.code() == code::TIMEOUT,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded state stays consistent whatever panicked while holding it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Balancer {
    pub(crate) fn new(selection: Selection) -> Self {
        Balancer {
            selection,
            pools: Mutex::new(HashMap::new()),
        }
    }

    /// Picks the instance of `service` to call `endpoint` on, avoiding the instances in
    /// `avoid` (those this call already failed on) while others are usable; `Ok(None)` when the
    /// instances serving the endpoint cannot be called alone (they announce no instance
    /// subject that can be sent to as it is: not micro services), so the call goes to the
    /// shared subject instead. A first
    /// discovery waits no longer than `deadline`.
    pub(crate) async fn pick(
        &self,
        service: &str,
        endpoint: &str,
        registry: &Arc<dyn Registry>,
        avoid: &[String],
        deadline: Option<Instant>,
    ) -> Result<Option<Picked>, Error> {
        let pool = self.pool(service);
        let (fetched, stale) = {
            let state = lock(&pool.state);
            (state.fetched, state.stale)
        };
        match fetched {
            // Nothing known yet: this call waits for discovery.
            None => self.first_fetch(&pool, service, registry, deadline).await?,
            Some(at) if stale || at.elapsed() >= self.selection.refresh => {
                self.refresh_in_background(&pool, service, registry);
            }
            Some(_) => {}
        }
        self.choose(&pool, service, endpoint, avoid)
    }

    /// The pool of `service`, made on first use. The pools are bounded: a client asked to call
    /// many names (a gateway) forgets the idle pools first.
    fn pool(&self, service: &str) -> Arc<Pool> {
        let mut pools = lock(&self.pools);
        if let Some(pool) = pools.get(service) {
            return Arc::clone(pool);
        }
        if pools.len() >= MAX_POOLS {
            // A pool no call holds can go; when every one is in use, the oldest lookup wins
            // nothing by staying, so drop any.
            let idle = pools
                .iter()
                .find(|(_, pool)| Arc::strong_count(pool) == 1)
                .or_else(|| pools.iter().next())
                .map(|(name, _)| name.clone());
            if let Some(name) = idle {
                pools.remove(&name);
            }
        }
        Arc::clone(pools.entry(service.to_owned()).or_default())
    }

    /// Waits, no longer than `deadline`, for the instances of a pool that knows none. The
    /// fetch runs in a task of its own, one for all the calls waiting: a call whose deadline is
    /// shorter than discovery takes gives up waiting, not the fetch, so a later call finds the
    /// instances.
    async fn first_fetch(
        &self,
        pool: &Arc<Pool>,
        service: &str,
        registry: &Arc<dyn Registry>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        // Bounded: each round waits for one fetch to end, and a fetch that fails ends the wait.
        for _ in 0..3 {
            let ended = pool.fetch_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if lock(&pool.state).fetched.is_some() {
                return Ok(());
            }
            self.refresh_in_background(pool, service, registry);
            let waited = match deadline {
                None => {
                    ended.await;
                    Ok(())
                }
                Some(deadline) => tokio::time::timeout_at(deadline.into(), ended).await,
            };
            if waited.is_err() {
                return Err(Error::timeout(format!(
                    "finding the instances of `{service}` took until the call's deadline"
                ))
                .with_delivery(Delivery::NotSent));
            }
            let mut state = lock(&pool.state);
            if state.fetched.is_some() {
                return Ok(());
            }
            if let Some(err) = state.failed.take() {
                return Err(err.with_delivery(Delivery::NotSent));
            }
        }
        Err(
            Error::unavailable(format!("could not find the instances of `{service}`"))
                .with_delivery(Delivery::NotSent),
        )
    }

    fn refresh_in_background(&self, pool: &Arc<Pool>, service: &str, registry: &Arc<dyn Registry>) {
        {
            let mut state = lock(&pool.state);
            if state.refreshing {
                return;
            }
            state.refreshing = true;
        }
        let (pool, registry, service) =
            (Arc::clone(pool), Arc::clone(registry), service.to_owned());
        tokio::spawn(async move {
            // Cleared however the task ends (a panic in the registry, a runtime shutting down),
            // so the pool is never left waiting for a refresh that will not come.
            let _refreshing = Refreshing(&pool);
            match registry.get_service(&service).await {
                Ok(instances) => store(&pool, instances),
                Err(err) => {
                    tracing::debug!(service = %service, error = %err, "discovery failed; keeping the instances known");
                    lock(&pool.state).failed = Some(err);
                }
            }
        });
    }

    fn choose(
        &self,
        pool: &Arc<Pool>,
        service: &str,
        endpoint: &str,
        avoid: &[String],
    ) -> Result<Option<Picked>, Error> {
        let mut state = lock(&pool.state);
        let now = Instant::now();
        let matching: Vec<(&Arc<Member>, &EndpointInfo)> = state
            .members
            .iter()
            .filter(|m| self.selection.matches(&m.instance))
            .filter_map(|m| {
                let info = m.instance.endpoints.iter().find(|e| e.name == endpoint)?;
                Some((m, info))
            })
            .collect();
        if matching.is_empty() {
            let err = no_match(service, endpoint, &self.selection, &state.members);
            // Look again on the next call rather than after the refresh period: an instance
            // may be starting.
            state.stale = true;
            return Err(err);
        }
        // Only an instance subject that can be sent to as it is: another announced as the
        // instance's own (a wildcard, a space, something absurdly long) is not believed.
        let addressable: Vec<(&Arc<Member>, &str)> = matching
            .into_iter()
            .filter_map(|(m, info)| {
                let own = info.metadata.get(INSTANCE_SUBJECT)?;
                plausible_subject(own, &info.subject).then_some((m, own.as_str()))
            })
            .collect();
        if addressable.is_empty() {
            return Ok(None);
        }
        let usable: Vec<(&Arc<Member>, &str)> = addressable
            .into_iter()
            .filter(|(m, _)| {
                let health = lock(&m.health);
                match health.open_until {
                    None => true,
                    // Cooled down: one call at a time tries it again.
                    Some(until) => until <= now && !health.trial,
                }
            })
            .collect();
        if usable.is_empty() {
            return Err(Error::unavailable(format!(
                "every instance of `{service}` that matches is skipped after failing calls; \
                 they are tried again once their cool-down passes"
            ))
            .with_delivery(Delivery::NotSent));
        }
        // A retry goes elsewhere while there is elsewhere to go: the instance it failed on may
        // have gone, and discovery may not know yet.
        let fresh: Vec<(&Arc<Member>, &str)> = usable
            .iter()
            .copied()
            .filter(|(m, _)| !avoid.contains(&m.instance.id))
            .collect();
        let usable = if fresh.is_empty() { usable } else { fresh };
        let candidates: Vec<Candidate<'_>> = usable
            .iter()
            .map(|(m, _)| Candidate::new(&m.instance, m.outstanding.load(Ordering::Relaxed)))
            .collect();
        let index = self
            .selection
            .selector
            .select(&candidates)
            .filter(|&i| i < usable.len())
            .unwrap_or(0);
        let (member, own) = usable[index];
        let (member, instance_subject) = (Arc::clone(member), own.to_owned());
        let trial = {
            let mut health = lock(&member.health);
            health.trial = health.open_until.is_some();
            health.trial
        };
        member.outstanding.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Picked {
            member,
            instance_subject,
            pool: Arc::clone(pool),
            failures: self.selection.failures,
            cool_down: self.selection.cool_down,
            trial,
        }))
    }
}

/// The longest instance subject a client sends to.
const MAX_INSTANCE_SUBJECT: usize = 256;

/// Whether an announced instance subject can be believed and sent to as it is: below the
/// endpoint's own subject (`<subject>.<more tokens>`: anything else would let whoever answers
/// discovery send the caller's requests, with the caller's permissions, wherever it likes),
/// non-empty dot-separated tokens without whitespace or wildcards, at most
/// [`MAX_INSTANCE_SUBJECT`] bytes. Checked on every pick, so it allocates nothing.
fn plausible_subject(subject: &str, endpoint_subject: &str) -> bool {
    let below = subject
        .strip_prefix(endpoint_subject)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| !rest.is_empty());
    below
        && subject.len() <= MAX_INSTANCE_SUBJECT
        && subject.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        })
}

/// Pools a client keeps at most.
const MAX_POOLS: usize = 1024;

/// Clears a pool's `refreshing` flag when dropped.
struct Refreshing<'a>(&'a Pool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).refreshing = false;
        self.0.fetch_ended.notify_waiters();
    }
}

/// Replaces the pool's instances with `instances`, keeping what is known of those that stay.
fn store(pool: &Pool, instances: Vec<Instance>) {
    let mut state = lock(&pool.state);
    let members = instances
        .into_iter()
        .map(|instance| {
            match state
                .members
                .iter()
                .find(|m| m.instance.id == instance.id && m.instance == instance)
            {
                Some(known) => Arc::clone(known),
                None => Arc::new(Member {
                    instance,
                    outstanding: AtomicUsize::new(0),
                    health: Mutex::new(Health::default()),
                }),
            }
        })
        .collect();
    state.members = members;
    state.fetched = Some(Instant::now());
    state.refreshing = false;
    state.stale = false;
    state.failed = None;
}

/// No instance passes the filters: a 503 naming what runs.
fn no_match(
    service: &str,
    endpoint: &str,
    selection: &Selection,
    members: &[Arc<Member>],
) -> Error {
    let mut wanted = Vec::new();
    if let Some(req) = &selection.version {
        wanted.push(format!("version {req}"));
    }
    for (k, v) in &selection.metadata {
        wanted.push(format!("{k}={v}"));
    }
    let running = if members.is_empty() {
        "none runs".to_owned()
    } else {
        let list: Vec<String> = members
            .iter()
            .map(|m| format!("{} v{}", m.instance.id, m.instance.version))
            .collect();
        format!("running: {}", list.join(", "))
    };
    let serving = members
        .iter()
        .any(|m| m.instance.endpoints.iter().any(|e| e.name == endpoint));
    let detail = if !members.is_empty() && !serving {
        format!("no instance of service `{service}` serves `{endpoint}` ({running})")
    } else if wanted.is_empty() {
        format!("no instance of service `{service}` is running")
    } else {
        format!(
            "no instance of service `{service}` matches {} ({running})",
            wanted.join(", ")
        )
    };
    Error::unavailable(detail).with_delivery(Delivery::NotSent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_subject_that_can_be_sent_to_as_it_is_is_believed() {
        for good in ["a.ID", "a.b.c-d_e", "a.$b"] {
            assert!(plausible_subject(good, "a"), "{good}");
        }
        assert!(plausible_subject("greeter.hello.ID", "greeter.hello"));
        let long = "a.".repeat(MAX_INSTANCE_SUBJECT / 2) + "a";
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a.b\tc", &long] {
            assert!(!plausible_subject(bad, "a"), "{bad:?}");
        }
        // Not below the endpoint's subject: not believed, however well formed.
        for outside in ["a", "ab.c", "elsewhere.only.me", "$JS.API.STREAM.DELETE.x"] {
            assert!(!plausible_subject(outside, "a"), "{outside}");
        }
    }
}
