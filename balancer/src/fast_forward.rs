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

use crate::forwarded::{self, TraceIds};
use crate::metrics::Resolved;
use crate::proxy::ListenerState;
use crate::select::{self, Unrouted};
use crate::targets::{Group, InFlight, TargetState};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::BytesMut;
use ferry_config::model::{Action, Forward, XffMode};
use ferry_config::rules::{self, header_text, RequestView};
use ferry_config::spec::TargetProtocol;
use ferry_guard::front::{put_decimal, FastPath, Served, MAX_HEAD};
use ferry_guard::relay::{self, Body, Buffers, Failed, Response, Timeouts};
use ferry_guard::upstream::Pool;
use ferry_guard::wire::{copy_fields, crlf_only, put_field};
use ferry_guard::Timed;
use pingora::protocols::{GetSocketDigest, Ssl};
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The most header lines of a request this path parses: more go to pingora.
const MAX_HEADERS: usize = 64;
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
    /// The request, the response and what goes to the client.
    bufs: Buffers,
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
            bufs: Buffers::default(),
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
        cx.bufs.recycle();
        match done {
            Done::KeepAlive => Served::Answered(head),
            Done::Close => Served::Close,
        }
    }
}

/// Whether a forward action's requests can take this path: its target groups speak HTTP/1.1 in the
/// clear (an HTTPS one goes through pingora's TLS connector, an HTTP/2 or gRPC one through its
/// HTTP/2 connector, or to the 464 an HTTP/1.1 request gets there).
fn plain_forward(state: &ListenerState, forward: &Forward) -> bool {
    forward.target_groups.iter().all(|(g, _)| {
        state.groups.groups.get(*g).is_some_and(|g| {
            g.config.protocol == TargetProtocol::HTTP
                && g.config.protocol_version == ferry_config::spec::ProtocolVersion::HTTP1
        })
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
                !ferry_guard::wire::refused_field(name)
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
        let out = &mut cx.bufs.request;
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

/// One forwarded request.
struct Exchange<'s> {
    state: &'s Arc<ListenerState>,
    zone: &'s str,
    head_only: bool,
}

impl Exchange<'_> {
    /// ALB's timeouts: the connect timeout, and the load balancer's idle timeout for the rest.
    fn timeouts(&self) -> Timeouts {
        let idle = self.state.lb.idle_timeout;
        Timeouts {
            connect: crate::proxy::CONNECT_TIMEOUT,
            read: idle,
            idle,
            client: idle,
        }
    }

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
        let timeouts = self.timeouts();
        let sent_at = Instant::now();
        let reply = Reply {
            set_cookies: &routed.set_cookies,
            app_cookie: group.map(|g| (g, &*target)),
        };
        let mut client_head = |out: &mut BytesMut,
                               raw: &[u8],
                               head: &httparse::Response<'_, '_>,
                               response: &Response| {
            self.client_head(out, raw, head, response, &reply)
        };
        let exchange = relay::exchange(
            &fast.pool,
            (target.address, &mut *conn),
            &timeouts,
            &mut cx.bufs,
            // Every method this path forwards may be sent again (it has no body).
            (self.head_only, true),
            &mut client_head,
        );
        // ALB cuts the requests still in flight to a target when its deregistration delay is
        // over: one not yet answered gets a 502.
        let expiry = target.drain_expired();
        tokio::pin!(expiry);
        let exchanged = tokio::select! {
            biased;
            got = exchange => got,
            () = &mut expiry => Err(Failed(DRAIN_EXPIRED)),
        };
        let (mut upstream, response) = match exchanged {
            Ok(got) => got,
            Err(Failed(kind)) if cx.bufs.sent_interim => {
                // The client has an interim response: as pingora's path, cut the connection.
                tracing::warn!(load_balancer = %self.state.lb.name, zone = %self.zone, "target response cut short: {}", kind.as_str());
                target.record(true);
                // Counted as every request is, with no final status.
                crate::metrics::request(crate::metrics::Finished {
                    load_balancer: &self.state.lb.name,
                    zone: self.zone,
                    target_group: group_name,
                    status: None,
                    target_response: None,
                    received: 0,
                    sent: 0,
                });
                return Done::Close;
            }
            Err(Failed(DRAIN_EXPIRED)) => {
                let why = format!(
                    "target group \"{group_name}\": target {}: {}",
                    target.address,
                    TargetState::DRAIN_OVER
                );
                tracing::warn!(load_balancer = %self.state.lb.name, zone = %self.zone, status = 502, "{why}");
                return self
                    .fail(
                        conn,
                        cx,
                        Some((&target, group_name)),
                        502,
                        "Bad Gateway",
                        &why,
                    )
                    .await;
            }
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
        // Cut by shutting the target's connection: the relay then ends as on any broken
        // connection, counting what it sent.
        let connection = upstream.as_raw_fd();
        let relayed = tokio::select! {
            biased;
            relayed = relay::relay(&mut upstream, conn, &mut cx.bufs, &response, &timeouts) => relayed,
            never = cut_when(expiry, connection) => match never {},
        };
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
                    fast.pool.put(target.address, upstream, timeouts.idle);
                }
                Done::KeepAlive
            }
            Err(()) => Done::Close,
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
        if (100..200).contains(&response.status) {
            // An interim response goes to the client with the target's fields, written out as
            // pingora writes a head (whatever line ends or folding the target used), and no Date
            // or Connection of pingora's.
            relay::put_status_line(out, response.status, parsed.reason);
            copy_fields(raw, parsed.headers, out, |_| true, |_, _| {});
            out.extend_from_slice(b"\r\n");
            return;
        }
        let edits = &self.state.listener.response_headers;
        // After any interim responses.
        let drop = |name: &str| {
            (edits.remove_server && name.eq_ignore_ascii_case("server"))
                || edits.set.iter().any(|(n, _)| name.eq_ignore_ascii_case(n))
        };
        let dated = relay::status_and_fields(out, raw, parsed, response, drop);
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
        relay::end_head(out, dated);
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
            &mut cx.bufs.to_client,
            edits,
            (status, reason, why),
            self.head_only,
            keep_alive,
        );
        // The page's body bytes once it went out, as pingora's path counts them.
        let sent = match page {
            Ok(body) => relay::write(conn, &cx.bufs.to_client, &[], self.state.lb.idle_timeout)
                .await
                .ok()
                .map(|()| body),
            Err(_) => None,
        };
        let written = sent.is_some();
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
            sent: sent.unwrap_or(0),
        });
        if keep_alive && written {
            return Done::KeepAlive;
        }
        ferry_guard::front::close(conn).await;
        Done::Close
    }
}

/// The error kind a request cut by its target's drain fails with (none of the relay's own).
const DRAIN_EXPIRED: pingora::ErrorType = pingora::ErrorType::Custom("deregistration delay over");

/// What never is.
enum Never {}

/// Shuts the connection `fd` down when `expiry` (its target's drain) is over; never ends. The
/// caller owns the connection and drops this future before it closes it.
async fn cut_when(expiry: impl std::future::Future<Output = ()>, fd: std::os::fd::RawFd) -> Never {
    expiry.await;
    // SAFETY: the caller's connection is open while this future lives.
    ferry_guard::upstream::cut(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
    std::future::pending::<Never>().await
}

/// What the client's response head gets beside the target's fields: the stickiness cookies, and
/// the group and target of ALB's app cookie, set when the response sets the application's.
struct Reply<'r> {
    set_cookies: &'r [String],
    app_cookie: Option<(&'r Group, &'r TargetState)>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
