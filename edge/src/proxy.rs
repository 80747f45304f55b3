//! The edge as a pingora `ProxyHttp`: distribution by Host, behavior by path, viewer protocol policy,
//! allowed methods, then the origin request with CloudFront's headers.

use crate::cache::EdgeCache;
use crate::caching;
use crate::compress;
use crate::error_pages::{ErrorPages, INTERNAL_HEADER};
use crate::hosts::Hosts;
use crate::ids::IdSource;
use crate::origin_tls::OriginTrust;
use crate::pages;
use crate::resolve::Resolver;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use ferry_config::failover::{self, PrimaryOutcome};
use ferry_config::model::{Behavior, Distribution, Origin, OriginTarget};
use ferry_config::rules::host_without_port;
use ferry_config::spec::{OriginProtocolPolicy, ViewerProtocolPolicy};
use ferry_config::Topology;
use ferry_config::{cache_key, origin_request, request_target};
use http::HeaderValue;
use pingora::cache::key::HashBinary;
use pingora::cache::{CacheKey, CacheMeta, RespCacheable, VarianceBuilder};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Everything the edge derives from the topology's distributions: a reload swaps it whole, and each
/// request keeps the one it started with.
pub(crate) struct EdgeState {
    pub(crate) distributions: Vec<Arc<Distribution>>,
    pub(crate) hosts: Hosts,
    pub(crate) resolver: Resolver,
    pub(crate) pop: String,
    /// `Via` and `pop` as header values, made once: every response carries both.
    pub(crate) via_header: HeaderValue,
    pub(crate) pop_header: HeaderValue,
    /// The CA lists of HTTPS origins with a `ca_bundle`.
    origin_trust: OriginTrust,
    /// The country of viewer addresses, for geo restriction.
    countries: ferry_config::geo::Countries,
    /// Whether any behavior's hits can take the fast path (a connection that can meet neither a
    /// fast hit nor a fast forward goes straight to pingora).
    pub(crate) fast_hits: bool,
    /// Whether any behavior's requests can be forwarded by the fast path.
    pub(crate) fast_forwards: bool,
    /// `[edge] send_timeout`: an HTTP/1 connection's stream enforces it itself (ferry_guard's
    /// `Timed`); an HTTP/2 stream, whose flow-control window a viewer can leave shut while the
    /// socket stays open, gets it as pingora's write timeout.
    send_timeout: std::time::Duration,
}

impl EdgeState {
    fn new(topology: &Topology, ids: &IdSource) -> EdgeState {
        let edge = topology.edge.as_ref();
        let pop = edge.map(|e| e.pop.clone()).unwrap_or_else(|| "LOC1".into());
        let via = format!("1.1 {} (CloudFront)", ids.via_host(&pop));
        let pop = format!("{pop}-C1");
        // Validation keeps a pop to ASCII letters and digits, and the via host is hex: both are
        // valid header values, the fallbacks are not reached.
        let via_header = HeaderValue::from_str(&via)
            .unwrap_or_else(|_| HeaderValue::from_static("1.1 cloudfront.net (CloudFront)"));
        let pop_header =
            HeaderValue::from_str(&pop).unwrap_or_else(|_| HeaderValue::from_static("LOC1-C1"));
        EdgeState {
            distributions: topology.distributions.clone(),
            hosts: Hosts::new(
                &topology.distributions,
                edge.and_then(|e| e.default_distribution),
            ),
            resolver: Resolver::new(topology.resolve.clone()),
            pop,
            via_header,
            pop_header,
            origin_trust: OriginTrust::new(&topology.distributions),
            countries: edge.map(|e| e.client_countries.clone()).unwrap_or_default(),
            fast_hits: crate::fast_hit::possible(&topology.distributions),
            fast_forwards: crate::fast_forward::possible(&topology.distributions),
            send_timeout: edge
                .map(|e| e.send_timeout)
                .unwrap_or(std::time::Duration::from_secs(60)),
        }
    }
}

pub struct EdgeProxy {
    state: Arc<ArcSwap<EdgeState>>,
    ids: Arc<IdSource>,
    /// Spreads origin connections over a name's addresses, as DNS round robin does.
    rotation: AtomicUsize,
    cache: Arc<EdgeCache>,
    error_pages: ErrorPages,
}

impl EdgeProxy {
    /// The proxy and the handle through which a reload replaces its state.
    pub fn new(topology: &Topology, cache: Arc<EdgeCache>) -> (EdgeProxy, StateHandle) {
        let ids = Arc::new(IdSource::new());
        let state = Arc::new(ArcSwap::from_pointee(EdgeState::new(topology, &ids)));
        let proxy = EdgeProxy {
            state: state.clone(),
            ids: ids.clone(),
            rotation: AtomicUsize::new(0),
            cache,
            error_pages: ErrorPages::new(topology.edge.as_ref().and_then(|e| {
                e.http
                    .map(crate::error_pages::Listener::Http)
                    .or(e.https.map(crate::error_pages::Listener::Https))
            })),
        };
        (proxy, StateHandle { state, ids })
    }

    /// Another proxy on the same state, for another thread's service.
    pub fn for_thread(&self) -> EdgeProxy {
        EdgeProxy {
            state: self.state.clone(),
            ids: self.ids.clone(),
            rotation: AtomicUsize::new(self.rotation.load(Ordering::Relaxed)),
            cache: self.cache.clone(),
            error_pages: self.error_pages.clone(),
        }
    }
}

impl EdgeProxy {
    /// What the hit fast path in front of this proxy reads: the same state, ids and store.
    pub(crate) fn hit_source(&self) -> crate::fast_hit::Source {
        crate::fast_hit::Source {
            state: self.state.clone(),
            ids: self.ids.clone(),
            store: self.cache.store,
        }
    }
}

/// Replaces an edge proxy's state when the topology is reloaded.
#[derive(Clone)]
pub struct StateHandle {
    state: Arc<ArcSwap<EdgeState>>,
    ids: Arc<IdSource>,
}

impl StateHandle {
    pub fn replace(&self, topology: &Topology) {
        self.state
            .store(Arc::new(EdgeState::new(topology, &self.ids)));
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Checks a signed URL or signed cookies against the behavior's trusted keys and, when they
/// hold, takes the signing parameters out of the query, so that neither the cache key nor the
/// origin sees them.
fn check_signature(
    session: &mut Session,
    https: bool,
    host: &str,
    keys: &ferry_config::signed::TrustedKeys,
) -> std::result::Result<(), ferry_config::signed::Denial> {
    use ferry_config::signed;
    let header = session.req_header();
    let cookies: Vec<&str> = header
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let credentials = signed::Credentials::find(header.uri.query(), &cookies);
    let query = signed::strip_query(header.uri.query());
    let path_and_query = match &query {
        Some(q) => format!("{}?{q}", header.uri.path()),
        None => header.uri.path().to_string(),
    };
    let url = format!(
        "{}://{host}{path_and_query}",
        if https { "https" } else { "http" }
    );
    let viewer = signed::Viewer {
        url: &url,
        ip: session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    signed::check(&credentials, &viewer, keys)?;
    if query.as_deref() != header.uri.query() {
        if let Ok(uri) = path_and_query.parse::<http::Uri>() {
            session.req_header_mut().set_uri(uri);
        }
    }
    Ok(())
}

/// Per-request state.
pub struct Ctx {
    /// The topology as it was when the request arrived.
    state: Arc<EdgeState>,
    /// The origin's response completion timeout, while the origin answers.
    completion_cut: Option<crate::completion::CompletionCut>,
    /// Counts the request as in flight, for a graceful stop.
    _in_flight: ferry_config::drain::Guard,
    request_id: String,
    /// (distribution, behavior index) once routed.
    route: Option<(Arc<Distribution>, usize)>,
    origin: usize,
    attempt: u32,
    /// Where in the origin's address list this request started.
    rotation: Option<usize>,
    addresses: Vec<IpAddr>,
    /// The origin group (index in the distribution) while this request is on its primary and may
    /// still fail over to the secondary (GET, HEAD and OPTIONS); `None` otherwise.
    failover_group: Option<usize>,
    /// Set by `upstream_response_filter` when the primary's status code failed the request over:
    /// `error_while_proxy` then has pingora retry it on the secondary.
    failing_over: bool,
    https_viewer: bool,
    /// An edge-internal request (a custom error page fetch): never given a custom error page itself.
    internal: bool,
    /// An origin error answered with no body whose status has a custom error page: the page is
    /// sent by `fail_to_proxy`, as pingora never calls the body filter for an empty body.
    bodiless_error: Option<u16>,
    /// The viewer's host (lowercased, without its port), the Host of a custom error page's fetch.
    viewer_host: String,
    /// A custom error page replacing the response body.
    replacement: Option<Bytes>,
    /// When the request reached each step, for the response headers policy's `Server-Timing`.
    timing: crate::response_policy::Timing,
    /// Compresses the origin body on its way into the cache, when CloudFront would.
    compressor: Option<compress::Compressor>,
}

impl Ctx {
    fn behavior(&self) -> Option<&Behavior> {
        self.route.as_ref().and_then(|(d, b)| d.behaviors.get(*b))
    }

    fn origin(&self) -> Option<&Origin> {
        self.route
            .as_ref()
            .and_then(|(d, _)| d.origins.get(self.origin))
    }

    /// The origin group whose secondary this request goes to when the primary's `outcome` is
    /// this one: `None` when it is not on a group's primary or `outcome` does not fail it over.
    fn failing_over_group(
        &self,
        method: &str,
        outcome: PrimaryOutcome,
    ) -> Option<&ferry_config::model::OriginGroup> {
        let (distribution, _) = self.route.as_ref()?;
        let group = distribution.origin_groups.get(self.failover_group?)?;
        failover::fails_over(method, &group.failover_status_codes, outcome).then_some(group)
    }

    /// Origin failover: when this request is on an origin group's primary and the primary's
    /// `outcome` fails it over (`failover::fails_over`), points the request at the secondary, with
    /// its own addresses and connection attempts, and returns true; the caller then has pingora
    /// retry the request (which asks `upstream_peer` again). Once on the secondary, never again:
    /// the viewer gets the secondary's answer, whatever it is.
    fn fail_over(&mut self, method: &str, outcome: PrimaryOutcome) -> bool {
        let Some(group) = self.failing_over_group(method, outcome) else {
            return false;
        };
        tracing::info!(request_id = %self.request_id, group = %group.id, ?outcome, "origin failover to the secondary");
        self.origin = group.members[1];
        self.failover_group = None;
        self.attempt = 0;
        self.rotation = None;
        self.addresses.clear();
        true
    }
}

/// How a failed connection or response from an origin counts for failover.
fn primary_outcome(e: &Error) -> PrimaryOutcome {
    match e.etype() {
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            PrimaryOutcome::TimedOut
        }
        _ => PrimaryOutcome::ConnectionFailed,
    }
}

/// The viewer's host, lowercased and without its port. `None` when it is missing, malformed, or an
/// absolute-form request line names another host than the Host header (a request smuggling and
/// cache poisoning vector: both hops must agree on which site this is).
fn request_host(header: &RequestHeader) -> Option<String> {
    let from_header = header
        .headers
        .get(http::header::HOST)
        .map(|v| v.to_str().ok());
    host_of(from_header, header.uri.authority().map(|a| a.as_str()))
}

/// [`request_host`] from the Host header (`Some(None)`: present but not text) and the request
/// line's authority.
pub(crate) fn host_of(from_header: Option<Option<&str>>, from_uri: Option<&str>) -> Option<String> {
    let raw = match (from_header, from_uri) {
        (Some(None), _) => return None,
        (Some(Some(h)), Some(u)) if !h.trim().eq_ignore_ascii_case(u) => return None,
        (Some(Some(h)), _) => h,
        (None, Some(u)) => u,
        (None, None) => return None,
    };
    let host = host_without_port(raw.trim()).to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    valid.then_some(host)
}

/// CloudFront's request limits ("Quotas on requests"): a URL of at most 8,192 bytes and a request
/// line plus headers of at most 20,480 bytes. "If a request or a URL exceeds these maximums,
/// CloudFront returns HTTP status code 413, Request Entity Too Large, to the viewer, and then
/// terminates the TCP connection to the viewer."
const MAX_URL: usize = 8_192;
const MAX_REQUEST_HEAD: usize = 20_480;

/// A request target a fast path takes itself, split into path and query as pingora's URI splits
/// it: origin-form, within CloudFront's URL limit (the proxy answers 413), accepted by the edge's
/// target rules and by pingora's parser (which answers what it cannot take), and without a
/// fragment (which pingora's parse drops). `None`: pingora's path answers it.
pub(crate) fn fast_target<'t>(method: &str, target: &'t str) -> Option<(&'t str, Option<&'t str>)> {
    if target.len() > MAX_URL
        || !target.starts_with('/')
        || target.contains('#')
        || request_target::check(method, target.as_bytes()).is_err()
    {
        return None;
    }
    let uri = http::uri::PathAndQuery::try_from(target).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    (path == uri.path() && query == uri.query()).then_some((path, query))
}

fn too_large(header: &RequestHeader) -> Option<(u16, &'static str)> {
    let url = header
        .uri
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(0);
    if url > MAX_URL {
        return Some((413, "Bad request. The URL is longer than 8,192 bytes."));
    }
    // The request line, then each "name: value\r\n".
    let head = header.method.as_str().len()
        + url
        + 12
        + header
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    (head > MAX_REQUEST_HEAD).then_some((
        413,
        "Bad request. The request headers are larger than 20,480 bytes.",
    ))
}

impl EdgeProxy {
    async fn answer(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        x_cache: &'static str,
        extra: &[(&str, String)],
        body: Bytes,
    ) -> Result<()> {
        let response = page_head(
            status,
            x_cache,
            extra,
            body.len(),
            &ctx.state,
            &ctx.request_id,
        )?;
        let head_only = session.req_header().method == http::Method::HEAD;
        session
            .write_response_header(Box::new(response), head_only || body.is_empty())
            .await?;
        if !head_only && !body.is_empty() {
            session.write_response_body(Some(body), true).await?;
        }
        Ok(())
    }

    async fn error(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        reason: &str,
    ) -> Result<()> {
        let body = pages::error_page(status, reason, &ctx.request_id);
        self.answer(session, ctx, status, caching::ERROR_X_CACHE, &[], body)
            .await
    }

    /// Refuses a viewer's request with `status` (geo restriction, a signed URL): with the
    /// distribution's custom error response for it when it has one, as CloudFront does, else with
    /// `body`.
    async fn refuse(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        extra: &[(&str, String)],
        body: Bytes,
    ) -> Result<()> {
        match self.custom_error_page(ctx, status).await {
            Some(page) => {
                self.answer_page(session, ctx, page, caching::ERROR_X_CACHE)
                    .await
            }
            None => {
                self.answer(session, ctx, status, caching::ERROR_X_CACHE, extra, body)
                    .await
            }
        }
    }

    /// Answers with a custom error page (`custom_error_page`).
    async fn answer_page(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        (status, content_type, body): (u16, Option<String>, Bytes),
        x_cache: &'static str,
    ) -> Result<()> {
        let extra = [(
            "Content-Type",
            content_type.unwrap_or_else(|| "text/html".into()),
        )];
        self.answer(session, ctx, status, x_cache, &extra, body)
            .await
    }

    /// Whether the request's distribution has a custom error page for `status`.
    fn has_custom_error_page(&self, ctx: &Ctx, status: u16) -> bool {
        !ctx.internal
            && ctx.route.as_ref().is_some_and(|(distribution, _)| {
                distribution
                    .custom_error_responses
                    .iter()
                    .any(|e| e.error_code == status && e.response_page_path.is_some())
            })
    }

    /// The custom error response for `status`, when the distribution has one with a page: (status
    /// to answer with, content type, page).
    async fn custom_error_page(
        &self,
        ctx: &Ctx,
        status: u16,
    ) -> Option<(u16, Option<String>, Bytes)> {
        if ctx.internal || status < 400 {
            return None;
        }
        let (distribution, _) = ctx.route.as_ref()?;
        let custom = distribution
            .custom_error_responses
            .iter()
            .find(|e| e.error_code == status)?;
        let path = custom.response_page_path.as_deref()?;
        let page = self
            .error_pages
            .fetch(&distribution.id, path, &ctx.viewer_host)
            .await?;
        if !(200..300).contains(&page.status) {
            tracing::warn!(distribution = %distribution.id, path, status = page.status, "custom error page unavailable");
            // CloudFront then answers with the error the page's origin answered (custom-error-pages:
            // a page deleted from its bucket gives the viewer a 404); anything else (a redirect
            // without its Location, say) leaves the original error.
            return (page.status >= 400).then_some((page.status, page.content_type, page.body));
        }
        Some((
            custom.response_code.unwrap_or(status),
            page.content_type,
            page.body,
        ))
    }

    /// What the edge knows of the viewer, for the CloudFront-* headers.
    fn viewer<'a>(
        &self,
        session: &'a Session,
        ctx: &'a Ctx,
    ) -> ferry_config::viewer_headers::Viewer<'a> {
        let address = session.client_addr().and_then(|a| a.as_inet()).copied();
        let header = session.req_header();
        ferry_config::viewer_headers::Viewer {
            https: ctx.https_viewer,
            address,
            country: address.and_then(|a| ctx.state.countries.country_of(a.ip())),
            http_version: match header.version {
                http::Version::HTTP_10 => "1.0",
                http::Version::HTTP_2 => "2.0",
                http::Version::HTTP_3 => "3.0",
                _ => "1.1",
            },
            user_agent: header
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        }
    }

    fn stamp(&self, response: &mut ResponseHeader, ctx: &Ctx, x_cache: &'static str) -> Result<()> {
        stamp(response, &ctx.state, x_cache, &ctx.request_id)
    }
}

/// The head of a page the edge answers itself (an error, a redirect), as pingora's session gets
/// it (which adds its Date and Connection): `Server: CloudFront`, an HTML body of `length` bytes
/// unless `extra` says otherwise, and CloudFront's headers.
pub(crate) fn page_head(
    status: u16,
    x_cache: &'static str,
    extra: &[(&str, String)],
    length: usize,
    state: &EdgeState,
    request_id: &str,
) -> Result<ResponseHeader> {
    let mut response = ResponseHeader::build(status, Some(8))?;
    response.insert_header("Server", "CloudFront")?;
    response.insert_header("Content-Type", "text/html")?;
    response.insert_header("Content-Length", length.to_string())?;
    for (name, value) in extra {
        response.insert_header(name.to_string(), value.as_str())?;
    }
    stamp(&mut response, state, x_cache, request_id)?;
    Ok(response)
}

/// The headers CloudFront adds to every response it sends a viewer.
pub(crate) fn stamp(
    response: &mut ResponseHeader,
    state: &EdgeState,
    x_cache: &'static str,
    request_id: &str,
) -> Result<()> {
    response.insert_header("X-Cache", HeaderValue::from_static(x_cache))?;
    response.insert_header("Via", state.via_header.clone())?;
    response.insert_header("X-Amz-Cf-Pop", state.pop_header.clone())?;
    response.insert_header("X-Amz-Cf-Id", request_id)?;
    Ok(())
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            state: self.state.load_full(),
            _in_flight: ferry_config::drain::Guard::start(),
            completion_cut: None,
            request_id: self.ids.request_id(),
            route: None,
            origin: 0,
            attempt: 0,
            rotation: None,
            addresses: Vec::new(),
            failover_group: None,
            failing_over: false,
            https_viewer: false,
            internal: false,
            replacement: None,
            bodiless_error: None,
            viewer_host: String::new(),
            timing: crate::response_policy::Timing::new(),
            compressor: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        if session.as_downstream().is_http2() {
            // Each write of a body piece must end within it (the store hands bodies out in
            // pieces of at most `store::HIT_PIECE`, so that a slow but steady viewer is not cut).
            session
                .as_downstream_mut()
                .set_write_timeout(Some(ctx.state.send_timeout));
        }
        ctx.https_viewer = session
            .digest()
            .and_then(|d| d.ssl_digest.as_ref())
            .is_some();
        if let Some((status, reason)) = too_large(session.req_header()) {
            session.set_keepalive(None);
            self.error(session, ctx, status, reason).await?;
            return Ok(true);
        }
        let header = session.req_header();
        if let Err(refusal) = request_target::check(header.method.as_str(), header.raw_path()) {
            session.set_keepalive(None);
            let reason = format!("Bad request. {}.", capitalised(&refusal.reason()));
            self.error(session, ctx, 400, &reason).await?;
            return Ok(true);
        }
        let Some(host) = request_host(session.req_header()) else {
            self.error(
                session,
                ctx,
                400,
                "Bad request. The request has no valid Host header, or its request line names another host.",
            )
            .await?;
            return Ok(true);
        };
        if session
            .req_header()
            .headers
            .get(http::header::HOST)
            .is_none()
        {
            // HTTP/2 names the host in `:authority` alone: the cache key, `Vary` and the origin
            // request policies read Host, as CloudFront's do, so it is given the authority.
            let authority = session
                .req_header()
                .uri
                .authority()
                .map(|a| a.as_str().to_string());
            if let Some(authority) = authority {
                session
                    .req_header_mut()
                    .insert_header(http::header::HOST, authority)?;
            }
        }
        ctx.viewer_host.clone_from(&host);
        let internal = session
            .req_header()
            .headers
            .get(INTERNAL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| self.error_pages.internal_distribution(v))
            .and_then(|id| ctx.state.distributions.iter().position(|d| d.id == id));
        session.req_header_mut().remove_header(INTERNAL_HEADER);
        compress::viewer_request(session.req_header_mut());
        ctx.internal = internal.is_some();
        let Some(index) = internal.or_else(|| ctx.state.hosts.lookup(&host)) else {
            let reason = format!("Bad request. The Host \"{host}\" is not configured as an alias of any distribution on this edge.");
            self.error(session, ctx, 403, &reason).await?;
            return Ok(true);
        };
        let Some(distribution) = ctx.state.distributions.get(index).cloned() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "distribution index out of range",
            ));
        };
        let path = session.req_header().uri.path().to_string();
        let behavior = distribution.behavior_for(&path);
        let behavior_index = distribution
            .behaviors
            .iter()
            .position(|b| std::ptr::eq(b, behavior))
            .unwrap_or(0);
        // Known from here on, so that a refusal can answer with the distribution's custom error
        // response (`refuse`).
        ctx.route = Some((distribution.clone(), behavior_index));
        // An internal fetch of a custom error page is CloudFront's own request: the viewer checks
        // (geo restriction, signed URLs, the viewer protocol policy) are not its business.
        if let Some(geo) = distribution
            .geo_restriction
            .as_ref()
            .filter(|_| !ctx.internal)
        {
            let country = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .and_then(|a| ctx.state.countries.country_of(a.ip()));
            if !geo.allows(country) {
                tracing::info!(request_id = %ctx.request_id, distribution = %distribution.id, ?country, "geo restriction");
                let body = pages::error_page(
                    403,
                    "The Amazon CloudFront distribution is configured to block access from your country.",
                    &ctx.request_id,
                );
                self.refuse(session, ctx, 403, &[], body).await?;
                return Ok(true);
            }
        }
        // The CloudFront-* headers are CloudFront's values, never the viewer's: the viewer's own
        // are dropped, and those the policies name are set, so that the cache key, a Vary on them
        // and the origin request all see CloudFront's.
        let viewer_sent = session
            .req_header()
            .headers
            .keys()
            .any(|n| ferry_config::viewer_headers::is_cloudfront_header(n.as_str()));
        if viewer_sent
            || ferry_config::viewer_headers::to_origin(behavior)
                .next()
                .is_some()
        {
            let computed: Vec<(String, String)> = {
                let viewer = self.viewer(session, ctx);
                ferry_config::viewer_headers::to_origin(behavior)
                    .filter_map(|n| {
                        ferry_config::viewer_headers::value(n, &viewer).map(|v| (n.to_string(), v))
                    })
                    .collect()
            };
            let request = session.req_header_mut();
            let sent: Vec<http::HeaderName> = request
                .headers
                .keys()
                .filter(|n| ferry_config::viewer_headers::is_cloudfront_header(n.as_str()))
                .cloned()
                .collect();
            for name in &sent {
                request.remove_header(name);
            }
            for (name, value) in computed {
                request.insert_header(name, value)?;
            }
        }

        // An edge-internal fetch of a custom error page is CloudFront's own request to the origin,
        // not a viewer's: the viewer protocol policy is not its business.
        if !ctx.https_viewer && !ctx.internal {
            match behavior.viewer_protocol_policy {
                ViewerProtocolPolicy::AllowAll => {}
                ViewerProtocolPolicy::HttpsOnly => {
                    self.error(
                        session,
                        ctx,
                        403,
                        "Bad request. This distribution only accepts HTTPS.",
                    )
                    .await?;
                    return Ok(true);
                }
                ViewerProtocolPolicy::RedirectToHttps => {
                    let header = session.req_header();
                    let status = ferry_config::spec::https_redirect_status(
                        header.method.as_str(),
                        header.version >= http::Version::HTTP_11,
                    );
                    let Some(status) = status else {
                        self.error(
                            session,
                            ctx,
                            403,
                            "Bad request. This distribution redirects HTTP to HTTPS, which an HTTP/1.0 client cannot follow with this method.",
                        )
                        .await?;
                        return Ok(true);
                    };
                    let location = format!(
                        "https://{host}{}",
                        header
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/")
                    );
                    self.answer(
                        session,
                        ctx,
                        status,
                        "Redirect from cloudfront",
                        &[("Location", location)],
                        Bytes::new(),
                    )
                    .await?;
                    return Ok(true);
                }
            }
        }
        let method = session.req_header().method.as_str();
        if !behavior
            .allowed_methods
            .iter()
            .any(|m| m.as_str() == method)
        {
            self.error(session, ctx, 403, "This distribution is not configured to allow the HTTP request method that was used for this request.").await?;
            return Ok(true);
        }
        if let Some(keys) = behavior.trusted_keys.clone().filter(|_| !ctx.internal) {
            if let Err(denial) = check_signature(session, ctx.https_viewer, &host, &keys) {
                tracing::info!(request_id = %ctx.request_id, code = denial.code(), "signed URL refused");
                let xml = [("Content-Type", "text/xml".to_string())];
                self.refuse(session, ctx, 403, &xml, Bytes::from(denial.body()))
                    .await?;
                return Ok(true);
            }
        }
        let header = session.req_header();
        let has_body = header.headers.contains_key(http::header::TRANSFER_ENCODING)
            || header
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if header.method == http::Method::GET && has_body {
            // CloudFront refuses a GET that carries a body.
            self.error(
                session,
                ctx,
                403,
                "Bad request. A GET request cannot have a body.",
            )
            .await?;
            return Ok(true);
        }
        ctx.origin = match behavior.target {
            OriginTarget::Origin(i) => i,
            // Every request goes to the primary first (no sticky failover); GET, HEAD and OPTIONS
            // may then fail over to the secondary (`Ctx::fail_over`).
            OriginTarget::Group(g) => {
                let method = session.req_header().method.as_str();
                ctx.failover_group = failover::method_can_fail_over(method).then_some(g);
                distribution
                    .origin_groups
                    .get(g)
                    .map(|g| g.members[0])
                    .unwrap_or(0)
            }
        };
        Ok(false)
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        let Some(behavior) = ctx.behavior() else {
            return Ok(());
        };
        if caching::enabled(behavior, &session.req_header().method) {
            let lock = caching::collapses(behavior).then_some(self.cache.lock);
            session
                .cache
                .enable(self.cache.store, None, None, lock, None);
            session
                .cache
                .set_max_file_size_bytes(self.cache.max_object_size);
        }
        Ok(())
    }

    fn cache_key_callback(&self, session: &Session, ctx: &mut Ctx) -> Result<CacheKey> {
        let (Some((distribution, _)), Some(behavior)) = (ctx.route.as_ref(), ctx.behavior()) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "cache key for an unrouted request",
            ));
        };
        Ok(caching::key(distribution, behavior, session.req_header()))
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        ctx: &mut Ctx,
        request: &RequestHeader,
    ) -> Option<HashBinary> {
        // Cached only for a routed request (`cache_key_callback` refuses the others).
        let behavior = ctx.behavior()?;
        let names = caching::variance_names(behavior, meta.response_header());
        if names.is_empty() {
            return None;
        }
        let mut variance = VarianceBuilder::new();
        for name in &names {
            let value = request
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| v.as_bytes())
                .collect::<Vec<_>>()
                .join(&b","[..]);
            variance.add_owned_value(name, value);
        }
        variance.finalize()
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        response: &ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<RespCacheable> {
        let (Some((distribution, _)), Some(behavior)) = (ctx.route.as_ref(), ctx.behavior()) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "caching an unrouted response",
            ));
        };
        let authorized = caching::authorization_unkeyed(behavior, session.req_header());
        Ok(caching::cacheability(
            distribution,
            behavior,
            response,
            authorized,
        ))
    }

    fn range_header_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        _ctx: &mut Ctx,
    ) -> pingora::proxy::RangeType {
        let ignored = session
            .req_header()
            .headers
            .get(http::header::RANGE)
            .is_some_and(|v| v.to_str().map_or(true, ferry_config::range::ignored));
        if ignored {
            return pingora::proxy::RangeType::None;
        }
        pingora::proxy::range_header_filter(session.req_header(), response, Some(200))
    }

    fn should_serve_stale(
        &self,
        session: &mut Session,
        ctx: &mut Ctx,
        error: Option<&Error>,
    ) -> bool {
        // None: while revalidating in the background, which `stale-while-revalidate` allows.
        let Some(error) = error else {
            return true;
        };
        let Some(status) = caching::stale_stands_in_for(error) else {
            return false;
        };
        // A primary's error that fails the request over goes to the secondary first (pingora
        // asks before `upstream_response_filter` sees the response): the stale object stands in
        // only for what the whole group answers, as CloudFront's origin group is one origin.
        if let ErrorType::HTTPStatus(code) = error.etype() {
            let method = session.req_header().method.as_str();
            if ctx
                .failing_over_group(method, PrimaryOutcome::Status(*code))
                .is_some()
            {
                return false;
            }
        }
        // CloudFront serves the stale object for the error caching minimum TTL before it asks
        // the origin again (custom-error-pages-expiration), so the failing origin is not asked by
        // every request meanwhile.
        if let (Some((distribution, _)), Some(key)) =
            (ctx.route.as_ref(), session.cache.maybe_cache_key())
        {
            let ttl = caching::error_caching_min_ttl(distribution, status);
            if ttl > 0 {
                let until = std::time::SystemTime::now() + std::time::Duration::from_secs(ttl);
                self.cache.store.extend_freshness(key, until);
            }
        }
        true
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if ctx.failover_group.is_some() && !session.as_ref().retry_buffer_truncated() {
            let status = response.status.as_u16();
            let method = session.req_header().method.as_str();
            if ctx.fail_over(method, PrimaryOutcome::Status(status)) {
                // Status-code failover through pingora's retry. pingora calls this filter with the
                // primary's response head before anything of it reaches the viewer or the cache
                // (the cache filters run after this one), so the error returned here abandons that
                // response: its body is never read and the connection is closed, not pooled.
                // `error_while_proxy` sees `failing_over` and has pingora retry, and
                // `upstream_peer` then connects to the secondary, whose answer is what the viewer
                // gets and what is cached.
                ctx.failing_over = true;
                return Err(Error::explain(
                    ErrorType::HTTPStatus(status),
                    format!("origin group failover: the primary answered {status}"),
                ));
            }
        }
        ctx.timing.origin_answered();
        let status = response.status.as_u16();
        let bodiless = response
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        if bodiless
            && session.req_header().method != http::Method::HEAD
            && self.has_custom_error_page(ctx, status)
        {
            // The custom page is the body, and there is no body for `response_body_filter` to
            // replace: `fail_to_proxy` answers with the page instead (not cached: the next such
            // error goes to the origin again).
            ctx.bodiless_error = Some(status);
            return Err(Error::explain(
                ErrorType::HTTPStatus(status),
                format!("the origin answered {status} with no body: its custom error page"),
            ));
        }
        if let Some(behavior) = ctx.behavior() {
            caching::process_origin_response(behavior, response);
        }
        // Compressed here, before the response is stored: the cache holds the compressed object.
        ctx.compressor = ctx.route.as_ref().and_then(|(distribution, b)| {
            let behavior = distribution.behaviors.get(*b)?;
            let request = session.req_header();
            compress::origin_response(distribution, behavior, request, &session.cache, response)
        });
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(compressor) = ctx.compressor.as_mut() {
            compressor.body(body, end_of_stream)?;
        }
        Ok(None)
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&pingora::protocols::Digest>,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.timing.connected(reused);
        // A secondary origin (failover) starts its own deadline.
        ctx.completion_cut = ctx
            .origin()
            .and_then(|o| o.response_completion)
            .and_then(|within| crate::completion::CompletionCut::watch(fd, within));
        Ok(())
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        ctx.timing.peer_chosen();
        let origin = ctx
            .origin()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no origin chosen"))?
            .clone();
        if ctx.addresses.is_empty() {
            ctx.addresses = ctx
                .state
                .resolver
                .lookup(&origin.domain_name)
                .await
                .map_err(|e| {
                    Error::because(
                        ErrorType::ConnectNoRoute,
                        format!("cannot resolve {}", origin.domain_name),
                        e,
                    )
                })?;
        }
        let tls = match origin.protocol_policy {
            OriginProtocolPolicy::HttpOnly => false,
            OriginProtocolPolicy::HttpsOnly => true,
            OriginProtocolPolicy::MatchViewer => ctx.https_viewer,
        };
        let port = if tls {
            origin.https_port
        } else {
            origin.http_port
        };
        // The first attempt takes the next address in rotation; each retry the one after it.
        let base = *ctx
            .rotation
            .get_or_insert_with(|| self.rotation.fetch_add(1, Ordering::Relaxed));
        let n = base + ctx.attempt as usize;
        let ip = ctx
            .addresses
            .get(n % ctx.addresses.len().max(1))
            .copied()
            .ok_or_else(|| {
                Error::explain(
                    ErrorType::ConnectNoRoute,
                    format!("{} has no addresses", origin.domain_name),
                )
            })?;
        let mut peer = HttpPeer::new(SocketAddr::new(ip, port), tls, origin.domain_name.clone());
        peer.options.connection_timeout = Some(origin.connection_timeout);
        peer.options.read_timeout = Some(origin.read_timeout);
        peer.options.idle_timeout = Some(origin.keepalive_timeout);
        if tls {
            // The system roots plus the origin's `ca_bundle` (local runs); SNI and the name
            // checked in the certificate are the origin's domain_name (HttpPeer::new above).
            if let Some(trust) = ctx.state.origin_trust.for_origin(&origin) {
                peer.options.ca = Some(trust.ca.clone());
                peer.group_key = trust.group_key;
            }
        }
        Ok(Box::new(peer))
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if std::mem::take(&mut ctx.failing_over) {
            // `upstream_response_filter` failed the request over on the primary's status code and
            // pointed it at the secondary: retry there.
            e.set_retry(true);
            return e;
        }
        let method = &session.req_header().method;
        let idempotent = *method == http::Method::GET || *method == http::Method::HEAD;
        if !idempotent || session.as_ref().retry_buffer_truncated() {
            // POST/PUT/PATCH/DELETE/OPTIONS are never sent twice.
            e.set_retry(false);
        } else if e.etype() == &ErrorType::ReadTimedout && session.response_written().is_none() {
            // A read timeout on GET/HEAD is retried up to ConnectionAttempts.
            ctx.attempt += 1;
            let attempts = ctx.origin().map(|o| o.connection_attempts).unwrap_or(1);
            e.set_retry(ctx.attempt < attempts);
        } else {
            e.retry.decide_reuse(client_reused);
        }
        // The primary failed before a response head reached the viewer (reset, garbage, read
        // timeouts after its connection attempts): an origin group fails over.
        if !e.retry()
            && e.esource() == &ErrorSource::Upstream
            && session.response_written().is_none()
            && !session.as_ref().retry_buffer_truncated()
            && ctx.fail_over(method.as_str(), primary_outcome(&e))
        {
            e.set_retry(true);
        }
        e
    }

    fn fail_to_connect(
        &self,
        session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        ctx.attempt += 1;
        let attempts = ctx.origin().map(|o| o.connection_attempts).unwrap_or(1);
        // After the primary's last connection attempt (refused, unreachable, connect timeout, TLS
        // handshake or certificate failure), an origin group fails over.
        let retry = ctx.attempt < attempts
            || ctx.fail_over(session.req_header().method.as_str(), primary_outcome(&e));
        e.set_retry(retry);
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let (Some(origin), Some(behavior)) = (ctx.origin(), ctx.behavior()) else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "request not routed",
            ));
        };
        if upstream.method == http::Method::HEAD && session.cache.enabled() {
            // Fill the cache with the whole object: a HEAD miss must not store an empty GET body.
            upstream.set_method(http::Method::GET);
        }
        let method = session.req_header().method.as_str().to_string();
        let names: Vec<http::HeaderName> = upstream.headers.keys().cloned().collect();
        let keep_host = origin_request::policy_forwards(behavior, "host");
        for name in names {
            if !origin_request::forwards(behavior, name.as_str(), &method) {
                upstream.remove_header(&name);
            }
        }
        if !keep_host {
            upstream.insert_header(http::header::HOST, origin.domain_name.as_str())?;
        }
        // The CloudFront-* headers the policies name, as CloudFront computes them (the viewer's
        // own were dropped above).
        if ferry_config::viewer_headers::to_origin(behavior)
            .next()
            .is_some()
        {
            let viewer = self.viewer(session, ctx);
            for name in ferry_config::viewer_headers::to_origin(behavior) {
                if let Some(value) = ferry_config::viewer_headers::value(name, &viewer) {
                    upstream.insert_header(name.to_string(), value)?;
                }
            }
        }
        let cookies: Vec<&str> = session
            .req_header()
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        upstream.remove_header(&http::header::COOKIE);
        if let Some(cookie) = origin_request::forwarded_cookies(behavior, &cookies) {
            upstream.insert_header(http::header::COOKIE, cookie)?;
        }
        let accept_encoding = session
            .req_header()
            .headers
            .get(http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let policy = &behavior.cache_policy;
        if policy.gzip || policy.brotli {
            upstream.remove_header(&http::header::ACCEPT_ENCODING);
            // What the viewer accepts of gzip/br, or `identity` when it accepts neither.
            if accept_encoding.is_some() {
                let normalized = cache_key::normalized_accept_encoding(policy, accept_encoding);
                upstream.insert_header(
                    http::header::ACCEPT_ENCODING,
                    normalized.unwrap_or("identity"),
                )?;
            }
        }
        if !origin_request::policy_forwards(behavior, "user-agent") {
            upstream.insert_header(http::header::USER_AGENT, "Amazon CloudFront")?;
        }
        let mut path = session.req_header().uri.path().to_string();
        if path == "/" {
            if let Some(root) = ctx
                .route
                .as_ref()
                .and_then(|(d, _)| d.default_root_object.as_ref())
            {
                path = format!("/{root}");
            }
        }
        let mut target = format!("{}{}", origin.origin_path, path);
        if let Some(query) =
            origin_request::forwarded_query(behavior, session.req_header().uri.query())
        {
            target.push('?');
            target.push_str(&query);
        }
        let uri = target
            .parse::<http::Uri>()
            .map_err(|e| Error::because(ErrorType::InvalidHTTPHeader, "origin path", e))?;
        upstream.set_uri(uri);
        for (name, value) in &origin.custom_headers {
            upstream.insert_header(name.clone(), value.as_str())?;
        }
        let client = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        if let Some(ip) = client {
            let xff = match upstream
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
            {
                Some(existing) if !existing.is_empty() => format!("{existing}, {ip}"),
                _ => ip.to_string(),
            };
            upstream.insert_header("X-Forwarded-For", xff)?;
        }
        upstream.insert_header(http::header::CONNECTION, "Keep-Alive")?;
        upstream.insert_header("Via", ctx.state.via_header.clone())?;
        upstream.insert_header("X-Amz-Cf-Id", ctx.request_id.as_str())?;
        Ok(())
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.timing.responding();
        // X-Cache (and the log's result type) tell what happened, so an error stays "Error" when a
        // custom error response changes its status (custom-error-pages-response-code).
        let served_status = response.status.as_u16();
        if let Some(page) = self.custom_error_page(ctx, served_status).await {
            response.set_status(page.0)?;
            for name in [
                "etag",
                "last-modified",
                "content-encoding",
                "transfer-encoding",
                "content-range",
                "accept-ranges",
            ] {
                response.remove_header(name);
            }
            response.insert_header(http::header::CONTENT_LENGTH, page.2.len().to_string())?;
            if let Some(t) = page.1 {
                response.insert_header(http::header::CONTENT_TYPE, t)?;
            }
            ctx.replacement = Some(page.2);
        }
        // The behavior's response headers policy, on every response it serves, hit or miss.
        crate::response_policy::apply(
            ctx.behavior()
                .and_then(|b| b.response_headers_policy.as_deref()),
            &crate::response_policy::Context {
                request: session.req_header(),
                phase: session.cache.phase(),
                timing: &ctx.timing,
                pop: &ctx.state.pop,
                request_id: &ctx.request_id,
            },
            response,
        );
        let x_cache = caching::x_cache(session.cache.phase(), served_status);
        self.stamp(response, ctx, x_cache)
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if let Some(page) = &ctx.replacement {
            *body = end_of_stream.then(|| page.clone());
        }
        Ok(None)
    }

    /// The end of every request: its metrics and its access log line (edge-internal requests, the
    /// custom error page fetches, count for neither).
    async fn logging(&self, session: &mut Session, _error: Option<&Error>, ctx: &mut Ctx) {
        if ctx.internal {
            return;
        }
        let response = session.response_written();
        let status = response.map(|r| r.status.as_u16());
        let result_type = crate::access_log::result_type(
            response
                .and_then(|r| r.headers.get("x-cache"))
                .and_then(|v| v.to_str().ok()),
        );
        let distribution = ctx.route.as_ref().map(|(d, _)| d.id.as_str());
        let sent = session.body_bytes_sent();
        let origin = ctx
            .origin()
            .map(|o| o.id.as_str())
            .zip(ctx.timing.origin_latency());
        crate::metrics::request(crate::metrics::Finished {
            distribution: distribution.unwrap_or("-"),
            behavior: ctx
                .behavior()
                .map(crate::metrics::behavior_label)
                .unwrap_or("-"),
            status,
            cache_result: result_type,
            bytes_in: session.body_bytes_read(),
            bytes_out: sent,
            origin,
        });
        if crate::access_log::enabled() {
            let entry = crate::access_log::entry(
                session,
                crate::access_log::Served {
                    edge_location: &ctx.state.pop,
                    distribution,
                    result_type,
                    request_id: &ctx.request_id,
                    https: ctx.https_viewer,
                    time_taken: ctx.timing.elapsed(),
                    // An answer the edge wrote itself (an error page) is out at once.
                    time_to_first_byte: ctx
                        .timing
                        .to_first_byte()
                        .unwrap_or_else(|| ctx.timing.elapsed()),
                },
            );
            crate::access_log::log(&entry);
        }
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        if session.response_written().is_some() {
            // The head is already out: an error page now would be spliced into the body. Cut the
            // connection instead, so the viewer sees an incomplete response, not a complete wrong one.
            tracing::warn!(request_id = %ctx.request_id, "origin response cut short: {e}");
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        let completion_over = ctx.completion_cut.as_ref().is_some_and(|c| c.fired());
        let (status, reason) = match (e.esource(), e.etype()) {
            _ if completion_over => (
                504,
                "We can't connect to the server for this app or website at this time: the origin did not complete its response within its response_completion_timeout.".to_string(),
            ),
            (
                ErrorSource::Downstream,
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed,
            ) => (0, String::new()),
            (ErrorSource::Downstream, _) => (400, "Bad request.".to_string()),
            (_, ErrorType::HTTPStatus(code))
                if *code < 500 || ctx.bodiless_error == Some(*code) =>
            {
                (*code, "Bad request.".to_string())
            }
            (_, kind) => pages::origin_failure(kind, e),
        };
        if status > 0 {
            tracing::warn!(status, request_id = %ctx.request_id, "{e}");
            if let Some(page) = self.custom_error_page(ctx, status).await {
                let code = page.0;
                let x_cache = caching::x_cache(session.cache.phase(), status);
                let sent = self.answer_page(session, ctx, page, x_cache).await;
                return FailToProxy {
                    error_code: if sent.is_ok() { code } else { 0 },
                    can_reuse_downstream: false,
                };
            }
            if self.error(session, ctx, status, &reason).await.is_err() {
                return FailToProxy {
                    error_code: 0,
                    can_reuse_downstream: false,
                };
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }
}
