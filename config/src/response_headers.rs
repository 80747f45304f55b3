//! CloudFront response headers policies, applied to a response on its way to the viewer: removed
//! headers, CORS headers, security headers, custom headers and `Server-Timing`, as plain functions
//! over a small header abstraction ([`Fields`]) so that the edge applies them to pingora's
//! `ResponseHeader` and the tests to a list of pairs.
//!
//! Sources (CloudFront Developer Guide):
//! - "Understand response headers policies"
//!   (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html>):
//!   which CORS headers go on CORS requests and which on preflights only, each section's
//!   `Origin override`, removal first, `Server`/`Date` put back by CloudFront, and `Server-Timing`
//!   (sampling rate, `Pragma: server-timing`, the origin's own value, the metrics and their order).
//! - "Add or remove HTTP headers in CloudFront responses with a policy"
//!   (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/modifying-response-headers.html>):
//!   "CloudFront modifies the headers in the responses that it serves from the cache and the ones
//!   that it forwards from the origin", so the policy runs on every response, hit or miss.
//! - "Use managed response headers policies"
//!   (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html>).
//!
//! A preflight is not answered here: CloudFront documents its CORS settings only as headers it
//! "adds ... in responses to CORS preflight requests", so a preflight (an allowed `OPTIONS`) goes to
//! the cache or the origin like any request and gets the preflight headers on its way back.

use crate::spec::{
    CorsConfig, FrameOption, ReferrerPolicy, ResponseHeadersPolicy, SecurityHeadersConfig,
    ServerTimingHeadersConfig,
};
use std::time::SystemTime;

/// The header fields of one response, as the policy reads and edits them. Names are matched
/// without regard to case; `set` replaces every field of that name with one.
pub trait Fields {
    fn has(&self, name: &str) -> bool;
    /// Every value of `name`, in order.
    fn values(&self, name: &str) -> Vec<String>;
    fn set(&mut self, name: &str, value: &str);
    fn remove(&mut self, name: &str);
}

impl Fields for Vec<(String, String)> {
    fn has(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn set(&mut self, name: &str, value: &str) {
        Fields::remove(self, name);
        self.push((name.to_string(), value.to_string()));
    }

    fn remove(&mut self, name: &str) {
        self.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }
}

/// What of the viewer's request the policy looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Viewer<'a> {
    pub method: &'a str,
    /// The `Origin` header: its presence makes the request a CORS request.
    pub origin: Option<&'a str>,
    /// `Access-Control-Request-Method`: with `OPTIONS` and `Origin`, a preflight.
    pub access_control_request_method: Option<&'a str>,
    /// Every `Pragma` value, comma-joined (`server-timing` asks for `Server-Timing`).
    pub pragma: Option<&'a str>,
}

impl Viewer<'_> {
    /// A CORS-preflight request (Fetch standard, "CORS-preflight request"): `OPTIONS` with `Origin`
    /// and `Access-Control-Request-Method`.
    pub fn is_preflight(&self) -> bool {
        self.method.eq_ignore_ascii_case("OPTIONS")
            && self.origin.is_some()
            && self.access_control_request_method.is_some()
    }

    fn asks_server_timing(&self) -> bool {
        self.pragma.is_some_and(|p| {
            p.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("server-timing"))
        })
    }
}

/// Where the response came from, as `Server-Timing` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// From the cache, without asking the origin (`cdn-cache-hit`).
    Hit,
    /// From the cache after the origin confirmed it (`cdn-cache-refresh`).
    RefreshHit,
    /// From the origin (`cdn-cache-miss`), including requests the cache does not take.
    Miss,
}

/// Milliseconds spent reaching the origin on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamTiming {
    /// `cdn-upstream-dns`: 0 when the name was already resolved.
    pub dns_ms: u64,
    /// `cdn-upstream-connect`: 0 when a connection was reused.
    pub connect_ms: u64,
    /// `cdn-upstream-fbl`: request sent to first response byte.
    pub fbl_ms: u64,
}

/// How this response was served, for `Server-Timing`, `Date` and sampling.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub result: CacheResult,
    /// `cdn-pop`, the same value as `X-Amz-Cf-Pop`.
    pub pop: &'a str,
    /// `cdn-rid`, the same value as `X-Amz-Cf-Id`.
    pub request_id: &'a str,
    /// When the origin was asked on this request.
    pub upstream: Option<UpstreamTiming>,
    /// `cdn-downstream-fbl`: request received to first response byte.
    pub downstream_fbl_ms: u64,
    /// A uniform draw in `0..SAMPLE_SCALE`, compared with the sampling rate.
    pub sample: u32,
    /// For the `Date` CloudFront puts back when a policy removes the origin's.
    pub now: SystemTime,
}

/// The sampling rate has up to four decimal places of a percentage: 100% is 1,000,000 units.
pub const SAMPLE_SCALE: u32 = 1_000_000;

/// Applies `policy` to a response, in CloudFront's order: "CloudFront removes the headers first and
/// then adds any headers that are specified in other sections of the response headers policy".
pub fn apply(
    policy: &ResponseHeadersPolicy,
    viewer: &Viewer<'_>,
    served: &Served<'_>,
    fields: &mut impl Fields,
) {
    for remove in &policy.remove_headers_config {
        fields.remove(&remove.header);
        // "If you do that, CloudFront adds its own version of these headers to responses that it
        // sends to viewers. For the Server header that CloudFront adds, the header's value is
        // CloudFront."
        if remove.header.eq_ignore_ascii_case("server") {
            fields.set("Server", "CloudFront");
        } else if remove.header.eq_ignore_ascii_case("date") {
            fields.set("Date", &httpdate::fmt_http_date(served.now));
        }
    }
    if let Some(cors) = &policy.cors_config {
        for (name, value) in cors_headers(cors, viewer) {
            put(fields, name, &value, cors.origin_override);
        }
    }
    if let Some(security) = &policy.security_headers_config {
        for (name, value, over) in security_headers(security) {
            put(fields, name, &value, over);
        }
    }
    for custom in &policy.custom_headers_config {
        put(fields, &custom.header, &custom.value, custom.r#override);
    }
    if let Some(timing) = &policy.server_timing_headers_config {
        if server_timing_sampled(timing, viewer, served.sample) {
            let origin_value = match served.result {
                // "When there is a cache hit, the response ... contains a single Server-Timing
                // header that includes only the CloudFront metrics".
                CacheResult::Hit | CacheResult::RefreshHit => None,
                CacheResult::Miss => {
                    let values = fields.values("Server-Timing");
                    (!values.is_empty()).then(|| values.join(", "))
                }
            };
            let mut value = server_timing(served);
            // "The response that CloudFront sends to the viewer contains a single Server-Timing
            // header that includes the value that came from the origin and the metrics that
            // CloudFront added."
            if let Some(origin_value) = origin_value.filter(|v| !v.trim().is_empty()) {
                value.push(',');
                value.push_str(&origin_value);
            }
            fields.set("Server-Timing", &value);
        }
    }
}

/// One header of the policy, honouring its `Override`: with `false`, a header the origin sent
/// wins; with `true`, or when the origin sent none, the policy's.
fn put(fields: &mut impl Fields, name: &str, value: &str, over: bool) {
    if over || !fields.has(name) {
        fields.set(name, value);
    }
}

/// Every method `ALL` stands for ("Access-Control-Allow-Methods ... `ALL` is a special value that
/// includes all of the listed HTTP methods"), in the documentation's order.
const ALL_METHODS: &[&str] = &["GET", "DELETE", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];

/// The CORS headers for this request, before `OriginOverride`: none unless the request carries an
/// `Origin` that the policy allows. `Access-Control-Allow-Origin`, `-Allow-Credentials` and
/// `-Expose-Headers` go "in responses to CORS requests"; `-Allow-Headers`, `-Allow-Methods` and
/// `-Max-Age` "in responses to CORS preflight requests" only.
pub fn cors_headers(cors: &CorsConfig, viewer: &Viewer<'_>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let Some(origin) = viewer.origin.map(str::trim) else {
        return out;
    };
    let Some(allow_origin) = allowed_origin(&cors.access_control_allow_origins, origin) else {
        return out;
    };
    out.push(("Access-Control-Allow-Origin", allow_origin));
    if cors.access_control_allow_credentials {
        // "When this setting is set to true, CloudFront adds the
        // Access-Control-Allow-Credentials: true header ... Otherwise, CloudFront doesn't add
        // this header."
        out.push(("Access-Control-Allow-Credentials", "true".to_string()));
    }
    if !cors.access_control_expose_headers.is_empty() {
        out.push((
            "Access-Control-Expose-Headers",
            list(&cors.access_control_expose_headers),
        ));
    }
    if viewer.is_preflight() {
        if !cors.access_control_allow_headers.is_empty() {
            out.push((
                "Access-Control-Allow-Headers",
                list(&cors.access_control_allow_headers),
            ));
        }
        if !cors.access_control_allow_methods.is_empty() {
            let methods = if cors.access_control_allow_methods.iter().any(|m| m == "ALL") {
                ALL_METHODS.join(", ")
            } else {
                list(&cors.access_control_allow_methods)
            };
            out.push(("Access-Control-Allow-Methods", methods));
        }
        if let Some(max_age) = cors.access_control_max_age_sec {
            out.push(("Access-Control-Max-Age", max_age.to_string()));
        }
    }
    out
}

/// A list setting as one header value, without repeats.
fn list(items: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        let item = item.trim();
        if !item.is_empty() && !seen.iter().any(|s| s.eq_ignore_ascii_case(item)) {
            seen.push(item);
        }
    }
    seen.join(", ")
}

/// The `Access-Control-Allow-Origin` value for a request from `origin`: `*` when the policy allows
/// every origin (SimpleCORS: "CloudFront adds the header `Access-Control-Allow-Origin: *`"), the
/// request's own origin when one of the listed ones matches it (the header names a single origin),
/// nothing otherwise.
pub fn allowed_origin(allowed: &[String], origin: &str) -> Option<String> {
    if allowed.iter().any(|a| a.trim() == "*") {
        return Some("*".to_string());
    }
    allowed
        .iter()
        .any(|a| origin_matches(a.trim(), origin))
        .then(|| origin.to_string())
}

/// Whether the listed origin `pattern` (`https://www.example.com`, `*.example.org`,
/// `https://*.example.org:8443`) matches a request's `Origin` (`scheme://host[:port]`), without
/// regard to case. "The wildcard character (`*`) is allowed as the leftmost part of the domain
/// (`*.example.org`)" and stands for one or more labels; a pattern without a scheme matches any
/// scheme.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let origin = origin.to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let pattern_authority = match pattern.split_once("://") {
        Some((p_scheme, rest)) if p_scheme == scheme => rest,
        Some(_) => return false,
        None => pattern.as_str(),
    };
    let pattern_authority = pattern_authority.trim_end_matches('/');
    match pattern_authority.strip_prefix('*') {
        // `*.example.org` (with any port the pattern names): one or more labels before the suffix.
        Some(suffix) if suffix.starts_with('.') => {
            authority.len() > suffix.len() && authority.ends_with(suffix)
        }
        Some(_) => false,
        None => pattern_authority == authority,
    }
}

/// The security headers of the policy, each with its value and `Override`.
pub fn security_headers(s: &SecurityHeadersConfig) -> Vec<(&'static str, String, bool)> {
    let mut out = Vec::new();
    if let Some(csp) = &s.content_security_policy {
        out.push((
            "Content-Security-Policy",
            csp.content_security_policy.clone(),
            csp.r#override,
        ));
    }
    if let Some(cto) = &s.content_type_options {
        // "CloudFront adds the X-Content-Type-Options: nosniff header to responses".
        out.push((
            "X-Content-Type-Options",
            "nosniff".to_string(),
            cto.r#override,
        ));
    }
    if let Some(frame) = &s.frame_options {
        let value = match frame.frame_option {
            FrameOption::DENY => "DENY",
            FrameOption::SAMEORIGIN => "SAMEORIGIN",
        };
        out.push(("X-Frame-Options", value.to_string(), frame.r#override));
    }
    if let Some(referrer) = &s.referrer_policy {
        out.push((
            "Referrer-Policy",
            referrer_policy(referrer.referrer_policy).to_string(),
            referrer.r#override,
        ));
    }
    if let Some(hsts) = &s.strict_transport_security {
        let mut value = format!("max-age={}", hsts.access_control_max_age_sec);
        if hsts.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if hsts.preload {
            value.push_str("; preload");
        }
        out.push(("Strict-Transport-Security", value, hsts.r#override));
    }
    if let Some(xss) = &s.xss_protection {
        // `0` disables filtering (and takes no directives); `1` with `mode=block` or a
        // `report=<uri>`, which the API does not allow together.
        let value = if !xss.protection {
            "0".to_string()
        } else if xss.mode_block {
            "1; mode=block".to_string()
        } else if let Some(uri) = xss.report_uri.as_deref().filter(|u| !u.is_empty()) {
            format!("1; report={uri}")
        } else {
            "1".to_string()
        };
        out.push(("X-XSS-Protection", value, xss.r#override));
    }
    out
}

pub fn referrer_policy(p: ReferrerPolicy) -> &'static str {
    match p {
        ReferrerPolicy::NoReferrer => "no-referrer",
        ReferrerPolicy::NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
        ReferrerPolicy::Origin => "origin",
        ReferrerPolicy::OriginWhenCrossOrigin => "origin-when-cross-origin",
        ReferrerPolicy::SameOrigin => "same-origin",
        ReferrerPolicy::StrictOrigin => "strict-origin",
        ReferrerPolicy::StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
        ReferrerPolicy::UnsafeUrl => "unsafe-url",
    }
}

/// Whether this response gets `Server-Timing`: never when disabled; always when the viewer sent
/// `Pragma: server-timing` ("Even when the sampling rate is set to zero (0), CloudFront adds the
/// Server-Timing header to the response if the request contains the Pragma: server-timing
/// header"); otherwise for the sampling rate's share of responses (0–100, four decimals). With no
/// rate given, only on request.
pub fn server_timing_sampled(
    config: &ServerTimingHeadersConfig,
    viewer: &Viewer<'_>,
    sample: u32,
) -> bool {
    if !config.enabled {
        return false;
    }
    if viewer.asks_server_timing() {
        return true;
    }
    let rate = config.sampling_rate.unwrap_or(0.0).clamp(0.0, 100.0);
    let threshold = (rate * f64::from(SAMPLE_SCALE) / 100.0).round() as u32;
    sample < threshold
}

/// CloudFront's metrics, in the order of the documentation's examples ("Server-Timing header
/// examples"), comma-separated without spaces:
/// - miss: `cdn-upstream-layer;desc="EDGE",cdn-upstream-dns;dur=0,cdn-upstream-connect;dur=114,
///   cdn-upstream-fbl;dur=177,cdn-cache-miss,cdn-pop;desc="PHX50-C2",cdn-rid;desc="...",
///   cdn-downstream-fbl;dur=436`;
/// - hit: `cdn-cache-hit,cdn-pop;desc="SEA19-C1",cdn-rid;desc="...",cdn-hit-layer;desc="REC",
///   cdn-downstream-fbl;dur=137` (here the layer is always `EDGE`: one tier);
/// - refresh hit: the origin was asked but the object not fetched, so no `cdn-upstream-layer`
///   ("when CloudFront requests the full object from the origin") and no `cdn-hit-layer` ("when
///   CloudFront provides a response from the cache without making a request to the origin").
pub fn server_timing(served: &Served<'_>) -> String {
    let mut metrics: Vec<String> = Vec::new();
    if served.result == CacheResult::Miss && served.upstream.is_some() {
        metrics.push("cdn-upstream-layer;desc=\"EDGE\"".into());
    }
    if served.result != CacheResult::Hit {
        if let Some(u) = served.upstream {
            metrics.push(format!("cdn-upstream-dns;dur={}", u.dns_ms));
            metrics.push(format!("cdn-upstream-connect;dur={}", u.connect_ms));
            metrics.push(format!("cdn-upstream-fbl;dur={}", u.fbl_ms));
        }
    }
    metrics.push(
        match served.result {
            CacheResult::Hit => "cdn-cache-hit",
            CacheResult::RefreshHit => "cdn-cache-refresh",
            CacheResult::Miss => "cdn-cache-miss",
        }
        .into(),
    );
    metrics.push(format!("cdn-pop;desc=\"{}\"", quoted(served.pop)));
    metrics.push(format!("cdn-rid;desc=\"{}\"", quoted(served.request_id)));
    if served.result == CacheResult::Hit {
        metrics.push("cdn-hit-layer;desc=\"EDGE\"".into());
    }
    metrics.push(format!(
        "cdn-downstream-fbl;dur={}",
        served.downstream_fbl_ms
    ));
    metrics.join(",")
}

/// A quoted-string's content: `"` and `\` escaped.
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managed;
    use crate::spec::{
        ContentSecurityPolicy, ContentTypeOptions, CustomHeader, FrameOptions,
        ReferrerPolicyHeader, RemoveHeader, StrictTransportSecurity, XssProtection,
    };
    use std::time::{Duration, UNIX_EPOCH};

    fn managed(name: &str) -> ResponseHeadersPolicy {
        managed::response_headers_policies()
            .into_iter()
            .find(|m| m.name == name)
            .map(|m| m.policy)
            .unwrap_or_else(|| panic!("no managed policy {name}"))
    }

    fn empty() -> ResponseHeadersPolicy {
        ResponseHeadersPolicy {
            name: "p".into(),
            comment: None,
            cors_config: None,
            security_headers_config: None,
            custom_headers_config: Vec::new(),
            remove_headers_config: Vec::new(),
            server_timing_headers_config: None,
        }
    }

    fn cors(origins: &[&str], over: bool) -> CorsConfig {
        CorsConfig {
            access_control_allow_credentials: false,
            access_control_allow_headers: vec!["X-Header-1".into(), "Authorization".into()],
            access_control_allow_methods: vec!["GET".into(), "PUT".into()],
            access_control_allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            access_control_expose_headers: vec!["X-Total".into()],
            access_control_max_age_sec: Some(600),
            origin_override: over,
        }
    }

    const GET_CORS: Viewer<'static> = Viewer {
        method: "GET",
        origin: Some("https://app.example.test"),
        access_control_request_method: None,
        pragma: None,
    };
    const PREFLIGHT: Viewer<'static> = Viewer {
        method: "OPTIONS",
        origin: Some("https://app.example.test"),
        access_control_request_method: Some("PUT"),
        pragma: None,
    };
    const PLAIN_GET: Viewer<'static> = Viewer {
        method: "GET",
        origin: None,
        access_control_request_method: None,
        pragma: None,
    };

    fn served(result: CacheResult) -> Served<'static> {
        Served {
            result,
            pop: "LOC1-C1",
            request_id: "rid-1",
            upstream: (result != CacheResult::Hit).then_some(UpstreamTiming {
                dns_ms: 0,
                connect_ms: 3,
                fbl_ms: 7,
            }),
            downstream_fbl_ms: 12,
            sample: SAMPLE_SCALE - 1,
            now: UNIX_EPOCH + Duration::from_secs(784_111_777),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn run(
        policy: &ResponseHeadersPolicy,
        viewer: &Viewer<'_>,
        result: CacheResult,
        origin: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut f = fields(origin);
        apply(policy, viewer, &served(result), &mut f);
        f
    }

    fn get<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
        let all: Vec<&str> = f
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(all.len() <= 1, "{name} appears {} times: {f:?}", all.len());
        all.first().copied()
    }

    #[test]
    fn origin_matching() {
        for (pattern, origin, expected) in [
            ("https://app.example.test", "https://app.example.test", true),
            ("https://app.example.test", "HTTPS://APP.EXAMPLE.TEST", true),
            ("https://app.example.test", "http://app.example.test", false),
            (
                "https://app.example.test",
                "https://app.example.test:8443",
                false,
            ),
            (
                "https://app.example.test:8443",
                "https://app.example.test:8443",
                true,
            ),
            (
                "https://app.example.test/",
                "https://app.example.test",
                true,
            ),
            ("app.example.test", "http://app.example.test", true),
            ("*.example.org", "https://www.example.org", true),
            ("*.example.org", "http://a.b.example.org", true),
            ("*.example.org", "https://example.org", false),
            ("*.example.org", "https://badexample.org", false),
            ("https://*.example.org", "http://www.example.org", false),
            ("https://*.example.org", "https://www.example.org", true),
            (
                "https://*.example.org:8443",
                "https://www.example.org:8443",
                true,
            ),
            (
                "https://*.example.org:8443",
                "https://www.example.org",
                false,
            ),
            ("exa*mple.org", "https://example.org", false),
            ("https://app.example.test", "null", false),
        ] {
            assert_eq!(
                origin_matches(pattern, origin),
                expected,
                "{pattern} vs {origin}"
            );
        }
    }

    #[test]
    fn allow_origin_value() {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (allowed, origin, expected) in [
            (&["*"][..], "https://a.test", Some("*")),
            (&["https://b.test", "*"][..], "https://a.test", Some("*")),
            (
                &["https://a.test"][..],
                "https://a.test",
                Some("https://a.test"),
            ),
            (
                &["https://b.test", "*.a.test"][..],
                "https://x.a.test",
                Some("https://x.a.test"),
            ),
            (&["https://b.test"][..], "https://a.test", None),
        ] {
            assert_eq!(
                allowed_origin(&list(allowed), origin).as_deref(),
                expected,
                "{allowed:?} for {origin}"
            );
        }
    }

    #[test]
    fn cors_headers_by_request_kind() {
        let c = cors(&["https://app.example.test"], false);
        let names = |v: &Viewer<'_>| -> Vec<&'static str> {
            cors_headers(&c, v).into_iter().map(|(n, _)| n).collect()
        };
        // Not a CORS request: nothing.
        assert!(names(&PLAIN_GET).is_empty());
        // A CORS request: origin, expose headers; no preflight headers.
        assert_eq!(
            names(&GET_CORS),
            [
                "Access-Control-Allow-Origin",
                "Access-Control-Expose-Headers"
            ]
        );
        // An OPTIONS with Origin but no Access-Control-Request-Method is not a preflight.
        let options = Viewer {
            method: "OPTIONS",
            ..GET_CORS
        };
        assert_eq!(names(&options), names(&GET_CORS));
        // A preflight: all of them.
        assert_eq!(
            cors_headers(&c, &PREFLIGHT),
            [
                (
                    "Access-Control-Allow-Origin",
                    "https://app.example.test".to_string()
                ),
                ("Access-Control-Expose-Headers", "X-Total".to_string()),
                (
                    "Access-Control-Allow-Headers",
                    "X-Header-1, Authorization".to_string()
                ),
                ("Access-Control-Allow-Methods", "GET, PUT".to_string()),
                ("Access-Control-Max-Age", "600".to_string()),
            ]
        );
        // An origin the policy does not list: nothing at all.
        let other = Viewer {
            origin: Some("https://evil.test"),
            ..PREFLIGHT
        };
        assert!(names(&other).is_empty());
    }

    #[test]
    fn cors_credentials_and_all_methods() {
        let mut c = cors(&["https://app.example.test"], false);
        c.access_control_allow_credentials = true;
        c.access_control_allow_methods = vec!["GET".into(), "ALL".into()];
        let h = cors_headers(&c, &PREFLIGHT);
        assert!(h.contains(&("Access-Control-Allow-Credentials", "true".into())));
        assert!(h.contains(&(
            "Access-Control-Allow-Methods",
            "GET, DELETE, HEAD, OPTIONS, PATCH, POST, PUT".into()
        )));
    }

    #[test]
    fn managed_cors_policies() {
        let simple = managed("SimpleCORS");
        let preflight = managed("CORS-With-Preflight");
        for (policy, viewer, origin_sends, expected) in [
            // SimpleCORS: `Access-Control-Allow-Origin: *` on CORS requests, the origin's wins.
            (
                &simple,
                GET_CORS,
                None,
                vec![("Access-Control-Allow-Origin", "*")],
            ),
            (
                &simple,
                PREFLIGHT,
                None,
                vec![("Access-Control-Allow-Origin", "*")],
            ),
            (&simple, PLAIN_GET, None, vec![]),
            (
                &simple,
                GET_CORS,
                Some("https://mine.test"),
                vec![("Access-Control-Allow-Origin", "https://mine.test")],
            ),
            // CORS-With-Preflight: methods on the preflight, origin and expose headers always.
            (
                &preflight,
                PREFLIGHT,
                None,
                vec![
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Expose-Headers", "*"),
                    (
                        "Access-Control-Allow-Methods",
                        "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
                    ),
                ],
            ),
            (
                &preflight,
                GET_CORS,
                None,
                vec![
                    ("Access-Control-Allow-Origin", "*"),
                    ("Access-Control-Expose-Headers", "*"),
                ],
            ),
        ] {
            let mut origin = vec![("Content-Type", "text/plain")];
            if let Some(o) = origin_sends {
                origin.push(("Access-Control-Allow-Origin", o));
            }
            let got = run(policy, &viewer, CacheResult::Miss, &origin);
            let cors: Vec<(&str, &str)> = got
                .iter()
                .filter(|(n, _)| n.starts_with("Access-Control-"))
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(cors, expected, "{} for {viewer:?}", policy.name);
            assert_eq!(get(&got, "Content-Type"), Some("text/plain"));
        }
    }

    #[test]
    fn cors_origin_override() {
        for (over, expected) in [(false, "https://origin-says.test"), (true, "*")] {
            let mut p = empty();
            p.cors_config = Some(cors(&["*"], over));
            let got = run(
                &p,
                &GET_CORS,
                CacheResult::Miss,
                &[("access-control-allow-origin", "https://origin-says.test")],
            );
            assert_eq!(get(&got, "Access-Control-Allow-Origin"), Some(expected));
        }
    }

    #[test]
    fn managed_security_headers() {
        let p = managed("SecurityHeadersPolicy");
        // Nothing from the origin: every header added, on plain and CORS requests alike.
        let got = run(&p, &PLAIN_GET, CacheResult::Hit, &[]);
        for (name, value) in [
            ("Strict-Transport-Security", "max-age=31536000"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ("X-XSS-Protection", "1; mode=block"),
        ] {
            assert_eq!(get(&got, name), Some(value), "{name}");
        }
        assert!(get(&got, "Content-Security-Policy").is_none());
        // The origin's own: kept, except X-Content-Type-Options, which the policy overrides.
        let origin = [
            ("Strict-Transport-Security", "max-age=5"),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "whatever"),
            ("Referrer-Policy", "no-referrer"),
            ("X-XSS-Protection", "0"),
        ];
        let got = run(&p, &PLAIN_GET, CacheResult::Miss, &origin);
        for (name, value) in [
            ("Strict-Transport-Security", "max-age=5"),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-XSS-Protection", "0"),
        ] {
            assert_eq!(get(&got, name), Some(value), "{name}");
        }
    }

    #[test]
    fn security_header_values() {
        let base = SecurityHeadersConfig::default;
        let xss = |protection, mode_block, report_uri: Option<&str>| XssProtection {
            protection,
            mode_block,
            report_uri: report_uri.map(String::from),
            r#override: true,
        };
        let hsts = |include_subdomains, preload| StrictTransportSecurity {
            access_control_max_age_sec: 63_072_000,
            include_subdomains,
            preload,
            r#override: true,
        };
        for (config, name, value) in [
            (
                SecurityHeadersConfig {
                    xss_protection: Some(xss(false, true, None)),
                    ..base()
                },
                "X-XSS-Protection",
                "0",
            ),
            (
                SecurityHeadersConfig {
                    xss_protection: Some(xss(true, false, None)),
                    ..base()
                },
                "X-XSS-Protection",
                "1",
            ),
            (
                SecurityHeadersConfig {
                    xss_protection: Some(xss(true, false, Some("https://r.test/x"))),
                    ..base()
                },
                "X-XSS-Protection",
                "1; report=https://r.test/x",
            ),
            (
                SecurityHeadersConfig {
                    strict_transport_security: Some(hsts(true, true)),
                    ..base()
                },
                "Strict-Transport-Security",
                "max-age=63072000; includeSubDomains; preload",
            ),
            (
                SecurityHeadersConfig {
                    strict_transport_security: Some(hsts(false, true)),
                    ..base()
                },
                "Strict-Transport-Security",
                "max-age=63072000; preload",
            ),
            (
                SecurityHeadersConfig {
                    frame_options: Some(FrameOptions {
                        frame_option: FrameOption::DENY,
                        r#override: true,
                    }),
                    ..base()
                },
                "X-Frame-Options",
                "DENY",
            ),
            (
                SecurityHeadersConfig {
                    content_security_policy: Some(ContentSecurityPolicy {
                        content_security_policy: "default-src 'self'".into(),
                        r#override: true,
                    }),
                    ..base()
                },
                "Content-Security-Policy",
                "default-src 'self'",
            ),
            (
                SecurityHeadersConfig {
                    content_type_options: Some(ContentTypeOptions { r#override: false }),
                    ..base()
                },
                "X-Content-Type-Options",
                "nosniff",
            ),
            (
                SecurityHeadersConfig {
                    referrer_policy: Some(ReferrerPolicyHeader {
                        referrer_policy: ReferrerPolicy::UnsafeUrl,
                        r#override: true,
                    }),
                    ..base()
                },
                "Referrer-Policy",
                "unsafe-url",
            ),
        ] {
            let got = security_headers(&config);
            assert_eq!(got.len(), 1);
            assert_eq!((got[0].0, got[0].1.as_str()), (name, value));
        }
    }

    #[test]
    fn custom_and_removed_headers() {
        let mut p = empty();
        p.custom_headers_config = vec![
            CustomHeader {
                header: "X-Kept".into(),
                value: "policy".into(),
                r#override: false,
            },
            CustomHeader {
                header: "X-Replaced".into(),
                value: "policy".into(),
                r#override: true,
            },
            CustomHeader {
                header: "X-New".into(),
                value: "".into(),
                r#override: false,
            },
            // Removed and added by the same policy: "CloudFront includes the header".
            CustomHeader {
                header: "X-Both".into(),
                value: "policy".into(),
                r#override: false,
            },
        ];
        p.remove_headers_config = ["X-Powered-By", "vary", "X-Both", "Server", "Date"]
            .iter()
            .map(|h| RemoveHeader {
                header: h.to_string(),
            })
            .collect();
        let origin = [
            ("X-Kept", "origin"),
            ("X-Replaced", "origin"),
            ("X-Replaced", "origin-2"),
            ("X-Powered-By", "PHP"),
            ("Vary", "Accept-Encoding"),
            ("X-Both", "origin"),
            ("Server", "nginx"),
            ("Date", "Mon, 01 Jan 2001 00:00:00 GMT"),
            ("Content-Length", "3"),
        ];
        for result in [CacheResult::Miss, CacheResult::Hit] {
            let got = run(&p, &PLAIN_GET, result, &origin);
            assert_eq!(get(&got, "X-Kept"), Some("origin"));
            assert_eq!(get(&got, "X-Replaced"), Some("policy"));
            assert_eq!(get(&got, "X-New"), Some(""));
            assert_eq!(get(&got, "X-Both"), Some("policy"));
            assert_eq!(get(&got, "X-Powered-By"), None);
            assert_eq!(get(&got, "Vary"), None);
            assert_eq!(get(&got, "Server"), Some("CloudFront"));
            assert_eq!(get(&got, "Date"), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
            assert_eq!(get(&got, "Content-Length"), Some("3"));
        }
    }

    fn timing_policy(rate: Option<f64>) -> ResponseHeadersPolicy {
        let mut p = empty();
        p.server_timing_headers_config = Some(ServerTimingHeadersConfig {
            enabled: true,
            sampling_rate: rate,
        });
        p
    }

    #[test]
    fn server_timing_values() {
        for (result, expected) in [
            (
                CacheResult::Miss,
                "cdn-upstream-layer;desc=\"EDGE\",cdn-upstream-dns;dur=0,cdn-upstream-connect;dur=3,cdn-upstream-fbl;dur=7,cdn-cache-miss,cdn-pop;desc=\"LOC1-C1\",cdn-rid;desc=\"rid-1\",cdn-downstream-fbl;dur=12",
            ),
            (
                CacheResult::Hit,
                "cdn-cache-hit,cdn-pop;desc=\"LOC1-C1\",cdn-rid;desc=\"rid-1\",cdn-hit-layer;desc=\"EDGE\",cdn-downstream-fbl;dur=12",
            ),
            (
                CacheResult::RefreshHit,
                "cdn-upstream-dns;dur=0,cdn-upstream-connect;dur=3,cdn-upstream-fbl;dur=7,cdn-cache-refresh,cdn-pop;desc=\"LOC1-C1\",cdn-rid;desc=\"rid-1\",cdn-downstream-fbl;dur=12",
            ),
        ] {
            assert_eq!(server_timing(&served(result)), expected, "{result:?}");
        }
    }

    #[test]
    fn server_timing_with_the_origins_value() {
        let p = timing_policy(Some(100.0));
        let origin = [
            ("Server-Timing", "db;dur=53"),
            ("Server-Timing", "app;dur=47.2"),
        ];
        let miss = run(&p, &PLAIN_GET, CacheResult::Miss, &origin);
        let value = get(&miss, "Server-Timing").unwrap_or_default();
        assert!(
            value.starts_with("cdn-upstream-layer;desc=\"EDGE\","),
            "{value}"
        );
        assert!(value.ends_with(",db;dur=53, app;dur=47.2"), "{value}");
        // On a hit, CloudFront's metrics only.
        let hit = run(&p, &PLAIN_GET, CacheResult::Hit, &origin);
        let value = get(&hit, "Server-Timing").unwrap_or_default();
        assert!(value.starts_with("cdn-cache-hit,"), "{value}");
        assert!(!value.contains("db;dur"), "{value}");
    }

    #[test]
    fn server_timing_sampling() {
        let pragma = Viewer {
            pragma: Some("no-cache, Server-Timing"),
            ..PLAIN_GET
        };
        let disabled = ServerTimingHeadersConfig {
            enabled: false,
            sampling_rate: Some(100.0),
        };
        let rate = |r: f64| ServerTimingHeadersConfig {
            enabled: true,
            sampling_rate: Some(r),
        };
        for (config, viewer, sample, expected) in [
            (rate(100.0), PLAIN_GET, SAMPLE_SCALE - 1, true),
            (rate(0.0), PLAIN_GET, 0, false),
            (rate(0.0), pragma, SAMPLE_SCALE - 1, true),
            (disabled, pragma, 0, false),
            (rate(50.0), PLAIN_GET, 499_999, true),
            (rate(50.0), PLAIN_GET, 500_000, false),
            (rate(0.0001), PLAIN_GET, 0, true),
            (rate(0.0001), PLAIN_GET, 1, false),
            (
                ServerTimingHeadersConfig {
                    enabled: true,
                    sampling_rate: None,
                },
                PLAIN_GET,
                0,
                false,
            ),
        ] {
            assert_eq!(
                server_timing_sampled(&config, &viewer, sample),
                expected,
                "{config:?} {viewer:?} {sample}"
            );
        }
        // Not sampled: the response is left as it is, the origin's header included.
        let p = timing_policy(Some(0.0));
        let got = run(
            &p,
            &PLAIN_GET,
            CacheResult::Miss,
            &[("Server-Timing", "db;dur=1")],
        );
        assert_eq!(get(&got, "Server-Timing"), Some("db;dur=1"));
    }

    #[test]
    fn managed_combinations() {
        let p = managed("CORS-with-preflight-and-SecurityHeadersPolicy");
        let got = run(&p, &PREFLIGHT, CacheResult::Miss, &[]);
        assert_eq!(get(&got, "Access-Control-Allow-Origin"), Some("*"));
        assert!(get(&got, "Access-Control-Allow-Methods").is_some());
        assert_eq!(get(&got, "X-Content-Type-Options"), Some("nosniff"));
        let p = managed("CORS-and-SecurityHeadersPolicy");
        let got = run(&p, &GET_CORS, CacheResult::Hit, &[]);
        assert_eq!(get(&got, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(get(&got, "Access-Control-Expose-Headers"), None);
        assert_eq!(get(&got, "X-Frame-Options"), Some("SAMEORIGIN"));
    }
}
