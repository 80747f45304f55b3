//! A scripted upstream on a raw socket, for the fast path tests of both proxies: it records the
//! request heads it gets and counts the connections it accepts, and answers byte for byte as its
//! script says, so that chunked, close-delimited, interim and malformed responses and connections
//! closed while idle can be written exactly; a script with one response shape per path
//! ([`shapes`]); and what a client saw of a response ([`Seen`]), to compare the fast path's with
//! pingora's.

use super::{Conn, Response};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What a [`RawTarget`] does with one request.
pub enum Reply {
    /// Writes these bytes and waits for the connection's next request.
    Keep(Vec<u8>),
    /// Writes these bytes, then closes the connection.
    Close(Vec<u8>),
    /// Closes the connection without writing a byte.
    Hangup,
    /// Never answers (holds the connection until the target stops, a minute at most).
    Silent,
    /// Writes the first bytes, waits, writes the second bytes, and waits for the connection's
    /// next request.
    KeepThen(Vec<u8>, Duration, Vec<u8>),
    /// Writes the first bytes, waits, writes the second bytes, then closes the connection.
    CloseThen(Vec<u8>, Duration, Vec<u8>),
    /// Writes each piece with a pause before the next, then waits for the next request.
    Trickle(Vec<Vec<u8>>, Duration),
}

/// A request as a [`RawTarget`] received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Which connection (1, 2, ... in accept order).
    pub conn: usize,
    /// Which request of its connection (1, 2, ...).
    pub nth: usize,
    /// The head as received, through its blank line.
    pub head: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn line(&self) -> &str {
        self.head.split("\r\n").next().unwrap_or("")
    }

    pub fn method(&self) -> &str {
        self.line().split(' ').next().unwrap_or("")
    }

    pub fn target(&self) -> &str {
        self.line().split(' ').nth(1).unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("")
    }

    /// The header fields in order, as (name, value).
    pub fn fields(&self) -> Vec<(String, String)> {
        fields_of(&self.head)
    }

    /// Every value of the fields called `name`.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.fields()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }
}

/// The (name, value) fields of a head (its first line skipped).
pub fn fields_of(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            (n.to_string(), v.trim().to_string())
        })
        .collect()
}

pub type Script = dyn Fn(&Received) -> Reply + Send + Sync + 'static;

/// A target on 127.0.0.1 that reads each request (head, and a body by its Content-Length) and
/// does what its script says; it records every request before answering it and counts the
/// connections it accepts.
pub struct RawTarget {
    pub port: u16,
    seen: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl RawTarget {
    pub fn start(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> RawTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a target");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (s, c, st) = (seen.clone(), connections.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let conn = c.fetch_add(1, Ordering::SeqCst) + 1;
                let (s, st, script) = (s.clone(), st.clone(), script.clone());
                thread::spawn(move || serve(stream, conn, &s, &st, &*script));
            }
        });
        RawTarget {
            port,
            seen,
            connections,
            stop,
        }
    }

    pub fn seen(&self) -> Vec<Received> {
        self.seen.lock().expect("target lock").clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Received> {
        self.seen()
            .into_iter()
            .filter(|r| r.path() == path)
            .collect()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RawTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

pub fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve(
    mut stream: TcpStream,
    conn: usize,
    seen: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
    script: &Script,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut nth = 0;
    loop {
        let (head_len, body_len) = loop {
            if let Some(end) = position(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end + 4]).to_string();
                let length = fields_of(&head)
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break (end + 4, length);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        nth += 1;
        let received = Received {
            conn,
            nth,
            head: String::from_utf8_lossy(&buf[..head_len]).to_string(),
            body: buf[head_len..head_len + body_len].to_vec(),
        };
        buf.drain(..head_len + body_len);
        let reply = script(&received);
        seen.lock().expect("target lock").push(received);
        match reply {
            Reply::Keep(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::Close(bytes) => {
                let _ = stream.write_all(&bytes);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::KeepThen(first, wait, then) => {
                let _ = stream.write_all(&first);
                thread::sleep(wait);
                if stream.write_all(&then).is_err() {
                    return;
                }
            }
            Reply::Trickle(pieces, every) => {
                for (i, piece) in pieces.iter().enumerate() {
                    if i > 0 {
                        thread::sleep(every);
                    }
                    if stream.write_all(piece).is_err() {
                        return;
                    }
                }
            }
            Reply::CloseThen(first, wait, then) => {
                let _ = stream.write_all(&first);
                thread::sleep(wait);
                let _ = stream.write_all(&then);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Hangup => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Reply::Silent => {
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(50));
                }
                return;
            }
        }
    }
}

/// A response's bytes: the status line, the fields as given, the blank line and the body.
pub fn wire(status_line: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n").into_bytes();
    for (n, v) in fields {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// `200 OK` with `body` framed by its Content-Length.
pub fn ok(body: &str) -> Vec<u8> {
    let length = body.len().to_string();
    wire(
        "HTTP/1.1 200 OK",
        &[("Content-Type", "text/plain"), ("Content-Length", &length)],
        body.as_bytes(),
    )
}

/// Sends a request on `conn`; returns the response and the raw bytes it took.
pub fn exchange(
    conn: &mut Conn,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (Response, Vec<u8>) {
    let before = conn.received.len();
    let response = conn
        .request(method, path, headers, b"")
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    (response, conn.received[before..].to_vec())
}

/// What the client saw of one response: the status lines of any interim (1xx) responses before
/// it; its status line and fields, names lowercased, sorted by name with same-name fields in
/// their order, Date's value blanked (asserted present); and its body.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub interim: Vec<String>,
    pub line: String,
    pub fields: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn seen(raw: &[u8], response: &Response) -> Seen {
    let mut interim = Vec::new();
    let mut rest = raw;
    loop {
        let end = position(rest, b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&rest[..end + 4]).to_string();
        rest = &rest[end + 4..];
        let line = head.split("\r\n").next().unwrap_or("").to_string();
        if line.split(' ').nth(1).is_some_and(|s| s.starts_with('1')) {
            interim.push(line);
            continue;
        }
        let mut fields: Vec<(String, String)> = fields_of(&head)
            .into_iter()
            .map(|(n, v)| {
                let n = n.to_ascii_lowercase();
                let v = if n == "date" { "*".to_string() } else { v };
                (n, v)
            })
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(
            fields.iter().any(|(n, _)| n == "date"),
            "no Date in {head:?}"
        );
        return Seen {
            interim,
            line,
            fields,
            body: response.body.clone(),
        };
    }
}

/// `seen` without its fields called `name`.
pub fn without(seen: &Seen, name: &str) -> Seen {
    Seen {
        interim: seen.interim.clone(),
        line: seen.line.clone(),
        fields: seen
            .fields
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect(),
        body: seen.body.clone(),
    }
}

/// Asserts both balancers gave the client the same final response (status line, fields, body).
pub fn assert_alike(what: &str, fast: &Seen, slow: &Seen) {
    if (&fast.line, &fast.fields, &fast.body) != (&slow.line, &slow.fields, &slow.body) {
        panic!(
            "{what}: the fast path (left) and pingora's path (right) answer differently\n  {:?} {:#?}\n  vs\n  {:?} {:#?}\n  bodies: {} bytes vs {} bytes, equal: {}",
            fast.line,
            fast.fields,
            slow.line,
            slow.fields,
            fast.body.len(),
            slow.body.len(),
            fast.body == slow.body
        );
    }
}

/// `n` bytes of numbered lines.
pub fn numbered(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 16);
    let mut i = 0;
    while out.len() < n {
        out.extend_from_slice(format!("line {i:06}\n").as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

/// The chunks of `/chunked`, and its trailer.
pub const CHUNKS: [&str; 4] = [
    "first chunk, ",
    "second, ",
    "a third one, ",
    "and the last.",
];

/// A target with one response shape per path (a HEAD gets the head alone).
pub fn shapes(r: &Received) -> Reply {
    let head_only = r.method() == "HEAD";
    let body = |b: Vec<u8>| if head_only { Vec::new() } else { b };
    match r.path() {
        "/length" => Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain"),
                ("X-Target-Case", "Kept"),
                ("Set-Cookie", "a=1; Path=/"),
                ("Cache-Control", "no-cache"),
                ("set-cookie", "b=2; Path=/"),
                ("Date", "Tue, 24 Nov 2026 10:00:00 GMT"),
                ("Content-Length", "1024"),
            ],
            &body(numbered(1024)),
        )),
        "/big" => Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", "150000"),
            ],
            &body(numbered(150_000)),
        )),
        "/chunked" => {
            let mut chunks = Vec::new();
            for c in CHUNKS {
                chunks.extend_from_slice(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes());
            }
            chunks.extend_from_slice(b"0\r\nX-Checksum: 1234\r\n\r\n");
            Reply::Keep(wire(
                "HTTP/1.1 200 OK",
                &[
                    ("Content-Type", "text/plain"),
                    ("Transfer-Encoding", "chunked"),
                    ("Trailer", "X-Checksum"),
                ],
                &body(chunks),
            ))
        }
        "/no-content" => Reply::Keep(wire(
            "HTTP/1.1 204 No Content",
            &[("X-Why", "nothing to say")],
            b"",
        )),
        "/not-modified" => Reply::Keep(wire(
            "HTTP/1.1 304 Not Modified",
            &[("ETag", "\"v1\""), ("Cache-Control", "max-age=60")],
            b"",
        )),
        "/until-close" => Reply::Close(wire(
            "HTTP/1.0 200 OK",
            &[("Content-Type", "text/plain"), ("X-Framing", "none")],
            &body(numbered(3000)),
        )),
        "/length-and-chunked" => Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain"),
                ("Content-Length", "50"),
                ("Transfer-Encoding", "chunked"),
            ],
            &body(b"5\r\nhello\r\n0\r\n\r\n".to_vec()),
        )),
        // Bare LF line ends, which a parser takes and a writer must not pass on.
        "/early-hints" => {
            let mut out = b"HTTP/1.1 103 Early Hints\nLink: </a.css>; rel=preload\n\n".to_vec();
            out.extend_from_slice(&ok("after early hints"));
            Reply::Keep(out)
        }
        "/interim" => {
            let mut out = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
            out.extend_from_slice(&ok("after an interim response"));
            Reply::Keep(out)
        }
        _ => Reply::Keep(ok("other")),
    }
}

/// A client connection from 127.0.0.1 to `node` (so that X-Forwarded-For is the same whichever
/// loopback address the proxy listens on).
pub fn connect(node: &str) -> Conn {
    Conn::open_from(
        node,
        std::net::IpAddr::from([127, 0, 0, 1]),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("connect to {node}: {e}"))
}

/// `metric` (a whole series: name and labels) as `admin` reads it now.
pub fn counter_now(admin: &str, metric: &str) -> u64 {
    let text = super::Client::new().get(admin, "/metrics", &[]).body_text();
    text.lines()
        .find_map(|l| l.strip_prefix(metric).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {metric} in:\n{text}")) as u64
}

/// The sum of every series of the metric named `name` that `admin` shows: now (`want` `None`),
/// or scraped until it reads `want` or 5 s have passed.
pub fn metric_sum(admin: &str, name: &str, want: Option<u64>) -> u64 {
    let prefix = format!("{name}{{");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = super::Client::new().get(admin, "/metrics", &[]).body_text();
        let sum = text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64;
        if want.is_none_or(|w| w == sum) || Instant::now() > deadline {
            return sum;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The counter `metric` of the admin listener at `admin`, scraped until it reads `want` or 5 s
/// have passed.
pub fn counter(admin: &str, metric: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count = counter_now(admin, metric);
        if count == want || Instant::now() > deadline {
            return count;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the fast path's counter `metric` reads `want` on the process whose admin
/// listener is `fast`, and 0 on the one with the fast path off (`slow`); `report` is both
/// processes' output, for the failure message.
pub fn assert_fast_count(
    metric: &str,
    (fast, slow): (&str, &str),
    want: u64,
    what: &str,
    report: &dyn Fn() -> String,
) {
    let got = counter(fast, metric, want);
    assert_eq!(
        got,
        want,
        "{what}: requests the fast path took\n{}",
        report()
    );
    assert_eq!(
        counter(slow, metric, 0),
        0,
        "{what}: with the fast path off, it takes none"
    );
}
