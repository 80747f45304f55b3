//! The balancer's fast path for its commonest request: an HTTP/1.1 request of an idempotent
//! method without a body that a listener's rules forward to an HTTP target group. [`FastForwards`] sits between the head
//! deadline and pingora's HTTP app ([`ferry_guard::front::Front`]), reads the request head itself,
//! routes it with the same pure functions as the pingora path (rules, groups, targets,
//! stickiness), rewrites it as ALB does (Host, X-Forwarded-*, X-Amzn-Trace-Id), sends it over a
//! kept-alive connection of its own and relays the target's response as it comes: framed by its
//! Content-Length, chunked as it is, or read to its end and chunked on the way.
//!
//! Every other request (a body, another version, an upgrade, ambiguous framing, a redirect or
//! fixed response, an HTTPS target group, HTTP/2, an access log to write...) goes through
//! pingora with the bytes already read, and the connection comes back here for its next one.
//! The decision is made before anything is chosen or sent, so that no request is routed twice.

use crate::chunked::Chunked;
use crate::forwarded::{self, TraceIds};
use crate::metrics::Resolved;
use crate::proxy::ListenerState;
use crate::respond::put_field;
use crate::select::{self, Unrouted};
use crate::targets::{Group, InFlight, TargetState};
use crate::upstream::{self, ConnectError, Pool};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::BytesMut;
use ferry_config::model::{Action, Forward, XffMode};
use ferry_config::rules::{self, header_text, RequestView};
use ferry_config::spec::TargetProtocol;
use ferry_guard::front::{put_decimal, FastPath, Served, MAX_HEAD};
use ferry_guard::Timed;
use pingora::protocols::{GetSocketDigest, Ssl};
use pingora::ErrorType;
use std::future::Future;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most header lines of a request this path parses: more go to pingora.
const MAX_HEADERS: usize = 64;
/// The most header lines, and bytes, of a target's response head.
const MAX_RESPONSE_HEADERS: usize = 256;
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// A body up to this size goes out in the same write as its head.
const ONE_WRITE: usize = 16 * 1024;
/// Reads of a target's response take up to this much at a time.
const READ_SIZE: usize = 64 * 1024;
/// Buffers larger than this are not kept for the connection's next request.
const KEPT_BUFFER: usize = 16 * 1024;

/// What the fast path shares with the listener's pingora proxy.
pub(crate) struct Shared {
    pub state: Arc<ArcSwap<ListenerState>>,
    pub zone: String,
    pub trace_ids: Arc<TraceIds>,
}

/// One listener copy's fast path, with its own connections to targets.
pub struct FastForwards {
    shared: Shared,
    pool: Pool,
    counters: Mutex<Counters>,
}

/// The metric series of the forwards of one listener state (a reload starts afresh): by target
/// group and status class.
#[derive(Default)]
struct Counters {
    state: Option<Arc<ListenerState>>,
    series: Vec<((usize, &'static str), Arc<Resolved>)>,
}

impl FastForwards {
    pub(crate) fn new(shared: Shared) -> FastForwards {
        FastForwards {
            shared,
            pool: Pool::default(),
            counters: Mutex::default(),
        }
    }

    /// The series a forward to `group` answered with `status` counts in.
    fn counters(
        &self,
        state: &Arc<ListenerState>,
        group: usize,
        group_name: &str,
        status: u16,
    ) -> Arc<Resolved> {
        let class = crate::metrics::status_class(Some(status));
        let resolve = || {
            Arc::new(Resolved::new(
                &state.lb.name,
                &self.shared.zone,
                group_name,
                status,
            ))
        };
        let Ok(mut counters) = self.counters.lock() else {
            return resolve();
        };
        if !counters
            .state
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, state))
        {
            counters.state = Some(state.clone());
            counters.series.clear();
        }
        if let Some((_, found)) = counters.series.iter().find(|(k, _)| *k == (group, class)) {
            return found.clone();
        }
        let made = resolve();
        counters.series.push(((group, class), made.clone()));
        made
    }
}

/// Whether the fast path is on: `FERRY_FAST_FORWARDS=0` (or `off`) turns it off.
pub fn enabled_by_env() -> bool {
    ferry_guard::front::enabled_by_env("FERRY_FAST_FORWARDS")
}

/// A client connection, and the buffers its requests reuse.
pub struct Conn {
    client: SocketAddr,
    /// The port the client connected to.
    port: u16,
    /// `http` or `https`.
    scheme: &'static str,
    /// An HTTPS connection's TLS version and cipher suite, as ALB names them in its headers.
    tls: Option<(String, String)>,
    /// The request as it goes to the target.
    request: BytesMut,
    /// What the target sent.
    from_target: BytesMut,
    /// What goes to the client.
    to_client: BytesMut,
}

#[async_trait]
impl FastPath for FastForwards {
    type Conn = Conn;

    fn connection(&self, conn: &Timed) -> Option<Conn> {
        // With an access log, every request goes through pingora's path, which writes it.
        if crate::access_log::enabled() {
            return None;
        }
        let digest = conn.get_socket_digest()?;
        let client = *digest.peer_addr()?.as_inet()?;
        let port = digest.local_addr()?.as_inet()?.port();
        let tls = conn
            .get_ssl_digest()
            .map(|ssl| ferry_config::tls::log_names(&ssl.version, &ssl.cipher));
        Some(Conn {
            client,
            port,
            scheme: if tls.is_some() { "https" } else { "http" },
            tls,
            request: BytesMut::new(),
            from_target: BytesMut::new(),
            to_client: BytesMut::new(),
        })
    }

    async fn serve(&self, conn: &mut Timed, cx: &mut Conn, buf: &[u8], stopping: bool) -> Served {
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut []);
        let head = match parsed.parse_with_uninit_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
            Ok(httparse::Status::Partial) => return Served::Incomplete,
            // Too large, malformed or too many fields: pingora answers as its parser sees it.
            _ => return Served::HandOver,
        };
        if stopping {
            // pingora says in its response that the connection closes.
            return Served::HandOver;
        }
        let state = self.shared.state.load_full();
        let Some(request) = Request::of(&parsed, &buf[..head], &state) else {
            return Served::HandOver;
        };
        let view = View {
            request: &request,
            client: cx.client.ip(),
        };
        let (_, Action::Forward(forward)) = rules::matched(&state.listener, &view) else {
            return Served::HandOver;
        };
        if !plain_forward(&state, forward) {
            return Served::HandOver;
        }
        // From here the request is this path's.
        let _in_flight = ferry_config::drain::Guard::start();
        crate::metrics::fast_forward();
        let routed = select::route(&state.groups, forward, &self.shared.zone, |name| {
            request.cookie(name)
        });
        let exchange = Exchange {
            state: &state,
            zone: &self.shared.zone,
            head_only: request.method == "HEAD",
        };
        let done = match routed {
            Ok(routed) => {
                self.request_bytes(&request, &state, cx);
                exchange.forward(self, conn, cx, routed).await
            }
            Err(Unrouted::NoTarget(why)) => {
                exchange
                    .fail(conn, cx, None, 503, "Service Temporarily Unavailable", &why)
                    .await
            }
            Err(Unrouted::NoGroup) => {
                exchange
                    .fail(
                        conn,
                        cx,
                        None,
                        500,
                        "Internal Server Error",
                        "no target group",
                    )
                    .await
            }
        };
        for b in [&mut cx.request, &mut cx.from_target, &mut cx.to_client] {
            b.clear();
            if b.capacity() > KEPT_BUFFER {
                *b = BytesMut::new();
            }
        }
        match done {
            Done::KeepAlive => Served::Answered(head),
            Done::Close => Served::Close,
        }
    }
}

/// Whether a forward action's requests can take this path: its target groups speak HTTP (an HTTPS
/// one goes through pingora's TLS connector).
fn plain_forward(state: &ListenerState, forward: &Forward) -> bool {
    forward.target_groups.iter().all(|(g, _)| {
        state
            .groups
            .groups
            .get(*g)
            .is_some_and(|g| g.config.protocol == TargetProtocol::HTTP)
    })
}

/// A request head this path can forward.
struct Request<'h> {
    method: &'h str,
    /// The request target as sent (path and query).
    target: &'h str,
    path: &'h str,
    query: Option<&'h str>,
    host: &'h str,
    headers: &'h [httparse::Header<'h>],
    /// The head as received.
    raw: &'h [u8],
    forwarded_for: Option<&'h str>,
    trace: Option<&'h str>,
}

impl<'h> Request<'h> {
    /// `None` for any request pingora's path must see: HTTP/1.0, TRACE or CONNECT, a target that
    /// is not origin-form or that ALB refuses, a body or its announcement, an upgrade, hop-by-hop
    /// fields pingora strips, a second Host or forwarding header, a header name that ALB would
    /// drop, an X-Forwarded-For over ALB's limit, or framing desync mitigation does not call
    /// compliant.
    fn of<'b: 'h>(
        parsed: &'h httparse::Request<'_, 'b>,
        raw: &'h [u8],
        state: &ListenerState,
    ) -> Option<Request<'h>> {
        let headers: &'h [httparse::Header<'b>] = parsed.headers;
        if parsed.version != Some(1) {
            return None;
        }
        let method = parsed.method?;
        let target = parsed.path?;
        // Idempotent methods only: a request whose kept connection turns out closed is sent again
        // (pingora's path, and ALB, never repeat a POST).
        if !matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
            || !target.starts_with('/')
            || target.contains('#')
            || ferry_config::request_target::check(method, target.as_bytes()).is_err()
            // What pingora's head parser (the http crate's URI) refuses with a 400.
            || http::uri::PathAndQuery::try_from(target).is_err()
        {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let drop_invalid = state.lb.drop_invalid_header_fields;
        let (mut host, mut forwarded_for, mut trace) = (None, None, None);
        let mut seen = [false; 2];
        for h in headers {
            let name = h.name;
            if drop_invalid && !forwarded::valid_header_name(name)
                || !ferry_config::desync::clean_value(h.value)
            {
                return None;
            }
            let once = |slot: &mut Option<&'h str>| {
                if slot.is_some() {
                    return false;
                }
                *slot = header_text(h.value);
                slot.is_some()
            };
            let fine = if name.eq_ignore_ascii_case("host") {
                once(&mut host)
            } else if name.eq_ignore_ascii_case("x-forwarded-for") {
                once(&mut forwarded_for)
            } else if name.eq_ignore_ascii_case("x-amzn-trace-id") {
                once(&mut trace)
            } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
                !std::mem::replace(&mut seen[0], true)
            } else if name.eq_ignore_ascii_case("x-forwarded-port") {
                !std::mem::replace(&mut seen[1], true)
            } else if name.eq_ignore_ascii_case("connection") {
                h.value.trim_ascii().eq_ignore_ascii_case(b"keep-alive")
            } else {
                !REFUSED.iter().any(|r| name.eq_ignore_ascii_case(r))
                    && !ferry_config::desync::frames_body(name.as_bytes())
            };
            if !fine {
                return None;
            }
        }
        let forwarded = forwarded_for.map_or(0, |v| v.split(',').count());
        if forwarded > crate::proxy::MAX_XFF_ADDRESSES {
            return None;
        }
        // What desync mitigation would not call compliant: httparse refuses the rest (control
        // bytes, spaces in the target, obs-fold, names that are not tokens, other versions), and
        // framing fields and their lookalikes were refused above; it lets bare LF line ends
        // through. (The tests check this against `desync::classify_head`.)
        if !crlf_only(raw) {
            return None;
        }
        Some(Request {
            method,
            target,
            path,
            query,
            // pingora refuses userinfo in Host with a 400.
            host: host.filter(|h| !h.contains('@'))?,
            headers,
            raw,
            forwarded_for,
            trace,
        })
    }

    /// The value of cookie `name` in the Cookie headers.
    fn cookie(&self, name: &str) -> Option<&'h str> {
        let cookies = self
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
            .filter_map(|h| header_text(h.value));
        crate::sticky::find(cookies, name)
    }
}

/// Fields that send a request to pingora: a body or its announcement, an upgrade, and the
/// hop-by-hop fields pingora strips from what it forwards.
const REFUSED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "expect",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "http2-settings",
];

struct View<'r, 'h> {
    request: &'r Request<'h>,
    client: IpAddr,
}

impl RequestView for View<'_, '_> {
    fn host(&self) -> Option<&str> {
        Some(self.request.host)
    }
    fn path(&self) -> &str {
        self.request.path
    }
    fn method(&self) -> &str {
        self.request.method
    }
    fn query(&self) -> Option<&str> {
        self.request.query
    }
    fn source_ip(&self) -> IpAddr {
        self.client
    }
    fn any_header(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        self.request
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| header_text(h.value))
            .any(pred)
    }
}

impl FastForwards {
    /// The request as it goes to the target, as pingora's path makes it: Connection dropped, Host
    /// with the listener's port unless preserved, then X-Forwarded-For (by the processing mode),
    /// X-Forwarded-Proto, X-Forwarded-Port and X-Amzn-Trace-Id.
    fn request_bytes(&self, request: &Request<'_>, state: &ListenerState, cx: &mut Conn) {
        let lb = &state.lb;
        let out = &mut cx.request;
        out.clear();
        out.extend_from_slice(request.method.as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(request.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let client_port = lb.xff_client_port.then_some(cx.client.port());
        let forwarded_for = |existing| forwarded::xff_value(existing, cx.client.ip(), client_port);
        let new_host = (!lb.preserve_host_header)
            .then(|| forwarded::target_host(request.host, cx.port, cx.scheme))
            .flatten();
        // The TLS headers the listener forwards replace any the client sent.
        let tls_names = state
            .listener
            .tls_headers
            .as_ref()
            .filter(|_| cx.tls.is_some());
        let rewritten = |name: &str| {
            (new_host.is_some() && name.eq_ignore_ascii_case("host"))
                || tls_names.is_some_and(|t| {
                    name.eq_ignore_ascii_case(&t.version)
                        || name.eq_ignore_ascii_case(&t.cipher_suite)
                })
                || (lb.xff_mode != XffMode::Preserve
                    && name.eq_ignore_ascii_case("x-forwarded-for"))
                || [
                    "connection",
                    "x-forwarded-proto",
                    "x-forwarded-port",
                    "x-amzn-trace-id",
                ]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
        };
        copy_fields(
            request.raw,
            request.headers,
            out,
            |h| !rewritten(h.name),
            |h, out| {
                if h.name.eq_ignore_ascii_case("host") {
                    if let Some(host) = &new_host {
                        put_field(out, b"Host", host.as_bytes());
                    }
                } else if h.name.eq_ignore_ascii_case("x-forwarded-for")
                    && lb.xff_mode == XffMode::Append
                {
                    let value = forwarded_for(request.forwarded_for);
                    put_field(out, b"X-Forwarded-For", value.as_bytes());
                }
            },
        );
        if lb.xff_mode == XffMode::Append && request.forwarded_for.is_none() {
            put_field(out, b"X-Forwarded-For", forwarded_for(None).as_bytes());
        }
        put_field(out, b"X-Forwarded-Proto", cx.scheme.as_bytes());
        out.extend_from_slice(b"X-Forwarded-Port: ");
        put_decimal(out, u64::from(cx.port));
        out.extend_from_slice(b"\r\n");
        let trace = forwarded::trace_value(request.trace, &self.shared.trace_ids.next());
        put_field(out, b"X-Amzn-Trace-Id", trace.as_bytes());
        if let (Some(names), Some((version, cipher))) = (tls_names, &cx.tls) {
            put_field(out, names.version.as_bytes(), version.as_bytes());
            put_field(out, names.cipher_suite.as_bytes(), cipher.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// How a forwarded request ended for the client connection.
enum Done {
    KeepAlive,
    Close,
}

/// Why a forward failed before the client got a response: the error as pingora's path names it,
/// which `errors::classify` turns into ALB's status and reason.
#[derive(Debug)]
struct Failed(ErrorType);

impl From<ConnectError> for Failed {
    fn from(e: ConnectError) -> Failed {
        Failed(match e {
            ConnectError::Refused => ErrorType::ConnectRefused,
            ConnectError::TimedOut => ErrorType::ConnectTimedout,
            ConnectError::NoRoute => ErrorType::ConnectNoRoute,
            ConnectError::Other => ErrorType::ConnectError,
        })
    }
}

/// A target's response head as the client gets it.
struct Response {
    status: u16,
    /// Bytes of `from_target` the head took.
    head: usize,
    body: Body,
    /// The target's connection may carry another request after this response.
    reusable: bool,
    /// It has a Transfer-Encoding, so any Content-Length beside it does not frame it.
    coded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    /// Until the target closes: relayed in chunks.
    UntilClose,
}

/// One forwarded request.
struct Exchange<'s> {
    state: &'s Arc<ListenerState>,
    zone: &'s str,
    head_only: bool,
}

impl Exchange<'_> {
    async fn forward(
        &self,
        fast: &FastForwards,
        conn: &mut Timed,
        cx: &mut Conn,
        routed: select::Routed,
    ) -> Done {
        let target = routed.target;
        let group = self.state.groups.groups.get(routed.group);
        let group_name = group.map_or("-", |g| g.config.name.as_str());
        let _counted = InFlight::start(target.clone());
        let idle = self.state.lb.idle_timeout;
        let sent_at = Instant::now();
        let reply = Reply {
            set_cookies: &routed.set_cookies,
            app_cookie: group.map(|g| (g, &*target)),
        };
        let exchanged = self.exchange(&fast.pool, &target, cx, idle, &reply).await;
        let (mut upstream, response) = match exchanged {
            Ok(got) => got,
            Err(Failed(kind)) => {
                let (status, reason, what) =
                    crate::errors::classify(&pingora::Error::new(kind.clone()));
                let why = format!(
                    "target group \"{group_name}\": target {}: {what}",
                    target.address
                );
                tracing::warn!(load_balancer = %self.state.lb.name, zone = %self.zone, status, "{why}");
                return self
                    .fail(conn, cx, Some((&target, group_name)), status, reason, &why)
                    .await;
            }
        };
        let answered = sent_at.elapsed();
        let relayed = relay(&mut upstream, conn, cx, &response, idle).await;
        let (sent, outcome) = match relayed {
            Ok(relayed) => (relayed.sent, Ok(relayed.reusable)),
            Err(sent) => (sent, Err(())),
        };
        target.record(outcome.is_err() || response.status >= 500);
        fast.counters(self.state, routed.group, group_name, response.status)
            .count(sent, answered);
        match outcome {
            Ok(reusable) => {
                if reusable {
                    fast.pool.put(target.address, upstream, idle);
                }
                Done::KeepAlive
            }
            Err(()) => Done::Close,
        }
    }

    /// Sends the request and reads the response head: over a kept-alive connection when there is
    /// one, and again over a new one when the kept one turns out closed before any byte of a
    /// response (the target closed it while idle; the request has no body to repeat).
    async fn exchange(
        &self,
        pool: &Pool,
        target: &TargetState,
        cx: &mut Conn,
        idle: Duration,
        reply: &Reply<'_>,
    ) -> Result<(TcpStream, Response), Failed> {
        let mut kept = pool.take(target.address, idle);
        loop {
            let reused = kept.is_some();
            let mut upstream = match kept.take() {
                Some(s) => s,
                None => upstream::connect(target.address, crate::proxy::CONNECT_TIMEOUT).await?,
            };
            cx.from_target.clear();
            cx.to_client.clear();
            let written = within(idle, upstream.write_all(&cx.request)).await;
            let head = match written {
                Ok(()) => self.response_head(&mut upstream, cx, idle, reply).await,
                Err(e) => Err((e, 0)),
            };
            match head {
                Ok(response) => return Ok((upstream, response)),
                // Closed (or reset) before a byte of a response: closed while it was idle.
                Err((Failed(ErrorType::ConnectionClosed), 0)) if reused => continue,
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Reads the response head (past any 1xx interim response); on failure, the error and how
    /// many bytes the target had sent.
    async fn response_head(
        &self,
        upstream: &mut TcpStream,
        cx: &mut Conn,
        idle: Duration,
        reply: &Reply<'_>,
    ) -> Result<Response, (Failed, usize)> {
        let mut received = 0;
        loop {
            if !cx.from_target.is_empty() {
                let to_client = &mut cx.to_client;
                let parsed =
                    parse_response(&cx.from_target, self.head_only, |raw, head, response| {
                        self.client_head(to_client, raw, head, response, reply)
                    });
                match parsed {
                    Ok(Some(response)) if (100..200).contains(&response.status) => {
                        if response.status == 101 {
                            return Err((Failed(ErrorType::InvalidHTTPHeader), received));
                        }
                        // An interim response (103 Early Hints, an unasked 100): passed on before
                        // the final one, as pingora's path passes it.
                        let interim = cx.from_target.split_to(response.head);
                        cx.to_client.extend_from_slice(&interim);
                        if cx.to_client.len() > MAX_RESPONSE_HEAD {
                            // Interim responses without end.
                            return Err((Failed(ErrorType::InvalidHTTPHeader), received));
                        }
                        continue;
                    }
                    Ok(Some(response)) => return Ok(response),
                    Ok(None) if cx.from_target.len() < MAX_RESPONSE_HEAD => {}
                    _ => return Err((Failed(ErrorType::InvalidHTTPHeader), received)),
                }
            }
            cx.from_target.reserve(4096);
            match within(idle, upstream.read_buf(&mut cx.from_target)).await {
                Ok(0) => return Err((Failed(ErrorType::ConnectionClosed), received)),
                Ok(n) => received += n,
                Err(e) => return Err((e, received)),
            }
        }
    }

    /// The response head the client gets, in `to_client`: the target's, with pingora's Date and
    /// Connection, chunked framing for a body read to its end, the stickiness cookies and the
    /// listener's response header modification.
    fn client_head(
        &self,
        out: &mut BytesMut,
        raw: &[u8],
        parsed: &httparse::Response<'_, '_>,
        response: &Response,
        reply: &Reply<'_>,
    ) {
        let edits = &self.state.listener.response_headers;
        // After any interim responses.
        out.extend_from_slice(b"HTTP/1.1 ");
        put_decimal(out, u64::from(response.status));
        out.extend_from_slice(b" ");
        out.extend_from_slice(parsed.reason.unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        let date = pingora::protocols::http::date::get_cached_date();
        let mut dated = false;
        let coded = response.coded;
        let replaced = |name: &str| {
            ["connection", "date"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
                // A Content-Length beside a Transfer-Encoding is dropped (RFC 9112 §6.3).
                || (coded && name.eq_ignore_ascii_case("content-length"))
                || (edits.remove_server && name.eq_ignore_ascii_case("server"))
                || edits.set.iter().any(|(n, _)| name.eq_ignore_ascii_case(n))
        };
        copy_fields(
            raw,
            parsed.headers,
            out,
            |h| !replaced(h.name),
            |h, out| {
                // pingora's Date takes the place of the target's.
                if h.name.eq_ignore_ascii_case("date") && !dated {
                    put_field(out, h.name.as_bytes(), date.as_bytes());
                    dated = true;
                }
            },
        );
        if response.body == Body::UntilClose {
            put_field(out, b"Transfer-Encoding", b"chunked");
        }
        for cookie in reply.set_cookies {
            put_field(out, b"Set-Cookie", cookie.as_bytes());
        }
        if let Some((group, target)) = reply.app_cookie {
            // ALB's app cookie follows the target's own.
            let set = parsed
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"));
            if let Some(cookie) = select::app_cookie(group, target, set.map(|h| h.value)) {
                put_field(out, b"Set-Cookie", cookie.as_bytes());
            }
        }
        for (name, value) in &edits.set {
            put_field(out, name.as_bytes(), value.as_bytes());
        }
        if !dated {
            put_field(out, b"Date", date.as_bytes());
        }
        put_field(out, b"Connection", b"keep-alive");
        out.extend_from_slice(b"\r\n");
    }

    /// ALB's error page, then the connection closes (as pingora's path closes it after one).
    async fn fail(
        &self,
        conn: &mut Timed,
        cx: &mut Conn,
        target: Option<(&TargetState, &str)>,
        status: u16,
        reason: &str,
        why: &str,
    ) -> Done {
        let edits = &self.state.listener.response_headers;
        // A request no target could take leaves the connection open, as pingora's path leaves it
        // (the balancer answered it itself); after a failed forward it closes.
        let keep_alive = target.is_none();
        let page = crate::respond::error_wire(
            &mut cx.to_client,
            edits,
            (status, reason, why),
            self.head_only,
            keep_alive,
        );
        let idle = self.state.lb.idle_timeout;
        let written = page.is_ok()
            && within(idle, conn.write_all(&cx.to_client)).await.is_ok()
            && within(idle, conn.flush()).await.is_ok();
        let group = match target {
            Some((target, group)) => {
                target.record(true);
                group
            }
            None => "-",
        };
        crate::metrics::request(crate::metrics::Finished {
            load_balancer: &self.state.lb.name,
            zone: self.zone,
            target_group: group,
            status: written.then_some(status),
            target_response: None,
            received: 0,
            sent: 0,
        });
        if keep_alive && written {
            return Done::KeepAlive;
        }
        ferry_guard::front::close(conn).await;
        Done::Close
    }
}

/// A target's response head: `Ok(None)` while incomplete, `Err` when it is not HTTP/1 or its
/// framing is contradictory.
fn parse_response(
    bytes: &[u8],
    head_only: bool,
    final_head: impl FnOnce(&[u8], &httparse::Response<'_, '_>, &Response),
) -> Result<Option<Response>, ()> {
    let mut fields = [const { MaybeUninit::uninit() }; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    // As leniently as pingora's client reads a response: a space before a colon, and obs-fold
    // (both written out cleanly to the client, `copy_fields`).
    let mut config = httparse::ParserConfig::default();
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true);
    let head = match config.parse_response_with_uninit_headers(&mut parsed, bytes, &mut fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    // A status pingora's header type refuses (under 100) is a malformed response.
    let status = parsed.code.filter(|c| (100..=999).contains(c)).ok_or(())?;
    let mut length: Option<u64> = None;
    let (mut chunked, mut te) = (false, false);
    let mut close = parsed.version != Some(1);
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            for v in h.value.split(|b| *b == b',') {
                let n = std::str::from_utf8(v.trim_ascii())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(())?;
                if length.is_some_and(|l| l != n) {
                    return Err(());
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only chunked coding is relayed as it is; any other coding ends at the close.
            te = true;
            chunked = h
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close |= h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let body = if head_only || matches!(status, 204 | 304) || (100..200).contains(&status) {
        Body::None
    } else if chunked {
        Body::Chunked
    } else if let (Some(n), false) = (length, te) {
        Body::Length(n)
    } else {
        Body::UntilClose
    };
    let response = Response {
        status,
        head,
        body,
        reusable: !close && body != Body::UntilClose,
        coded: te,
    };
    if !(100..200).contains(&status) {
        final_head(&bytes[..head], &parsed, &response);
    }
    Ok(Some(response))
}

/// Whether every line of a head ends with CRLF (no bare LF).
fn crlf_only(head: &[u8]) -> bool {
    line_ends(head).0
}

/// Of a head's line ends: whether all are CRLF (no bare LF), and whether any line continues the
/// one before (obs-fold, which only a response can have). One pass over byte pairs, which the
/// compiler vectorises (heads are short: a search per line costs more in calls than it saves).
fn line_ends(head: &[u8]) -> (bool, bool) {
    let (bare, folded) = head.iter().zip(head.get(1..).unwrap_or_default()).fold(
        (false, false),
        |(bare, folded), (&a, &b)| {
            (
                bare | ((b == b'\n') & (a != b'\r')),
                folded | ((a == b'\n') & ((b == b' ') | (b == b'\t'))),
            )
        },
    );
    (!bare && head.first() != Some(&b'\n'), folded)
}

/// Writes a parsed head's field lines to `out`: those `keep` keeps as they were received (runs of
/// them in one copy), and for each of the others what `instead` writes in its place. `raw` is the
/// whole head the fields were parsed from.
fn copy_fields<'f>(
    raw: &[u8],
    fields: &[httparse::Header<'f>],
    out: &mut BytesMut,
    keep: impl Fn(&httparse::Header<'f>) -> bool,
    mut instead: impl FnMut(&httparse::Header<'f>, &mut BytesMut),
) {
    // The field lines end where the final empty line begins.
    let end = raw.len().saturating_sub(2);
    let base = raw.as_ptr() as usize;
    let start = |h: &httparse::Header<'_>| {
        (h.name.as_ptr() as usize)
            .checked_sub(base)
            .filter(|s| *s <= end)
    };
    let (crlf, folded) = line_ends(raw);
    let mut last = 0;
    let laid_out = raw.len() >= 2
        && crlf
        && fields.iter().all(|h| {
            // In order, within the head.
            let at = start(h);
            let fine = at.is_some_and(|at| at >= last);
            last = at.unwrap_or(last);
            fine
        });
    if !laid_out {
        // Not laid out as expected: field by field.
        for h in fields {
            if keep(h) {
                put_unfolded(out, h.name.as_bytes(), h.value);
            } else {
                instead(h, out);
            }
        }
        return;
    }
    let mut run: Option<usize> = None;
    for h in fields {
        let at = start(h).unwrap_or(end);
        let kept = keep(h);
        // As received only when written as `name:` on one line (a target's response may have a
        // space before the colon, or obs-fold: those are written out cleanly).
        let clean = raw.get(at + h.name.len()) == Some(&b':')
            && !(folded && h.value.iter().any(|&b| b == b'\r' || b == b'\n'));
        if kept && clean {
            run.get_or_insert(at);
            continue;
        }
        if let Some(from) = run.take() {
            out.extend_from_slice(raw.get(from..at).unwrap_or_default());
        }
        if kept {
            put_unfolded(out, h.name.as_bytes(), h.value);
        } else {
            instead(h, out);
        }
    }
    if let Some(from) = run {
        out.extend_from_slice(raw.get(from..end).unwrap_or_default());
    }
}

/// A field line with any obs-fold in its value replaced by one space, as pingora writes it.
fn put_unfolded(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    let mut folding = false;
    for &b in value {
        match (b, folding) {
            (b'\r' | b'\n', _) => folding = true,
            (b' ' | b'\t', true) => {}
            (_, true) => {
                out.extend_from_slice(b" ");
                out.extend_from_slice(&[b]);
                folding = false;
            }
            (_, false) => out.extend_from_slice(&[b]),
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// What the client's response head gets beside the target's fields: the stickiness cookies, and
/// the group and target of ALB's app cookie, set when the response sets the application's.
struct Reply<'r> {
    set_cookies: &'r [String],
    app_cookie: Option<(&'r Group, &'r TargetState)>,
}

/// What relaying a body did.
struct Relayed {
    /// Body bytes written to the client.
    sent: usize,
    /// The target's connection ended cleanly after the body.
    reusable: bool,
}

/// Sends the client the head in `to_client` and the body as the target sends it. `Err`: the
/// exchange broke off (the connection must close), with the body bytes sent.
async fn relay(
    upstream: &mut TcpStream,
    conn: &mut Timed,
    cx: &mut Conn,
    response: &Response,
    idle: Duration,
) -> Result<Relayed, usize> {
    let mut rest = cx.from_target.split_off(response.head);
    let mut sent = 0;
    let mut reusable = response.reusable;
    match response.body {
        Body::None => {
            reusable &= rest.is_empty();
            write(conn, &cx.to_client, &[], idle)
                .await
                .map_err(|_| 0usize)?;
        }
        Body::Length(length) => {
            let mut left = length;
            let mut first = true;
            loop {
                let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                reusable &= take == rest.len();
                let head: &[u8] = if first { &cx.to_client } else { &[] };
                write(conn, head, &rest[..take], idle)
                    .await
                    .map_err(|_| sent)?;
                first = false;
                sent += take;
                left -= take as u64;
                if left == 0 {
                    break;
                }
                rest.clear();
                read_more(upstream, &mut rest, idle)
                    .await
                    .map_err(|_| sent)?;
            }
        }
        Body::Chunked => {
            let mut chunked = Chunked::default();
            let mut first = true;
            loop {
                let Ok(end) = chunked.feed(&rest) else {
                    // Not chunked after all: the client learns of it as from pingora's path, by
                    // the head and then the close.
                    if first {
                        let _ = write(conn, &cx.to_client, &[], idle).await;
                    }
                    return Err(sent);
                };
                let take = end.unwrap_or(rest.len());
                reusable &= take == rest.len();
                let head: &[u8] = if first { &cx.to_client } else { &[] };
                write(conn, head, &rest[..take], idle)
                    .await
                    .map_err(|_| sent)?;
                first = false;
                sent += take;
                if end.is_some() {
                    break;
                }
                rest.clear();
                read_more(upstream, &mut rest, idle)
                    .await
                    .map_err(|_| sent)?;
            }
        }
        Body::UntilClose => {
            reusable = false;
            let mut framed = BytesMut::new();
            let mut first = true;
            loop {
                framed.clear();
                if first {
                    framed.extend_from_slice(&cx.to_client);
                }
                if !rest.is_empty() {
                    framed.extend_from_slice(format!("{:x}\r\n", rest.len()).as_bytes());
                    framed.extend_from_slice(&rest);
                    framed.extend_from_slice(b"\r\n");
                    sent += rest.len();
                }
                // Each piece goes out as it comes (a stream of events waits for no later one).
                if !framed.is_empty() {
                    write(conn, &framed, &[], idle).await.map_err(|_| sent)?;
                }
                first = false;
                rest.clear();
                match read_more(upstream, &mut rest, idle).await {
                    Ok(()) => {}
                    Err(ReadEnd::Closed) => {
                        write(conn, b"0\r\n\r\n", &[], idle)
                            .await
                            .map_err(|_| sent)?;
                        break;
                    }
                    Err(ReadEnd::Broken) => return Err(sent),
                }
            }
        }
    }
    Ok(Relayed { sent, reusable })
}

enum ReadEnd {
    /// The target closed the connection.
    Closed,
    /// A read failed or timed out.
    Broken,
}

/// Reads the target's next bytes into `into` (empty).
async fn read_more(
    upstream: &mut TcpStream,
    into: &mut BytesMut,
    idle: Duration,
) -> Result<(), ReadEnd> {
    into.reserve(READ_SIZE);
    match tokio::time::timeout(idle, upstream.read_buf(into)).await {
        Ok(Ok(0)) => Err(ReadEnd::Closed),
        Ok(Ok(_)) => Ok(()),
        _ => Err(ReadEnd::Broken),
    }
}

/// Writes a head and body bytes to the client (in one write when small) and flushes.
async fn write(conn: &mut Timed, head: &[u8], body: &[u8], idle: Duration) -> Result<(), Failed> {
    let both = async {
        if body.is_empty() {
            conn.write_all(head).await?;
        } else if head.len() + body.len() <= ONE_WRITE && !head.is_empty() {
            let mut one = Vec::with_capacity(head.len() + body.len());
            one.extend_from_slice(head);
            one.extend_from_slice(body);
            conn.write_all(&one).await?;
        } else {
            ferry_guard::front::write_both(conn, head, body).await?;
        }
        conn.flush().await
    };
    within(idle, both).await
}

/// An I/O step with the idle timeout, as a forward failure.
async fn within<T>(
    idle: Duration,
    step: impl Future<Output = std::io::Result<T>>,
) -> Result<T, Failed> {
    match tokio::time::timeout(idle, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failed(match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe => ErrorType::ConnectionClosed,
            _ => ErrorType::ReadError,
        })),
        Err(_) => Err(Failed(ErrorType::ReadTimedout)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_framing() {
        // (head, HEAD request, (status, framing, reusable)), `None`: refused.
        type Case<'a> = (&'a str, bool, Option<(u16, Body, bool)>);
        let cases: &[Case] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Some((200, Body::Length(5), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Some((200, Body::None, true)),
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                false,
                Some((204, Body::None, true)),
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
                Some((304, Body::None, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Some((200, Body::Chunked, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false,
                Some((200, Body::Chunked, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.1 200 OK\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), false)),
            ),
            (
                "HTTP/1.0 200 OK\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), false)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
                false,
                Some((200, Body::Length(3), true)),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\n",
                false,
                Some((100, Body::None, true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                false,
                None,
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, None),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
                false,
                None,
            ),
            ("SSH-2.0-OpenSSH\r\n\r\n", false, None),
            ("HTTP/1.1 099 Low\r\n\r\n", false, None),
            (
                "HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 1\r\n\r\n",
                false,
                Some((200, Body::Length(1), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\n",
                false,
                Some((200, Body::Length(1), true)),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
                false,
                Some((200, Body::UntilClose, false)),
            ),
        ];
        for (head, head_only, want) in cases {
            let got = parse_response(head.as_bytes(), *head_only, |_, _, _| {})
                .ok()
                .flatten()
                .map(|r| (r.status, r.body, r.reusable));
            assert_eq!(&got, want, "{head:?} (HEAD: {head_only})");
        }
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Le", false, |_, _, _| {}),
            Ok(None)
        ));
    }

    #[test]
    fn fields_are_copied_as_received_or_replaced() {
        let cases: &[(&str, &str)] = &[
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX-A:  1\r\nConnection: keep-alive\r\nX-B: 2\r\n\r\n",
                "Host: b\r\nX-A:  1\r\nX-B: 2\r\n",
            ),
            ("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", ""),
            (
                "GET / HTTP/1.1\r\nX-A: 1\r\nConnection: keep-alive\r\n\r\n",
                "X-A: 1\r\n",
            ),
            // Bare LF: field by field, with CRLF.
            (
                "GET / HTTP/1.1\nHost: a\nX-A:  1\nX-B: 2\n\n",
                "Host: b\r\nX-A: 1\r\nX-B: 2\r\n",
            ),
        ];
        for (raw, want) in cases {
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Request::new(&mut headers);
            let head = match parsed.parse(raw.as_bytes()) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!("{raw:?}: {other:?}"),
            };
            let mut out = BytesMut::new();
            copy_fields(
                &raw.as_bytes()[..head],
                parsed.headers,
                &mut out,
                |h| !["host", "connection"].contains(&h.name.to_ascii_lowercase().as_str()),
                |h, out| {
                    if h.name == "Host" {
                        put_field(out, b"Host", b"b");
                    }
                },
            );
            assert_eq!(String::from_utf8_lossy(&out), *want, "{raw:?}");
        }
    }

    #[test]
    fn folded_and_spaced_fields_are_written_out_cleanly() {
        let raw = "HTTP/1.1 200 OK\r\nA: 1\r\nX-Bad : v\r\nX-Fold: a\r\n  b\r\nB: 2\r\n\r\n";
        let mut fields = [const { MaybeUninit::uninit() }; 8];
        let mut parsed = httparse::Response::new(&mut []);
        let mut config = httparse::ParserConfig::default();
        config
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true);
        let head = match config.parse_response_with_uninit_headers(
            &mut parsed,
            raw.as_bytes(),
            &mut fields,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}"),
        };
        let mut out = BytesMut::new();
        copy_fields(
            &raw.as_bytes()[..head],
            parsed.headers,
            &mut out,
            |_| true,
            |_, _| {},
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "A: 1\r\nX-Bad: v\r\nX-Fold: a b\r\nB: 2\r\n"
        );
    }

    fn request_of<'h>(
        raw: &'h [u8],
        headers: &'h mut [httparse::Header<'h>],
    ) -> httparse::Request<'h, 'h> {
        let mut parsed = httparse::Request::new(headers);
        // As `serve`: only a complete head is looked at.
        if !matches!(parsed.parse(raw), Ok(httparse::Status::Complete(_))) {
            parsed.version = None;
        }
        parsed
    }

    #[test]
    fn which_requests_this_path_forwards() {
        let topology = ferry_config::parse(
            "default.toml",
            ferry_config::DEFAULT_TOPOLOGY,
            std::path::Path::new("."),
        )
        .expect("the default topology");
        let lb = topology
            .load_balancers
            .first()
            .expect("a load balancer")
            .clone();
        let listener = lb.listeners.first().expect("a listener").clone();
        let groups = Arc::new(crate::select::Groups::new(&topology.target_groups));
        let state = ListenerState::new(lb, listener, groups);
        let cases: &[(&str, bool)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("GET /x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n", true),
            ("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nHost: a\r\n\r\n", false),
            ("GET / HTTP/1.1\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nProxy-Authorization: x\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: a\r\nX-Forwarded-Proto: b\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX-Amzn-Trace-Id: a\r\nX-Amzn-Trace-Id: b\r\n\r\n", false),
            ("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", false),
            // Not idempotent: never sent twice, so never here.
            ("POST / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", false),
            // pingora's 400s.
            ("GET /a<b HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", false),
            ("GET / HTTP/1.1\nHost: a\n\n", false),
            ("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nTransfer.Encoding: chunked\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}b\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", false),
            ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\nY: caf\u{e9}\r\n\r\n", true),
            ("DELETE /a/b%20c?d=e&f HTTP/1.1\r\nHost: a:8080\r\nCookie: x=1\r\n\r\n", true),
        ];
        for (raw, want) in cases {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let parsed = request_of(raw.as_bytes(), &mut headers);
            let got = Request::of(&parsed, raw.as_bytes(), &state).is_some();
            assert_eq!(got, *want, "{raw:?}");
            if got {
                // Only what desync mitigation calls compliant takes this path.
                let verdict = ferry_config::desync::classify_head(raw.as_bytes());
                assert_eq!(
                    verdict.classification,
                    ferry_config::desync::Classification::Compliant,
                    "{raw:?}"
                );
            }
        }
        let many = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: {}\r\n\r\n",
            vec!["1.1.1.1"; 31].join(", ")
        );
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let parsed = request_of(many.as_bytes(), &mut headers);
        assert!(
            Request::of(&parsed, many.as_bytes(), &state).is_none(),
            "ALB's 463 is pingora's to send"
        );
    }
}
