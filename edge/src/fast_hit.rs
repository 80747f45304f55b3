//! The edge's fast path for the commonest request of all: an HTTP/1.1 `GET` of a fresh cached
//! object. [`FastHits`] sits between the head deadline and pingora's HTTP app, reads each request
//! head itself and answers such hits straight from the store, with the bytes pingora's hit path
//! would have written (the response head is made once per object through pingora's own header
//! code, [`Template`]), without pingora's session, request header maps or cache state machine.
//! Every other request — another method or version, a body, a range or a condition, a signed URL,
//! geo restriction, CloudFront-* headers, a response headers policy with CORS or Server-Timing
//! (which answer each request apart), an object that varies, is stale, is not 200 or is missing —
//! goes to the fast forwards ([`crate::fast_forward`]) when it is one they take, and otherwise
//! through pingora for that request, with the bytes already read; the connection comes back here
//! for its next one.

use crate::cache::store::{Object, Store};
use crate::caching;
use crate::ids::IdSource;
use crate::proxy::EdgeState;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferry_config::cache_key::KeySource;
use ferry_config::model::{Behavior, Distribution};
use ferry_config::spec::{Method, ViewerProtocolPolicy};
use ferry_guard::front::{put_decimal, FastPath, Served, MAX_HEAD};
use ferry_guard::Timed;
use http::header;
use pingora::http::{RequestHeader, ResponseHeader};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::AsyncWriteExt;

type Policy = ferry_config::model::NamedPolicy<ferry_config::spec::ResponseHeadersPolicy>;

/// The largest number of header lines this path parses: more go to pingora.
const MAX_HEADERS: usize = 64;

/// A body up to this size goes out in the same write as the head.
const ONE_WRITE: usize = 16 * 1024;
const READ_BUFFER: usize = 4096;

/// What the fast path reads from the edge proxy behind it.
pub(crate) struct Source {
    pub state: Arc<ArcSwap<EdgeState>>,
    pub ids: Arc<IdSource>,
    pub store: &'static Store,
}

/// The edge's fast path: fresh hits answered from the store (see the module's comment), in front
/// of pingora's app by [`ferry_guard::front::Front`].
pub struct FastHits {
    source: Source,
    markers: Markers,
    /// Whether hits are answered here (`FERRY_FAST_HITS`).
    hits: bool,
    /// What the edge forwards without caching (`None`: turned off, `FERRY_FAST_FORWARDS`).
    forwards: Option<crate::fast_forward::Forwards>,
}

impl FastHits {
    pub(crate) fn new(source: Source, hits: bool, forwards: bool) -> FastHits {
        FastHits {
            source,
            markers: Markers::new(),
            hits,
            forwards: forwards.then(crate::fast_forward::Forwards::default),
        }
    }
}

/// Whether the fast path is on: `FERRY_FAST_HITS=0` (or `off`) turns it off, to compare with
/// pingora's path or to rule it out.
pub fn enabled_by_env() -> bool {
    ferry_guard::front::enabled_by_env("FERRY_FAST_HITS")
}

/// A connection's viewer, the buffer its response heads are written into, and its forwards'.
pub struct Conn {
    viewer: Viewer,
    out: BytesMut,
    /// `None` when the fast path forwards nothing on this connection.
    forward: Option<crate::fast_forward::Conn>,
}

#[async_trait]
impl FastPath for FastHits {
    type Conn = Conn;

    fn connection(&self, conn: &Timed) -> Option<Conn> {
        let state = self.source.state.load();
        let forward = (self.forwards.is_some() && state.fast_forwards)
            .then(|| crate::fast_forward::Conn::of(conn))
            .flatten();
        ((self.hits && state.fast_hits) || forward.is_some()).then(|| Conn {
            viewer: Viewer::of(conn),
            out: BytesMut::new(),
            forward,
        })
    }

    async fn serve(&self, conn: &mut Timed, cx: &mut Conn, buf: &[u8], stopping: bool) -> Served {
        let (head, reply) = match self.answer(buf, &cx.viewer, &mut cx.out) {
            Step::Incomplete => return Served::Incomplete,
            Step::HandOver => return Served::HandOver,
            Step::Hit { head, reply } => (head, reply),
            Step::NoHit => {
                let (Some(forwards), Some(fcx)) = (&self.forwards, &mut cx.forward) else {
                    return Served::HandOver;
                };
                let source = (&*self.source.state, &*self.source.ids);
                // Boxed: the hits' future stays small (a forward's holds a parsed head).
                return Box::pin(forwards.serve(source, conn, fcx, buf, stopping)).await;
            }
        };
        if stopping {
            // A stopping server closes the connection after this request: pingora says so in
            // the response.
            cx.out.clear();
            return Served::HandOver;
        }
        let _in_flight = ferry_config::drain::Guard::start();
        let written = write(conn, &mut cx.out, &reply.body, reply.file.as_deref()).await;
        // Counted as pingora's `logging` counts a request whose viewer went away.
        reply.template.count(match written {
            Ok(()) => reply.body.len(),
            Err(_) => 0,
        });
        if let Some(logged) = reply.log {
            let (mut entry, started) = *logged;
            entry.time = Some(SystemTime::now());
            entry.time_taken = started.elapsed().as_secs_f64();
            if written.is_err() {
                // As the counters: the body is not known to have gone out.
                let body = u64::try_from(reply.body.len()).unwrap_or(u64::MAX);
                entry.sc_bytes = entry.sc_bytes.saturating_sub(body);
            }
            crate::access_log::log(&entry);
        }
        match written {
            Ok(()) => Served::Answered(head),
            Err(_) => Served::Close,
        }
    }
}

impl FastHits {
    /// What to do with the bytes read so far.
    fn answer(&self, buf: &[u8], viewer: &Viewer, out: &mut BytesMut) -> Step {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let head = match request.parse(buf) {
            // pingora's limit on a head (413) applies to a larger one.
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
            Ok(httparse::Status::Complete(_)) => return Step::HandOver,
            Ok(httparse::Status::Partial) => return Step::Incomplete,
            // pingora answers it (400, or as its parser sees it).
            Err(_) => return Step::HandOver,
        };
        let hit = Request::of(&request)
            .filter(|_| self.hits)
            .and_then(|r| self.hit(&r, viewer, out));
        match hit {
            Some(reply) => Step::Hit { head, reply },
            None => Step::NoHit,
        }
    }

    /// The hit for `request`, its response head written to `out`; `None` when pingora's path must
    /// answer it.
    fn hit(&self, request: &Request<'_>, viewer: &Viewer, out: &mut BytesMut) -> Option<Reply> {
        let started = Instant::now();
        let https = viewer.https;
        let state = self.source.state.load();
        let host = crate::proxy::host_of(Some(Some(request.host)), None)?;
        let distribution = state.distributions.get(state.hosts.lookup(&host)?)?;
        let behavior = distribution.behavior_for(request.path);
        if !fast_behavior(distribution, behavior, https) {
            return None;
        }
        let hash = caching::lookup_hash(distribution, behavior, request);
        let object = self.source.store.object(&hash)?;
        let now = SystemTime::now();
        if !object.fresh_at(now) {
            return None;
        }
        let template = self.template(&object, &state, distribution, behavior)?;
        let age = object.age_at(now);
        let id = self.source.ids.request_id();
        let date = pingora::protocols::http::date::get_cached_date();
        template.write(out, age, date.as_bytes(), id.as_bytes());
        let log = viewer.logged.as_ref().map(|logged| {
            let headers: Vec<(&str, &[u8])> =
                request.headers.iter().map(|h| (h.name, h.value)).collect();
            // As the log counts a head: its status line as 14 bytes.
            let response_head = (out.len() + 14).saturating_sub(template.status_line);
            let (content_type, content_length, range) = &template.logged;
            crate::access_log::fast_hit_entry(crate::access_log::FastHit {
                served: crate::access_log::Served {
                    edge_location: &state.pop,
                    distribution: Some(&distribution.id),
                    result_type: crate::access_log::result_type(Some(caching::x_cache(
                        pingora::cache::CachePhase::Hit,
                        200,
                    ))),
                    request_id: &id,
                    https,
                    time_taken: started.elapsed(),
                    time_to_first_byte: started.elapsed(),
                },
                client: logged.client,
                tls: logged.tls.as_ref().map(|(v, c)| (v.as_str(), c.as_str())),
                target: request.target,
                path: request.path,
                query: request.query,
                headers: &headers,
                response_head: u64::try_from(response_head).unwrap_or(u64::MAX),
                body: object.body().len(),
                content_type: content_type.as_deref(),
                content_length: *content_length,
                range: *range,
            })
        });
        Some(Reply {
            body: object.body().clone(),
            file: object.body_file().cloned(),
            template: template.clone(),
            log: log.map(|entry| Box::new((entry, started))),
        })
    }

    /// The object's template for this state and behavior, made on its first fast hit (and again
    /// after a reload changed what it holds).
    fn template(
        &self,
        object: &Object,
        state: &EdgeState,
        distribution: &Distribution,
        behavior: &Behavior,
    ) -> Option<Arc<Template>> {
        if let Some(t) = object.served.load_full() {
            if t.made_for(state, &distribution.id, behavior) {
                return t.parts.is_some().then_some(t);
            }
        }
        let made = Arc::new(Template::new(
            object,
            state,
            &distribution.id,
            behavior,
            &self.markers,
        ));
        object.served.store(Some(made.clone()));
        made.parts.is_some().then_some(made)
    }
}

enum Step {
    /// The head is not complete yet.
    Incomplete,
    HandOver,
    /// A complete head that is not a hit here (perhaps a forward).
    NoHit,
    /// A hit: the head was `head` bytes long, the response head is in the output buffer.
    Hit {
        head: usize,
        reply: Reply,
    },
}

struct Reply {
    body: Bytes,
    /// The file the body is kept in, for a send without a copy.
    file: Option<Arc<crate::cache::body_file::BodyFile>>,
    template: Arc<Template>,
    /// The access log line, when one is written, and when the request began.
    log: Option<Box<(crate::access_log::Entry, Instant)>>,
}

/// What a connection's hits need to know of its viewer.
struct Viewer {
    https: bool,
    /// What the access log needs, when one is written.
    logged: Option<Logged>,
}

struct Logged {
    client: Option<std::net::SocketAddr>,
    tls: Option<(String, String)>,
}

impl Viewer {
    fn of(conn: &Timed) -> Viewer {
        use pingora::protocols::{GetSocketDigest, Ssl};
        let ssl = conn.get_ssl_digest();
        let logged = crate::access_log::enabled().then(|| Logged {
            client: conn
                .get_socket_digest()
                .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).copied()),
            tls: ssl
                .as_ref()
                .map(|d| (d.version.to_string(), d.cipher.to_string())),
        });
        Viewer {
            https: ssl.is_some(),
            logged,
        }
    }
}

async fn write(
    conn: &mut Timed,
    out: &mut BytesMut,
    body: &Bytes,
    file: Option<&crate::cache::body_file::BodyFile>,
) -> std::io::Result<()> {
    if body.len() <= ONE_WRITE {
        out.extend_from_slice(body);
        conn.write_all(out).await?;
    } else if let Some(file) = file {
        ferry_guard::zero_copy::send_file(conn, out, file.file(), body).await?;
    } else {
        ferry_guard::front::write_both(conn, out, body).await?;
    }
    out.clear();
    if out.capacity() > 2 * READ_BUFFER {
        // Not kept for the next response: an idle connection holds no copy of the last body.
        *out = BytesMut::new();
    }
    conn.flush().await
}

/// Whether a behavior's hits can be answered here: nothing the proxy does on a hit beyond the
/// lookup and CloudFront's headers (viewer protocol policy for this scheme, signed URLs, geo
/// restriction, CloudFront-* headers for the key, a response headers policy) applies, and `GET`
/// is cached.
fn fast_behavior(distribution: &Distribution, behavior: &Behavior, https: bool) -> bool {
    let protocol_ok = https || behavior.viewer_protocol_policy == ViewerProtocolPolicy::AllowAll;
    protocol_ok
        && distribution.geo_restriction.is_none()
        && behavior.trusted_keys.is_none()
        && behavior
            .response_headers_policy
            .as_deref()
            .is_none_or(|p| per_object(&p.policy))
        && ferry_config::viewer_headers::to_origin(behavior)
            .next()
            .is_none()
        && behavior.allowed_methods.contains(&Method::GET)
        && caching::enabled(behavior, &http::Method::GET)
}

/// Whether a response headers policy adds the same headers to every hit of an object: no CORS
/// (which answers the viewer's `Origin`) and no `Server-Timing` (which times each request).
fn per_object(policy: &ferry_config::spec::ResponseHeadersPolicy) -> bool {
    policy.cors_config.is_none()
        && policy
            .server_timing_headers_config
            .as_ref()
            .is_none_or(|t| !t.enabled)
}

/// Whether any of `distributions`' behaviors can have its hits answered here (over HTTPS, the
/// most this path answers).
pub(crate) fn possible(distributions: &[Arc<Distribution>]) -> bool {
    distributions
        .iter()
        .any(|d| d.behaviors.iter().any(|b| fast_behavior(d, b, true)))
}

/// A request head this path may answer: `GET` over HTTP/1.1 of an origin-form target, with one
/// Host header and none of the headers that take a request elsewhere ([`refused_header`]).
struct Request<'a> {
    target: &'a str,
    host: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: &'a [httparse::Header<'a>],
}

impl<'a> Request<'a> {
    fn of(request: &'a httparse::Request<'a, 'a>) -> Option<Request<'a>> {
        if request.method != Some("GET") || request.version != Some(1) {
            return None;
        }
        let target = request.path?;
        let (path, query) = crate::proxy::fast_target("GET", target)?;
        let mut host = None;
        for h in request.headers.iter() {
            if h.name.eq_ignore_ascii_case("host") {
                if host.is_some() {
                    return None;
                }
                host = Some(caching::header_text(h.value)?);
            } else if refused_header(h.name, h.value) {
                return None;
            }
        }
        Some(Request {
            target,
            host: host?,
            path,
            query,
            headers: request.headers,
        })
    }
}

/// Headers whose request pingora's path answers: a body, a connection that ends or changes
/// protocol, a range or a condition on the object, the edge's own page fetches, and CloudFront-*
/// headers (which the edge replaces).
fn refused_header(name: &str, value: &[u8]) -> bool {
    const REFUSED: &[&str] = &[
        "content-length",
        "transfer-encoding",
        "upgrade",
        "expect",
        "range",
        "if-range",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        crate::error_pages::INTERNAL_HEADER,
    ];
    if name.eq_ignore_ascii_case("connection") {
        return !value.eq_ignore_ascii_case(b"keep-alive");
    }
    REFUSED.iter().any(|r| name.eq_ignore_ascii_case(r))
        || ferry_config::viewer_headers::is_cloudfront_header(name)
}

impl KeySource for Request<'_> {
    fn path(&self) -> &str {
        self.path
    }
    fn query(&self) -> Option<&str> {
        self.query
    }
    fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str)) {
        for h in self.headers {
            if h.name.eq_ignore_ascii_case(lower_name) {
                caching::key_value(h.value, f);
            }
        }
    }
}

/// Values that stand for the per-response parts of a template while pingora's header code lays it
/// out: random per process, so that no origin's header can hold one.
struct Markers {
    age: String,
    date: String,
    id: String,
}

impl Markers {
    fn new() -> Markers {
        use std::hash::{BuildHasher, RandomState};
        let seed = RandomState::new().hash_one(std::process::id());
        Markers {
            age: format!("ferry-age-{seed:016x}"),
            date: format!("ferry-date-{seed:016x}"),
            id: format!("ferry-id-{seed:016x}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Age,
    Date,
    RequestId,
}

/// A cached object's response head as pingora's hit path writes it, cut where the per-response
/// values go (`Age`, `Date`, `X-Amz-Cf-Id`), with the counters its hits add to.
pub struct Template {
    via: http::HeaderValue,
    pop: http::HeaderValue,
    distribution: String,
    behavior: String,
    /// The response headers policy it applies (a reload makes new ones).
    policy: Option<Arc<Policy>>,
    /// `None`: the object is not for this path (not 200, varies, no exact Content-Length).
    parts: Option<(Vec<(Bytes, Slot)>, Bytes)>,
    /// Resolved for a template that serves (a series is made when resolved).
    counters: Option<crate::metrics::Resolved>,
    /// The length of the status line, with its line end.
    status_line: usize,
    /// What the access log takes of the response header (`access_log::response_fields`).
    logged: LoggedFields,
}

impl Template {
    fn new(
        object: &Object,
        state: &EdgeState,
        distribution: &str,
        behavior: &Behavior,
        markers: &Markers,
    ) -> Template {
        let x_cache = caching::x_cache(pingora::cache::CachePhase::Hit, 200);
        let policy = behavior.response_headers_policy.clone();
        let (wire, logged) = match head(object, state, behavior, markers) {
            Some((wire, logged)) => (Some(wire), logged),
            None => (None, Default::default()),
        };
        let behavior = crate::metrics::behavior_label(behavior);
        let status_line = wire
            .as_ref()
            .and_then(|w| w.windows(2).position(|p| p == b"\r\n"))
            .map_or(0, |at| at + 2);
        let parts = wire.and_then(|wire| cut(&wire, markers));
        let counters = parts.is_some().then(|| {
            crate::metrics::Resolved::new(
                distribution,
                behavior,
                200,
                crate::access_log::result_type(Some(x_cache)),
            )
        });
        Template {
            via: state.via_header.clone(),
            pop: state.pop_header.clone(),
            distribution: distribution.to_string(),
            behavior: behavior.to_string(),
            policy,
            parts,
            counters,
            status_line,
            logged,
        }
    }

    fn made_for(&self, state: &EdgeState, distribution: &str, behavior: &Behavior) -> bool {
        let same_policy = match (&self.policy, &behavior.response_headers_policy) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        self.via == state.via_header
            && self.pop == state.pop_header
            && self.distribution == distribution
            && self.behavior == crate::metrics::behavior_label(behavior)
            && same_policy
    }

    fn write(&self, out: &mut BytesMut, age: u64, date: &[u8], id: &[u8]) {
        out.clear();
        let Some((parts, tail)) = &self.parts else {
            return;
        };
        for (literal, slot) in parts {
            out.extend_from_slice(literal);
            match slot {
                Slot::Age => put_decimal(out, age),
                Slot::Date => out.extend_from_slice(date),
                Slot::RequestId => out.extend_from_slice(id),
            }
        }
        out.extend_from_slice(tail);
    }

    fn count(&self, bytes_out: usize) {
        if let Some(counters) = &self.counters {
            counters.count(bytes_out);
        }
    }
}

/// The response head pingora's path writes for a fresh hit of `object` on a plain `GET`, with the
/// markers for the per-response values; `None` when the object is not one this path serves. The
/// steps are pingora's and the proxy's, in their order: the stored header copied, `Age`, HTTP/1.1
/// (`cache_hit_header`), the range filter with no `Range` (`Accept-Ranges`), the proxy's response
/// filter (no custom error page for a 200, the response headers policy, CloudFront's headers),
/// then `Date` and `Connection` (the HTTP/1 session), and its serialisation.
fn head(
    object: &Object,
    state: &EdgeState,
    behavior: &Behavior,
    markers: &Markers,
) -> Option<(BytesMut, LoggedFields)> {
    let policy: Option<&Policy> = behavior.response_headers_policy.as_deref();
    let stored = object.header();
    let length = stored
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let servable = stored.status == http::StatusCode::OK
        && !object.is_variant()
        && caching::variance_names(behavior, stored).is_empty()
        && stored.headers.get(header::TRANSFER_ENCODING).is_none()
        && stored
            .headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .count()
            == 1
        && length == Some(object.body().len());
    if !servable {
        return None;
    }
    let mut response: ResponseHeader = stored.clone();
    response
        .insert_header(header::AGE, markers.age.as_str())
        .ok()?;
    response.set_version(http::Version::HTTP_11);
    let get = RequestHeader::build("GET", b"/", None).ok()?;
    pingora::proxy::range_header_filter(&get, &mut response, Some(200));
    // A policy that adds the same headers to every hit ([`per_object`]): what it makes of any
    // request is what it makes of each.
    crate::response_policy::apply(
        policy,
        &crate::response_policy::Context {
            request: &get,
            phase: pingora::cache::CachePhase::Hit,
            timing: &crate::response_policy::Timing::new(),
            pop: &state.pop,
            request_id: &markers.id,
        },
        &mut response,
    );
    let x_cache = caching::x_cache(pingora::cache::CachePhase::Hit, 200);
    crate::proxy::stamp(&mut response, state, x_cache, &markers.id).ok()?;
    response
        .insert_header(header::DATE, markers.date.as_str())
        .ok()?;
    response
        .insert_header(header::CONNECTION, "keep-alive")
        .ok()?;
    let mut wire = BytesMut::with_capacity(1024);
    ferry_guard::front::put_head(&mut wire, &response);
    Some((wire, crate::access_log::response_fields(&response)))
}

type LoggedFields = (Option<String>, Option<u64>, Option<(u64, u64)>);

/// `wire` cut at each marker, in the order they appear; `None` unless each appears exactly once.
fn cut(wire: &[u8], markers: &Markers) -> Option<(Vec<(Bytes, Slot)>, Bytes)> {
    let mut found: Vec<(usize, usize, Slot)> = Vec::with_capacity(3);
    for (marker, slot) in [
        (&markers.age, Slot::Age),
        (&markers.date, Slot::Date),
        (&markers.id, Slot::RequestId),
    ] {
        let at = find_once(wire, marker.as_bytes())?;
        found.push((at, marker.len(), slot));
    }
    found.sort_by_key(|f| f.0);
    let mut parts = Vec::with_capacity(3);
    let mut from = 0;
    for (at, len, slot) in found {
        parts.push((Bytes::copy_from_slice(&wire[from..at]), slot));
        from = at + len;
    }
    Some((parts, Bytes::copy_from_slice(&wire[from..])))
}

fn find_once(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut at = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle);
    let first = at.next()?.0;
    at.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'h, 'b>(
        bytes: &'b [u8],
        headers: &'h mut [httparse::Header<'b>],
    ) -> httparse::Request<'h, 'b> {
        let mut request = httparse::Request::new(headers);
        assert!(matches!(
            request.parse(bytes),
            Ok(httparse::Status::Complete(_))
        ));
        request
    }

    #[test]
    fn which_heads_this_path_may_answer() {
        let cases: &[(&str, bool)] = &[
            ("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: wrk\r\n\r\n",
                true,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
                true,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                false,
            ),
            ("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("POST /a HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /a HTTP/1.0\r\nHost: x\r\n\r\n", false),
            ("GET /a HTTP/1.1\r\n\r\n", false),
            ("GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", false),
            ("GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /a?abc#x=1 HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /?a#\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n", false),
            ("GET /\u{e9}?\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n", true),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"e\"\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nif-modified-since: x\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
                false,
            ),
            (
                "GET /a HTTP/1.1\r\nHost: x\r\nCloudFront-Viewer-Country: US\r\n\r\n",
                false,
            ),
            ("GET /a HTTP/1.1\r\nHost: x\u{e9}\r\n\r\n", false),
        ];
        for (head, want) in cases {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let request = parse(head.as_bytes(), &mut headers);
            assert_eq!(Request::of(&request).is_some(), *want, "{head:?}");
        }
    }

    #[test]
    fn the_key_sees_the_path_and_query_as_sent() {
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let request = parse(
            b"GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nAccept-Encoding: br\r\n\r\n",
            &mut headers,
        );
        let r = Request::of(&request).expect("answerable");
        assert_eq!(r.path(), "/a%20b/c");
        assert_eq!(r.query(), Some("x=1&y"));
        let mut seen = Vec::new();
        r.for_each_header("accept-encoding", &mut |v| seen.push(v.to_string()));
        assert_eq!(seen, ["gzip", "br"]);
    }

    #[test]
    fn a_template_is_cut_at_each_marker_in_order() {
        let markers = Markers::new();
        let wire = format!(
            "HTTP/1.1 200 OK\r\nDate: {}\r\nAge: {}\r\nX-Amz-Cf-Id: {}\r\n\r\n",
            markers.date, markers.age, markers.id
        );
        let (parts, tail) = cut(wire.as_bytes(), &markers).expect("three markers");
        let slots: Vec<Slot> = parts.iter().map(|p| p.1).collect();
        assert_eq!(slots, [Slot::Date, Slot::Age, Slot::RequestId]);
        let template = Template {
            via: http::HeaderValue::from_static("v"),
            pop: http::HeaderValue::from_static("p"),
            distribution: String::new(),
            behavior: String::new(),
            policy: None,
            parts: Some((parts, tail)),
            counters: None,
            status_line: 17,
            logged: Default::default(),
        };
        let mut out = BytesMut::new();
        template.write(&mut out, 1234, b"Wed, 25 Nov 2026 00:00:00 GMT", b"ID");
        assert_eq!(
            &out[..],
            &b"HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 00:00:00 GMT\r\nAge: 1234\r\nX-Amz-Cf-Id: ID\r\n\r\n"[..]
        );
        // A marker twice (an origin header holding one) or missing: no template.
        let twice = format!("{wire}{}", markers.age);
        assert!(cut(twice.as_bytes(), &markers).is_none());
        assert!(cut(b"HTTP/1.1 200 OK\r\n\r\n", &markers).is_none());
    }
}
