//! The edge's fast path for what it forwards without caching: an HTTP/1.1 `GET`, `HEAD` or
//! `OPTIONS` without a body, on a behavior whose cache policy stores nothing (CachingDisabled, the
//! usual API behavior), to a custom origin over HTTP. The hit fast path
//! ([`crate::fast_hit::FastHits`]) hands it the requests it does not answer from the store.
//! [`Forwards`] makes the origin request as the proxy's `upstream_request_filter` makes it (the
//! policies' headers, cookies and query strings, Host, User-Agent, the origin path and custom
//! headers, X-Forwarded-For, Via, X-Amz-Cf-Id), sends it over a kept-alive connection of its own
//! (`ferry_guard::relay`) with the origin's timeouts and connection attempts, and relays the
//! response with what the proxy's response filters do to it (Set-Cookie and Vary as CloudFront
//! treats them, CloudFront's headers), or CloudFront's error page when the origin cannot be
//! reached or does not answer in time.
//!
//! Every other request goes through pingora with the bytes already read: a body, another method or
//! version, a behavior that caches, an origin group (failover), an HTTPS origin, custom error
//! pages, a response headers policy with Server-Timing, signed URLs, geo restriction, CloudFront-*
//! headers, cache-key compression, an access log to write, a name that does not resolve. The
//! decision is made before anything is sent, so that no request reaches an origin twice.

use crate::caching;
use crate::ids::IdSource;
use crate::proxy::EdgeState;
use crate::response_policy::FieldList;
use arc_swap::ArcSwap;
use bytes::BytesMut;
use ferry_config::model::{Behavior, Distribution, Origin, OriginTarget};
use ferry_config::origin_request;
use ferry_config::rules::header_text;
use ferry_config::spec::{OriginProtocolPolicy, ViewerProtocolPolicy};
use ferry_guard::front::{Served, KEEPALIVE, MAX_HEAD};
use ferry_guard::relay::{self, Failed, Response, Timeouts};
use ferry_guard::upstream::Pool;
use ferry_guard::wire::{copy_fields, crlf_only, put_field, put_unfolded};
use ferry_guard::Timed;
use pingora::cache::CachePhase;
use pingora::ErrorType;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The most header lines of a request this path parses: more go to pingora.
const MAX_HEADERS: usize = 64;

/// The edge's forwards without caching (see the module's comment), with their own connections to
/// origins.
#[derive(Default)]
pub struct Forwards {
    pool: Pool,
    /// Spreads requests over a name's addresses, as the proxy's rotation does.
    rotation: AtomicUsize,
}

/// Whether the fast forwards are on: `FERRY_FAST_FORWARDS=0` (or `off`) turns them off, on the
/// edge as on the balancer, to compare with pingora's path or to rule it out.
pub fn enabled_by_env() -> bool {
    ferry_guard::front::enabled_by_env("FERRY_FAST_FORWARDS")
}

/// What a connection's forwards need: the viewer's address and scheme, and the buffers.
pub struct Conn {
    client: Option<IpAddr>,
    https: bool,
    bufs: relay::Buffers,
}

impl Conn {
    /// `None` when this connection's requests are not forwarded here: with an access log, which
    /// pingora's path writes.
    pub(crate) fn of(conn: &Timed) -> Option<Conn> {
        use pingora::protocols::{GetSocketDigest, Ssl};
        if crate::access_log::enabled() {
            return None;
        }
        let client = conn
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        Some(Conn {
            client,
            https: conn.get_ssl_digest().is_some(),
            bufs: relay::Buffers::default(),
        })
    }
}

/// Whether any behavior of `distributions` can have requests forwarded here.
pub(crate) fn possible(distributions: &[Arc<Distribution>]) -> bool {
    distributions.iter().any(|d| {
        d.behaviors.iter().any(|b| {
            [false, true]
                .iter()
                .any(|&https| origin(d, b, "GET", https).is_some())
        })
    })
}

/// The origin a request with `method` on `behavior` goes to, when this path forwards it: the
/// behavior allows the method and does not cache it, and nothing the proxy does beyond the origin
/// request and CloudFront's headers applies (see the module's comment).
fn origin<'d>(
    distribution: &'d Distribution,
    behavior: &Behavior,
    method: &str,
    https: bool,
) -> Option<&'d Origin> {
    let policy = &behavior.cache_policy;
    let method_ok = behavior
        .allowed_methods
        .iter()
        .any(|m| m.as_str() == method)
        && method
            .parse()
            .is_ok_and(|m| !caching::enabled(behavior, &m));
    let plain = https || behavior.viewer_protocol_policy == ViewerProtocolPolicy::AllowAll;
    let fast = method_ok
        && plain
        && !policy.gzip
        && !policy.brotli
        && distribution.geo_restriction.is_none()
        && distribution
            .custom_error_responses
            .iter()
            .all(|e| e.response_page_path.is_none())
        && behavior.trusted_keys.is_none()
        // A policy with Server-Timing times the request: pingora's path does.
        && behavior.response_headers_policy.as_deref().is_none_or(|p| {
            p.policy
                .server_timing_headers_config
                .as_ref()
                .is_none_or(|t| !t.enabled)
        })
        && ferry_config::viewer_headers::to_origin(behavior)
            .next()
            .is_none();
    let OriginTarget::Origin(index) = behavior.target else {
        return None;
    };
    // A response completion timeout is kept by pingora's path (`CompletionCut`).
    let origin = distribution
        .origins
        .get(index)
        .filter(|o| fast && o.response_completion.is_none())?;
    let tls = match origin.protocol_policy {
        OriginProtocolPolicy::HttpOnly => false,
        OriginProtocolPolicy::HttpsOnly => true,
        OriginProtocolPolicy::MatchViewer => https,
    };
    (!tls).then_some(origin)
}

/// A request head this path may forward.
struct Request<'h> {
    method: &'h str,
    path: &'h str,
    query: Option<&'h str>,
    host: &'h str,
    forwarded_for: Option<&'h str>,
    headers: &'h [httparse::Header<'h>],
    /// The head as received.
    raw: &'h [u8],
}

impl<'h> Request<'h> {
    /// `None` for any request pingora's path must see: another method or version, a target that
    /// is not origin-form or that the edge refuses, one over CloudFront's URL limit, a body or its
    /// announcement, a connection that ends or changes protocol, hop-by-hop fields, a second Host
    /// or X-Forwarded-For, CloudFront-* headers (which the edge replaces), the edge's own page
    /// fetches, control bytes in a value, or a bare LF.
    fn of<'b: 'h>(parsed: &'h httparse::Request<'_, 'b>, raw: &'h [u8]) -> Option<Request<'h>> {
        let method = parsed.method?;
        if parsed.version != Some(1) || !matches!(method, "GET" | "HEAD" | "OPTIONS") {
            return None;
        }
        let (path, query) = crate::proxy::fast_target(method, parsed.path?)?;
        let (mut host, mut forwarded_for) = (None, None);
        let headers: &'h [httparse::Header<'b>] = parsed.headers;
        for h in headers {
            let name = h.name;
            let once = |slot: &mut Option<&'h str>| {
                if slot.is_some() {
                    return false;
                }
                *slot = header_text(h.value);
                slot.is_some()
            };
            let fine = ferry_config::desync::clean_value(h.value)
                && if name.eq_ignore_ascii_case("host") {
                    once(&mut host)
                } else if name.eq_ignore_ascii_case("x-forwarded-for") {
                    once(&mut forwarded_for)
                } else if name.eq_ignore_ascii_case("connection") {
                    h.value.trim_ascii().eq_ignore_ascii_case(b"keep-alive")
                } else {
                    !ferry_guard::wire::refused_field(name)
                        && !name.eq_ignore_ascii_case(crate::error_pages::INTERNAL_HEADER)
                        && !ferry_config::viewer_headers::is_cloudfront_header(name)
                };
            if !fine {
                return None;
            }
        }
        if !crlf_only(raw) {
            return None;
        }
        Some(Request {
            method,
            path,
            query,
            host: host?,
            forwarded_for,
            headers,
            raw,
        })
    }

    /// The text values of the fields called `name`, in order (as the proxy's header map gives
    /// them to the response headers policy).
    fn values(&self, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| header_text(h.value))
    }
}

/// What `f` makes of `name` in lowercase (on the stack when short, as header names usually are).
fn with_lowercase<T>(name: &str, f: impl FnOnce(&str) -> T) -> T {
    let mut buf = [0u8; 64];
    match buf.get_mut(..name.len()) {
        Some(lower) => {
            lower.copy_from_slice(name.as_bytes());
            lower.make_ascii_lowercase();
            // Lowercasing ASCII letters keeps UTF-8 valid: the fallback is not reached.
            f(std::str::from_utf8(lower).unwrap_or_default())
        }
        None => f(&name.to_ascii_lowercase()),
    }
}

/// Where a request goes: its distribution, behavior and origin, its id and method, and what a
/// response headers policy sees of it.
struct Route<'s> {
    state: &'s EdgeState,
    distribution: &'s Distribution,
    behavior: &'s Behavior,
    origin: &'s Origin,
    request_id: String,
    method: &'s str,
    head_only: bool,
    /// What the behavior's response headers policy sees of the request.
    viewer: ferry_config::response_headers::Viewer<'s>,
}

impl Forwards {
    /// Forwards the request at the start of `buf`, or says why not.
    pub(crate) async fn serve(
        &self,
        (state, ids): (&ArcSwap<EdgeState>, &IdSource),
        conn: &mut Timed,
        cx: &mut Conn,
        buf: &[u8],
        stopping: bool,
    ) -> Served {
        let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut []);
        let raw = match parsed.parse_with_uninit_headers(buf, &mut headers) {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => &buf[..n],
            Ok(httparse::Status::Partial) => return Served::Incomplete,
            // Too large, malformed or too many fields: pingora answers as its parser sees it.
            _ => return Served::HandOver,
        };
        let Some(request) = Request::of(&parsed, raw) else {
            return Served::HandOver;
        };
        if stopping {
            // pingora says in its response that the connection closes.
            return Served::HandOver;
        }
        let state = state.load_full();
        let Some(host) = crate::proxy::host_of(Some(Some(request.host)), None) else {
            return Served::HandOver;
        };
        let Some(distribution) = state
            .hosts
            .lookup(&host)
            .and_then(|i| state.distributions.get(i))
        else {
            return Served::HandOver;
        };
        let behavior = distribution.behavior_for(request.path);
        let Some(origin) = origin(distribution, behavior, request.method, cx.https) else {
            return Served::HandOver;
        };
        let addresses = match state.resolver.lookup(&origin.domain_name).await {
            Ok(a) if !a.is_empty() => a,
            // pingora's path answers with its error page.
            _ => return Served::HandOver,
        };
        // Only a response headers policy looks at these.
        let policy = behavior.response_headers_policy.is_some();
        let pragma = match policy {
            true => request.values("pragma").collect::<Vec<_>>().join(","),
            false => String::new(),
        };
        let first = |name| request.values(name).next().filter(|_| policy);
        let route = Route {
            state: &state,
            distribution,
            behavior,
            origin,
            request_id: ids.request_id(),
            method: request.method,
            head_only: request.method == "HEAD",
            viewer: ferry_config::response_headers::Viewer {
                method: request.method,
                origin: first("origin"),
                access_control_request_method: first("access-control-request-method"),
                pragma: (!pragma.is_empty()).then_some(pragma.as_str()),
            },
        };
        if !origin_request(&mut cx.bufs.request, &request, &route, cx.client) {
            return Served::HandOver;
        }
        // From here the request is this path's.
        let _in_flight = ferry_config::drain::Guard::start();
        crate::metrics::fast_forward();
        let served = self.forward(conn, cx, &route, &addresses, raw.len()).await;
        cx.bufs.recycle();
        served
    }

    /// Sends the request, with the origin's connection attempts, and relays the answer.
    async fn forward(
        &self,
        conn: &mut Timed,
        cx: &mut Conn,
        route: &Route<'_>,
        addresses: &[IpAddr],
        head: usize,
    ) -> Served {
        let origin = route.origin;
        let timeouts = Timeouts {
            connect: origin.connection_timeout,
            read: origin.read_timeout,
            idle: origin.keepalive_timeout,
            client: KEEPALIVE,
        };
        let base = self.rotation.fetch_add(1, Ordering::Relaxed);
        let cookies_forwarded = origin_request::policy_forwards(route.behavior, "cookie");
        let mut client_head = |out: &mut BytesMut,
                               raw: &[u8],
                               parsed: &httparse::Response<'_, '_>,
                               response: &Response| {
            viewer_head(out, raw, parsed, response, route, cookies_forwarded)
        };
        let mut attempt: usize = 0;
        let (address, started, (mut upstream, response)) = loop {
            let ip = addresses[(base + attempt) % addresses.len()];
            let address = SocketAddr::new(ip, origin.http_port);
            // The origin's latency, as the proxy's metric has it: from this attempt on.
            let started = Instant::now();
            let exchanged = relay::exchange(
                &self.pool,
                (address, &mut *conn),
                &timeouts,
                &mut cx.bufs,
                // pingora's path sends no other method again on a fresh connection.
                (route.head_only, route.method_retries()),
                &mut client_head,
            )
            .await;
            let failed = match exchanged {
                Ok(got) => break (address, started, got),
                Err(failed) => failed,
            };
            if cx.bufs.sent_interim {
                // The viewer has an interim response: as pingora's path, cut the connection.
                tracing::warn!(request_id = %route.request_id, origin = %origin.id, %address, "origin response cut short: {}", failed.0.as_str());
                // Counted as every request is, with no final status.
                crate::metrics::request(crate::metrics::Finished {
                    distribution: &route.distribution.id,
                    behavior: crate::metrics::behavior_label(route.behavior),
                    status: None,
                    cache_result: crate::access_log::result_type(None),
                    bytes_in: 0,
                    bytes_out: 0,
                    origin: None,
                });
                return Served::Close;
            }
            attempt += 1;
            // As the proxy's `fail_to_connect` and `error_while_proxy`: a failed connection, and
            // a read timeout on GET and HEAD, are tried again up to the connection attempts.
            let again = failed.connecting()
                || (failed.0 == ErrorType::ReadTimedout && route.method_retries());
            if !again || attempt >= origin.connection_attempts as usize {
                return fail(conn, cx, route, &failed, address).await;
            }
            tracing::info!(request_id = %route.request_id, origin = %origin.id, %address, attempt, "origin attempt failed: {}", failed.0.as_str());
        };
        let latency = started.elapsed();
        let relayed = relay::relay(&mut upstream, conn, &mut cx.bufs, &response, &timeouts).await;
        let (sent, outcome) = match relayed {
            Ok(relayed) => (relayed.sent, Some(relayed.reusable)),
            Err(sent) => (sent, None),
        };
        let x_cache = caching::x_cache(CachePhase::Miss, response.status);
        crate::metrics::request(crate::metrics::Finished {
            distribution: &route.distribution.id,
            behavior: crate::metrics::behavior_label(route.behavior),
            status: Some(response.status),
            cache_result: crate::access_log::result_type(Some(x_cache)),
            bytes_in: 0,
            bytes_out: sent,
            origin: Some((&origin.id, latency)),
        });
        match outcome {
            Some(reusable) => {
                if reusable {
                    self.pool.put(address, upstream, timeouts.idle);
                }
                Served::Answered(head)
            }
            None => Served::Close,
        }
    }
}

impl Route<'_> {
    /// Whether a read timeout is tried again: on GET and HEAD, as pingora's path does.
    fn method_retries(&self) -> bool {
        matches!(self.method, "GET" | "HEAD")
    }
}

/// The request to the origin, in `out`, as the proxy's `upstream_request_filter` makes it: the
/// viewer headers the policies forward, Host (the origin's unless forwarded), the forwarded
/// cookies, User-Agent (CloudFront's unless forwarded), the origin path, default root object and
/// forwarded query string, the origin's custom headers, X-Forwarded-For, Connection, Via and
/// X-Amz-Cf-Id. `false` when the target it makes is not one pingora's path would send.
fn origin_request(
    out: &mut BytesMut,
    request: &Request<'_>,
    route: &Route<'_>,
    client: Option<IpAddr>,
) -> bool {
    let (behavior, origin) = (route.behavior, route.origin);
    out.clear();
    out.extend_from_slice(request.method.as_bytes());
    out.extend_from_slice(b" ");
    let start = out.len();
    out.extend_from_slice(origin.origin_path.as_bytes());
    match (&route.distribution.default_root_object, request.path) {
        (Some(root), "/") => {
            out.extend_from_slice(b"/");
            out.extend_from_slice(root.as_bytes());
        }
        _ => out.extend_from_slice(request.path.as_bytes()),
    }
    if let Some(query) = origin_request::forwarded_query(behavior, request.query) {
        out.extend_from_slice(b"?");
        out.extend_from_slice(query.as_bytes());
    }
    if http::uri::PathAndQuery::try_from(&out[start..]).is_err() {
        return false;
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let keep_host = origin_request::policy_forwards(behavior, "host");
    let custom = |name: &str| {
        origin
            .custom_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    copy_fields(
        request.raw,
        request.headers,
        out,
        |h| {
            with_lowercase(h.name, |lower| {
                origin_request::forwards(behavior, lower, request.method)
                    && !matches!(lower, "cookie" | "x-forwarded-for" | "via")
                    && (keep_host || lower != "host")
                    && !custom(lower)
            })
        },
        |_, _| {},
    );
    if !keep_host && !custom("host") {
        put_field(out, b"Host", origin.domain_name.as_bytes());
    }
    let cookies: Vec<&str> = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .filter_map(|h| header_text(h.value))
        .collect();
    if let Some(cookie) = origin_request::forwarded_cookies(behavior, &cookies) {
        if !custom("cookie") {
            put_field(out, b"Cookie", cookie.as_bytes());
        }
    }
    if !origin_request::policy_forwards(behavior, "user-agent") && !custom("user-agent") {
        put_field(out, b"User-Agent", b"Amazon CloudFront");
    }
    // The headers the edge sets after the custom ones replace any of the same name.
    let mut forwarded_for = request.forwarded_for;
    for (name, value) in &origin.custom_headers {
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(value.as_str());
        } else if !["connection", "via", "x-amz-cf-id"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            put_field(out, name.as_bytes(), value.as_bytes());
        }
    }
    match (client, forwarded_for) {
        (Some(ip), existing) => {
            out.extend_from_slice(b"X-Forwarded-For: ");
            if let Some(existing) = existing.filter(|v| !v.is_empty()) {
                out.extend_from_slice(existing.as_bytes());
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(ip.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        (None, Some(existing)) => put_field(out, b"X-Forwarded-For", existing.as_bytes()),
        (None, None) => {}
    }
    put_field(out, b"Connection", b"Keep-Alive");
    put_field(out, b"Via", route.state.via_header.as_bytes());
    put_field(out, b"X-Amz-Cf-Id", route.request_id.as_bytes());
    out.extend_from_slice(b"\r\n");
    true
}

/// The response head the viewer gets for the origin's, as the proxy's filters and pingora's
/// session make it: the origin's fields less Set-Cookie when cookies are not forwarded, Vary as
/// CloudFront keeps it, CloudFront's headers in place of any the origin sent, and for a final
/// response pingora's Date and Connection and chunked framing for a body read to its end.
fn viewer_head(
    out: &mut BytesMut,
    raw: &[u8],
    parsed: &httparse::Response<'_, '_>,
    response: &Response,
    route: &Route<'_>,
    cookies_forwarded: bool,
) {
    let vary = caching::kept_vary(
        route.behavior,
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("vary"))
            .filter_map(|h| header_text(h.value)),
    );
    let vary_rewritten = vary.is_some();
    let drop = |name: &str| {
        ["x-cache", "via", "x-amz-cf-pop", "x-amz-cf-id"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
            || (!cookies_forwarded && name.eq_ignore_ascii_case("set-cookie"))
            || (vary_rewritten && name.eq_ignore_ascii_case("vary"))
    };
    // pingora's session adds no Date or Connection to an interim (1xx) response.
    let interim = (100..200).contains(&response.status);
    let vary = vary.filter(|v| !v.is_empty());
    let dated = if let Some(policy) = route.behavior.response_headers_policy.as_deref() {
        // The policy edits the fields as a list; pingora's Date then takes the place of any.
        relay::put_status_line(out, response.status, parsed.reason);
        let framing = |name: &str| {
            !interim
                && (name.eq_ignore_ascii_case("connection")
                    || name.eq_ignore_ascii_case("date")
                    || (response.coded && name.eq_ignore_ascii_case("content-length")))
        };
        let mut fields = FieldList(
            parsed
                .headers
                .iter()
                .filter(|h| !drop(h.name) && !framing(h.name))
                .map(|h| (h.name.to_string(), h.value.to_vec()))
                .collect(),
        );
        if let Some(vary) = vary {
            fields.0.push(("Vary".to_string(), vary.into_bytes()));
        }
        let ids = (route.state.pop.as_str(), route.request_id.as_str());
        crate::response_policy::apply_to_list(policy, &route.viewer, ids, &mut fields);
        for (name, value) in &fields.0 {
            if interim || !name.eq_ignore_ascii_case("date") {
                put_unfolded(out, name.as_bytes(), value);
            }
        }
        interim
    } else {
        let dated = if interim {
            relay::put_status_line(out, response.status, parsed.reason);
            copy_fields(raw, parsed.headers, out, |h| !drop(h.name), |_, _| {});
            true
        } else {
            relay::status_and_fields(out, raw, parsed, response, drop)
        };
        if let Some(vary) = vary {
            put_field(out, b"Vary", vary.as_bytes());
        }
        dated
    };
    if response.body == relay::Body::UntilClose {
        put_field(out, b"Transfer-Encoding", b"chunked");
    }
    let x_cache = caching::x_cache(CachePhase::Miss, response.status);
    put_field(out, b"X-Cache", x_cache.as_bytes());
    put_field(out, b"Via", route.state.via_header.as_bytes());
    put_field(out, b"X-Amz-Cf-Pop", route.state.pop_header.as_bytes());
    put_field(out, b"X-Amz-Cf-Id", route.request_id.as_bytes());
    if interim {
        out.extend_from_slice(b"\r\n");
    } else {
        relay::end_head(out, dated);
    }
}

/// CloudFront's error page for a forward that got no response (as the proxy's `fail_to_proxy`
/// writes it: 504 when the origin did not answer in time, 502 otherwise), then the connection
/// closes.
async fn fail(
    conn: &mut Timed,
    cx: &mut Conn,
    route: &Route<'_>,
    failed: &Failed,
    address: SocketAddr,
) -> Served {
    let kind = &failed.0;
    let (status, reason) =
        crate::pages::origin_failure(kind, format_args!("{} (origin {address})", kind.as_str()));
    tracing::warn!(status, request_id = %route.request_id, origin = %route.origin.id, %address, "{}", kind.as_str());
    let body = crate::pages::error_page(status, &reason, &route.request_id);
    let x_cache = caching::x_cache(CachePhase::Miss, status);
    let out = &mut cx.bufs.to_client;
    out.clear();
    let written = match crate::proxy::page_head(
        status,
        x_cache,
        &[],
        body.len(),
        route.state,
        &route.request_id,
    ) {
        Ok(mut head) => {
            let date = pingora::protocols::http::date::get_cached_date();
            let dated = head.insert_header(http::header::DATE, date).is_ok()
                && head
                    .insert_header(http::header::CONNECTION, "keep-alive")
                    .is_ok();
            ferry_guard::front::put_head(out, &head);
            if !route.head_only {
                out.extend_from_slice(&body);
            }
            dated && relay::write(conn, out, &[], KEEPALIVE).await.is_ok()
        }
        Err(_) => false,
    };
    crate::metrics::request(crate::metrics::Finished {
        distribution: &route.distribution.id,
        behavior: crate::metrics::behavior_label(route.behavior),
        status: written.then_some(status),
        cache_result: crate::access_log::result_type(Some(x_cache)),
        bytes_in: 0,
        bytes_out: if written && !route.head_only {
            body.len()
        } else {
            0
        },
        origin: None,
    });
    ferry_guard::front::close(conn).await;
    Served::Close
}
