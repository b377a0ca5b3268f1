//! Wire test vectors (`tests/vectors/*.json`, format in `tests/vectors/README.md`): golden files
//! of what a micro service answers to each request, byte for byte.
//!
//! - `the_service_answers_every_vector_byte_for_byte` sends each vector's request, as raw bytes
//!   on a raw NATS connection, to a real service over a private nats-server and compares the
//!   reply (status line, every header line, the body) with the vector's, after the documented
//!   normalisation; and records each event vector from what our client publishes, as a raw
//!   subscriber receives it. With `MICRO_BLESS_VECTORS=1` it rewrites the files instead.
//! - `our_client_and_registry_accept_every_reply_vector` replays the committed replies from a
//!   fake responder: the generated client must send exactly the vector's request (where it is
//!   one our client makes) and decode the reply to the expected value or error; the registry
//!   must read the PING, INFO and STATS vectors.
//! - `our_subscribers_accept_every_event_vector` publishes each committed event and checks what
//!   a subscriber decodes.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::connect;
use futures::StreamExt;
use micro_core::broker::Broker;
use micro_core::codec::ContentType;
use micro_core::prelude::*;
use micro_core::registry::{Change, Registry, WatchOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use test_support::{NatsServer, RawMessage, RawNats};

/// Set to rewrite the vector files from what the service answers.
const BLESS: &str = "MICRO_BLESS_VECTORS";
/// Placeholder of the serving instance's id (a 22-character NUID).
const ID: &str = "{{id}}";
/// Placeholder of `started` (RFC 3339, UTC, six fraction digits, `Z`).
const STARTED: &str = "{{started}}";
/// Placeholder of a duration in nanoseconds (`processing_time`, `average_processing_time`).
const NANOS: &str = "{{nanos}}";

/// A sum, so one reply is a struct.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Sum {
    /// `a + b`.
    pub total: i64,
}

/// Greets people and adds numbers: the service the vectors are recorded from.
#[service(name = "vectors", version = "1.0.0")]
pub trait Vectors {
    /// Says hello to `name`.
    async fn hello(&self, name: String) -> Result<String, Error>;
    /// Adds `a` and `b`.
    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error>;
    /// Answers `up`; takes no arguments.
    async fn status(&self) -> Result<String, Error>;
    /// The call's metadata entry `key`.
    async fn meta(&self, key: String) -> Result<Option<String>, Error>;
    /// Always fails, with 422 and `reason`.
    async fn reject(&self, reason: String) -> Result<(), Error>;
    /// Sleeps `millis`, then answers them.
    async fn slow(&self, millis: u64) -> Result<u64, Error>;
    /// Panics.
    async fn panics(&self) -> Result<(), Error>;
}

struct VectorsImpl;

impl Vectors for VectorsImpl {
    async fn hello(&self, name: String) -> Result<String, Error> {
        Ok(format!("Hello {name}"))
    }
    async fn add(&self, a: i64, b: i64) -> Result<Sum, Error> {
        Ok(Sum { total: a + b })
    }
    async fn status(&self) -> Result<String, Error> {
        Ok("up".to_owned())
    }
    async fn meta(&self, key: String) -> Result<Option<String>, Error> {
        Ok(Context::current().metadata().get(&key).map(str::to_owned))
    }
    async fn reject(&self, reason: String) -> Result<(), Error> {
        Err(Error::new(422, reason))
    }
    async fn slow(&self, millis: u64) -> Result<u64, Error> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }
    async fn panics(&self) -> Result<(), Error> {
        panic!("out of order")
    }
}

/// One vector file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    description: String,
    /// The request, or for an event the published message.
    request: Message,
    /// The reply; absent for an event, which has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<Message>,
}

impl Vector {
    /// The reply of a request vector.
    fn reply(&self) -> &Message {
        self.reply.as_ref().expect("a request vector has a reply")
    }
}

/// A message: the request (with its subject) or the reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// A NATS status (`503` for "no responders"): the header block's first line is
    /// `NATS/1.0 <status>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// `[name, value]` pairs; empty means no header block at all.
    headers: Vec<(String, String)>,
    /// The body, when it is UTF-8 text without control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_text: Option<String>,
    /// The body otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

impl Message {
    fn new(
        subject: Option<&str>,
        status: Option<String>,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Message {
        let text = std::str::from_utf8(body)
            .ok()
            .filter(|t| !t.chars().any(char::is_control));
        Message {
            subject: subject.map(str::to_owned),
            status,
            headers,
            body_text: text.map(str::to_owned),
            body_base64: match text {
                Some(_) => None,
                None => Some(base64::engine::general_purpose::STANDARD.encode(body)),
            },
        }
    }

    fn body(&self) -> Vec<u8> {
        match (&self.body_text, &self.body_base64) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("body_base64 is base64"),
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => panic!("a message has body_text or body_base64, not both"),
        }
    }

    /// The header block as sent on the wire, or `None` for no block.
    fn header_block(&self) -> Option<Vec<u8>> {
        if self.headers.is_empty() && self.status.is_none() {
            return None;
        }
        let mut block = match &self.status {
            Some(status) => format!("NATS/1.0 {status}\r\n"),
            None => "NATS/1.0\r\n".to_owned(),
        };
        for (name, value) in &self.headers {
            block.push_str(&format!("{name}: {value}\r\n"));
        }
        block.push_str("\r\n");
        Some(block.into_bytes())
    }
}

/// One case: its file name and the request. The reply is what the service answers.
struct Case {
    file: &'static str,
    description: &'static str,
    subject: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Vec<u8>,
}

fn msgpack(value: Value) -> Vec<u8> {
    ContentType::MsgPack
        .encode(&value)
        .expect("MessagePack encodes")
        .to_vec()
}

/// Every case, in file order. Order matters for the last ones: STATS counts the calls before.
fn cases() -> Vec<Case> {
    const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];
    const MSGPACK: &[(&str, &str)] = &[("Content-Type", "application/msgpack")];
    let case = |file, description, subject, headers, body: &[u8]| Case {
        file,
        description,
        subject,
        headers,
        body: body.to_vec(),
    };
    vec![
        case(
            "01-call-json.json",
            "A plain call: JSON arguments keyed by parameter name, no headers. The reply is the \
             return value in JSON, with no headers either.",
            "vectors.hello",
            &[],
            br#"{"name":"World"}"#,
        ),
        case(
            "02-call-json-labelled.json",
            "A call labelled with Content-Type: the reply is labelled too.",
            "vectors.hello",
            JSON,
            br#"{"name":"World"}"#,
        ),
        case(
            "03-call-msgpack.json",
            "A MessagePack call without headers: the body starts like a MessagePack map, which \
             no JSON text can, so it needs no label. The reply is MessagePack, unlabelled \
             (read in the request's codec).",
            "vectors.hello",
            &[],
            &msgpack(json!({"name": "World"})),
        ),
        case(
            "04-call-msgpack-labelled.json",
            "A MessagePack call labelled with Content-Type: the reply is labelled too.",
            "vectors.hello",
            MSGPACK,
            &msgpack(json!({"name": "World"})),
        ),
        case(
            "05-struct-reply-json.json",
            "Two arguments; the reply is a struct (a JSON object).",
            "vectors.add",
            &[],
            br#"{"a":1,"b":2}"#,
        ),
        case(
            "06-struct-reply-msgpack.json",
            "Two arguments in MessagePack; the reply is a struct as a MessagePack map with \
             field names as keys.",
            "vectors.add",
            &[],
            &msgpack(json!({"a": 1, "b": 2})),
        ),
        case(
            "07-no-arguments.json",
            "A method without arguments: the arguments are the empty object.",
            "vectors.status",
            &[],
            b"{}",
        ),
        case(
            "08-no-arguments-empty-body.json",
            "An empty body is read as JSON null, which a method without arguments accepts.",
            "vectors.status",
            &[],
            b"",
        ),
        case(
            "09-metadata.json",
            "A header that is not reserved is metadata the handler reads (here it returns it). \
             A reply without metadata has no headers.",
            "vectors.meta",
            &[("tenant", "acme")],
            br#"{"key":"tenant"}"#,
        ),
        case(
            "10-error-handler-code-json.json",
            "The handler fails with its own code (422): the ADR-32 headers and the structured \
             error as the body, in the request's codec, labelled. `id` names the endpoint.",
            "vectors.reject",
            &[],
            br#"{"reason":"out of stock"}"#,
        ),
        case(
            "11-error-handler-code-msgpack.json",
            "The same error for a MessagePack call: the body is the structured error in \
             MessagePack.",
            "vectors.reject",
            &[],
            &msgpack(json!({"reason": "out of stock"})),
        ),
        case(
            "12-error-malformed-json.json",
            "Arguments that do not decode (a number where a string is expected): 400.",
            "vectors.hello",
            &[],
            br#"{"name":5}"#,
        ),
        case(
            "13-error-malformed-msgpack.json",
            "MessagePack arguments that do not decode: 400, the error in MessagePack.",
            "vectors.hello",
            &[],
            &msgpack(json!({"name": 5})),
        ),
        case(
            "14-error-not-json.json",
            "A body that is neither JSON nor MessagePack: 400.",
            "vectors.hello",
            &[],
            b"hello",
        ),
        case(
            "15-error-wrong-content-type.json",
            "A Content-Type naming another codec: 415, the error in JSON.",
            "vectors.hello",
            &[("Content-Type", "text/plain")],
            br#"{"name":"World"}"#,
        ),
        case(
            "16-error-deadline-passed.json",
            "Micro-Timeout (microseconds left) of 0: the deadline passed on arrival, the \
             handler does not run: 408.",
            "vectors.slow",
            &[("Micro-Timeout", "0")],
            br#"{"millis":1}"#,
        ),
        case(
            "17-error-deadline-while-running.json",
            "Micro-Timeout of 1 s on a call that takes 10 s: 408 when the deadline passes \
             while the handler runs.",
            "vectors.slow",
            &[("Micro-Timeout", "1000000")],
            br#"{"millis":10000}"#,
        ),
        case(
            "18-timeout-unparsable.json",
            "A Micro-Timeout that is not a whole number of microseconds is ignored: the call \
             runs without a deadline.",
            "vectors.slow",
            &[("Micro-Timeout", "soon")],
            br#"{"millis":1}"#,
        ),
        case(
            "19-error-handler-panicked.json",
            "The handler panicked: 500 naming the endpoint; the instance keeps serving.",
            "vectors.panics",
            &[],
            b"{}",
        ),
        case(
            "20-unknown-endpoint.json",
            "An endpoint nobody serves has no subscriber: the reply is nats-server's own \
             \"no responders\" status message (503, no headers, no body), not one of ours.",
            "vectors.nope",
            &[],
            b"{}",
        ),
        case(
            "21-ping-all.json",
            "$SRV.PING: every instance answers (here one). JSON, no headers; the request body \
             is ignored.",
            "$SRV.PING",
            &[],
            b"",
        ),
        case(
            "22-ping-service.json",
            "$SRV.PING.<service>.",
            "$SRV.PING.vectors",
            &[],
            b"",
        ),
        case(
            "23-ping-instance.json",
            "$SRV.PING.<service>.<id>: one instance.",
            "$SRV.PING.vectors.{{id}}",
            &[],
            b"",
        ),
        case(
            "24-info.json",
            "$SRV.INFO.<service>: endpoints with subjects, queue group and metadata.",
            "$SRV.INFO.vectors",
            &[],
            b"",
        ),
        case(
            "25-stats.json",
            "$SRV.STATS.<service>, after the calls of the vectors before it (in file order): \
             refused requests count as requests and errors; last_error is \"<code>:<detail>\".",
            "$SRV.STATS.vectors",
            &[],
            b"",
        ),
    ]
}

/// The event of the event vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user's id.
    pub id: u64,
    /// Their address.
    pub email: String,
}

fn user() -> UserCreated {
    UserCreated {
        id: 7,
        email: "ada@example.com".to_owned(),
    }
}

/// An event case: our client publishes [`user`] on `topic` in this codec with this metadata.
struct EventCase {
    file: &'static str,
    description: &'static str,
    topic: &'static str,
    content_type: ContentType,
    metadata: &'static [(&'static str, &'static str)],
}

/// Every event case, in file order (after the request cases).
fn events() -> Vec<EventCase> {
    vec![
        EventCase {
            file: "26-event-json.json",
            description: "An event: a publish to the topic as subject, the event as the body, \
                          no reply subject. JSON, no headers.",
            topic: "user.created",
            content_type: ContentType::Json,
            metadata: &[],
        },
        EventCase {
            file: "27-event-msgpack.json",
            description: "An event in MessagePack: a map, so it needs no Content-Type.",
            topic: "user.created",
            content_type: ContentType::MsgPack,
            metadata: &[],
        },
        EventCase {
            file: "28-event-metadata.json",
            description: "An event with metadata: one header per entry.",
            topic: "user.created",
            content_type: ContentType::Json,
            metadata: &[("tenant", "acme")],
        },
    ]
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn blessing() -> bool {
    std::env::var(BLESS).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// True (and says so) when blessing: the files are being rewritten by the other test, so the
/// acceptance tests, which read them, wait for the next plain run.
fn skip_while_blessing() -> bool {
    if blessing() {
        eprintln!("skipped while blessing: rerun without {BLESS} to check the new files");
    }
    blessing()
}

/// Splits a raw header block into its status and headers (in the order received), and checks
/// that writing them back in the vector format gives the very same bytes.
fn parse_block(block: &[u8]) -> (Option<String>, Vec<(String, String)>) {
    if block.is_empty() {
        return (None, Vec::new());
    }
    let text = std::str::from_utf8(block).expect("the header block is UTF-8");
    let mut lines = text
        .strip_suffix("\r\n\r\n")
        .unwrap_or_else(|| panic!("header block {text:?} does not end with an empty line"))
        .split("\r\n");
    let first = lines.next().unwrap_or_default();
    let status = match first.strip_prefix("NATS/1.0") {
        Some("") => None,
        Some(rest) => Some(
            rest.strip_prefix(' ')
                .unwrap_or_else(|| panic!("bad version line {first:?}"))
                .to_owned(),
        ),
        None => panic!("bad version line {first:?}"),
    };
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("header line {line:?} is not `Name: value`"));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let rebuilt = Message::new(None, status.clone(), headers.clone(), b"").header_block();
    assert_eq!(
        rebuilt.as_deref(),
        Some(block),
        "the header block is not in the vectors' form (`NATS/1.0[ <status>]`, `name: value` \
         lines, an empty line; an empty block has no vector form)"
    );
    (status, headers)
}

/// Headers in the vectors' order: by name, values of one name in the order sent. (Our
/// async-nats keeps headers in a hash map, so the order of different names on the wire varies
/// from message to message.)
fn sorted(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    headers
}

/// Replaces what varies between runs in a `$SRV` reply with placeholders, after checking the
/// value replaced has the documented form.
fn normalise(body: &[u8], id: &str) -> Vec<u8> {
    let text = std::str::from_utf8(body).expect("a $SRV reply is UTF-8 JSON");
    let mut text = text.replace(id, ID);
    text = replace_values(&text, "\"started\":\"", |v| {
        let ok = v.len() == 27
            && v.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                10 => c == 'T',
                13 | 16 => c == ':',
                19 => c == '.',
                26 => c == 'Z',
                _ => c.is_ascii_digit(),
            });
        assert!(
            ok,
            "started {v:?} is not RFC 3339 UTC with six fraction digits"
        );
        (v.len(), STARTED)
    });
    for key in ["\"processing_time\":", "\"average_processing_time\":"] {
        text = replace_values(&text, key, |v| {
            let digits = v.bytes().take_while(u8::is_ascii_digit).count();
            assert!(digits > 0, "{key} is not followed by an integer: {v:?}");
            (digits, NANOS)
        });
    }
    text.into_bytes()
}

/// Replaces, after every `key`, the first `n` characters (as `check` returns them) with the
/// placeholder.
fn replace_values(text: &str, key: &str, check: impl Fn(&str) -> (usize, &'static str)) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        let value_end = if key.ends_with('"') {
            tail.find('"').expect("a string value ends")
        } else {
            tail.len()
        };
        let (n, placeholder) = check(&tail[..value_end]);
        out.push_str(placeholder);
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

/// The file text: indented JSON with one `[name, value]` header per line, so a diff shows
/// what changed at a glance.
fn to_file(vector: &Vector) -> String {
    let string = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let message = |m: &Message| {
        let mut fields = Vec::new();
        if let Some(subject) = &m.subject {
            fields.push(format!("    \"subject\": {}", string(subject)));
        }
        if let Some(status) = &m.status {
            fields.push(format!("    \"status\": {}", string(status)));
        }
        if m.headers.is_empty() {
            fields.push("    \"headers\": []".to_owned());
        } else {
            let lines: Vec<String> = m
                .headers
                .iter()
                .map(|(n, v)| format!("      [{}, {}]", string(n), string(v)))
                .collect();
            fields.push(format!("    \"headers\": [\n{}\n    ]", lines.join(",\n")));
        }
        if let Some(text) = &m.body_text {
            fields.push(format!("    \"body_text\": {}", string(text)));
        }
        if let Some(b64) = &m.body_base64 {
            fields.push(format!("    \"body_base64\": {}", string(b64)));
        }
        format!("{{\n{}\n  }}", fields.join(",\n"))
    };
    let reply = match &vector.reply {
        Some(reply) => format!(",\n  \"reply\": {}", message(reply)),
        None => String::new(),
    };
    let text = format!(
        "{{\n  \"description\": {},\n  \"request\": {}{reply}\n}}\n",
        string(&vector.description),
        message(&vector.request),
    );
    // The file must read back as the same vector.
    let back: Vector = serde_json::from_str(&text).expect("a vector file is JSON");
    assert_eq!(&back, vector, "the vector file format round-trips");
    text
}

async fn start(server: &NatsServer) -> (micro_nats::Nats, micro_core::service::Running) {
    let nats = connect(server).await;
    let running = Service::builder()
        .backend(nats.backend())
        .only_explicit()
        .handle(VectorsServer::new(VectorsImpl))
        .start()
        .await
        .expect("the vectors service starts");
    (nats, running)
}

/// Sends `case`'s request byte for byte and reads the reply as it arrives.
fn exchange(raw: &mut RawNats, index: usize, case: &Case, id: &str) -> RawMessage {
    let subject = case.subject.replace(ID, id);
    let reply = format!("_INBOX.vectors.{index}");
    let request = Message::new(
        None,
        None,
        case.headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        &case.body,
    );
    let sent = match request.header_block() {
        Some(block) => raw.hpub(
            subject.as_bytes(),
            Some(reply.as_bytes()),
            &block,
            &case.body,
        ),
        None => raw.publish(subject.as_bytes(), Some(reply.as_bytes()), &case.body),
    };
    sent.unwrap_or_else(|e| panic!("{}: cannot send: {e}", case.file));
    let answer = raw
        .next_message(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{}: no reply within 10 s: {e}", case.file));
    assert_eq!(
        answer.subject, reply,
        "{}: a reply to another request",
        case.file
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_every_vector_byte_for_byte() {
    let server = NatsServer::start();
    let (nats, running) = start(&server).await;
    let id = running.instances()[0].id.clone();
    let port = server.port();
    let cases = cases();
    let recorded = tokio::task::spawn_blocking(move || {
        let mut raw = RawNats::connect(port).expect("raw connection");
        raw.subscribe("_INBOX.vectors.>", 1).expect("subscribes");
        raw.sync().expect("subscribed");
        cases
            .iter()
            .enumerate()
            .map(|(index, case)| {
                let answer = exchange(&mut raw, index, case, &id);
                let (status, headers) = parse_block(&answer.headers);
                let body = if case.subject.starts_with("$SRV.") {
                    normalise(&answer.payload, &id)
                } else {
                    answer.payload.clone()
                };
                let vector = Vector {
                    description: case.description.to_owned(),
                    request: Message::new(
                        Some(case.subject),
                        None,
                        case.headers
                            .iter()
                            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                            .collect(),
                        &case.body,
                    ),
                    reply: Some(Message::new(None, status, sorted(headers), &body)),
                };
                (case.file, vector)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("the exchange ran");
    running.stop().await;

    // Events: what our client publishes, as a raw subscriber receives it.
    let mut raw = tokio::task::spawn_blocking(move || {
        let mut raw = RawNats::connect(port).expect("raw connection");
        raw.subscribe("user.>", 2).expect("subscribes");
        raw.sync().expect("subscribed");
        raw
    })
    .await
    .expect("the raw subscriber connected");
    let mut recorded = recorded;
    for event in events() {
        let mut client = nats.micro_client().with_content_type(event.content_type);
        for (key, value) in event.metadata {
            client = client.with_metadata(*key, *value);
        }
        client
            .publish(event.topic, &user())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot publish: {e}", event.file));
        let (back, message) = tokio::task::spawn_blocking(move || {
            let message = raw.next_message(Duration::from_secs(10));
            (raw, message)
        })
        .await
        .expect("the raw subscriber read");
        raw = back;
        let message =
            message.unwrap_or_else(|e| panic!("{}: no event within 10 s: {e}", event.file));
        assert_eq!(
            message.reply, None,
            "{}: an event has no reply subject",
            event.file
        );
        let (status, headers) = parse_block(&message.headers);
        assert_eq!(status, None, "{}", event.file);
        let vector = Vector {
            description: event.description.to_owned(),
            request: Message::new(
                Some(&message.subject),
                None,
                sorted(headers),
                &message.payload,
            ),
            reply: None,
        };
        recorded.push((event.file, vector));
    }

    let dir = vectors_dir();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    let produced: BTreeSet<String> = recorded.iter().map(|(f, _)| (*f).to_owned()).collect();
    if blessing() {
        std::fs::create_dir_all(&dir).expect("creates tests/vectors");
        for stale in on_disk.difference(&produced) {
            std::fs::remove_file(dir.join(stale)).expect("removes a stale vector");
        }
        for (file, vector) in &recorded {
            std::fs::write(dir.join(file), to_file(vector)).expect("writes a vector");
        }
        eprintln!("blessed {} vectors in {}", recorded.len(), dir.display());
        return;
    }
    let mut failures = Vec::new();
    for stale in on_disk.difference(&produced) {
        failures.push(format!("{stale}: no case produces it (bless to remove it)"));
    }
    for (file, vector) in &recorded {
        let actual = to_file(vector);
        match std::fs::read_to_string(dir.join(file)) {
            Err(err) => failures.push(format!("{file}: cannot read ({err})")),
            Ok(expected) if expected != actual => {
                failures.push(format!("{file} differs:\n{}", diff(&expected, &actual)));
            }
            Ok(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "the wire output no longer matches tests/vectors (if the change is intended, rerun with \
         {BLESS}=1 and commit the files):\n\n{}",
        failures.join("\n")
    );
}

/// Reads every committed vector.
fn committed() -> Vec<(String, Vector)> {
    cases()
        .iter()
        .map(|case| {
            let path = vectors_dir().join(case.file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let vector: Vector = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a vector: {e}", path.display()));
            (case.file.to_owned(), vector)
        })
        .collect()
}

/// Headers as `[name, value]` pairs.
type Headers = Vec<(String, String)>;

/// Reads every committed event vector.
fn committed_events() -> Vec<(EventCase, Vector)> {
    events()
        .into_iter()
        .map(|event| {
            let path = vectors_dir().join(event.file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let vector: Vector = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a vector: {e}", path.display()));
            (event, vector)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_subscribers_accept_every_event_vector() {
    if skip_while_blessing() {
        return;
    }
    let server = NatsServer::start();
    let nats = connect(&server).await;
    let mut subscription = nats
        .broker()
        .subscribe("user.>", None)
        .await
        .expect("subscribes");
    let publisher = common::raw(&server).await;
    common::sync(&publisher).await;
    for (event, vector) in committed_events() {
        assert!(
            vector.reply.is_none(),
            "{}: an event has no reply",
            event.file
        );
        let request = &vector.request;
        let subject = request.subject.clone().expect("an event has a subject");
        let body = Bytes::from(request.body());
        if request.headers.is_empty() {
            publisher.publish(subject, body).await.expect("publishes");
        } else {
            let mut map = async_nats::HeaderMap::new();
            for (name, value) in &request.headers {
                map.append(name.as_str(), value.as_str());
            }
            publisher
                .publish_with_headers(subject, map, body)
                .await
                .expect("publishes");
        }
        let received = tokio::time::timeout(Duration::from_secs(5), subscription.next())
            .await
            .unwrap_or_else(|_| panic!("{}: no event within 5 s", event.file))
            .expect("the subscription goes on");
        assert_eq!(received.topic, event.topic, "{}", event.file);
        assert_eq!(received.content_type, event.content_type, "{}", event.file);
        assert_eq!(
            received.decode::<UserCreated>().expect("the event decodes"),
            user(),
            "{}",
            event.file
        );
        let metadata: Vec<(&str, &str)> = received.metadata.iter().collect();
        assert_eq!(metadata, event.metadata, "{}", event.file);
    }
}

/// What the fake responder saw and what it answers.
#[derive(Default)]
struct Fake {
    /// The reply to send: headers and body.
    reply: Option<(Headers, Vec<u8>)>,
    /// The reply to `$SRV.INFO` requests, when it is not `reply`.
    info: Option<(Headers, Vec<u8>)>,
    /// The requests received: subject, headers (sorted), body.
    seen: Vec<(String, Headers, Vec<u8>)>,
}

/// Answers every request on `vectors.>` and `$SRV.>` with the reply set in `fake`.
async fn fake_responder(server: &NatsServer, fake: Arc<Mutex<Fake>>) -> async_nats::Client {
    let client = common::raw(server).await;
    for subject in ["vectors.>", "$SRV.>"] {
        let mut sub = client.subscribe(subject).await.expect("fake subscribes");
        let (client, fake) = (client.clone(), fake.clone());
        tokio::spawn(async move {
            while let Some(message) = sub.next().await {
                let Some(reply_to) = message.reply.clone() else {
                    continue;
                };
                let mut headers: Vec<(String, String)> = message
                    .headers
                    .iter()
                    .flat_map(|h| h.iter())
                    .flat_map(|(name, values)| {
                        values
                            .iter()
                            .map(move |v| (name.to_string(), v.as_str().to_owned()))
                    })
                    .collect();
                headers = sorted(headers);
                let reply = {
                    let mut fake = fake.lock().expect("fake lock");
                    fake.seen.push((
                        message.subject.to_string(),
                        headers,
                        message.payload.to_vec(),
                    ));
                    match &fake.info {
                        Some(info) if message.subject.starts_with("$SRV.INFO") => {
                            Some(info.clone())
                        }
                        _ => fake.reply.clone(),
                    }
                };
                let Some((headers, body)) = reply else {
                    continue;
                };
                if headers.is_empty() {
                    let _ = client.publish(reply_to, Bytes::from(body)).await;
                } else {
                    let mut map = async_nats::HeaderMap::new();
                    for (name, value) in &headers {
                        map.append(name.as_str(), value.as_str());
                    }
                    let _ = client
                        .publish_with_headers(reply_to, map, Bytes::from(body))
                        .await;
                }
            }
        });
    }
    common::sync(&client).await;
    client
}

/// The id the fake answers under, in place of `{{id}}`.
const FAKE_ID: &str = "VECT0RSFAKE1NSTANCE1D0";

/// Fills in the placeholders (only text bodies hold them: MessagePack ones pass as they are).
fn denormalise(body: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(body) {
        Ok(text) => text
            .replace(ID, FAKE_ID)
            .replace(STARTED, "2026-11-24T04:05:29.409273Z")
            .replace(NANOS, "1500")
            .into_bytes(),
        Err(_) => body.to_vec(),
    }
}

/// The error a vector's reply body holds, as JSON, for comparing with what our client rebuilt.
fn error_body(vector: &Vector, ct: ContentType) -> Value {
    ct.decode(&vector.reply().body())
        .expect("an error reply's body is the structured error")
}

fn error_json(err: &Error) -> Value {
    serde_json::to_value(err).expect("an error serialises")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_and_registry_accept_every_reply_vector() {
    if skip_while_blessing() {
        return;
    }
    let server = NatsServer::start();
    let fake = Arc::new(Mutex::new(Fake::default()));
    let _responder = fake_responder(&server, fake.clone()).await;
    let nats = connect(&server).await;
    let json = VectorsClient::new(&nats.micro_client());
    let msgpack = VectorsClient::new(&nats.micro_client().with_content_type(ContentType::MsgPack));
    let vectors = committed();
    let info = vectors
        .iter()
        .find(|(file, _)| file == "24-info.json")
        .map(|(_, v)| denormalise(&v.reply().body()))
        .expect("an INFO vector");
    let mut checked = 0;
    for (file, vector) in vectors {
        {
            let mut f = fake.lock().expect("fake lock");
            f.seen.clear();
            f.info = None;
            f.reply = Some((
                vector.reply().headers.clone(),
                denormalise(&vector.reply().body()),
            ));
        }
        // Whether our client makes exactly this request: then what it sent must be the
        // vector's request, byte for byte.
        let ours = match file.as_str() {
            "01-call-json.json" => {
                assert_eq!(json.hello("World".into()).await.unwrap(), "Hello World");
                true
            }
            "02-call-json-labelled.json" | "04-call-msgpack-labelled.json" => {
                // Our client labels neither; it reads the labelled reply all the same.
                let client = if file.starts_with("02") {
                    &json
                } else {
                    &msgpack
                };
                assert_eq!(client.hello("World".into()).await.unwrap(), "Hello World");
                false
            }
            "03-call-msgpack.json" => {
                assert_eq!(msgpack.hello("World".into()).await.unwrap(), "Hello World");
                true
            }
            "05-struct-reply-json.json" => {
                assert_eq!(json.add(1, 2).await.unwrap(), Sum { total: 3 });
                true
            }
            "06-struct-reply-msgpack.json" => {
                assert_eq!(msgpack.add(1, 2).await.unwrap(), Sum { total: 3 });
                true
            }
            "07-no-arguments.json" => {
                assert_eq!(json.status().await.unwrap(), "up");
                true
            }
            "08-no-arguments-empty-body.json" => {
                // Our client sends `{}` (vector 07); the reply is the same.
                assert_eq!(json.status().await.unwrap(), "up");
                false
            }
            "09-metadata.json" => {
                let client =
                    VectorsClient::new(&nats.micro_client().with_metadata("tenant", "acme"));
                assert_eq!(
                    client.meta("tenant".into()).await.unwrap().as_deref(),
                    Some("acme")
                );
                true
            }
            "10-error-handler-code-json.json" | "11-error-handler-code-msgpack.json" => {
                let (client, ct) = if file.starts_with("10") {
                    (&json, ContentType::Json)
                } else {
                    (&msgpack, ContentType::MsgPack)
                };
                let err = client.reject("out of stock".into()).await.unwrap_err();
                assert_eq!(err.code(), 422, "{err}");
                assert_eq!(err.detail(), "out of stock");
                assert_eq!(err.id(), "vectors.reject");
                assert_eq!(error_json(&err), error_body(&vector, ct), "{file}");
                true
            }
            "12-error-malformed-json.json"
            | "13-error-malformed-msgpack.json"
            | "14-error-not-json.json"
            | "15-error-wrong-content-type.json" => {
                // Requests our client cannot make; it reads the error replies.
                let (client, ct) = if file.starts_with("13") {
                    (&msgpack, ContentType::MsgPack)
                } else {
                    (&json, ContentType::Json)
                };
                let err = client.hello("World".into()).await.unwrap_err();
                let expected = if file.starts_with("15") { 415 } else { 400 };
                assert_eq!(err.code(), expected, "{file}: {err}");
                assert_eq!(error_json(&err), error_body(&vector, ct), "{file}");
                false
            }
            "16-error-deadline-passed.json" | "17-error-deadline-while-running.json" => {
                let client =
                    VectorsClient::new(&nats.micro_client().with_timeout(Duration::from_secs(5)));
                let err = client.slow(1).await.unwrap_err();
                assert_eq!(err.code(), 408, "{file}: {err}");
                assert_eq!(error_json(&err), error_body(&vector, ContentType::Json));
                false
            }
            "18-timeout-unparsable.json" => {
                // Our client always sends whole microseconds (vector 17's form); the reply is
                // an ordinary one.
                assert_eq!(json.slow(1).await.unwrap(), 1);
                false
            }
            "19-error-handler-panicked.json" => {
                let err = json.panics().await.unwrap_err();
                assert_eq!(err.code(), 500, "{err}");
                assert_eq!(error_json(&err), error_body(&vector, ContentType::Json));
                true
            }
            "20-unknown-endpoint.json" => {
                // nats-server's status message, which a responder cannot send; our client's
                // reading of it (503) is tested with the transport.
                continue;
            }
            "21-ping-all.json" | "22-ping-service.json" | "23-ping-instance.json" => {
                // A watch pings, then asks the instances it finds for their INFO.
                fake.lock().expect("fake lock").info = Some((Vec::new(), info.clone()));
                let mut changes = nats
                    .registry()
                    .watch(WatchOptions::default().service("vectors"))
                    .await
                    .unwrap();
                let change = tokio::time::timeout(Duration::from_secs(5), changes.next())
                    .await
                    .expect("the watch reports within 5 s");
                match change {
                    Some(Change::Added(instance)) => {
                        assert_eq!(
                            (instance.name.as_str(), instance.id.as_str()),
                            ("vectors", FAKE_ID)
                        );
                    }
                    other => panic!("{file}: expected the instance, got {other:?}"),
                }
                false
            }
            "24-info.json" => {
                let instances = nats.registry().get_service("vectors").await.unwrap();
                assert_eq!(instances.len(), 1, "{instances:?}");
                let instance = &instances[0];
                assert_eq!(instance.id, FAKE_ID);
                assert_eq!(instance.version, "1.0.0");
                let expected: Value =
                    serde_json::from_slice(&denormalise(&vector.reply().body())).unwrap();
                let endpoints: Vec<(String, String)> = instance
                    .endpoints
                    .iter()
                    .map(|e| (e.name.clone(), e.subject.clone()))
                    .collect();
                let announced: Vec<(String, String)> = expected["endpoints"]
                    .as_array()
                    .expect("INFO has endpoints")
                    .iter()
                    .map(|e| {
                        (
                            e["name"].as_str().unwrap_or_default().to_owned(),
                            e["subject"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                assert_eq!(endpoints, announced);
                assert_eq!(endpoints.len(), 7);
                false
            }
            "25-stats.json" => {
                let stats = nats.registry().stats(Some("vectors")).await.unwrap();
                assert_eq!(stats.len(), 1, "{stats:?}");
                let expected: Value =
                    serde_json::from_slice(&denormalise(&vector.reply().body())).unwrap();
                let got: Vec<Value> = stats[0]
                    .endpoints
                    .iter()
                    .map(|e| {
                        json!({"name": e.name, "num_requests": e.num_requests,
                               "num_errors": e.num_errors, "last_error": e.last_error})
                    })
                    .collect();
                let want: Vec<Value> = expected["endpoints"]
                    .as_array()
                    .expect("STATS has endpoints")
                    .iter()
                    .map(|e| {
                        json!({"name": e["name"], "num_requests": e["num_requests"],
                               "num_errors": e["num_errors"], "last_error": e["last_error"]})
                    })
                    .collect();
                assert_eq!(got, want);
                assert_eq!(
                    stats[0].endpoints[0].processing_time,
                    Duration::from_nanos(1500)
                );
                false
            }
            other => panic!("{other}: no acceptance check (add one)"),
        };
        let seen = fake.lock().expect("fake lock").seen.clone();
        if ours {
            assert_eq!(seen.len(), 1, "{file}: one request expected, got {seen:?}");
            let (subject, headers, body) = &seen[0];
            assert_eq!(Some(subject), vector.request.subject.as_ref(), "{file}");
            assert_eq!(headers, &sorted(vector.request.headers.clone()), "{file}");
            assert_eq!(body, &vector.request.body(), "{file}: the request body");
        }
        checked += 1;
    }
    assert_eq!(checked, cases().len() - 1);
}
