//! A server stream over HTTP: newline-delimited JSON, or server-sent events for a caller that
//! asks for them (`Accept: text/event-stream`). See the README, "The HTTP gateway".

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use micro_core::Error;
use micro_core::stream::Streaming;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;

/// How the items are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line (`application/x-ndjson`), each with one key: `{"item": ..}` per
    /// item, then `{"end": {"count": n}}`, or `{"error": {..}}` when the stream failed. A reader
    /// that sees neither last line knows the stream was cut off.
    Ndjson,
    /// `event: item` per item, then `event: end` with the count, or `event: error`.
    Sse,
}

impl Format {
    /// Server-sent events when the caller accepts them, else NDJSON.
    pub(crate) fn from_accept(headers: &HeaderMap) -> Format {
        let sse = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
            });
        if sse { Format::Sse } else { Format::Ndjson }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Sse => "text/event-stream",
        }
    }

    fn item(self, value: &Value) -> Bytes {
        match self {
            Format::Ndjson => Bytes::from(format!("{}\n", json!({ "item": value }))),
            Format::Sse => sse("item", value),
        }
    }

    fn error(self, err: &Error) -> Bytes {
        let err = serde_json::to_value(err).unwrap_or_else(|_| json!({"code": err.code()}));
        match self {
            Format::Ndjson => Bytes::from(format!("{}\n", json!({ "error": err }))),
            Format::Sse => sse("error", &err),
        }
    }

    fn end(self, count: u64) -> Bytes {
        let end = json!({ "count": count });
        match self {
            Format::Ndjson => Bytes::from(format!("{}\n", json!({ "end": end }))),
            Format::Sse => sse("end", &end),
        }
    }
}

/// Lines written ahead of the HTTP reader: a little slack, so the stream is not paced by every
/// write, while the stream's own credit bounds what is buffered before them.
const AHEAD: usize = 16;

/// One server-sent event: `event: <name>` and its JSON on one `data:` line (compact JSON has no
/// newline, so one line always holds it).
pub(crate) fn sse(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The HTTP response that carries `items` as they arrive.
///
/// The stream is read in a task of its own, which hands each line to the response body and
/// waits at most `stall` for the body to take it: a reader that stopped reading (its socket
/// full) gets its response ended there, without the last line that tells a complete stream,
/// and the stream is dropped, which cancels it at the service. A reader that goes away drops
/// the body, which ends the task the same way.
pub(crate) fn response(mut items: Streaming<Value>, format: Format, stall: Duration) -> Response {
    let (lines, mut taken) = mpsc::channel::<Bytes>(AHEAD);
    tokio::spawn(async move {
        let mut count = 0u64;
        loop {
            // A reader that went away while the stream is quiet drops the body: stop then, not
            // at the next item, which may be long in coming.
            let next = tokio::select! {
                next = items.next() => next,
                () = lines.closed() => return,
            };
            let (line, last) = match next {
                Some(Ok(value)) => {
                    count += 1;
                    (format.item(&value), false)
                }
                Some(Err(err)) => (format.error(&err), true),
                None => (format.end(count), true),
            };
            match lines.send_timeout(line, stall).await {
                Ok(()) if !last => {}
                Ok(()) | Err(SendTimeoutError::Closed(_)) => return,
                Err(SendTimeoutError::Timeout(_)) => {
                    tracing::warn!(
                        "a server stream's HTTP reader took no item for {stall:?}: its response \
                         is ended and the stream cancelled after {count} items"
                    );
                    return;
                }
            }
        }
    });
    let body = futures::stream::poll_fn(move |cx| taken.poll_recv(cx))
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
