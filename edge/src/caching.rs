//! The cache side of one request, as plain functions the proxy calls: whether the cache is used,
//! the key, whether and for how long a response is stored, and what `X-Cache` says.

use ferry_config::cache_key::{self, KeySource};
use ferry_config::model::{Behavior, Distribution};
use ferry_config::origin_request;
use ferry_config::spec::{CookieBehavior, Method};
use ferry_config::ttl::{self, CacheControl, CacheDecision, OriginResponse};
use pingora::cache::{CacheKey, CacheMeta, CachePhase, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{Error, ErrorSource, ErrorType};
use std::time::{Duration, SystemTime};

/// How long an expired object may still be served when the origin fails and sent no
/// `stale-if-error`: CloudFront serves the stale object it still holds on a 5xx or an unreachable
/// origin ("How CloudFront processes HTTP 5xx status codes"), for as long as it holds it.
const DEFAULT_STALE_IF_ERROR: u32 = 365 * 24 * 3600;

struct View<'a>(&'a RequestHeader);

impl KeySource for View<'_> {
    fn path(&self) -> &str {
        self.0.uri.path()
    }
    fn query(&self) -> Option<&str> {
        self.0.uri.query()
    }
    fn for_each_header(&self, lower_name: &str, f: &mut dyn FnMut(&str)) {
        for value in self.0.headers.get_all(lower_name) {
            key_value(value.as_bytes(), f);
        }
    }
    fn is_options(&self) -> bool {
        self.0.method == http::Method::OPTIONS
    }
}

pub use ferry_config::rules::header_text;

/// Passes a header value to `f` as the cache key takes it: as text when it is text
/// ([`header_text`]), otherwise by its bytes, so that two different non-text values never share
/// an object.
pub fn key_value(value: &[u8], f: &mut dyn FnMut(&str)) {
    match header_text(value) {
        Some(v) => f(v),
        None => f(&format!("\u{fffd}{value:02x?}")),
    }
}

/// Whether this request may be answered from or stored in the cache: a cached method on a behavior
/// whose policy can store anything (MaxTTL 0, as in CachingDisabled, stores nothing).
pub fn enabled(behavior: &Behavior, method: &http::Method) -> bool {
    let cached = match *method {
        http::Method::GET => behavior.cached_methods.contains(&Method::GET),
        http::Method::HEAD => behavior.cached_methods.contains(&Method::HEAD),
        http::Method::OPTIONS => behavior.cached_methods.contains(&Method::OPTIONS),
        _ => false,
    };
    cached && behavior.cache_policy.ttl.max_ttl > 0
}

/// CloudFront does not collapse requests whose key or origin request carries cookies
/// ("Request collapsing", CloudFront Developer Guide).
pub fn collapses(behavior: &Behavior) -> bool {
    let orp_cookies = behavior
        .origin_request_policy
        .as_ref()
        .is_some_and(|p| p.policy.cookies_config.cookie_behavior != CookieBehavior::None);
    behavior.cache_policy.cookies.cookie_behavior == CookieBehavior::None && !orp_cookies
}

/// The cache key: the distribution, the path and what the cache policy adds; OPTIONS responses
/// are cached apart from GET/HEAD. The user tag carries `distribution\npath?query`, the query as
/// the key holds it (none when the policy keys on none, only the selected parameters of a
/// whitelist), so that invalidations find the object by what it is cached as: `/app.js` removes
/// the object first fetched as `/app.js?v=123` when the query is not in the key.
pub fn key(distribution: &Distribution, behavior: &Behavior, request: &RequestHeader) -> CacheKey {
    let primary = cache_key::primary_key(&distribution.id, &behavior.cache_policy, &View(request));
    let hash = primary_hash(&primary);
    let path = request.uri.path();
    let queries = &behavior.cache_policy.query_strings;
    let query = cache_key::selected_query(
        queries.query_string_behavior,
        &queries.query_strings,
        request.uri.query(),
    );
    let mut tag = String::with_capacity(
        distribution.id.len() + 2 + path.len() + query.as_deref().map_or(0, str::len),
    );
    tag.push_str(&distribution.id);
    tag.push('\n');
    tag.push_str(path);
    if let Some(query) = query {
        tag.push('?');
        tag.push_str(&query);
    }
    let mut key = CacheKey::new(primary, tag);
    // pingora would hash the primary key again on each `primary_bin` call (lookup, cache lock,
    // miss handler): computed once, here.
    key.set_primary_bin_override(hash);
    key
}

/// What the store knows the object of a request without `Vary` variance by: the hash of [`key`],
/// without the key itself (the edge's hit fast path needs no more).
pub fn lookup_hash(
    distribution: &Distribution,
    behavior: &Behavior,
    request: &dyn KeySource,
) -> [u8; 16] {
    primary_hash(&cache_key::primary_key(
        &distribution.id,
        &behavior.cache_policy,
        request,
    ))
}

/// The 128-bit hash the store and the cache lock know an object by: two SipHash-1-3 (std's
/// hasher) under keys drawn at random when the process starts. pingora's own is blake2b, which
/// costs ~2,000 instructions per request for a key this short; a keyed hash resists crafted
/// collisions as well here, since no hash ever leaves the process and the cache lives no longer
/// than the process (nothing to keep stable across restarts).
fn primary_hash(primary: &[u8]) -> [u8; 16] {
    use std::hash::{BuildHasher, RandomState};
    static KEYS: std::sync::LazyLock<(RandomState, RandomState)> =
        std::sync::LazyLock::new(|| (RandomState::new(), RandomState::new()));
    let mut hash = [0u8; 16];
    hash[..8].copy_from_slice(&KEYS.0.hash_one(primary).to_le_bytes());
    hash[8..].copy_from_slice(&KEYS.1.hash_one(primary).to_le_bytes());
    hash
}

/// CloudFront's TTL decision for an origin response: the TTL table of the behavior's cache policy,
/// and the distribution's error caching minimum for an error status.
pub fn decision(
    distribution: &Distribution,
    behavior: &Behavior,
    response: &ResponseHeader,
    now: SystemTime,
) -> (CacheDecision, bool) {
    let headers = &response.headers;
    let cache_control_values = headers.get_all(http::header::CACHE_CONTROL);
    let has_cache_control = cache_control_values.iter().next().is_some();
    let cache_control =
        CacheControl::parse(cache_control_values.iter().filter_map(|v| v.to_str().ok()));
    let text = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let status = response.status.as_u16();
    let origin = OriginResponse {
        status,
        cache_control,
        has_cache_control,
        expires: text(http::header::EXPIRES),
        date: text(http::header::DATE),
    };
    let error_caching_min_ttl = distribution
        .custom_error_responses
        .iter()
        .find(|e| e.error_code == status)
        .and_then(|e| e.error_caching_min_ttl);
    let sent_stale_if_error = origin.cache_control.stale_if_error.is_some();
    let decision = ttl::decide(
        behavior.cache_policy.ttl,
        &origin,
        now,
        error_caching_min_ttl,
    );
    (decision, sent_stale_if_error)
}

/// `public`, `s-maxage` or `must-revalidate` in the response's Cache-Control: what lets a shared
/// cache store an answer to a request with credentials (RFC 9111 §3.5).
fn shared_cache_may_store(response: &ResponseHeader) -> bool {
    response
        .headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.split('=').next().unwrap_or("").trim())
        .any(|d| {
            d.eq_ignore_ascii_case("public")
                || d.eq_ignore_ascii_case("s-maxage")
                || d.eq_ignore_ascii_case("must-revalidate")
        })
}

/// Whether the origin got the viewer's `Authorization` without the cache key holding it: an origin
/// request policy that forwards it (CloudFront refuses one that names it, and lets `AllViewer`
/// carry it only where nothing is cached), so that an answer for one viewer's credentials would be
/// stored under a key every viewer shares.
pub fn authorization_unkeyed(behavior: &Behavior, request: &RequestHeader) -> bool {
    request.headers.contains_key(http::header::AUTHORIZATION)
        && origin_request::forwards(behavior, "authorization", request.method.as_str())
        && !behavior.cache_policy.keys_header("authorization")
}

/// Whether and how long to store an origin response, per CloudFront's TTL rules. `authorized`:
/// the request carried credentials the key does not hold ([`authorization_unkeyed`]); its answer
/// is stored only when the origin says a shared cache may (`public`, `s-maxage` or
/// `must-revalidate`, RFC 9111 §3.5), never as one viewer's answer for all.
pub fn cacheability(
    distribution: &Distribution,
    behavior: &Behavior,
    response: &ResponseHeader,
    authorized: bool,
) -> RespCacheable {
    let headers = &response.headers;
    if authorized && !shared_cache_may_store(response) {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    }
    let now = SystemTime::now();
    let (decision, sent_stale_if_error) = decision(distribution, behavior, response, now);
    match decision {
        CacheDecision::DoNotCache => RespCacheable::Uncacheable(NoCacheReason::OriginNotCache),
        CacheDecision::Store {
            ttl,
            revalidate_always,
            stale_while_revalidate,
            stale_if_error,
        } => {
            // `Vary: *` sends every request to the origin with a MinTTL of 0 only; with more, its
            // `*` is dropped (`kept_vary`) and the TTL rules apply.
            let vary_all = behavior.cache_policy.ttl.min_ttl == 0
                && headers
                    .get_all(http::header::VARY)
                    .iter()
                    .any(|v| v.as_bytes().trim_ascii() == b"*");
            // MinTTL > 0 with no-cache/no-store/private: kept for MinTTL only as a fallback for an
            // unreachable origin; every request still goes to the origin. `Vary: *` likewise.
            let (fresh, stale_if_error) = if revalidate_always {
                (0, ttl.min(u64::from(u32::MAX)) as u32)
            } else if vary_all {
                (0, stale_if_error.min(u64::from(u32::MAX)) as u32)
            } else {
                let sie = if sent_stale_if_error {
                    stale_if_error.min(u64::from(u32::MAX)) as u32
                } else {
                    DEFAULT_STALE_IF_ERROR
                };
                (ttl, sie)
            };
            let swr = stale_while_revalidate.min(u64::from(u32::MAX)) as u32;
            let fresh_until = now.checked_add(Duration::from_secs(fresh)).unwrap_or(now);
            RespCacheable::Cacheable(CacheMeta::new(
                fresh_until,
                now,
                swr,
                stale_if_error,
                response.clone(),
            ))
        }
    }
}

/// What CloudFront does to an origin response before caching and returning it: `Set-Cookie` is
/// dropped unless cookies are forwarded, and `Vary` keeps only the headers that can vary
/// (Accept-Encoding, Cookie when forwarded, headers the policies forward).
pub fn process_origin_response(behavior: &Behavior, response: &mut ResponseHeader) {
    if !origin_request::policy_forwards(behavior, "cookie") {
        response.remove_header(&http::header::SET_COOKIE);
    }
    let values = response.headers.get_all(http::header::VARY);
    let Some(kept) = kept_vary(behavior, values.iter().filter_map(|v| v.to_str().ok())) else {
        return;
    };
    response.remove_header(&http::header::VARY);
    if !kept.is_empty() {
        let _ = response.insert_header(http::header::VARY, kept);
    }
}

/// The `Vary` the viewer gets for an origin's `Vary` field values (the text ones): the names the
/// request could have varied on as the origin saw it (`*` when the behavior's MinTTL is 0,
/// `Accept-Encoding`, `Cookie` when cookies are forwarded, `User-Agent` when device headers are,
/// the headers the policies forward), joined, empty when none is kept; `None` when the values
/// name nothing (the fields are left as they are).
pub fn kept_vary<'v>(behavior: &Behavior, values: impl Iterator<Item = &'v str>) -> Option<String> {
    let names: Vec<&str> = values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if names.is_empty() {
        return None;
    }
    let cookies_forwarded = origin_request::policy_forwards(behavior, "cookie");
    let every_request = behavior.cache_policy.ttl.min_ttl == 0;
    let kept: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            (lower == "*" && every_request)
                || lower == "accept-encoding"
                || (lower == "cookie" && cookies_forwarded)
                || (lower == "user-agent"
                    && ferry_config::viewer_headers::forwards_device_headers(behavior))
                || origin_request::policy_forwards(behavior, &lower)
        })
        .collect();
    Some(kept.join(", "))
}

/// The request headers a cached response varies on, beyond its cache key: the names its `Vary`
/// kept (`process_origin_response`), lowercase, less `Accept-Encoding` (already in the key, as
/// CloudFront normalises it) and `*` (never served from the cache). A response the origin says
/// varies on a header the policy forwards but the key leaves out (`X-Forwarded-Host` under an
/// all-viewer origin request policy) is then served only to viewers that sent the same value, so
/// that one viewer's header cannot poison what another one gets. A `User-Agent` kept only for the
/// device headers (the origin does not get the User-Agent) is not a variance: those headers are in
/// the key, as CloudFront caches by device, not by User-Agent.
pub fn variance_names(behavior: &Behavior, response: &ResponseHeader) -> Vec<String> {
    let mut names: Vec<String> = response
        .headers
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty() && v != "*" && v != "accept-encoding")
        .filter(|v| v != "user-agent" || origin_request::policy_forwards(behavior, v))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `X-Cache` of an error the viewer gets, the edge's own or the origin's.
pub const ERROR_X_CACHE: &str = "Error from cloudfront";

/// The `X-Cache` value for what the cache did.
pub fn x_cache(phase: CachePhase, status: u16) -> &'static str {
    if status >= 400 {
        return ERROR_X_CACHE;
    }
    match phase {
        CachePhase::Hit | CachePhase::Stale | CachePhase::StaleUpdating => "Hit from cloudfront",
        CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => "RefreshHit from cloudfront",
        _ => "Miss from cloudfront",
    }
}

/// The error status a stale object stands in for after `error` (CloudFront serves stale on 500,
/// 502, 503 and 504 and when the origin cannot be reached or times out): the origin's 500, 502,
/// 503 or 504, 504 for a timeout, 502 when the origin cannot be reached; `None`: not served stale.
pub fn stale_stands_in_for(error: &Error) -> Option<u16> {
    // The origin's failures only: a viewer that goes away is no reason to serve stale.
    if *error.esource() != ErrorSource::Upstream {
        return None;
    }
    match error.etype() {
        ErrorType::HTTPStatus(code) if matches!(code, 500 | 502 | 503 | 504) => Some(*code),
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            Some(504)
        }
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::ConnectionClosed => Some(502),
        _ => None,
    }
}

/// The error caching minimum TTL of `status` in `distribution` (CloudFront's default: 10 s).
pub fn error_caching_min_ttl(distribution: &Distribution, status: u16) -> u64 {
    distribution
        .custom_error_responses
        .iter()
        .find(|e| e.error_code == status)
        .and_then(|e| e.error_caching_min_ttl)
        .unwrap_or(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_hash_is_stable_in_the_process_and_tells_keys_apart() {
        let keys = ["d1\n/a", "d1\n/b", "d2\n/a", "", "d1\n/a?x=1"];
        let hashes: Vec<[u8; 16]> = keys.iter().map(|k| primary_hash(k.as_bytes())).collect();
        for (k, h) in keys.iter().zip(&hashes) {
            assert_eq!(primary_hash(k.as_bytes()), *h, "{k:?}");
            // Two independent halves, not one hash written twice.
            assert_ne!(h[..8], h[8..], "{k:?}");
        }
        let mut unique = hashes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
    }
}
