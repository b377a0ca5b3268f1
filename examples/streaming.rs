//! Streams of every kind from one trait: `cargo run --example streaming`.
//!
//! A price feed (server stream), a batch upload (client stream) and a chat that answers each
//! message (bidirectional), served and called in one process. With `MICRO_NATS_URL` set, the
//! same program runs over NATS, where `micro call feed ticks '{"symbol":"ACME","n":3}'` prints
//! the ticks as JSON lines and the gateway serves them as NDJSON or server-sent events.

use std::time::Duration;

use micro::prelude::*;
use serde::{Deserialize, Serialize};

/// One price.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
pub struct Tick {
    /// Its number in the stream, from 1.
    pub seq: u32,
    /// The price, in cents.
    pub cents: u64,
}

/// A line of a chat.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "micro::schemars")]
pub struct Line {
    /// Who wrote it.
    pub from: String,
    /// What they wrote.
    pub text: String,
}

/// Prices, uploads and a chat: one of each stream kind.
#[service(name = "feed", version = "1.0.0")]
pub trait Feed {
    /// `n` prices of `symbol`, as they come (a server stream).
    async fn ticks(&self, symbol: String, n: u32) -> Result<Streaming<Tick>, Error>;
    /// Stores the lines sent and answers how many there were (a client stream).
    async fn upload(&self, batch: String, lines: Streaming<Line>) -> Result<u32, Error>;
    /// Answers every line sent, as it arrives (a bidirectional stream).
    async fn chat(&self, lines: Streaming<Line>) -> Result<Streaming<Line>, Error>;
}

#[derive(Default)]
struct MyFeed;

#[service]
impl Feed for MyFeed {
    async fn ticks(&self, symbol: String, n: u32) -> Result<Streaming<Tick>, Error> {
        if symbol.is_empty() {
            // Refused before any tick: the caller's `ticks()` call itself fails.
            return Err(Error::bad_request("symbol must not be empty"));
        }
        // A producer task feeding the stream; the stream's credit paces it, and it stops as
        // soon as the reader goes away (`send` fails).
        let (tx, ticks) = Streaming::channel(16);
        tokio::spawn(async move {
            for seq in 1..=n {
                let tick = Tick {
                    seq,
                    cents: 10_000 + u64::from(seq % 7) * 13,
                };
                if tx.send(tick).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Ok(ticks)
    }

    async fn upload(&self, batch: String, mut lines: Streaming<Line>) -> Result<u32, Error> {
        let mut count = 0;
        while let Some(line) = lines.next().await {
            // An error in the stream (the sender failed, or the stream broke off) ends the
            // upload with that error: never a silently shorter batch.
            let line = line?;
            println!("  [{batch}] {}: {}", line.from, line.text);
            count += 1;
        }
        Ok(count)
    }

    async fn chat(&self, lines: Streaming<Line>) -> Result<Streaming<Line>, Error> {
        Ok(Streaming::try_new(lines.map(|line| {
            let line = line?;
            Ok(Line {
                from: "feed".into(),
                text: format!("{} said {:?}", line.from, line.text),
            })
        })))
    }
}

fn line(from: &str, text: &str) -> Line {
    Line {
        from: from.into(),
        text: text.into(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let running = Service::from_env().start().await?;
    let feed = FeedClient::new(&running.client());

    println!("ticks:");
    let mut ticks = feed.ticks("ACME".into(), 5).await?;
    while let Some(tick) = ticks.next().await {
        let tick = tick?;
        println!(
            "  #{} {}.{:02}",
            tick.seq,
            tick.cents / 100,
            tick.cents % 100
        );
    }

    println!("upload:");
    let lines = Streaming::iter([line("ann", "hello"), line("bob", "hi ann")]);
    println!(
        "  stored {} lines",
        feed.upload("monday".into(), lines).await?
    );

    println!("chat:");
    let (say, said) = Streaming::channel(4);
    let mut answers = feed.chat(said).await?;
    for text in ["ping", "how are you?"] {
        say.send(line("ann", text)).await?;
        if let Some(answer) = answers.next().await {
            println!("  {}", answer?.text);
        }
    }
    // Dropping the sender ends the chat's input; the server's stream then ends too.
    drop(say);
    assert!(answers.next().await.is_none());

    match feed.ticks(String::new(), 1).await {
        Ok(_) => println!("unexpected: an empty symbol was accepted"),
        Err(err) => println!("error reply: {err}"),
    }

    running.stop().await;
    Ok(())
}
