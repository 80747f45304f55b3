//! The end-to-end harness shared by every test in `tests/*.rs`.
//!
//! Everything here talks to 127.0.0.0/8 only, and every wait is bounded:
//!
//! - ports: [`free_port`], [`free_ports`], [`free_port_on`], [`dead_addr`];
//! - [`Origin`]: a real HTTP/1.1 server (tokio, keep-alive) that records every request it receives
//!   and answers with a configurable [`Response`] (or one built per request by a closure);
//! - [`Client`] / [`Conn`]: a small blocking HTTP/1.1 client over a raw `TcpStream`, with timeouts,
//!   that can also send raw bytes ([`Client::send_raw`]) for malformed-input tests;
//! - [`Ferry`]: the real binary as a child process (logs to files, readiness by polling the ports
//!   with HTTP requests, killed on drop), and [`ferry_cmd`] for one-shot commands like `validate`;
//! - [`TempDir`] and [`Topology`]: unique temporary directories and topology files.
//!
//! Tests are plain `#[test]` functions: the origins own their tokio runtime.

#![allow(dead_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod h2_target;
pub mod raw_target;
pub mod recorded;

/// How long a process gets to answer HTTP on all of its addresses.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one HTTP exchange may take (connect, write, read the whole response).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a one-shot command (`ferry validate ...`) may run.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head the origin accepts (it answers 431 beyond).
const ORIGIN_MAX_HEAD: usize = 1024 * 1024;
/// An origin closes a connection idle for this long.
const ORIGIN_IDLE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// A TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// Ports for the processes under test come from below the kernel's ephemeral range (32768 and
/// up by default), which is where every origin bound to port 0 and every outgoing connection
/// gets its port: a port handed out here cannot be taken by one of those between this call and
/// the moment the process under test binds it. Each test process starts at its own offset, and
/// tests of one process never get the same port twice.
const PORT_RANGE: std::ops::Range<u32> = 10_000..32_000;

fn next_candidate() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(2_654_435_761)) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    u16::try_from(PORT_RANGE.start + n % span).expect("the port range is below 65536")
}

/// `n` distinct ports that were free on 127.0.0.1 a moment ago (all held at once while choosing).
pub fn free_ports(n: usize) -> Vec<u16> {
    free_ports_on(&["127.0.0.1"], n)
}

fn free_ports_on(ips: &[&str], n: usize) -> Vec<u16> {
    assert!(!ips.is_empty(), "free ports need at least one address");
    let mut held: Vec<TcpListener> = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..(n + 1000) {
        if ports.len() == n {
            break;
        }
        let port = next_candidate();
        let bound: Result<Vec<TcpListener>, _> = ips
            .iter()
            .map(|ip| TcpListener::bind((*ip, port)))
            .collect();
        if let Ok(listeners) = bound {
            held.extend(listeners);
            ports.push(port);
        }
    }
    assert_eq!(
        ports.len(),
        n,
        "fewer than {n} free ports on {ips:?} in {PORT_RANGE:?}"
    );
    ports
}

/// A port that was free on every one of `ips` (e.g. `["127.0.0.1", "127.0.0.2"]` for a load
/// balancer with one node per zone on the same port).
pub fn free_port_on(ips: &[&str]) -> u16 {
    free_ports_on(ips, 1)[0]
}

/// `127.0.0.1:PORT` with nothing listening on it: connections to it are refused.
pub fn dead_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Header fields in arrival order, looked up case-insensitively.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Headers(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Replaces every field called `name` by one with `value`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// The first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field called `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether a comma-separated list header (`Connection`, `Transfer-Encoding`, ...) has `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", shorten(v, 200))),
            )
            .finish()
    }
}

/// A request as an [`Origin`] received it.
#[derive(Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query (`/a/b?x=1`).
    pub target: String,
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// The peer the request came from.
    pub peer: SocketAddr,
    /// Which connection it came on (1, 2, ... in accept order), to see keep-alive.
    pub connection: u64,
}

impl Request {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body", &shorten(&self.body_text(), 2000))
            .field("peer", &self.peer)
            .field("connection", &self.connection)
            .finish()
    }
}

/// A response: what the [`Client`] got, or what an [`Origin`] answers.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Origin only: write these bytes verbatim instead, then close the connection.
    pub raw: Option<Vec<u8>>,
    /// Origin only: wait this long before answering.
    pub delay: Option<Duration>,
}

impl Response {
    /// `status` with no headers and no body (an origin adds `Content-Length` when it sends it).
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: reason_phrase(status).to_string(),
            version: "HTTP/1.1".to_string(),
            headers: Headers::new(),
            body: Vec::new(),
            raw: None,
            delay: None,
        }
    }

    /// `status` with a `text/plain` body.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("Content-Type", "text/plain; charset=utf-8")
            .with_body(body.into())
    }

    /// An origin answer written byte for byte (garbage, truncated, ...), then the connection closes.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        let mut r = Response::new(0);
        r.raw = Some(bytes.into());
        r
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body", &shorten(&self.body_text(), 2000))
            .finish()
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// At most `max` characters of `s`, with a marker when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}... [{} bytes in all]", &s[..i], s.len()),
        None => s.to_string(),
    }
}

/// The last `max` characters of `s`.
pub fn tail(s: &str, max: usize) -> &str {
    let count = s.chars().count();
    if count <= max {
        return s;
    }
    let (i, _) = s.char_indices().nth(count - max).expect("in range");
    &s[i..]
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 wire format (shared by the origin and the client)
// ---------------------------------------------------------------------------------------------

/// A parsed message head: the first line and the header fields.
#[derive(Debug, Clone)]
struct Head {
    first: String,
    headers: Headers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The head at the start of `buf` and its length (through the blank line), or `None` if
/// incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("").to_string();
    let mut headers = Headers::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header line without a colon: {line:?}"))?;
        if name.is_empty() || name.chars().any(|c| c.is_ascii_whitespace()) {
            return Err(format!("bad header name in {line:?}"));
        }
        headers.push(name, value.trim_matches(|c| c == ' ' || c == '\t'));
    }
    Ok(Some((Head { first, headers }, end + 4)))
}

fn content_length(headers: &Headers) -> Result<Option<usize>, String> {
    let values = headers.get_all("content-length");
    let mut found: Option<usize> = None;
    for v in values.iter().flat_map(|v| v.split(',')) {
        let n: usize = v
            .trim()
            .parse()
            .map_err(|_| format!("bad Content-Length {v:?}"))?;
        if found.is_some_and(|f| f != n) {
            return Err(format!("conflicting Content-Length values {values:?}"));
        }
        found = Some(n);
    }
    Ok(found)
}

fn is_chunked(headers: &Headers) -> Result<bool, String> {
    if !headers.contains("transfer-encoding") {
        return Ok(false);
    }
    let last = headers
        .get_all("transfer-encoding")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .next_back()
        .unwrap_or_default();
    if last == "chunked" {
        Ok(true)
    } else {
        Err(format!("unsupported Transfer-Encoding {last:?}"))
    }
}

fn request_framing(headers: &Headers) -> Result<Framing, String> {
    if is_chunked(headers)? {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(headers)? {
        Some(n) => Framing::Length(n),
        None => Framing::Empty,
    })
}

fn response_framing(headers: &Headers, status: u16, head_request: bool) -> Result<Framing, String> {
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if is_chunked(headers)? {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(headers)? {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// The body at the start of `buf` and how many bytes it used, or `None` if more is needed.
fn try_body(buf: &[u8], framing: Framing, eof: bool) -> Result<Option<(Vec<u8>, usize)>, String> {
    let incomplete = |what: &str| {
        if eof {
            Err(format!("connection closed in the middle of the {what}"))
        } else {
            Ok(None)
        }
    };
    match framing {
        Framing::Empty => Ok(Some((Vec::new(), 0))),
        Framing::Length(n) if buf.len() >= n => Ok(Some((buf[..n].to_vec(), n))),
        Framing::Length(n) => incomplete(&format!("body ({} of {n} bytes)", buf.len())),
        Framing::UntilClose if eof => Ok(Some((buf.to_vec(), buf.len()))),
        Framing::UntilClose => Ok(None),
        Framing::Chunked => match decode_chunked(buf)? {
            Some(done) => Ok(Some(done)),
            None => incomplete("chunked body"),
        },
    }
}

fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some(line_len) = find(&buf[pos..], b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&buf[pos..pos + line_len]);
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        pos += line_len + 2;
        if size == 0 {
            // Trailer fields, then the blank line.
            loop {
                let Some(len) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                pos += len + 2;
                if len == 0 {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".to_string());
        }
        pos += size + 2;
    }
}

fn response_bytes(resp: &Response, head_request: bool, close: bool) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", resp.version, resp.status, resp.reason).into_bytes();
    let bodyless = (100..200).contains(&resp.status) || resp.status == 204 || resp.status == 304;
    let chunked = resp.headers.has_token("transfer-encoding", "chunked");
    for (k, v) in resp.headers.iter() {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    if !bodyless && !chunked && !resp.headers.contains("content-length") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if close && !resp.headers.has_token("connection", "close") {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_request && !bodyless {
        if chunked {
            if !resp.body.is_empty() {
                out.extend_from_slice(format!("{:x}\r\n", resp.body.len()).as_bytes());
                out.extend_from_slice(&resp.body);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&resp.body);
        }
    }
    out
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

// ---------------------------------------------------------------------------------------------
// Origin: a recording HTTP/1.1 server
// ---------------------------------------------------------------------------------------------

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync + 'static>;

struct OriginState {
    requests: Mutex<Vec<Request>>,
    handler: RwLock<Handler>,
    connections: AtomicU64,
}

/// A real HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length and chunked request bodies,
/// `Expect: 100-continue`) that records every request before it answers, so that once a client
/// has its response the origin's record of the request is already there.
///
/// By default it answers `200`, `Content-Type: text/plain`, `X-Origin-Name: <name>` and the body
/// `origin <name>: <METHOD> <target>`. It stops (closing its port) on [`Origin::stop`] or drop.
pub struct Origin {
    name: String,
    addr: SocketAddr,
    state: Arc<OriginState>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// The default answer of an origin called `name`.
pub fn default_origin_response(name: &str, req: &Request) -> Response {
    Response::text(200, format!("origin {name}: {} {}", req.method, req.target))
        .with_header("X-Origin-Name", name)
}

impl Origin {
    /// An origin on a fresh 127.0.0.1 port with the default answer.
    pub fn start(name: &str) -> Origin {
        let n = name.to_string();
        Origin::start_with(name, move |req| default_origin_response(&n, req))
    }

    /// An origin with the default answer, given `delay` late for paths under `/slow/` (to hold a
    /// request in flight).
    pub fn start_slow(name: &str, delay: Duration) -> Origin {
        let n = name.to_string();
        Origin::start_with(name, move |req| {
            let r = default_origin_response(&n, req);
            if req.path().starts_with("/slow/") {
                r.with_delay(delay)
            } else {
                r
            }
        })
    }

    /// An origin on a fresh 127.0.0.1 port that answers every request with `handler(request)`.
    pub fn start_with<F>(name: &str, handler: F) -> Origin
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        Origin::try_start_at(name, "127.0.0.1:0", handler)
            .unwrap_or_else(|e| panic!("origin {name}: cannot listen on 127.0.0.1:0: {e}"))
    }

    /// An origin with the default answer on a given address (e.g. a fixed port, or 127.0.0.2:P).
    pub fn try_start_on(name: &str, addr: &str) -> io::Result<Origin> {
        let n = name.to_string();
        Origin::try_start_at(name, addr, move |req| default_origin_response(&n, req))
    }

    pub fn try_start_at<F>(name: &str, addr: &str, handler: F) -> io::Result<Origin>
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("origin-{name}"))
            .enable_all()
            .build()?;
        let state = Arc::new(OriginState {
            requests: Mutex::new(Vec::new()),
            handler: RwLock::new(Arc::new(handler)),
            connections: AtomicU64::new(0),
        });
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let st = state.clone();
        runtime.spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of descriptors or similar: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let st = st.clone();
                tokio::spawn(serve_connection(st, stream, peer));
            }
        });
        Ok(Origin {
            name: name.to_string(),
            addr,
            state,
            runtime: Some(runtime),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `IP:PORT`, ready for a topology or a [`Client`].
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().expect("origin lock").clone()
    }

    pub fn requests_matching(&self, pred: impl Fn(&Request) -> bool) -> Vec<Request> {
        self.requests().into_iter().filter(|r| pred(r)).collect()
    }

    /// How many requests arrived in all.
    pub fn count(&self) -> usize {
        self.state.requests.lock().expect("origin lock").len()
    }

    /// How many requests arrived whose target starts with `prefix` (ignores health checks and
    /// readiness probes when tests use their own path prefixes).
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.requests_matching(|r| r.target.starts_with(prefix))
            .len()
    }

    /// The requests whose target contains `needle`.
    pub fn requests_containing(&self, needle: &str) -> Vec<Request> {
        self.requests_matching(|r| r.target.contains(needle))
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.state.requests.lock().expect("origin lock").clear();
    }

    /// From now on, answer every request with `resp`.
    pub fn respond_with(&self, resp: Response) {
        self.set_handler(move |_| resp.clone());
    }

    /// From now on, answer every request with `handler(request)`.
    pub fn set_handler<F>(&self, handler: F)
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        *self.state.handler.write().expect("origin lock") = Arc::new(handler);
    }

    /// Stops the server: its port is closed and its connections dropped when this returns.
    /// The recorded requests stay readable.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

enum ServeError {
    /// Answer this status with this message, then close.
    Bad(u16, String),
    /// Just close.
    Gone,
}

async fn serve_connection(
    state: Arc<OriginState>,
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    use tokio::io::AsyncWriteExt;
    let connection = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let mut buf = Vec::new();
    let mut eof = false;
    loop {
        let (head, body) = match read_request(&mut stream, &mut buf, &mut eof).await {
            Ok(Some(parts)) => parts,
            Ok(None) | Err(ServeError::Gone) => return,
            Err(ServeError::Bad(status, msg)) => {
                let resp = Response::text(status, format!("origin: {msg}\n"));
                let _ = stream.write_all(&response_bytes(&resp, false, true)).await;
                lingering_close(stream).await;
                return;
            }
        };
        let mut parts = head.first.splitn(3, ' ');
        let (method, target, version) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
            let resp = Response::text(400, format!("origin: bad request line {:?}\n", head.first));
            let _ = stream.write_all(&response_bytes(&resp, false, true)).await;
            return;
        }
        let req = Request {
            method,
            target,
            version,
            headers: head.headers,
            body,
            peer,
            connection,
        };
        state
            .requests
            .lock()
            .expect("origin lock")
            .push(req.clone());
        let handler = state.handler.read().expect("origin lock").clone();
        let resp = handler(&req);
        if let Some(delay) = resp.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(raw) = &resp.raw {
            let _ = stream.write_all(raw).await;
            let _ = stream.shutdown().await;
            return;
        }
        let close = req.headers.has_token("connection", "close")
            || (req.version == "HTTP/1.0" && !req.headers.has_token("connection", "keep-alive"))
            || resp.headers.has_token("connection", "close");
        let bytes = response_bytes(&resp, req.method == "HEAD", close);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Closes our side, then reads and drops what the client still sends (for a bounded time), so
/// that unread input does not turn the close into a reset that could destroy the answer.
async fn lingering_close(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let mut sink = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

async fn read_request(
    stream: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    eof: &mut bool,
) -> Result<Option<(Head, Vec<u8>)>, ServeError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sent_continue = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while buf.starts_with(b"\r\n") {
            buf.drain(..2);
        }
        if buf.is_empty() && *eof {
            return Ok(None);
        }
        match parse_head(buf).map_err(|e| ServeError::Bad(400, e))? {
            Some((head, head_len)) => {
                let framing =
                    request_framing(&head.headers).map_err(|e| ServeError::Bad(400, e))?;
                if let Some((body, used)) = try_body(&buf[head_len..], framing, *eof)
                    .map_err(|e| ServeError::Bad(400, e))?
                {
                    buf.drain(..head_len + used);
                    return Ok(Some((head, body)));
                }
                if !sent_continue && head.headers.has_token("expect", "100-continue") {
                    sent_continue = true;
                    stream
                        .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                        .await
                        .map_err(|_| ServeError::Gone)?;
                }
            }
            None if buf.len() > ORIGIN_MAX_HEAD => {
                return Err(ServeError::Bad(431, "request head too large".to_string()));
            }
            None => {}
        }
        if *eof {
            return Err(ServeError::Gone);
        }
        let n = match tokio::time::timeout(ORIGIN_IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => return Err(ServeError::Gone),
        };
        if n == 0 {
            *eof = true;
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

/// `127.0.0.1:8080` from `http://127.0.0.1:8080/...` or `127.0.0.1:8080`.
pub fn authority(addr: &str) -> &str {
    let rest = addr
        .strip_prefix("http://")
        .or_else(|| addr.strip_prefix("https://"))
        .unwrap_or(addr);
    rest.split('/').next().unwrap_or(rest)
}

/// A small blocking HTTP/1.1 client. Each call opens its own connection; use [`Conn`] for several
/// requests on one connection. Every exchange is bounded by the client's timeout.
#[derive(Clone, Debug)]
pub struct Client {
    pub timeout: Duration,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            timeout: IO_TIMEOUT,
        }
    }
}

/// What came back for raw bytes: everything received, and the first response if one parsed.
#[derive(Debug)]
pub struct RawResponse {
    pub bytes: Vec<u8>,
    pub response: Option<Response>,
    /// Why no complete response was read, if none was.
    pub error: Option<String>,
}

impl RawResponse {
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Client {
    pub fn new() -> Self {
        Client::default()
    }

    pub fn with_timeout(timeout: Duration) -> Self {
        Client { timeout }
    }

    /// `GET path` on `addr` (`IP:PORT` or `http://IP:PORT`). `Host` is the one in `headers`, or
    /// `addr`'s authority when there is none. Panics, with the address, on a transport error.
    pub fn get(&self, addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request(addr, "GET", path, headers, b"")
    }

    pub fn head(&self, addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request(addr, "HEAD", path, headers, b"")
    }

    pub fn request(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(addr, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on {addr} (headers {headers:?}): {e}"))
    }

    pub fn try_get(
        &self,
        addr: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        self.try_request(addr, "GET", path, headers, b"")
    }

    pub fn try_request(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut conn = Conn::open(addr, self.timeout)?;
        conn.request(method, path, headers, body)
    }

    /// A connection for several requests.
    pub fn connect(&self, addr: &str) -> io::Result<Conn> {
        Conn::open(addr, self.timeout)
    }

    /// Writes `bytes` as they are (on a thread, while reading, so that a server that answers
    /// early and closes is still heard) and reads back one response, or whatever arrived before
    /// the connection closed or the timeout passed. Never panics on transport errors.
    pub fn send_raw(&self, addr: &str, bytes: &[u8]) -> RawResponse {
        let mut conn = match Conn::open(addr, self.timeout) {
            Ok(c) => c,
            Err(e) => {
                return RawResponse {
                    bytes: Vec::new(),
                    response: None,
                    error: Some(format!("connect to {addr}: {e}")),
                }
            }
        };
        let writer = conn.stream.try_clone().map(|mut stream| {
            let bytes = bytes.to_vec();
            thread::spawn(move || {
                let _ = stream.write_all(&bytes);
                let _ = stream.flush();
            })
        });
        let head_request = bytes.starts_with(b"HEAD ");
        let result = conn.read_response(head_request);
        let _ = conn.stream.shutdown(Shutdown::Both);
        if let Ok(handle) = writer {
            let _ = handle.join();
        }
        let (response, error) = match result {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e.to_string())),
        };
        RawResponse {
            bytes: conn.received,
            response,
            error,
        }
    }
}

/// One client connection: send requests and read responses in turn (keep-alive, pipelining).
pub struct Conn {
    stream: TcpStream,
    authority: String,
    timeout: Duration,
    buf: Vec<u8>,
    eof: bool,
    /// Every byte read on this connection.
    pub received: Vec<u8>,
}

impl Conn {
    pub fn open(addr: &str, timeout: Duration) -> io::Result<Conn> {
        let authority = authority(addr).to_string();
        let sock = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| invalid(format!("no address for {authority}")))?;
        let stream = TcpStream::connect_timeout(&sock, timeout)?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            authority,
            timeout,
            buf: Vec::new(),
            eof: false,
            received: Vec::new(),
        })
    }

    /// The socket itself, for a test that writes bytes at its own pace.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Sends a request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.send(method, path, headers, body)?;
        self.read_response(method.eq_ignore_ascii_case("HEAD"))
    }

    /// Sends a request: `Host` from `headers` or the address, `Content-Length` added when there is
    /// a body (or the method is POST, PUT or PATCH) unless `headers` frame the body themselves.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<()> {
        let given = Headers::from_pairs(headers);
        let mut out = format!("{method} {path} HTTP/1.1\r\n");
        if !given.contains("host") {
            out.push_str(&format!("Host: {}\r\n", self.authority));
        }
        for (k, v) in given.iter() {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        let framed = given.contains("content-length") || given.contains("transfer-encoding");
        let wants_length = !body.is_empty()
            || ["POST", "PUT", "PATCH"]
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method));
        if !framed && wants_length {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.write_raw(&bytes)
    }

    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads one response (skipping `1xx` interim ones), within the timeout. `head_request`:
    /// the response to a HEAD has no body whatever its headers say.
    pub fn read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some((head, head_len)) = parse_head(&self.buf).map_err(invalid)? {
                let mut parts = head.first.splitn(3, ' ');
                let version = parts.next().unwrap_or("").to_string();
                let status: u16 = parts
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|_| version.starts_with("HTTP/"))
                    .ok_or_else(|| invalid(format!("bad status line {:?}", head.first)))?;
                let reason = parts.next().unwrap_or("").to_string();
                if (100..200).contains(&status) && status != 101 {
                    self.buf.drain(..head_len);
                    continue;
                }
                let framing =
                    response_framing(&head.headers, status, head_request).map_err(invalid)?;
                if let Some((body, used)) =
                    try_body(&self.buf[head_len..], framing, self.eof).map_err(invalid)?
                {
                    self.buf.drain(..head_len + used);
                    return Ok(Response {
                        status,
                        reason,
                        version,
                        headers: head.headers,
                        body,
                        raw: None,
                        delay: None,
                    });
                }
            } else if self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a complete response head; received {:?}",
                        shorten(&String::from_utf8_lossy(&self.buf), 500)
                    ),
                ));
            }
            self.fill(deadline)?;
        }
    }

    /// Reads more bytes into the buffer, or notes the end of the stream.
    fn fill(&mut self, deadline: Instant) -> io::Result<()> {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no complete response within {:?}; received {:?}",
                    self.timeout,
                    shorten(&String::from_utf8_lossy(&self.buf), 500)
                ),
            ));
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(())
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.received.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no complete response within {:?}; received {:?}",
                        self.timeout,
                        shorten(&String::from_utf8_lossy(&self.buf), 500)
                    ),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the peer has closed the connection (waits up to `wait` for it).
    pub fn closed_by_peer(&mut self, wait: Duration) -> bool {
        if self.eof {
            return true;
        }
        let deadline = Instant::now() + wait;
        while !self.eof {
            if self.fill(deadline).is_err() {
                return self.eof;
            }
        }
        true
    }
}

/// Whether the server has closed `stream` (waits up to `wait`, reading and dropping what comes;
/// a reset counts as closed).
pub fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// Polls `addr` with `GET /__ferry_ready` (`Host: ferry-readiness.invalid`) until it answers
/// with any HTTP response, or the timeout passes.
pub fn wait_http(addr: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(10);
    loop {
        let err = match probe(addr) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() + backoff >= deadline {
            return Err(format!(
                "{addr} did not answer HTTP within {timeout:?}; last error: {err}"
            ));
        }
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(200));
    }
}

fn probe(addr: &str) -> io::Result<()> {
    Client::with_timeout(Duration::from_secs(2))
        .try_get(
            addr,
            "/__ferry_ready",
            &[("Host", "ferry-readiness.invalid")],
        )
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Edge assertions
// ---------------------------------------------------------------------------------------------

/// Asserts the headers every edge response carries: `Via: 1.1 <hex>.cloudfront.net (CloudFront)`,
/// `X-Amz-Cf-Pop`, `X-Amz-Cf-Id`, and `X-Cache` equal to `x_cache` (e.g. `Miss from cloudfront`).
pub fn assert_from_edge(resp: &Response, x_cache: &str) {
    let via = resp
        .header("via")
        .unwrap_or_else(|| panic!("no Via header in {resp:?}"));
    let host = via
        .strip_prefix("1.1 ")
        .and_then(|v| v.strip_suffix(".cloudfront.net (CloudFront)"))
        .unwrap_or_else(|| {
            panic!("Via {via:?} is not `1.1 <hex>.cloudfront.net (CloudFront)` in {resp:?}")
        });
    assert!(
        !host.is_empty() && host.chars().all(|c| c.is_ascii_hexdigit()),
        "Via {via:?}: {host:?} is not hex, in {resp:?}"
    );
    assert_eq!(resp.header("x-cache"), Some(x_cache), "X-Cache in {resp:?}");
    assert!(
        resp.header("x-amz-cf-pop").is_some_and(|v| !v.is_empty()),
        "no X-Amz-Cf-Pop in {resp:?}"
    );
    assert!(
        resp.header("x-amz-cf-id").is_some_and(|v| !v.is_empty()),
        "no X-Amz-Cf-Id in {resp:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Temporary files
// ---------------------------------------------------------------------------------------------

/// A fresh directory under `std::env::temp_dir()`, removed on drop unless the test is failing
/// (then its path is printed, so the files can be read).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "ferry-e2e-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` in this directory and returns the file's path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("(test failed: keeping {})", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A topology file in its own temporary directory.
pub struct Topology {
    dir: TempDir,
    path: PathBuf,
}

impl Topology {
    /// Writes `toml` to `<temp>/ferry-e2e-<label>-.../topology.toml`.
    pub fn write(label: &str, toml: &str) -> Topology {
        let dir = TempDir::new(label);
        let path = dir.write("topology.toml", toml);
        Topology { dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }

    /// The directory, for files the topology refers to (certificates, ...).
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

// ---------------------------------------------------------------------------------------------
// The ferry binary
// ---------------------------------------------------------------------------------------------

pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// The root of the `ferry` package (where `examples/` and `tests/` are); commands run there.
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` to completion with piped output, killing it if it outlives `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_child(&mut child, timeout);
    let timed_out = status.is_none();
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            child.wait().map_err(|e| format!("wait {cmd:?}: {e}"))?
        }
    };
    let output = Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    };
    if timed_out {
        return Err(format!(
            "{cmd:?} did not finish within {timeout:?} (killed)\nstdout:\n{}\nstderr:\n{}",
            tail(&String::from_utf8_lossy(&output.stdout), 4000),
            tail(&String::from_utf8_lossy(&output.stderr), 4000)
        ));
    }
    Ok(output)
}

/// Polls `child` until it exits or `timeout` passes.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Duration::from_millis(5);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
}

/// The command line for the ferry binary, run in the package root, with backtrace variables
/// removed so that what a user sees does not depend on the environment of the test run.
pub fn ferry_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(ferry_bin());
    cmd.args(args)
        .current_dir(project_dir())
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    cmd
}

/// Runs a one-shot ferry command (`validate FILE`, ...) with [`CMD_TIMEOUT`].
pub fn ferry_cmd(args: &[&str]) -> Output {
    ferry_cmd_timeout(args, CMD_TIMEOUT)
}

pub fn ferry_cmd_timeout(args: &[&str], timeout: Duration) -> Output {
    run_with_timeout(&mut ferry_command(args), timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Lossy UTF-8 of command output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running ferry process. Its stdout and stderr go to files (read them with
/// [`Ferry::stdout`] / [`Ferry::stderr`]); it is killed and reaped on drop, and when the test is
/// failing the tail of its output is printed.
pub struct Ferry {
    child: Child,
    args: Vec<String>,
    logs: TempDir,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    exit: Option<ExitStatus>,
}

impl Ferry {
    /// Starts `ferry ARGS` without waiting for anything.
    pub fn spawn(args: &[&str]) -> Ferry {
        Ferry::spawn_with_env(args, &[])
    }

    /// Starts `ferry ARGS` with `env` added to its environment and waits until every one of
    /// `ready` answers HTTP.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)], ready: &[&str]) -> Ferry {
        let mut f = Ferry::spawn_with_env(args, env);
        f.wait_ready(ready, READY_TIMEOUT);
        f
    }

    /// Starts `ferry ARGS` with `env` added to its environment, without waiting for anything.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let logs = TempDir::new("ferry-logs");
        let stdout_path = logs.path().join("stdout.log");
        let stderr_path = logs.path().join("stderr.log");
        let stdout = std::fs::File::create(&stdout_path).expect("create stdout log");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr log");
        let child = ferry_command(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {args:?}: {e}", ferry_bin().display()));
        Ferry {
            child,
            args: args.iter().map(|s| s.to_string()).collect(),
            logs,
            stdout_path,
            stderr_path,
            exit: None,
        }
    }

    /// Starts `ferry ARGS` and waits until every one of `ready` answers HTTP.
    pub fn start(args: &[&str], ready: &[&str]) -> Ferry {
        let mut f = Ferry::spawn(args);
        f.wait_ready(ready, READY_TIMEOUT);
        f
    }

    /// `ferry up TOPOLOGY`, ready when every one of `ready` answers HTTP.
    pub fn up(topology: &Topology, ready: &[&str]) -> Ferry {
        Ferry::start(&["up", topology.path_str()], ready)
    }

    /// Polls every address with an HTTP request until each answers (any status); panics with the
    /// process's output if it exits first or the timeout passes.
    pub fn wait_ready(&mut self, addrs: &[&str], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for addr in addrs {
            let mut backoff = Duration::from_millis(10);
            loop {
                if let Some(status) = self.try_exit() {
                    panic!(
                        "ferry {:?} exited ({status}) before {addr} answered\n{}",
                        self.args,
                        self.output_report()
                    );
                }
                let err = match probe(addr) {
                    Ok(()) => break,
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    panic!(
                        "ferry {:?}: {addr} did not answer HTTP within {timeout:?} (last error: {err})\n{}",
                        self.args,
                        self.output_report()
                    );
                }
                thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
        }
    }

    /// Polls the combined output until `pred` holds; panics after `timeout`.
    pub fn wait_for_output(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let all = format!("{}\n{}", self.stdout(), self.stderr());
            if pred(&all) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "ferry {:?}: output never showed {what} within {timeout:?}\n{}",
                    self.args,
                    self.output_report()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
            }
        }
        self.exit
    }

    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`, `QUIT`) with kill(1).
    pub fn signal(&self, name: &str) {
        let out = run_with_timeout(
            Command::new("kill")
                .arg("-s")
                .arg(name)
                .arg(self.pid().to_string()),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("kill -s {name}: {e}"));
        assert!(
            out.status.success(),
            "kill -s {name} {}: {}",
            self.pid(),
            text(&out.stderr)
        );
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = wait_child(&mut self.child, timeout);
        }
        self.exit
    }

    /// Kills (SIGKILL) and reaps the process.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            self.exit = wait_child(&mut self.child, Duration::from_secs(10));
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The tails of stdout and stderr, for failure messages.
    pub fn output_report(&self) -> String {
        format!(
            "--- ferry stdout (tail) ---\n{}\n--- ferry stderr (tail) ---\n{}\n--- (logs in {})",
            tail(&self.stdout(), 4000),
            tail(&self.stderr(), 8000),
            self.logs.path().display()
        )
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("ferry {:?}:\n{}", self.args, self.output_report());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cache tests: an edge whose distributions go straight to recording origins
// ---------------------------------------------------------------------------------------------

/// The alias of the distribution a [`SiteBuilder`] writes.
pub const SITE_HOST: &str = "www.example.test";
/// The `domain_name` of every origin a [`SiteBuilder`] writes; `[resolve]` maps it to 127.0.0.1.
pub const ORIGIN_DOMAIN: &str = "origin.internal";

impl Origin {
    /// How many requests arrived whose target (path and query) is exactly `target`.
    pub fn count_target(&self, target: &str) -> usize {
        self.requests_matching(|r| r.target == target).len()
    }

    /// How many requests arrived whose path (without the query) is exactly `path`.
    pub fn count_path(&self, path: &str) -> usize {
        self.requests_matching(|r| r.path() == path).len()
    }

    /// The last request whose path is exactly `path`; panics, listing what arrived, if none did.
    pub fn last_for_path(&self, path: &str) -> Request {
        self.requests_matching(|r| r.path() == path)
            .pop()
            .unwrap_or_else(|| {
                panic!(
                    "origin {} never received {path}; it received {:#?}",
                    self.name(),
                    self.requests()
                )
            })
    }
}

/// Writes a topology with one distribution `site` (alias [`SITE_HOST`]) whose origin `o` is the
/// given [`Origin`] reached through `[resolve]` (`origin.internal` → 127.0.0.1, http-only), with a
/// default behavior on `Managed-CachingOptimized`, and starts `ferry up` on it. The edge and admin
/// listeners get their own free ports. Pieces of TOML are added with the builder methods.
pub struct SiteBuilder {
    label: String,
    edge_lines: Vec<String>,
    blocks: Vec<String>,
    aliases: Vec<String>,
    dist_keys: Vec<String>,
    /// (id, port, keys of the origin table, extra fields of its custom_origin_config)
    origins: Vec<(String, u16, Vec<String>, Vec<String>)>,
    default_policy: String,
    default_lines: Vec<String>,
    behaviors: Vec<String>,
    tail: Vec<String>,
    extra_distributions: Vec<String>,
    wait_admin: bool,
}

impl SiteBuilder {
    pub fn new(label: &str, origin: &Origin) -> SiteBuilder {
        SiteBuilder::on_port(label, origin.port())
    }

    /// The same with an origin of another kind (a raw target) on 127.0.0.1:`port`.
    pub fn on_port(label: &str, port: u16) -> SiteBuilder {
        SiteBuilder {
            label: label.to_string(),
            edge_lines: Vec::new(),
            blocks: Vec::new(),
            aliases: vec![SITE_HOST.to_string()],
            dist_keys: Vec::new(),
            origins: vec![("o".to_string(), port, Vec::new(), Vec::new())],
            default_policy: "Managed-CachingOptimized".to_string(),
            default_lines: Vec::new(),
            behaviors: Vec::new(),
            tail: Vec::new(),
            extra_distributions: Vec::new(),
            wait_admin: false,
        }
    }

    /// The default behavior's `cache_policy`.
    pub fn policy(mut self, name: &str) -> Self {
        self.default_policy = name.to_string();
        self
    }

    /// A line in `[edge]`, e.g. `cache_size = "1MiB"`.
    pub fn edge(mut self, line: &str) -> Self {
        self.edge_lines.push(line.to_string());
        self
    }

    /// A top-level block, e.g. a `[[cache_policies]]` table.
    pub fn block(mut self, toml: &str) -> Self {
        self.blocks.push(toml.to_string());
        self
    }

    /// A custom cache policy: `[[cache_policies]]` with `name = "<name>"` and `body` (more keys).
    pub fn cache_policy(self, name: &str, body: &str) -> Self {
        self.block(&format!("[[cache_policies]]\nname = \"{name}\"\n{body}\n"))
    }

    pub fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A key of the distribution itself, e.g. `default_root_object = "index.html"`.
    pub fn dist_key(mut self, line: &str) -> Self {
        self.dist_keys.push(line.to_string());
        self
    }

    /// Another origin of the distribution, also at `origin.internal` (keys: `origin_path = ...`).
    pub fn origin(mut self, id: &str, origin: &Origin, keys: &[&str]) -> Self {
        self.origins.push((
            id.to_string(),
            origin.port(),
            keys.iter().map(|s| s.to_string()).collect(),
            Vec::new(),
        ));
        self
    }

    /// Fields added to origin `o`'s `custom_origin_config`, e.g. `origin_read_timeout = 1`.
    pub fn origin_config(mut self, fields: &[&str]) -> Self {
        self.origins[0]
            .3
            .extend(fields.iter().map(|s| s.to_string()));
        self
    }

    /// Keys added to origin `o` (e.g. `connection_attempts = 1`).
    pub fn origin_keys(mut self, keys: &[&str]) -> Self {
        self.origins[0].2.extend(keys.iter().map(|s| s.to_string()));
        self
    }

    /// A line in the default behavior, e.g. `allowed_methods = [...]`.
    pub fn default_behavior(mut self, line: &str) -> Self {
        self.default_lines.push(line.to_string());
        self
    }

    /// A cache behavior (before the default, in call order) for `pattern` to `origin_id` with
    /// `policy` and extra `lines` (`viewer_protocol_policy` is `allow-all` unless one sets it).
    pub fn behavior(
        mut self,
        pattern: &str,
        origin_id: &str,
        policy: &str,
        lines: &[&str],
    ) -> Self {
        let vpp = if lines
            .iter()
            .any(|l| l.trim_start().starts_with("viewer_protocol_policy"))
        {
            ""
        } else {
            "  viewer_protocol_policy = \"allow-all\"\n"
        };
        let mut b = format!(
            "  [[distributions.cache_behaviors]]\n  path_pattern = \"{pattern}\"\n  target_origin_id = \"{origin_id}\"\n{vpp}  cache_policy = \"{policy}\"\n"
        );
        for l in lines {
            b.push_str(&format!("  {l}\n"));
        }
        self.behaviors.push(b);
        self
    }

    /// A cache behavior on legacy cache settings: `forwarded_values` (and TTLs) in `lines`, no
    /// cache policy.
    pub fn legacy_behavior(mut self, pattern: &str, origin_id: &str, lines: &[&str]) -> Self {
        let mut b = format!(
            "  [[distributions.cache_behaviors]]\n  path_pattern = \"{pattern}\"\n  target_origin_id = \"{origin_id}\"\n  viewer_protocol_policy = \"allow-all\"\n"
        );
        for l in lines {
            b.push_str(&format!("  {l}\n"));
        }
        self.behaviors.push(b);
        self
    }

    /// A `[[distributions.custom_error_responses]]` table with these keys.
    pub fn error_response(mut self, keys: &[&str]) -> Self {
        let mut b = String::from("  [[distributions.custom_error_responses]]\n");
        for k in keys {
            b.push_str(&format!("  {k}\n"));
        }
        self.tail.push(b);
        self
    }

    /// A whole further `[[distributions]]` block, written after the first one.
    pub fn distribution(mut self, toml: &str) -> Self {
        self.extra_distributions.push(toml.to_string());
        self
    }

    /// Also wait for the admin listener to answer before returning from [`SiteBuilder::start`].
    pub fn wait_admin(mut self) -> Self {
        self.wait_admin = true;
        self
    }

    /// The topology text for these ports.
    pub fn toml(&self, edge: &str, admin: &str) -> String {
        let mut t = format!(
            "stack = \"e2e-{}\"\n\n[edge]\nhttp = \"{edge}\"\nadmin = \"{admin}\"\n",
            self.label
        );
        for l in &self.edge_lines {
            t.push_str(l);
            t.push('\n');
        }
        t.push_str(&format!(
            "\n[resolve]\n\"{ORIGIN_DOMAIN}\" = [\"127.0.0.1\"]\n\n"
        ));
        for b in &self.blocks {
            t.push_str(b);
            t.push('\n');
        }
        let aliases = self
            .aliases
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        t.push_str(&format!(
            "[[distributions]]\nid = \"site\"\naliases = [{aliases}]\n"
        ));
        for k in &self.dist_keys {
            t.push_str(k);
            t.push('\n');
        }
        for (id, port, keys, config) in &self.origins {
            let extra: String = config.iter().map(|f| format!(", {f}")).collect();
            t.push_str(&format!(
                "\n  [[distributions.origins]]\n  id = \"{id}\"\n  domain_name = \"{ORIGIN_DOMAIN}\"\n  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = \"http-only\"{extra} }}\n"
            ));
            for k in keys {
                t.push_str(&format!("  {k}\n"));
            }
        }
        t.push_str(&format!(
            "\n  [distributions.default_cache_behavior]\n  target_origin_id = \"o\"\n  viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"{}\"\n",
            self.default_policy
        ));
        for l in &self.default_lines {
            t.push_str(&format!("  {l}\n"));
        }
        for b in &self.behaviors {
            t.push('\n');
            t.push_str(b);
        }
        for b in &self.tail {
            t.push('\n');
            t.push_str(b);
        }
        for d in &self.extra_distributions {
            t.push('\n');
            t.push_str(d);
            t.push('\n');
        }
        t
    }

    pub fn start(self) -> Site {
        self.start_with_env(&[])
    }

    /// [`SiteBuilder::start`] with `env` added to ferry's environment.
    pub fn start_with_env(self, env: &[(&str, &str)]) -> Site {
        let ports = free_ports(2);
        let edge = format!("127.0.0.1:{}", ports[0]);
        let admin = format!("127.0.0.1:{}", ports[1]);
        let topology = Topology::write(&self.label, &self.toml(&edge, &admin));
        let mut ready = vec![edge.as_str()];
        if self.wait_admin {
            ready.push(admin.as_str());
        }
        let ferry = Ferry::start_with_env(&["up", topology.path_str()], env, &ready);
        Site {
            ferry,
            edge,
            admin,
            topology,
            client: Client::new(),
        }
    }
}

/// A running edge from a [`SiteBuilder`].
pub struct Site {
    pub ferry: Ferry,
    /// `127.0.0.1:PORT` of the viewer listener.
    pub edge: String,
    /// `127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    pub topology: Topology,
    pub client: Client,
}

/// The headers with `Host: www.example.test` added when they have no Host.
fn with_site_host<'a>(headers: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = headers.to_vec();
    if !h.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        h.insert(0, ("Host", SITE_HOST));
    }
    h
}

impl Site {
    /// `GET path` with `Host: www.example.test` unless `headers` has a Host.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers, b"")
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.client
            .try_request(&self.edge, method, path, &with_site_host(headers), body)
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path} on the edge {} (headers {headers:?}): {e}\n{}",
                    self.edge,
                    self.ferry.output_report()
                )
            })
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.client
            .try_request(&self.edge, method, path, &with_site_host(headers), body)
    }

    /// `POST /2020-05-31/distribution/{distribution}/invalidation` on the admin listener with an
    /// `InvalidationBatch` of `paths` (Quantity = the number of paths).
    pub fn create_invalidation(&self, distribution: &str, paths: &[&str]) -> Response {
        let body = invalidation_batch(paths, paths.len(), &unique_caller_reference());
        self.admin_request(
            "POST",
            &format!("/2020-05-31/distribution/{distribution}/invalidation"),
            body.as_bytes(),
        )
    }

    /// `GET /2020-05-31/distribution/{distribution}/invalidation/{id}` on the admin listener.
    pub fn get_invalidation(&self, distribution: &str, id: &str) -> Response {
        self.admin_request(
            "GET",
            &format!("/2020-05-31/distribution/{distribution}/invalidation/{id}"),
            b"",
        )
    }

    /// A request to the admin listener (XML body when there is one).
    pub fn admin_request(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let mut headers = vec![];
        if !body.is_empty() {
            headers.push(("Content-Type", "text/xml"));
        }
        self.client
            .try_request(&self.admin, method, path, &headers, body)
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path} on the admin listener {}: {e}\n{}",
                    self.admin,
                    self.ferry.output_report()
                )
            })
    }

    /// Polls the invalidation until its `<Status>` is `Completed` (bounded); panics otherwise.
    pub fn wait_invalidation_completed(&self, distribution: &str, id: &str) -> Response {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.get_invalidation(distribution, id);
            assert_eq!(r.status, 200, "GetInvalidation {distribution}/{id}: {r:?}");
            if xml_tag(&r.body_text(), "Status").as_deref() == Some("Completed") {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "invalidation {id} did not reach Completed within 15 s: {r:?}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// CloudFront's `InvalidationBatch` XML.
pub fn invalidation_batch(paths: &[&str], quantity: usize, caller_reference: &str) -> String {
    let items: String = paths.iter().map(|p| format!("<Path>{p}</Path>")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>{quantity}</Quantity><Items>{items}</Items></Paths><CallerReference>{caller_reference}</CallerReference></InvalidationBatch>"
    )
}

/// A caller reference no other invalidation in this test run uses.
pub fn unique_caller_reference() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "e2e-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The text of the first `<tag>...</tag>` in `xml` (no attributes on the tag).
pub fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].trim().to_string())
}

/// The `X-Cache` header, or `""`.
pub fn x_cache(resp: &Response) -> &str {
    resp.header("x-cache").unwrap_or("")
}

/// The `Age` header as seconds, if present and numeric.
pub fn age(resp: &Response) -> Option<u64> {
    resp.header("age").and_then(|v| v.trim().parse().ok())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `t`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// The resident set size of process `pid` in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status:\n{status}"))
}

/// Sleeps until `d` has passed since `since` (waiting for a TTL to run out, not a timing check).
pub fn sleep_until(since: Instant, d: Duration) {
    let now = Instant::now();
    if let Some(left) = (since + d).checked_duration_since(now) {
        thread::sleep(left);
    }
}

/// An origin answer that honours conditional requests the way a web server does: `304 Not
/// Modified` (with `headers` and the validators) when the request's `If-None-Match` names `etag`
/// (or `*`; weak comparison) or its `If-Modified-Since` equals `last_modified`; otherwise `200`
/// with `headers`, the validators and `body`.
pub fn conditional_response(
    req: &Request,
    etag: Option<&str>,
    last_modified: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let etag_match = match (req.header("if-none-match"), etag) {
        (Some(inm), Some(tag)) => inm
            .split(',')
            .any(|t| t.trim() == "*" || weak(t) == weak(tag)),
        _ => false,
    };
    let date_match = req.header("if-none-match").is_none()
        && matches!(
            (req.header("if-modified-since"), last_modified),
            (Some(ims), Some(lm)) if ims.trim() == lm
        );
    let mut resp = if etag_match || date_match {
        Response::new(304)
    } else {
        Response::text(200, body)
    };
    for (k, v) in headers {
        resp = resp.with_header(k, *v);
    }
    if let Some(tag) = etag {
        resp = resp.with_header("ETag", tag);
    }
    if let Some(lm) = last_modified {
        resp = resp.with_header("Last-Modified", lm);
    }
    resp
}

/// Whether a request carries a validator (`If-None-Match` or `If-Modified-Since`).
pub fn is_conditional(req: &Request) -> bool {
    req.header("if-none-match").is_some() || req.header("if-modified-since").is_some()
}

impl SiteBuilder {
    /// Another origin of the distribution, also at `origin.internal`, on `port`: for servers that
    /// are not an [`Origin`] (one that resets connections, one that never answers, ...). `keys`
    /// go in the origin table (`connection_attempts = 1`), `config` in its
    /// `custom_origin_config` (`origin_read_timeout = 1`).
    pub fn origin_on_port(mut self, id: &str, port: u16, keys: &[&str], config: &[&str]) -> Self {
        self.origins.push((
            id.to_string(),
            port,
            keys.iter().map(|s| s.to_string()).collect(),
            config.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Balancer tests: `ferry up` on a topology of load balancers only, and ELBv2's query API on the
// admin listener
// ---------------------------------------------------------------------------------------------

/// One `[[load_balancers]]` block: `name`, dns_name `<name>.internal`, `nodes` as (zone, IP),
/// `attributes` as the inside of the inline table (`"idle_timeout.timeout_seconds" = 1`, or ""),
/// and its listeners as (port, the listener's own lines: `default_actions = ...` and any
/// `[[load_balancers.listeners.rules]]` tables).
pub fn lb_block(
    name: &str,
    nodes: &[(&str, &str)],
    attributes: &str,
    listeners: &[(u16, &str)],
) -> String {
    let nodes = nodes
        .iter()
        .map(|(zone, ip)| format!("{zone} = \"{ip}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut t = format!(
        "[[load_balancers]]\nname = \"{name}\"\ndns_name = \"{name}.internal\"\nnodes = {{ {nodes} }}\nattributes = {{ {attributes} }}\n"
    );
    for (port, body) in listeners {
        t.push_str(&format!(
            "\n  [[load_balancers.listeners]]\n  port = {port}\n  protocol = \"HTTP\"\n{body}\n"
        ));
    }
    t.push('\n');
    t
}

/// One `[[target_groups]]` block: targets as (port, zone) on 127.0.0.1, the group's port being
/// the first target's (80 with none); `health_check` and `attributes` are the insides of their
/// inline tables (`enabled = false`, `"stickiness.enabled" = true`, or "").
pub fn target_group_block(
    name: &str,
    targets: &[(u16, &str)],
    health_check: &str,
    attributes: &str,
) -> String {
    let port = targets.first().map(|(p, _)| *p).unwrap_or(80);
    let list = targets
        .iter()
        .map(|(p, zone)| format!("{{ id = \"127.0.0.1\", port = {p}, zone = \"{zone}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[target_groups]]\nname = \"{name}\"\nport = {port}\nhealth_check = {{ {health_check} }}\nattributes = {{ {attributes} }}\ntargets = [{list}]\n\n"
    )
}

/// `application/x-www-form-urlencoded` for one key or value.
pub fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One target of DescribeTargetHealth's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    pub id: String,
    pub port: u16,
    pub zone: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// The `<member>`s of a DescribeTargetHealth answer.
pub fn parse_target_health(xml: &str) -> Vec<TargetHealth> {
    let Some(list) = xml_tag(xml, "TargetHealthDescriptions") else {
        return Vec::new();
    };
    list.split("<member>")
        .skip(1)
        .map(|m| TargetHealth {
            id: xml_tag(m, "Id").unwrap_or_default(),
            port: xml_tag(m, "Port").and_then(|p| p.parse().ok()).unwrap_or(0),
            zone: xml_tag(m, "AvailabilityZone"),
            state: xml_tag(m, "State").unwrap_or_default(),
            reason: xml_tag(m, "Reason"),
            description: xml_tag(m, "Description"),
        })
        .collect()
}

/// A running `ferry up FILE --admin ADDR` (a topology of load balancers, usually with no edge).
pub struct Alb {
    pub ferry: Ferry,
    /// `127.0.0.1:PORT` of the admin listener.
    pub admin: String,
    pub topology: Topology,
}

impl Alb {
    /// Writes `toml`, starts `ferry up` on it with an admin listener on a free port, and waits
    /// until the admin listener and every one of `ready` (balancer nodes, `IP:PORT`) answer HTTP.
    pub fn up(label: &str, toml: &str, ready: &[&str]) -> Alb {
        let taken: Vec<u16> = ready
            .iter()
            .filter_map(|a| a.rsplit(':').next().and_then(|p| p.parse().ok()))
            .collect();
        let admin_port = loop {
            let p = free_port();
            if !taken.contains(&p) {
                break p;
            }
        };
        let admin = format!("127.0.0.1:{admin_port}");
        let topology = Topology::write(label, toml);
        let mut wait: Vec<&str> = ready.to_vec();
        wait.push(&admin);
        let ferry = Ferry::start(
            &["up", topology.path_str(), "--admin", admin.as_str()],
            &wait,
        );
        Alb {
            ferry,
            admin,
            topology,
        }
    }

    /// An ELBv2 query-API call (`Action=...` and its parameters) as `POST /` with a form body.
    pub fn elbv2(&self, params: &[(&str, &str)]) -> Response {
        let body = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        Client::new()
            .try_request(
                &self.admin,
                "POST",
                "/",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body.as_bytes(),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "POST / {body} on the admin listener {}: {e}\n{}",
                    self.admin,
                    self.ferry.output_report()
                )
            })
    }

    /// DescribeTargetHealth of `group` (its name), parsed; panics unless the call answers 200.
    pub fn target_health(&self, group: &str) -> Vec<TargetHealth> {
        let r = self.elbv2(&[
            ("Action", "DescribeTargetHealth"),
            ("TargetGroupArn", group),
        ]);
        assert_eq!(r.status, 200, "DescribeTargetHealth {group}: {r:?}");
        parse_target_health(&r.body_text())
    }

    /// The health of the target on 127.0.0.1:`port` in `group`, if registered.
    pub fn health_of(&self, group: &str, port: u16) -> Option<TargetHealth> {
        self.target_health(group)
            .into_iter()
            .find(|t| t.port == port)
    }

    /// Polls DescribeTargetHealth (every 100 ms, up to `timeout`) until the target on `port`
    /// reports `state`; panics with the last answer otherwise.
    pub fn wait_state(
        &self,
        group: &str,
        port: u16,
        state: &str,
        timeout: Duration,
    ) -> TargetHealth {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.target_health(group);
            if let Some(t) = all.iter().find(|t| t.port == port && t.state == state) {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "target 127.0.0.1:{port} of {group} did not reach `{state}` within {timeout:?}; DescribeTargetHealth says {all:#?}\n{}",
                self.ferry.output_report()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// RegisterTargets of (port, zone) targets on 127.0.0.1.
    pub fn register(&self, group: &str, targets: &[(u16, &str)]) -> Response {
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "RegisterTargets".into()),
            ("TargetGroupArn".into(), group.into()),
        ];
        for (i, (port, zone)) in targets.iter().enumerate() {
            let n = i + 1;
            params.push((format!("Targets.member.{n}.Id"), "127.0.0.1".into()));
            params.push((format!("Targets.member.{n}.Port"), port.to_string()));
            params.push((
                format!("Targets.member.{n}.AvailabilityZone"),
                zone.to_string(),
            ));
        }
        let refs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.elbv2(&refs)
    }

    /// DeregisterTargets of targets on 127.0.0.1 by port.
    pub fn deregister(&self, group: &str, ports: &[u16]) -> Response {
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "DeregisterTargets".into()),
            ("TargetGroupArn".into(), group.into()),
        ];
        for (i, port) in ports.iter().enumerate() {
            let n = i + 1;
            params.push((format!("Targets.member.{n}.Id"), "127.0.0.1".into()));
            params.push((format!("Targets.member.{n}.Port"), port.to_string()));
        }
        let refs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.elbv2(&refs)
    }
}

/// The `X-Origin-Name` of a response from an [`Origin`] with the default answer, or `""`.
pub fn served_by(resp: &Response) -> &str {
    resp.header("x-origin-name").unwrap_or("")
}

/// Every `Set-Cookie` value of `resp` for cookie `name` (`NAME=...; attributes`).
pub fn set_cookies_named<'a>(resp: &'a Response, name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}=");
    resp.headers
        .get_all("set-cookie")
        .into_iter()
        .filter(|v| v.starts_with(&prefix))
        .collect()
}

/// The value of cookie `name` as set by `resp` (the text between `NAME=` and the first `;`).
pub fn set_cookie_value<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    set_cookies_named(resp, name)
        .first()
        .map(|v| v[name.len() + 1..].split(';').next().unwrap_or("").trim())
}

impl Conn {
    /// A connection to `addr` from the local address `source` (e.g. 127.0.0.2, to test source-ip
    /// rules), bound before connecting.
    pub fn open_from(addr: &str, source: std::net::IpAddr, timeout: Duration) -> io::Result<Conn> {
        let authority = authority(addr).to_string();
        let sock = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| invalid(format!("no address for {authority}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let stream = runtime.block_on(async {
            let socket = if source.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(source, 0))?;
            match tokio::time::timeout(timeout, socket.connect(sock)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect to {sock} from {source} timed out"),
                )),
            }
        })?;
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            authority,
            timeout,
            buf: Vec::new(),
            eof: false,
            received: Vec::new(),
        })
    }
}

// ---------------------------------------------------------------- two tiers

/// A topology with an edge (`[edge] http = edge` plus `edge_lines`) whose distribution `site`
/// (alias `site.test`, every method allowed, `Managed-CachingDisabled`) goes to `origin`, and a
/// load balancer `alb` (one node in zone `a` on 127.0.0.1, listener `lb_port`, `lb_attributes`
/// as its attributes table's body) forwarding everything to group `web` (`target`, health checks
/// off).
pub fn two_tier_topology(
    stack: &str,
    edge: &str,
    edge_lines: &str,
    origin: &Origin,
    lb_port: u16,
    lb_attributes: &str,
    target: &Origin,
) -> String {
    format!(
        r#"stack = "{stack}"

[edge]
http = "{edge}"
{edge_lines}

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["site.test"]
  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {origin}, origin_protocol_policy = "http-only" }}
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
  cache_policy = "Managed-CachingDisabled"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
attributes = {{ {lb_attributes} }}
  [[load_balancers.listeners]]
  port = {lb_port}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]

[[target_groups]]
name = "web"
protocol = "HTTP"
port = 80
health_check = {{ enabled = false }}
targets = [{{ id = "127.0.0.1", port = {target}, zone = "a" }}]
"#,
        origin = origin.port(),
        target = target.port(),
    )
}

/// An ALB trace id: `1-<8 hex>-<24 hex>`.
pub fn is_trace_id(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts[1].len() == 8
        && parts[2].len() == 24
        && parts[1..]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Why `r` is not ALB's own error page for `status reason` (`Server: awselb/2.0`, text/html,
/// `<title>` and `<h1>` with the status line), or `None` when it is. `also`: a condition of the
/// caller's that the page must meet too.
pub fn alb_error_page_problem(
    r: &Response,
    status: u16,
    reason: &str,
    also: bool,
) -> Option<String> {
    let line = format!("{status} {reason}");
    let body = r.body_text();
    let ok = r.status == status
        && r.header("server") == Some("awselb/2.0")
        && r.header("content-type")
            .is_some_and(|v| v.starts_with("text/html"))
        && body.contains(&format!("<title>{line}</title>"))
        && body.contains(&format!("<center><h1>{line}</h1></center>"))
        && also;
    (!ok).then(|| format!("expected ALB's {line} page (Server: awselb/2.0, text/html, <title> and <h1>), got {r:?}"))
}
