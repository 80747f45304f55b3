//! Response headers policies through a running edge: the managed `SimpleCORS`,
//! `CORS-With-Preflight`, `SecurityHeadersPolicy` and a combination, and custom policies with CORS
//! for listed origins, security headers, custom headers, removed headers and `Server-Timing`.
//!
//! The expectations are CloudFront's documented ones ("Understand response headers policies",
//! "Use managed response headers policies", "Add or remove HTTP headers in CloudFront responses
//! with a policy"):
//! - CORS headers go only on CORS requests (those with `Origin`); `Access-Control-Allow-Methods`,
//!   `-Allow-Headers` and `-Max-Age` only on preflights (`OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`), which reach the origin like any allowed request and get the
//!   headers on the way back; `Access-Control-Allow-Origin` is `*` or the request's listed origin;
//! - each section's `Override`: `false` keeps a header the origin sent, `true` replaces it;
//! - removed headers go first (`Server` comes back as `CloudFront`), then the added ones;
//! - `Server-Timing` at the sampling rate or on `Pragma: server-timing`, with the origin's value
//!   on a miss and CloudFront's metrics alone on a hit;
//! - "CloudFront modifies the headers in the responses that it serves from the cache and the ones
//!   that it forwards from the origin": every test asks twice, a miss then a hit, and expects the
//!   same headers.

mod common;

use common::*;

const ALL_METHODS: &str =
    "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]";

/// A site whose default behavior (Managed-CachingOptimized) has `policy` and allows every method.
fn site(label: &str, o: &Origin, policy: &str) -> SiteBuilder {
    SiteBuilder::new(label, o)
        .default_behavior(ALL_METHODS)
        .default_behavior(&format!("response_headers_policy = \"{policy}\""))
}

/// Asks `path` twice and checks that the first answer was a miss and the second a hit; returns
/// both.
fn miss_then_hit(s: &Site, path: &str, headers: &[(&str, &str)]) -> [Response; 2] {
    let miss = s.get(path, headers);
    let hit = s.get(path, headers);
    assert_eq!(miss.status, 200, "{miss:?}");
    assert_eq!(
        miss.header("x-cache"),
        Some("Miss from cloudfront"),
        "{miss:?}"
    );
    assert_eq!(
        hit.header("x-cache"),
        Some("Hit from cloudfront"),
        "{hit:?}"
    );
    [miss, hit]
}

/// Every field whose name starts with `prefix` (lowercased), in order.
fn fields(r: &Response, prefix: &str) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with(prefix))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect()
}

fn one(r: &Response, name: &str) -> Option<String> {
    let all = r.headers.get_all(name);
    assert!(all.len() <= 1, "{name} appears {} times: {r:?}", all.len());
    all.first().map(|v| v.to_string())
}

#[test]
fn simple_cors_on_cors_requests_only() {
    let o = Origin::start("o");
    let s = site("rhp-simple", &o, "Managed-SimpleCORS").start();
    let origin = [("Origin", "https://app.example.test")];
    for r in miss_then_hit(&s, "/simple", &origin) {
        assert_eq!(
            fields(&r, "access-control-"),
            [("access-control-allow-origin".into(), "*".into())],
            "{r:?}"
        );
    }
    // No Origin: not a CORS request, no CORS header (from the cache this time).
    let plain = s.get("/simple", &[]);
    assert_eq!(plain.header("x-cache"), Some("Hit from cloudfront"));
    assert!(fields(&plain, "access-control-").is_empty(), "{plain:?}");

    // The origin's own Access-Control-Allow-Origin wins (OriginOverride false).
    o.respond_with(
        Response::text(200, "mine").with_header("Access-Control-Allow-Origin", "https://mine.test"),
    );
    for r in miss_then_hit(&s, "/own", &origin) {
        assert_eq!(
            one(&r, "access-control-allow-origin").as_deref(),
            Some("https://mine.test"),
            "{r:?}"
        );
    }
}

#[test]
fn cors_with_preflight_answers_the_preflight() {
    let o = Origin::start_with("o", |req| {
        if req.method == "OPTIONS" {
            Response::new(204).with_header("Allow", "GET, PUT, OPTIONS")
        } else {
            default_origin_response("o", req)
        }
    });
    let s = site("rhp-preflight", &o, "Managed-CORS-With-Preflight").start();
    let preflight = s.request(
        "OPTIONS",
        "/api/item",
        &[
            ("Origin", "https://app.example.test"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204, "{preflight:?}");
    assert_eq!(
        fields(&preflight, "access-control-"),
        [
            ("access-control-allow-origin".into(), "*".into()),
            ("access-control-expose-headers".into(), "*".into()),
            (
                "access-control-allow-methods".into(),
                "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT".into()
            ),
        ],
        "{preflight:?}"
    );
    assert_eq!(preflight.header("allow"), Some("GET, PUT, OPTIONS"));
    assert_eq!(
        o.requests_matching(|r| r.method == "OPTIONS").len(),
        1,
        "the preflight is forwarded like any allowed request"
    );

    // The actual request: origin and expose headers, no preflight headers, miss and hit alike.
    for r in miss_then_hit(&s, "/api/item", &[("Origin", "https://app.example.test")]) {
        assert_eq!(
            fields(&r, "access-control-"),
            [
                ("access-control-allow-origin".into(), "*".into()),
                ("access-control-expose-headers".into(), "*".into()),
            ],
            "{r:?}"
        );
    }
}

#[test]
fn cors_for_listed_origins() {
    let o = Origin::start("o");
    let s = SiteBuilder::new("rhp-listed", &o)
        .block(
            "[[response_headers_policies]]\nname = \"api-cors\"\n\
             cors_config = { access_control_allow_credentials = true, \
             access_control_allow_headers = [\"X-Api-Key\", \"Content-Type\"], \
             access_control_allow_methods = [\"GET\", \"PUT\"], \
             access_control_allow_origins = [\"https://app.example.test\", \"https://*.partner.test\"], \
             access_control_expose_headers = [\"X-Total\"], access_control_max_age_sec = 600, \
             origin_override = true }\n",
        )
        .default_behavior(ALL_METHODS)
        .default_behavior("response_headers_policy = \"api-cors\"")
        .start();
    o.respond_with(
        Response::text(200, "x").with_header("Access-Control-Allow-Origin", "https://stale.test"),
    );
    // The miss from one listed origin, the hit from another: each gets its own origin back, in
    // place of the origin's (OriginOverride true).
    let miss = s.get("/data", &[("Origin", "https://app.example.test")]);
    let hit = s.get("/data", &[("Origin", "https://eu.partner.test")]);
    assert_eq!(
        hit.header("x-cache"),
        Some("Hit from cloudfront"),
        "{hit:?}"
    );
    for (r, origin) in [
        (&miss, "https://app.example.test"),
        (&hit, "https://eu.partner.test"),
    ] {
        assert_eq!(
            fields(r, "access-control-"),
            [
                ("access-control-allow-origin".into(), origin.into()),
                ("access-control-allow-credentials".into(), "true".into()),
                ("access-control-expose-headers".into(), "X-Total".into()),
            ],
            "{r:?}"
        );
    }
    let preflight = s.request(
        "OPTIONS",
        "/data",
        &[
            ("Origin", "https://app.example.test"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        b"",
    );
    assert_eq!(
        one(&preflight, "access-control-allow-headers").as_deref(),
        Some("X-Api-Key, Content-Type")
    );
    assert_eq!(
        one(&preflight, "access-control-allow-methods").as_deref(),
        Some("GET, PUT")
    );
    assert_eq!(
        one(&preflight, "access-control-max-age").as_deref(),
        Some("600")
    );
    // An origin the policy does not list gets no CORS header of the policy's, and the origin's
    // own is passed on as any other header.
    let other = s.get("/data", &[("Origin", "https://evil.test")]);
    assert_eq!(
        fields(&other, "access-control-"),
        [(
            "access-control-allow-origin".into(),
            "https://stale.test".into()
        )],
        "{other:?}"
    );
}

#[test]
fn security_headers_policy() {
    let o = Origin::start("o");
    let s = site("rhp-security", &o, "Managed-SecurityHeadersPolicy").start();
    for r in miss_then_hit(&s, "/page", &[]) {
        for (name, value) in [
            ("strict-transport-security", "max-age=31536000"),
            ("x-frame-options", "SAMEORIGIN"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            ("x-xss-protection", "1; mode=block"),
        ] {
            assert_eq!(one(&r, name).as_deref(), Some(value), "{name}: {r:?}");
        }
        assert!(!r.headers.contains("access-control-allow-origin"));
    }
    // The origin's own: kept (override false) but for X-Content-Type-Options (override true).
    o.respond_with(
        Response::text(200, "own")
            .with_header("Strict-Transport-Security", "max-age=60")
            .with_header("X-Frame-Options", "DENY")
            .with_header("X-Content-Type-Options", "sniff-away")
            .with_header("Referrer-Policy", "no-referrer")
            .with_header("X-XSS-Protection", "0"),
    );
    for r in miss_then_hit(&s, "/own", &[]) {
        for (name, value) in [
            ("strict-transport-security", "max-age=60"),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-xss-protection", "0"),
        ] {
            assert_eq!(one(&r, name).as_deref(), Some(value), "{name}: {r:?}");
        }
    }
}

#[test]
fn cors_and_security_combined() {
    let o = Origin::start("o");
    let s = site(
        "rhp-combined",
        &o,
        "Managed-CORS-with-preflight-and-SecurityHeadersPolicy",
    )
    .start();
    for r in miss_then_hit(&s, "/both", &[("Origin", "https://app.example.test")]) {
        assert_eq!(one(&r, "access-control-allow-origin").as_deref(), Some("*"));
        assert_eq!(one(&r, "x-frame-options").as_deref(), Some("SAMEORIGIN"));
        assert!(!r.headers.contains("access-control-allow-methods"), "{r:?}");
    }
}

#[test]
fn custom_security_custom_and_removed_headers() {
    let o = Origin::start_with("o", |req| {
        default_origin_response("o", req)
            .with_header("Server", "nginx/1.25")
            .with_header("X-Powered-By", "PHP/8")
            .with_header("X-Kept", "origin")
            .with_header("X-Replaced", "origin")
            .with_header("Strict-Transport-Security", "max-age=1")
            .with_header("X-Frame-Options", "SAMEORIGIN")
    });
    let s = SiteBuilder::new("rhp-custom", &o)
        .block(
            "[[response_headers_policies]]\nname = \"site-headers\"\n\
             custom_headers_config = [\
             { header = \"X-Kept\", value = \"policy\", override = false }, \
             { header = \"X-Replaced\", value = \"policy\", override = true }, \
             { header = \"X-Added\", value = \"policy\", override = false }]\n\
             remove_headers_config = [{ header = \"X-Powered-By\" }, { header = \"Server\" }]\n\
             security_headers_config = { \
             strict_transport_security = { access_control_max_age_sec = 63072000, include_subdomains = true, preload = true, override = true }, \
             frame_options = { frame_option = \"DENY\", override = false }, \
             content_security_policy = { content_security_policy = \"default-src 'self'\", override = true } }\n",
        )
        .default_behavior("response_headers_policy = \"site-headers\"")
        .start();
    for r in miss_then_hit(&s, "/custom", &[]) {
        for (name, value) in [
            ("x-kept", Some("origin")),
            ("x-replaced", Some("policy")),
            ("x-added", Some("policy")),
            ("x-powered-by", None),
            // "CloudFront adds its own version of these headers ... the header's value is CloudFront"
            ("server", Some("CloudFront")),
            (
                "strict-transport-security",
                Some("max-age=63072000; includeSubDomains; preload"),
            ),
            ("x-frame-options", Some("SAMEORIGIN")),
            ("content-security-policy", Some("default-src 'self'")),
            ("x-origin-name", Some("o")),
        ] {
            assert_eq!(one(&r, name).as_deref(), value, "{name}: {r:?}");
        }
        assert_eq!(r.body_text(), "origin o: GET /custom");
    }
}

fn timing_site(label: &str, o: &Origin, rate: &str) -> Site {
    SiteBuilder::new(label, o)
        .block(&format!(
            "[[response_headers_policies]]\nname = \"timing\"\n\
             server_timing_headers_config = {{ enabled = true, sampling_rate = {rate} }}\n"
        ))
        .default_behavior("response_headers_policy = \"timing\"")
        .start()
}

/// The metric names of a `Server-Timing` value, in order.
fn metric_names(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(|m| m.split(';').next().unwrap_or("").trim())
        .collect()
}

#[test]
fn server_timing_on_miss_and_hit() {
    let o = Origin::start_with("o", |req| {
        default_origin_response("o", req).with_header("Server-Timing", "db;dur=53")
    });
    let s = timing_site("rhp-timing", &o, "100");
    let [miss, hit] = miss_then_hit(&s, "/t", &[]);
    let value = one(&miss, "server-timing").unwrap_or_default();
    assert_eq!(
        metric_names(&value),
        [
            "cdn-upstream-layer",
            "cdn-upstream-dns",
            "cdn-upstream-connect",
            "cdn-upstream-fbl",
            "cdn-cache-miss",
            "cdn-pop",
            "cdn-rid",
            "cdn-downstream-fbl",
            "db",
        ],
        "{value}"
    );
    assert!(value.starts_with("cdn-upstream-layer;desc=\"EDGE\",cdn-upstream-dns;dur=0,"));
    for r in [&miss, &hit] {
        let value = one(r, "server-timing").unwrap_or_default();
        let pop = r.header("x-amz-cf-pop").unwrap_or("?");
        let rid = r.header("x-amz-cf-id").unwrap_or("?");
        assert!(
            value.contains(&format!("cdn-pop;desc=\"{pop}\"")),
            "{value}"
        );
        assert!(
            value.contains(&format!("cdn-rid;desc=\"{rid}\"")),
            "{value}"
        );
    }
    let value = one(&hit, "server-timing").unwrap_or_default();
    assert_eq!(
        metric_names(&value),
        [
            "cdn-cache-hit",
            "cdn-pop",
            "cdn-rid",
            "cdn-hit-layer",
            "cdn-downstream-fbl"
        ],
        "the origin's value is not in a hit's: {value}"
    );
    assert!(value.contains("cdn-hit-layer;desc=\"EDGE\""), "{value}");
}

#[test]
fn server_timing_sampling_and_pragma() {
    let o = Origin::start("o");
    let s = timing_site("rhp-timing-0", &o, "0");
    for r in miss_then_hit(&s, "/t", &[]) {
        assert!(!r.headers.contains("server-timing"), "{r:?}");
    }
    // "Even when the sampling rate is set to zero (0), CloudFront adds the Server-Timing header
    // to the response if the request contains the Pragma: server-timing header."
    let asked = s.get("/t", &[("Pragma", "server-timing")]);
    let value = one(&asked, "server-timing").unwrap_or_default();
    assert!(value.starts_with("cdn-cache-hit,"), "{asked:?}");
}
