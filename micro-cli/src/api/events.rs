//! `GET /_events?topic=<topic>`: the events published on a topic, as server-sent events, for
//! the dashboard's event viewer (and `curl -N`). See the README, "Watching events".
//!
//! A viewer is a broker subscription that lasts as long as its HTTP response. It is bounded:
//!
//! - **Topics**: a topic as `micro subscribe` takes it (`*` for one token, `>` for the rest),
//!   except that its first token must be a literal name that starts with neither `$` nor `_`
//!   (no `>` firehose, no `$SRV`/`$MICRO`/`$JS`/`$SYS` internals, no `_INBOX` replies), and it
//!   may not match the subject of an endpoint that discovery shows: requests are other callers'
//!   calls (their bodies and metadata), not events.
//! - **Viewers**: at most [`ApiOptions::max_event_viewers`](super::ApiOptions) at once across
//!   the gateway; one more is `429`.
//! - **Buffer**: each viewer has its own queue of [`ApiOptions::event_buffer`](super::ApiOptions)
//!   events and at most [`MAX_QUEUED_BYTES`]; an event that does not fit is dropped and counted,
//!   and the viewer is told how many it lost (`event: dropped`) before the next one it gets. A
//!   viewer whose queue stays full for [`SLOW_VIEWER_GRACE`] is cut off: its subscription ends
//!   and its stream closes with `event: error` (`503`) once it reads again.
//!
//! The frames: `event: ready` (`{"topic"}`) once subscribed, `event: event` per event
//! (`{"topic","metadata","data"}`, or `"raw"` for a body not valid in its codec, as
//! `micro subscribe` prints them), `event: dropped` (`{"dropped": n, "total": n}`), a
//! `: keep-alive` comment every 15 s of quiet, and `event: error` when the subscription ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use micro_core::Error;
use micro_core::broker::{Event, validate_topic};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::stream::sse;
use super::{ApiError, Shared, timed};

/// The most bytes of events waiting for one viewer; past it, events are dropped (and counted).
/// A single event larger than this still goes through when nothing else waits.
pub const MAX_QUEUED_BYTES: usize = 1024 * 1024;

/// How long a viewer's queue may stay full before the viewer is cut off.
pub const SLOW_VIEWER_GRACE: Duration = Duration::from_secs(30);

/// The quiet after which a keep-alive comment is sent (so proxies keep the stream open and a
/// viewer that went away is noticed).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The longest topic accepted.
const MAX_TOPIC_LEN: usize = 256;

/// The query of `GET /_events`.
#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    topic: String,
}

/// Viewer slots and the count of events lost by slow viewers, shared by the gateway.
#[derive(Debug)]
pub(crate) struct Viewers {
    slots: Arc<tokio::sync::Semaphore>,
    max: usize,
    dropped: AtomicU64,
}

impl Viewers {
    pub(crate) fn new(max: usize) -> Self {
        Viewers {
            slots: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
            dropped: AtomicU64::new(0),
        }
    }
}

/// Checks a topic a viewer asks for (see the module docs); `subjects` are the endpoint
/// subjects discovery shows.
pub(crate) fn check_topic<'a>(
    topic: &str,
    subjects: impl IntoIterator<Item = &'a str>,
) -> Result<(), Error> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(Error::bad_request(format!(
            "the topic is longer than {MAX_TOPIC_LEN} bytes"
        )));
    }
    validate_topic(topic, true)?;
    let first = topic.split('.').next().unwrap_or_default();
    if first == "*" || first == ">" {
        return Err(Error::bad_request(format!(
            "invalid topic `{topic}`: its first token must be a name, not a wildcard (the event \
             viewer does not watch everything)"
        )));
    }
    // Any token: under a subject prefix (`acme.$MICRO.CANCEL.x`) the internals come later.
    let internal = topic
        .split('.')
        .any(|token| token.starts_with('$') || token == "_INBOX");
    if internal || first.starts_with('_') {
        return Err(Error::forbidden(format!(
            "topic `{topic}` is internal (`$…` and `_…` subjects carry discovery, control \
             messages and replies, not events)"
        )));
    }
    if let Some(subject) = subjects.into_iter().find(|s| overlap(topic, s)) {
        return Err(Error::forbidden(format!(
            "topic `{topic}` would show the requests to the endpoint on `{subject}`: other \
             callers' calls are not events"
        )));
    }
    Ok(())
}

/// Whether some subject matches both patterns (NATS wildcards in either).
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) if *x == "*" || *y == "*" || x == y => i += 1,
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// `GET /_events?topic=..`.
pub(super) async fn events(
    State(gw): State<Shared>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(EventsQuery { topic }) = query.map_err(|_| {
        Error::bad_request(
            "`GET /_events` needs a `topic` query parameter: /_events?topic=orders.created",
        )
    })?;
    let viewers = &gw.viewers;
    if viewers.max == 0 {
        return Err(ApiError(Error::not_found(
            "the event viewer is turned off (--max-event-viewers 0)",
        )));
    }
    // Cheap checks before discovery.
    check_topic(&topic, [])?;
    let services = timed(
        &gw,
        "listing services",
        gw.client.registry().list_services(),
    )
    .await?;
    // An endpoint's subject, the instance subjects below it, and the one an instance
    // announces: requests travel on all of them.
    let subjects: Vec<String> = services
        .iter()
        .flat_map(|s| &s.instances)
        .flat_map(|i| &i.endpoints)
        .flat_map(|e| {
            [
                Some(e.subject.clone()),
                Some(format!("{}.>", e.subject)),
                e.metadata.get("instance_subject").cloned(),
            ]
        })
        .flatten()
        .collect();
    check_topic(&topic, subjects.iter().map(String::as_str))?;
    let Ok(permit) = Arc::clone(&viewers.slots).try_acquire_owned() else {
        return Err(ApiError(Error::new(
            429,
            format!(
                "too many event viewers: at most {} at once (--max-event-viewers)",
                viewers.max
            ),
        )));
    };
    let subscription = timed(
        &gw,
        &format!("subscribing to `{topic}`"),
        gw.client.broker().subscribe(&topic, None),
    )
    .await?;
    Ok(response(gw.clone(), topic, subscription, permit))
}

/// What the forwarding task hands the response body.
enum Frame {
    Event(Bytes),
    Dropped { dropped: u64, total: u64 },
    End(Error),
}

impl Frame {
    fn len(&self) -> usize {
        match self {
            Frame::Event(b) => b.len(),
            _ => 0,
        }
    }
}

/// The body's side: the `ready` frame, then what the forwarder queues.
struct Viewer {
    first: Option<Bytes>,
    rx: mpsc::Receiver<Frame>,
    queued: Arc<AtomicUsize>,
    done: bool,
}

/// The JSON of one event, as `micro subscribe` prints it (it calls this too).
pub(crate) fn event_json(event: &Event) -> Value {
    let metadata: BTreeMap<&str, &str> = event.metadata.iter().collect();
    match event.content_type.decode::<Value>(&event.body) {
        Ok(data) => json!({"topic": event.topic, "metadata": metadata, "data": data}),
        Err(_) => json!({
            "topic": event.topic, "metadata": metadata,
            "raw": String::from_utf8_lossy(&event.body),
        }),
    }
}

/// Reads the subscription as fast as it comes and queues each event for the body, never
/// waiting for a slow viewer: what does not fit is dropped and counted, and the count is queued
/// as a `dropped` notice as soon as there is room (before the next event, or on its own).
async fn forward(
    gw: Shared,
    topic: String,
    mut subscription: micro_core::broker::Subscription,
    permit: OwnedSemaphorePermit,
    tx: mpsc::Sender<Frame>,
    queued: Arc<AtomicUsize>,
) {
    use mpsc::error::TrySendError;
    let mut lost = 0u64;
    let mut total = 0u64;
    let mut full_since: Option<Instant> = None;
    let end = loop {
        let event = tokio::select! {
            event = subscription.next() => event,
            () = tx.closed() => return,
            // A loss with no event after it is still reported once there is room.
            () = tokio::time::sleep(Duration::from_millis(100)), if lost > 0 => {
                match tx.try_send(Frame::Dropped { dropped: lost, total }) {
                    Ok(()) => lost = 0,
                    Err(TrySendError::Closed(_)) => return,
                    Err(TrySendError::Full(_)) => {}
                }
                continue;
            }
        };
        let Some(event) = event else {
            break Error::unavailable(format!("the subscription to `{topic}` ended"));
        };
        if lost > 0 {
            // The notice goes where the loss happened: before the next event that fits.
            match tx.try_send(Frame::Dropped {
                dropped: lost,
                total,
            }) {
                Ok(()) => lost = 0,
                Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(_)) => {}
            }
        }
        let frame = Frame::Event(sse("event", &event_json(&event)));
        let len = frame.len();
        let waiting = queued.load(Ordering::Acquire);
        let mut sent = false;
        if lost == 0 && (waiting == 0 || waiting + len <= MAX_QUEUED_BYTES) {
            queued.fetch_add(len, Ordering::AcqRel);
            match tx.try_send(frame) {
                Ok(()) => sent = true,
                Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(_)) => {
                    queued.fetch_sub(len, Ordering::AcqRel);
                }
            }
        }
        if sent {
            full_since = None;
            continue;
        }
        lost += 1;
        total += 1;
        let all = gw.viewers.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if all.is_power_of_two() {
            tracing::warn!(
                %topic,
                dropped = all,
                "an event viewer is too slow: dropping the events it has no room for"
            );
        }
        let since = *full_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= SLOW_VIEWER_GRACE {
            break Error::unavailable(format!(
                "this viewer read nothing for {}s while events waited, and lost {total} \
                 event(s): disconnected as too slow",
                SLOW_VIEWER_GRACE.as_secs()
            ));
        }
    };
    // The subscription and the viewer's slot go now; the end is queued after what waits, for
    // a viewer that reads again (one that never does is closed by its next failed write).
    drop(subscription);
    drop(permit);
    if lost > 0 {
        let _ = tx
            .send(Frame::Dropped {
                dropped: lost,
                total,
            })
            .await;
    }
    let _ = tx.send(Frame::End(end)).await;
}

fn response(
    gw: Shared,
    topic: String,
    subscription: micro_core::broker::Subscription,
    permit: OwnedSemaphorePermit,
) -> Response {
    let capacity = gw.options.event_buffer.max(1);
    let (tx, rx) = mpsc::channel::<Frame>(capacity);
    let queued = Arc::new(AtomicUsize::new(0));

    tokio::spawn(forward(
        gw.clone(),
        topic.clone(),
        subscription,
        permit,
        tx,
        queued.clone(),
    ));
    let ready = sse("ready", &json!({ "topic": topic }));
    let state = Viewer {
        first: Some(ready),
        rx,
        queued,
        done: false,
    };
    let body = futures::stream::unfold(state, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((first, st));
        }
        if st.done {
            return None;
        }
        let frame = tokio::select! {
            frame = st.rx.recv() => frame,
            () = tokio::time::sleep(KEEP_ALIVE) => {
                return Some((Bytes::from_static(b": keep-alive\n\n"), st));
            }
        };
        let bytes = match frame {
            Some(Frame::Event(bytes)) => {
                st.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                bytes
            }
            Some(Frame::Dropped { dropped, total }) => {
                sse("dropped", &json!({"dropped": dropped, "total": total}))
            }
            end => {
                st.done = true;
                let err = match end {
                    Some(Frame::End(err)) => err,
                    _ => Error::unavailable("the event stream ended"),
                };
                let value = serde_json::to_value(&err).unwrap_or_else(|_| json!({"code": 503}));
                sse("error", &value)
            }
        };
        Some((bytes, st))
    })
    .map(Ok::<_, std::convert::Infallible>);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_a_viewer_may_watch() {
        for ok in ["orders.created", "orders.*", "orders.>", "a", "a.*.c"] {
            assert!(check_topic(ok, []).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ">",
            "*",
            "*.created",
            "$SRV.INFO",
            "$MICRO.CANCEL.greeter",
            "$JS.API.>",
            "_INBOX.abc",
            "acme.$MICRO.CANCEL.greeter",
            "acme._INBOX.abc",
            "_R_.x",
            "a..b",
            "a b",
            "a.>.b",
            "a.b*",
        ] {
            assert!(check_topic(bad, []).is_err(), "{bad}");
        }
        let long = "a.".repeat(200) + "b";
        assert!(check_topic(&long, []).is_err());
    }

    #[test]
    fn a_topic_that_reaches_an_endpoint_is_refused() {
        let subjects = ["greeter.hello", "acme.greeter.add", "svc.*.get"];
        for bad in [
            "greeter.hello",
            "greeter.*",
            "greeter.>",
            "acme.>",
            "svc.x.get",
            "svc.>",
        ] {
            let err = check_topic(bad, subjects).unwrap_err();
            assert_eq!(err.code(), 403, "{bad}");
        }
        for ok in [
            "greeter.hello.more",
            "greeter",
            "orders.>",
            "acme.greeter",
            "svc.x.put",
        ] {
            assert!(check_topic(ok, subjects).is_ok(), "{ok}");
        }
        // The instance subjects below an endpoint's (what the gateway adds for each endpoint).
        let with_instances = ["greeter.hello", "greeter.hello.>"];
        for bad in ["greeter.hello.>", "greeter.hello.abc123", "greeter.hello.*"] {
            let err = check_topic(bad, with_instances).unwrap_err();
            assert_eq!(err.code(), 403, "{bad}");
        }
    }

    #[test]
    fn patterns_overlap_like_nats_matches() {
        assert!(overlap("a.*", "a.b"));
        assert!(overlap("a.>", "a.b.c"));
        assert!(!overlap("a.>", "a"));
        assert!(overlap("*.b", "a.*"));
        assert!(!overlap("a.b", "a.c"));
        assert!(!overlap("a.*", "a.b.c"));
    }
}
