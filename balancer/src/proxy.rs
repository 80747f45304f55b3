//! One balancer listener on one zone node, as a pingora `ProxyHttp`: evaluate the listener's rules,
//! then answer, redirect or forward to a target.

use crate::select::{self, Groups, Unrouted};
use crate::targets::{InFlight, TargetState};
use crate::{errors, forwarded, respond, sticky};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use ferry_config::desync::{self, Mode, Outcome};
use ferry_config::model::{Action, Forward, Listener, LoadBalancer};
use ferry_config::redirect::{self, Original};
use ferry_config::request_target;
use ferry_config::rules::{self, RequestView};
use ferry_config::spec::ProtocolVersion;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// ALB's fixed connect timeout to targets.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One listener as the current topology has it: a reload swaps it whole, and each request keeps
/// the one it started with.
pub struct ListenerState {
    pub(crate) lb: Arc<LoadBalancer>,
    pub(crate) listener: Listener,
    pub(crate) desync: Mode,
    pub(crate) groups: Arc<Groups>,
}

impl ListenerState {
    pub fn new(lb: Arc<LoadBalancer>, listener: Listener, groups: Arc<Groups>) -> ListenerState {
        let desync = lb
            .attributes
            .get("routing.http.desync_mitigation_mode")
            .and_then(|m| Mode::parse(m))
            .unwrap_or(Mode::Defensive);
        ListenerState {
            lb,
            listener,
            desync,
            groups,
        }
    }
}

pub struct ListenerProxy {
    state: Arc<ArcSwap<ListenerState>>,
    /// `http` or `https`: a reload cannot change a listener's protocol.
    protocol: &'static str,
    zone: String,
    trace_ids: Arc<forwarded::TraceIds>,
}

impl ListenerProxy {
    /// `(copy, copies)`: which of the listener's proxies this is (one per thread), so that
    /// their trace ids never share a counter value.
    pub fn new(
        state: Arc<ArcSwap<ListenerState>>,
        zone: String,
        (copy, copies): (usize, usize),
    ) -> ListenerProxy {
        let protocol = match state.load().listener.protocol {
            ferry_config::spec::ListenerProtocol::HTTP => "http",
            ferry_config::spec::ListenerProtocol::HTTPS => "https",
        };
        ListenerProxy {
            state,
            protocol,
            zone,
            trace_ids: Arc::new(forwarded::TraceIds::new(copy, copies)),
        }
    }

    /// What the fast path in front of this proxy shares with it.
    pub(crate) fn shared(&self) -> crate::fast_forward::Shared {
        crate::fast_forward::Shared {
            state: self.state.clone(),
            zone: self.zone.clone(),
            trace_ids: self.trace_ids.clone(),
        }
    }
}

pub struct Ctx {
    /// The listener as it was when the request arrived.
    state: Arc<ListenerState>,
    /// Counts the request as in flight, for a graceful stop.
    _in_flight: ferry_config::drain::Guard,
    /// (target group index, target) once a forward has chosen one.
    target: Option<(usize, Arc<TargetState>)>,
    /// The chosen target's group speaks HTTPS.
    target_tls: bool,
    /// Whether the chosen target's group speaks HTTP/2 (or gRPC) to it.
    target_h2: bool,
    /// Counts the request against its target until the request ends.
    in_flight: Option<InFlight>,
    /// Cuts the target connection when the target's deregistration delay is over.
    drain_cut: Option<ferry_guard::upstream::CutWhen>,
    /// Stickiness cookies to set on the response.
    set_cookies: Vec<String>,
    /// Close the target connection after this request (desync mitigation).
    close_upstream: bool,
    /// What the access log and the metrics need to know of the request.
    log: crate::access_log::Progress,
}

/// The request's desync classification. In strictest mode, and in every mode for a request with
/// Transfer-Encoding, the raw head is read, because pingora drops a Content-Length that comes with
/// Transfer-Encoding before the parsed head is seen (ALB calls the pair Ambiguous).
fn classify(session: &Session, mode: Mode) -> desync::Verdict {
    let header = session.req_header();
    if mode == Mode::Strictest || header.headers.contains_key(http::header::TRANSFER_ENCODING) {
        return desync::classify_head(&session.as_downstream().to_h1_raw());
    }
    let headers: Vec<(&str, &[u8])> = header
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let version = match header.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let uri = header
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    desync::classify(header.method.as_str(), uri, version, &headers)
}

/// Why ALB answers 400 to a request head that pingora's lenient parser let through: a request
/// target no URI can be (`GET  /a`, a NUL in the path), or an HTTP/1.1 request without Host.
fn malformed(header: &RequestHeader) -> Option<String> {
    if let Err(refusal) = request_target::check(header.method.as_str(), header.raw_path()) {
        return Some(refusal.reason());
    }
    if header.version == http::Version::HTTP_11 && header.headers.get(http::header::HOST).is_none()
    {
        return Some("an HTTP/1.1 request must carry a Host header".into());
    }
    None
}

/// ALB refuses a request whose X-Forwarded-For lists more than 30 addresses (status 463).
pub(crate) const MAX_XFF_ADDRESSES: usize = 30;

fn cookie_values(header: &RequestHeader) -> impl Iterator<Item = &str> {
    header
        .headers
        .get_all(http::header::COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
}

struct View<'a> {
    header: &'a RequestHeader,
    client: IpAddr,
}

impl RequestView for View<'_> {
    fn host(&self) -> Option<&str> {
        host_of(self.header)
    }
    fn path(&self) -> &str {
        self.header.uri.path()
    }
    fn method(&self) -> &str {
        self.header.method.as_str()
    }
    fn query(&self) -> Option<&str> {
        self.header.uri.query()
    }
    fn source_ip(&self) -> IpAddr {
        self.client
    }
    fn any_header(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        self.header
            .headers
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(&mut *pred))
    }
}

fn host_of(header: &RequestHeader) -> Option<&str> {
    header
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| header.uri.authority().map(|a| a.as_str()))
}

/// ALB's limits (load-balancer-troubleshooting): 414 for a URI or query over 16 KB, 400 for a header
/// over 16 KB or for headers over 64 KB in all.
const MAX_FIELD: usize = 16 * 1024;
const MAX_HEADERS_TOTAL: usize = 64 * 1024;

fn too_large(header: &RequestHeader) -> Option<(u16, &'static str, &'static str)> {
    let uri = header
        .uri
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if uri > MAX_FIELD {
        return Some((414, "Request-URI Too Large", "the URI is longer than 16 KB"));
    }
    let mut total = 0;
    for (name, value) in &header.headers {
        let field = name.as_str().len() + value.len();
        if field > MAX_FIELD {
            return Some((400, "Bad Request", "a request header is larger than 16 KB"));
        }
        // As on the wire: `name: value` and its line end.
        total += field + 4;
    }
    (total > MAX_HEADERS_TOTAL).then_some((
        400,
        "Bad Request",
        "the request headers are larger than 64 KB in all",
    ))
}

fn client_ip(session: &Session) -> IpAddr {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

impl ListenerProxy {
    /// A forward action: the target group (by weight or its stickiness cookie), then the target
    /// (by algorithm or the target's stickiness cookie). Ok(true) when the request was answered.
    async fn forward(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        forward: &Forward,
    ) -> Result<bool> {
        let state = ctx.state.clone();
        let header = session.req_header();
        let routed = select::route(&state.groups, forward, &self.zone, |name| {
            sticky::find(cookie_values(header), name)
        });
        match routed {
            Ok(routed) => {
                let group = state.groups.groups.get(routed.group).map(|g| &g.config);
                let version = group.map_or(ProtocolVersion::HTTP1, |g| g.protocol_version);
                let request = ferry_config::grpc::Request {
                    http2: header.version == http::Version::HTTP_2,
                    content_type: header
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .map(|v| v.as_bytes()),
                };
                if let Some(why) = ferry_config::grpc::mismatch(request, version) {
                    // ALB's 464, before any target sees the request.
                    respond::error(session, &state.listener.response_headers, 464, "", why).await?;
                    return Ok(true);
                }
                ctx.set_cookies = routed.set_cookies;
                ctx.in_flight = Some(InFlight::start(routed.target.clone()));
                ctx.target_h2 = version != ProtocolVersion::HTTP1;
                ctx.target_tls =
                    group.is_some_and(|g| g.protocol == ferry_config::spec::TargetProtocol::HTTPS);
                ctx.target = Some((routed.group, routed.target));
                Ok(false)
            }
            Err(Unrouted::NoGroup) => Err(Error::explain(
                ErrorType::InternalError,
                "forward action without target groups",
            )),
            Err(Unrouted::NoTarget(why)) => {
                respond::error(
                    session,
                    &ctx.state.listener.response_headers,
                    503,
                    "Service Temporarily Unavailable",
                    &why,
                )
                .await?;
                Ok(true)
            }
        }
    }
}

impl ListenerProxy {
    /// The end of a request: its metrics and its access log line.
    fn observe(&self, session: &Session, ctx: &Ctx) {
        let group = ctx
            .target
            .as_ref()
            .and_then(|(g, _)| ctx.state.groups.groups.get(*g))
            .map(|g| g.config.name.as_str());
        let status = session.response_written().map(|r| r.status.as_u16());
        let target_time = ctx
            .log
            .forwarded
            .zip(ctx.log.answered)
            .map(|(sent, answered)| answered.saturating_duration_since(sent));
        crate::metrics::request(crate::metrics::Finished {
            load_balancer: &ctx.state.lb.name,
            zone: &self.zone,
            target_group: group.unwrap_or("-"),
            status,
            target_response: target_time,
            received: session.body_bytes_read(),
            sent: session.body_bytes_sent(),
        });
        if crate::access_log::enabled() {
            let target = ctx.target.as_ref().map(|(_, t)| t.address);
            let entry = crate::access_log::entry(
                session,
                &ctx.log,
                crate::access_log::Node {
                    kind: self.protocol,
                    load_balancer: &ctx.state.lb.name,
                    port: ctx.state.listener.port,
                    target,
                    target_group: group,
                },
            );
            crate::access_log::log(&entry);
        }
    }
}

#[async_trait]
impl ProxyHttp for ListenerProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            state: self.state.load_full(),
            _in_flight: ferry_config::drain::Guard::start(),
            target: None,
            target_tls: false,
            target_h2: false,
            in_flight: None,
            drain_cut: None,
            set_cookies: Vec::new(),
            close_upstream: false,
            log: Default::default(),
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        ctx.log.started = Some(std::time::Instant::now());
        ctx.log.created = Some(std::time::SystemTime::now());
        // ALB closes a client connection on which no data moves for the idle timeout: a body
        // that stalls, or a client that stops reading its response.
        let idle = Some(ctx.state.lb.idle_timeout);
        session.as_downstream_mut().set_read_timeout(idle);
        session.as_downstream_mut().set_write_timeout(idle);
        // A client that half-closes after its request still gets its answer, as from ALB.
        session.as_downstream_mut().set_abort_on_close(false);
        if let Some((status, reason, why)) = too_large(session.req_header()) {
            respond::error(
                session,
                &ctx.state.listener.response_headers,
                status,
                reason,
                why,
            )
            .await?;
            return Ok(true);
        }
        if let Some(why) = malformed(session.req_header()) {
            session.set_keepalive(None);
            respond::error(
                session,
                &ctx.state.listener.response_headers,
                400,
                "Bad Request",
                &why,
            )
            .await?;
            return Ok(true);
        }
        if session.req_header().method.as_str() == "TRACE" {
            // ALB answers TRACE itself (load-balancer-troubleshooting: "HTTP 405").
            respond::error(
                session,
                &ctx.state.listener.response_headers,
                405,
                "Method Not Allowed",
                "the TRACE method is not supported",
            )
            .await?;
            return Ok(true);
        }
        let verdict = classify(session, ctx.state.desync);
        if verdict.classification != desync::Classification::Compliant {
            ctx.log.classification = Some((verdict.classification.as_str(), verdict.reason));
        }
        match desync::outcome(ctx.state.desync, &verdict) {
            Outcome::Forward => {}
            Outcome::ForwardAndClose => {
                // Ambiguous framing in defensive mode: served, then both connections closed.
                session.set_keepalive(None);
                ctx.close_upstream = true;
            }
            Outcome::Reject => {
                session.set_keepalive(None);
                respond::error(
                    session,
                    &ctx.state.listener.response_headers,
                    400,
                    "Bad Request",
                    "the request's framing is ambiguous (HTTP desync mitigation)",
                )
                .await?;
                return Ok(true);
            }
        }
        let xff_addresses: usize = session
            .req_header()
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes().split(|b| *b == b',').count())
            .sum();
        if xff_addresses > MAX_XFF_ADDRESSES {
            let why = format!(
                "X-Forwarded-For lists {xff_addresses} addresses; the limit is {MAX_XFF_ADDRESSES}"
            );
            respond::error(session, &ctx.state.listener.response_headers, 463, "", &why).await?;
            return Ok(true);
        }
        let client = client_ip(session);
        let state = ctx.state.clone();
        let action = {
            let view = View {
                header: session.req_header(),
                client,
            };
            rules::matched(&state.listener, &view)
        };
        let (priority, action) = action;
        ctx.log.rule_priority = Some(priority);
        ctx.log.action = Some(match action {
            Action::Forward(_) => "forward",
            Action::Redirect(_) => "redirect",
            Action::FixedResponse(_) => "fixed-response",
        });
        match action {
            Action::FixedResponse(fixed) => {
                let mut headers = Vec::new();
                if let Some(t) = &fixed.content_type {
                    headers.push(("Content-Type", t.as_str()));
                }
                respond::send(
                    session,
                    &ctx.state.listener.response_headers,
                    fixed.status,
                    &headers,
                    Bytes::from(fixed.body.clone()),
                )
                .await?;
                Ok(true)
            }
            Action::Redirect(r) => {
                let header = session.req_header();
                let host = host_of(header).map(rules::host_without_port).unwrap_or("");
                let port = session
                    .server_addr()
                    .and_then(|a| a.as_inet())
                    .map(|a| a.port())
                    .unwrap_or(ctx.state.listener.port);
                let original = Original {
                    protocol: if self.protocol == "https" {
                        "HTTPS"
                    } else {
                        "HTTP"
                    },
                    host,
                    port,
                    path: header.uri.path(),
                    query: header.uri.query().unwrap_or(""),
                };
                let location = redirect::location(r, &original);
                ctx.log.redirect_url = Some(location.clone());
                respond::send(
                    session,
                    &ctx.state.listener.response_headers,
                    r.status,
                    &[("Location", location.as_str())],
                    Bytes::new(),
                )
                .await?;
                Ok(true)
            }
            Action::Forward(forward) => self.forward(session, ctx, forward).await,
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let address = ctx
            .target
            .as_ref()
            .map(|(_, t)| t.address)
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target chosen"))?;
        ctx.log.forwarded = Some(std::time::Instant::now());
        // An HTTPS target as ALB speaks to it: TLS, no SNI (an address as the name sends none),
        // its certificate not verified.
        let tls = ctx.target_tls;
        let name = if tls {
            address.ip().to_string()
        } else {
            String::new()
        };
        let mut peer = HttpPeer::new(address, tls, name);
        if tls {
            peer.options.verify_cert = false;
            peer.options.verify_hostname = false;
        }
        if ctx.target_h2 {
            // HTTP/2 only, as ALB's HTTP/2 and gRPC groups: by ALPN over TLS, with prior
            // knowledge (h2c) in the clear.
            peer.options.alpn = pingora::protocols::ALPN::H2;
        }
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.read_timeout = Some(ctx.state.lb.idle_timeout);
        peer.options.write_timeout = Some(ctx.state.lb.idle_timeout);
        peer.options.idle_timeout = Some(ctx.state.lb.idle_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let client = client_ip(session);
        let port = session
            .server_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.port())
            .unwrap_or(ctx.state.listener.port);
        if ctx.close_upstream {
            upstream_request.insert_header(http::header::CONNECTION, "close")?;
        }
        if !ctx.state.lb.preserve_host_header {
            let host = upstream_request
                .headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|host| forwarded::target_host(host, port, self.protocol));
            if let Some(host) = host {
                upstream_request.insert_header(http::header::HOST, host)?;
            }
        }
        let trace_id = self.trace_ids.next();
        if ctx.state.lb.drop_invalid_header_fields {
            forwarded::drop_invalid_headers(upstream_request);
        }
        let client_port = if ctx.state.lb.xff_client_port {
            session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.port())
        } else {
            None
        };
        let applied = forwarded::apply(
            upstream_request,
            ctx.state.lb.xff_mode,
            Some(client),
            client_port,
            self.protocol,
            port,
            &trace_id,
        );
        if let Some(names) = &ctx.state.listener.tls_headers {
            if let Some(ssl) = session.digest().and_then(|d| d.ssl_digest.as_ref()) {
                let (version, cipher) = ferry_config::tls::log_names(&ssl.version, &ssl.cipher);
                upstream_request.insert_header(names.version.clone(), version)?;
                upstream_request.insert_header(names.cipher_suite.clone(), cipher)?;
            }
        }
        ctx.log.trace_id = upstream_request
            .headers
            .get("x-amzn-trace-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(Some(trace_id));
        applied
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if ctx.target.is_some() {
            // A target's response (the balancer's own answers do not come through here).
            ctx.log.answered = Some(std::time::Instant::now());
            ctx.log.target_status = Some(response.status.as_u16());
        }
        if let Some((g, target)) = &ctx.target {
            if let Some(group) = ctx.state.groups.groups.get(*g) {
                let set = response.headers.get_all(http::header::SET_COOKIE);
                if let Some(cookie) =
                    select::app_cookie(group, target, set.iter().map(|v| v.as_bytes()))
                {
                    ctx.set_cookies.push(cookie);
                }
            }
        }
        for cookie in ctx.set_cookies.drain(..) {
            response.append_header(http::header::SET_COOKIE, cookie)?;
        }
        respond::edit(response, &ctx.state.listener.response_headers)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        fd: std::os::unix::io::RawFd,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // ALB cuts the requests in flight to a target whose deregistration delay is over.
        ctx.drain_cut = ctx
            .target
            .as_ref()
            .and_then(|(_, target)| crate::targets::drain_cut(target, fd));
        Ok(())
    }

    async fn logging(&self, session: &mut Session, error: Option<&Error>, ctx: &mut Ctx) {
        if let Some((_, target)) = &ctx.target {
            let status = session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0);
            target.record(error.is_some() || status >= 500);
        }
        ctx.in_flight = None;
        ctx.drain_cut = None;
        self.observe(session, ctx);
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        _ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        // ALB does not retry a request on another target.
        e.set_retry(false);
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        if session.response_written().is_some() {
            // Mid-body: the only honest signal left is closing the connection.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        // A target waiting for the rest of a body the client stopped sending times out with it:
        // ALB's idle timer on the client's side answers that (408), not a 504 for the target.
        let client_stalled = e.etype() == &ErrorType::ReadTimedout && !session.is_body_done();
        let code = if e.esource() == &ErrorSource::Downstream || client_stalled {
            let (status, reason, why) = match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                    (0, "", "")
                }
                // ALB's 408: "Client did not send data before the idle timeout period expired".
                ErrorType::ReadTimedout => (
                    408,
                    "Request Timeout",
                    "the client sent nothing for the idle timeout",
                ),
                _ => (400, "Bad Request", "the client's request could not be read"),
            };
            if status == 0 {
                0
            } else {
                tracing::info!(load_balancer = %ctx.state.lb.name, zone = %self.zone, status, "{why}");
                let sent = respond::error(
                    session,
                    &ctx.state.listener.response_headers,
                    status,
                    reason,
                    why,
                )
                .await;
                if sent.is_ok() {
                    status
                } else {
                    0
                }
            }
        } else {
            let (status, reason, mut what) = errors::classify(e);
            if ctx.target.as_ref().is_some_and(|(_, t)| t.drain_over()) {
                // Cut by `targets::drain_cut`, as ALB cuts a drained target's requests.
                what = TargetState::DRAIN_OVER.into();
            }
            let group = ctx.target.as_ref().and_then(|(g, t)| {
                ctx.state
                    .groups
                    .groups
                    .get(*g)
                    .map(|group| (group.config.name.as_str(), t.address))
            });
            let why = match group {
                Some((name, addr)) => format!("target group \"{name}\": target {addr}: {what}"),
                None => what,
            };
            tracing::warn!(load_balancer = %ctx.state.lb.name, zone = %self.zone, status, "{why}");
            if respond::error(
                session,
                &ctx.state.listener.response_headers,
                status,
                reason,
                &why,
            )
            .await
            .is_err()
            {
                0
            } else {
                status
            }
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }
}
