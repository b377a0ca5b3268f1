//! A NATS connection spoken byte by byte, for sending what no well-behaved client would.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A message read off a [`RawNats`] connection, exactly as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    /// The subject.
    pub subject: String,
    /// The reply subject, if any.
    pub reply: Option<String>,
    /// The header block (`NATS/1.0 ...\r\n...\r\n\r\n`), empty for a `MSG`.
    pub headers: Vec<u8>,
    /// The body.
    pub payload: Vec<u8>,
}

impl RawMessage {
    /// The header block as text (lossy).
    pub fn headers_text(&self) -> String {
        String::from_utf8_lossy(&self.headers).into_owned()
    }
}

/// A raw client: it writes whatever bytes it is given, so a test can publish messages with
/// malformed headers, subjects or bodies, and reads messages back without parsing headers.
#[derive(Debug)]
pub struct RawNats {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawNats {
    /// Connects to `127.0.0.1:<port>` with headers and no-responders enabled, and waits until
    /// the server has accepted the connection.
    pub fn connect(port: u16) -> io::Result<RawNats> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let writer = stream.try_clone()?;
        let mut raw = RawNats {
            reader: BufReader::new(stream),
            writer,
        };
        let mut info = String::new();
        raw.reader.read_line(&mut info)?;
        if !info.starts_with("INFO ") {
            return Err(io::Error::other(format!("expected INFO, got {info:?}")));
        }
        raw.send(
            br#"CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"name":"raw"}"#,
        )?;
        raw.send(b"\r\n")?;
        raw.sync()?;
        Ok(raw)
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Publishes with a header block given byte for byte: `HPUB <subject> [reply] <hlen> <tlen>`.
    pub fn hpub(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: &[u8],
        payload: &[u8],
    ) -> io::Result<()> {
        let mut op = b"HPUB ".to_vec();
        op.extend_from_slice(subject);
        if let Some(reply) = reply {
            op.push(b' ');
            op.extend_from_slice(reply);
        }
        op.extend_from_slice(
            format!(" {} {}\r\n", headers.len(), headers.len() + payload.len()).as_bytes(),
        );
        op.extend_from_slice(headers);
        op.extend_from_slice(payload);
        op.extend_from_slice(b"\r\n");
        self.send(&op)
    }

    /// Publishes without headers: `PUB <subject> [reply] <len>`.
    pub fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        payload: &[u8],
    ) -> io::Result<()> {
        let mut op = b"PUB ".to_vec();
        op.extend_from_slice(subject);
        if let Some(reply) = reply {
            op.push(b' ');
            op.extend_from_slice(reply);
        }
        op.extend_from_slice(format!(" {}\r\n", payload.len()).as_bytes());
        op.extend_from_slice(payload);
        op.extend_from_slice(b"\r\n");
        self.send(&op)
    }

    /// Subscribes `subject` as subscription `sid`.
    pub fn subscribe(&mut self, subject: &str, sid: u64) -> io::Result<()> {
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes())
    }

    /// Waits until the server has processed everything sent so far (PING, then its PONG).
    /// Messages that arrive meanwhile are dropped.
    pub fn sync(&mut self) -> io::Result<()> {
        self.send(b"PING\r\n")?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.read_op()? {
                Op::Pong => return Ok(()),
                Op::Err(e) => return Err(io::Error::other(format!("server error: {e}"))),
                _ => {}
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no PONG"))
    }

    /// The next message, within `timeout`.
    pub fn next_message(&mut self, timeout: Duration) -> io::Result<RawMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no message"));
            }
            self.reader.get_ref().set_read_timeout(Some(left))?;
            match self.read_op()? {
                Op::Msg(message) => return Ok(message),
                Op::Err(e) => return Err(io::Error::other(format!("server error: {e}"))),
                _ => {}
            }
        }
    }

    fn read_op(&mut self) -> io::Result<Op> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let mut args = text.split_whitespace();
        match args.next() {
            Some("PING") => {
                self.send(b"PONG\r\n")?;
                Ok(Op::Other)
            }
            Some("PONG") => Ok(Op::Pong),
            Some("-ERR") => Ok(Op::Err(text)),
            Some(verb @ ("MSG" | "HMSG")) => {
                let args: Vec<&str> = args.collect();
                let number = |s: &str| {
                    s.parse::<usize>()
                        .map_err(|_| io::Error::other(format!("bad length in {text:?}")))
                };
                let (subject, reply, hlen, tlen) = match (verb, args.as_slice()) {
                    ("MSG", [s, _, n]) => (*s, None, 0, number(n)?),
                    ("MSG", [s, _, r, n]) => (*s, Some(*r), 0, number(n)?),
                    ("HMSG", [s, _, h, n]) => (*s, None, number(h)?, number(n)?),
                    ("HMSG", [s, _, r, h, n]) => (*s, Some(*r), number(h)?, number(n)?),
                    _ => return Err(io::Error::other(format!("cannot read {text:?}"))),
                };
                let mut body = vec![0; tlen + 2];
                self.reader.read_exact(&mut body)?;
                body.truncate(tlen);
                let payload = body.split_off(hlen.min(tlen));
                Ok(Op::Msg(RawMessage {
                    subject: subject.to_owned(),
                    reply: reply.map(str::to_owned),
                    headers: body,
                    payload,
                }))
            }
            _ => Ok(Op::Other),
        }
    }
}

enum Op {
    Msg(RawMessage),
    Pong,
    Err(String),
    Other,
}
