//! The request that reaches a custom origin through the edge, header by header, for each kind of
//! origin request policy: none (the cache policy alone), `Managed-AllViewer`,
//! `Managed-AllViewerExceptHostHeader`, `Managed-UserAgentRefererHeaders`,
//! `Managed-CORS-CustomOrigin` and a custom policy with a header whitelist.
//!
//! The expectations are CloudFront's documented ones:
//! - reference §1.1 "Headers to the origin" (from RequestAndResponseBehaviorCustomOrigin, "HTTP
//!   request headers and CloudFront behavior"): `Via` and `X-Amz-Cf-Id` added, `X-Forwarded-For`
//!   appended, `User-Agent: Amazon CloudFront` and `Host: <origin domain_name>` unless a policy
//!   forwards them, `Accept`, `Accept-Charset`, `Accept-Language`, `Referer`, `Cookie` and
//!   `Authorization` (GET/HEAD) removed unless a policy forwards them, `X-Forwarded-Proto`,
//!   `X-Real-IP`, `X-HTTP-Method-Override`, `Proxy-*`, `TE`, `Trailer`, `Expect` and `X-Edge-*`
//!   always removed, `Accept-Encoding` normalised, `Connection: Keep-Alive`;
//! - "Control origin requests with a policy": with a cache policy, "other information from the
//!   viewer request, such as URL query strings, HTTP headers, and cookies, is not included in the
//!   origin request by default (exception: with legacy cache settings ...)", and "when a cache
//!   behavior does not have an origin request policy attached, the origin request includes all the
//!   values that are specified in the cache policy, but nothing more". The API's
//!   `OriginRequestPolicyHeadersConfig.HeaderBehavior`: `none` – no viewer headers; `whitelist` –
//!   only the listed ones; `allViewer` – all; `allExcept` – all but the listed ones. So a viewer's
//!   own header (`X-Custom-Thing`, `Origin`) reaches the origin only when a policy forwards it;
//! - "Add custom headers to origin requests": an origin custom header overwrites a viewer header of
//!   the same name;
//! - "Compression support" (Control the cache key with a policy): with gzip and/or br enabled the
//!   origin gets `br,gzip`, `gzip` or `br`, or `Accept-Encoding: identity` when the viewer accepts
//!   neither; with both disabled `Accept-Encoding` is an ordinary header (not forwarded by default).
//!
//! Every check of one request is made before failing, so a failure lists everything that differs.

mod common;

use common::*;

/// The value of the origin's custom header, and the viewer's forged one.
const SECRET: &str = "origin-secret";

/// What a browser-like viewer sends: one of every header the table treats specially, plus a
/// header of its own (`X-Custom-Thing`) and forgeries of what the edge adds.
const VIEWER: &[(&str, &str)] = &[
    ("Accept", "text/html,application/xhtml+xml"),
    ("Accept-Charset", "utf-8"),
    ("Accept-Language", "en-GB,en;q=0.8"),
    ("Accept-Encoding", "deflate, gzip;q=1.0, br"),
    ("Referer", "https://ref.example.test/page"),
    ("Cookie", "session=abc; theme=dark"),
    ("Authorization", "Bearer viewer-token"),
    ("User-Agent", "ViewerAgent/1.0"),
    ("Origin", "https://app.example.test"),
    ("X-Custom-Thing", "custom-value"),
    ("X-Forwarded-For", "203.0.113.9"),
    ("X-Forwarded-Proto", "https"),
    ("X-Real-IP", "198.51.100.7"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
    ("Proxy-Connection", "keep-alive"),
    ("TE", "trailers"),
    ("Trailer", "X-Checksum"),
    ("Expect", "100-continue"),
    ("X-Edge-Foo", "bar"),
    ("X-Amz-Cf-Id", "forged-request-id"),
    ("X-Origin-Verify", "forged-by-the-viewer"),
];

/// Headers CloudFront always removes, whatever the policies say.
const ALWAYS_REMOVED: &[&str] = &[
    "X-Forwarded-Proto",
    "X-Real-IP",
    "X-HTTP-Method-Override",
    "Proxy-Authorization",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Expect",
    "X-Edge-Foo",
];

/// An origin that answers 200 with no caching headers.
fn origin() -> Origin {
    Origin::start("o")
}

/// A site whose origin `o` has the custom header `X-Origin-Verify: origin-secret`, with the
/// default behavior on `cache_policy` and `origin_request_policy` (if any).
fn site(label: &str, o: &Origin, cache_policy: &str, orp: Option<&str>) -> SiteBuilder {
    let mut b = SiteBuilder::new(label, o)
        .policy(cache_policy)
        .origin_keys(&[&format!("custom_headers = {{ X-Origin-Verify = \"{SECRET}\" }}")])
        .default_behavior(
            "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]",
        );
    if let Some(p) = orp {
        b = b.default_behavior(&format!("origin_request_policy = \"{p}\""));
    }
    b
}

/// Everything that differs from what CloudFront would send, for one origin request.
struct Check<'a> {
    what: &'a str,
    req: &'a Request,
    wrong: Vec<String>,
}

impl<'a> Check<'a> {
    fn new(what: &'a str, req: &'a Request) -> Check<'a> {
        Check {
            what,
            req,
            wrong: Vec::new(),
        }
    }

    /// Exactly one `name` field, equal to `value`.
    fn eq(&mut self, name: &str, value: &str, why: &str) {
        let got = self.req.headers.get_all(name);
        if got != [value] {
            self.wrong
                .push(format!("{name}: want {value:?} ({why}), got {got:?}"));
        }
    }

    /// No `name` field at all.
    fn absent(&mut self, name: &str, why: &str) {
        let got = self.req.headers.get_all(name);
        if !got.is_empty() {
            self.wrong
                .push(format!("{name}: want it removed ({why}), got {got:?}"));
        }
    }

    /// `name` as the viewer sent it (one field, same value).
    fn forwarded(&mut self, name: &str, why: &str) {
        let value = viewer_value(name);
        self.eq(name, value, why);
    }

    fn fail(&mut self, problem: String) {
        self.wrong.push(problem);
    }

    fn finish(self) {
        assert!(
            self.wrong.is_empty(),
            "{}: the origin request differs from CloudFront's in {} way(s):\n  - {}\n{:#?}",
            self.what,
            self.wrong.len(),
            self.wrong.join("\n  - "),
            self.req
        );
    }
}

fn viewer_value(name: &str) -> &'static str {
    VIEWER
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{name} is not in VIEWER"))
}

/// Sends the whole VIEWER header set (and `extra`) with `method` to `path`; returns the viewer's
/// response and the one request the origin received for `path`.
fn send(
    site: &Site,
    o: &Origin,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> (Response, Request) {
    let mut headers: Vec<(&str, &str)> = VIEWER.to_vec();
    headers.extend_from_slice(extra);
    let body: &[u8] = if method == "POST" { b"a=1" } else { b"" };
    let r = site.request(method, path, &headers, body);
    assert_eq!(r.status, 200, "{method} {path}: {r:?}");
    let got = o.requests_matching(|q| q.path() == path);
    assert_eq!(
        got.len(),
        1,
        "{method} {path} should reach the origin once: {:#?}",
        o.requests()
    );
    (r, got.into_iter().next().expect("one"))
}

/// What every origin request carries whatever the policies: `Via` (the edge's, as in the
/// response), a fresh `X-Amz-Cf-Id`, the viewer's address appended to `X-Forwarded-For`, the
/// origin's custom header in place of the viewer's, and none of the always-removed headers.
fn check_edge_headers(c: &mut Check<'_>, resp: &Response) {
    let via = c.req.headers.get_all("via");
    let well_formed = via.len() == 1
        && via[0]
            .strip_prefix("1.1 ")
            .and_then(|v| v.strip_suffix(".cloudfront.net (CloudFront)"))
            .is_some_and(|h| !h.is_empty() && h.chars().all(|ch| ch.is_ascii_hexdigit()));
    if !well_formed {
        c.fail(format!(
            "Via: want one `1.1 <hex>.cloudfront.net (CloudFront)` (added), got {via:?}"
        ));
    } else if resp.header("via") != Some(via[0]) {
        c.fail(format!(
            "Via: the origin got {:?} but the viewer {:?} from the same edge",
            via[0],
            resp.header("via")
        ));
    }
    let id = c.req.headers.get_all("x-amz-cf-id");
    if id.len() != 1 || id[0].is_empty() || id[0] == viewer_value("X-Amz-Cf-Id") {
        c.fail(format!(
            "X-Amz-Cf-Id: want one value added by the edge (not the viewer's forgery), got {id:?}"
        ));
    }
    let xff: Vec<Vec<String>> = c
        .req
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .collect();
    if xff != [vec!["203.0.113.9".to_string(), "127.0.0.1".to_string()]] {
        c.fail(format!(
            "X-Forwarded-For: want `203.0.113.9, 127.0.0.1` (the viewer's address appended), got {:?}",
            c.req.headers.get_all("x-forwarded-for")
        ));
    }
    c.eq(
        "X-Origin-Verify",
        SECRET,
        "an origin custom header overwrites the viewer's",
    );
    for name in ALWAYS_REMOVED {
        c.absent(name, "always removed");
    }
}

/// Headers that only a policy forwards: `forwarded` lists the ones this behavior's policies
/// forward; the others must be absent.
fn check_policy_headers(c: &mut Check<'_>, forwarded: &[&str], why: &str) {
    for name in [
        "Accept",
        "Accept-Charset",
        "Accept-Language",
        "Referer",
        "Cookie",
        "Authorization",
        "Origin",
        "X-Custom-Thing",
    ] {
        if forwarded.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            c.forwarded(name, why);
        } else {
            c.absent(name, &format!("not forwarded by {why}"));
        }
    }
}

#[test]
fn no_origin_request_policy_sends_only_what_the_cache_policy_keys_on() {
    let o = origin();
    let site = site("orp-none", &o, "Managed-CachingOptimized", None).start();

    let (r, q) = send(&site, &o, "GET", "/h/none", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let mut c = Check::new("CachingOptimized, no origin request policy, GET", &q);
    check_edge_headers(&mut c, &r);
    check_policy_headers(&mut c, &[], "CachingOptimized alone");
    c.eq("Host", ORIGIN_DOMAIN, "the origin's domain_name");
    c.eq(
        "User-Agent",
        "Amazon CloudFront",
        "replaced unless forwarded",
    );
    c.eq(
        "Accept-Encoding",
        "br,gzip",
        "normalised: CachingOptimized enables gzip and br",
    );
    c.finish();
}

#[test]
fn managed_all_viewer_forwards_every_viewer_header_but_the_always_removed_ones() {
    let o = origin();
    // With caching off, as AWS pairs it: "If caching is turned off, then you can use AllViewer
    // and AllViewerExceptHostHeader origin request policies to forward an authorization header"
    // (knowledge center, "How can I configure CloudFront to forward the Authorization header").
    let site = site(
        "orp-all-viewer",
        &o,
        "Managed-CachingDisabled",
        Some("Managed-AllViewer"),
    )
    .start();

    let (r, q) = send(&site, &o, "GET", "/h/all-viewer", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let mut c = Check::new("CachingDisabled + Managed-AllViewer, GET", &q);
    check_edge_headers(&mut c, &r);
    check_policy_headers(
        &mut c,
        &[
            "Accept",
            "Accept-Charset",
            "Accept-Language",
            "Referer",
            "Cookie",
            "Authorization",
            "Origin",
            "X-Custom-Thing",
        ],
        "Managed-AllViewer",
    );
    c.eq("Host", SITE_HOST, "AllViewer forwards the viewer's Host");
    c.forwarded("User-Agent", "AllViewer forwards the viewer's User-Agent");
    c.forwarded(
        "Accept-Encoding",
        "compression support is off in CachingDisabled, so Accept-Encoding is an ordinary viewer header, forwarded by the policy",
    );
    c.finish();
}

/// Legacy settings that forward all headers (`headers = ["*"]`): "CloudFront doesn't cache the
/// objects that are associated with this cache behavior. Instead, CloudFront sends every request
/// to the origin" (API reference, `ForwardedValues.Headers`), with every viewer header, as
/// Managed-AllViewer does; cookies go by their own setting.
#[test]
fn legacy_forwarding_of_all_headers_sends_every_request_with_every_header() {
    let o = origin();
    let site = site("legacy-all-headers", &o, "Managed-CachingDisabled", None)
        .legacy_behavior(
            "/legacy/*",
            "o",
            &[r#"forwarded_values = { query_string = true, cookies = { forward = "all" }, headers = ["*"] }"#],
        )
        .start();

    let (r, q) = send(&site, &o, "GET", "/legacy/all", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let mut c = Check::new("legacy headers = [\"*\"], GET", &q);
    check_edge_headers(&mut c, &r);
    check_policy_headers(
        &mut c,
        &[
            "Accept",
            "Accept-Charset",
            "Accept-Language",
            "Referer",
            "Cookie",
            "Authorization",
            "Origin",
            "X-Custom-Thing",
        ],
        "legacy forwarding of all headers",
    );
    c.eq("Host", SITE_HOST, "all headers: the viewer's Host");
    c.forwarded("User-Agent", "all headers: the viewer's User-Agent");
    c.finish();
    let again = site.get("/legacy/all", VIEWER);
    assert_from_edge(&again, "Miss from cloudfront");
    assert_eq!(
        o.requests_matching(|q| q.path() == "/legacy/all").len(),
        2,
        "nothing is cached: every request goes to the origin"
    );
}

#[test]
fn managed_all_viewer_except_host_header_sends_the_origin_domain_as_host() {
    let o = origin();
    // The usual pairing (and ferry's default topology): no caching, compression support off.
    let site = site(
        "orp-all-except-host",
        &o,
        "Managed-CachingDisabled",
        Some("Managed-AllViewerExceptHostHeader"),
    )
    .start();

    let (r, q) = send(&site, &o, "GET", "/h/except-host", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let mut c = Check::new(
        "CachingDisabled + Managed-AllViewerExceptHostHeader, GET",
        &q,
    );
    check_edge_headers(&mut c, &r);
    check_policy_headers(
        &mut c,
        &[
            "Accept",
            "Accept-Charset",
            "Accept-Language",
            "Referer",
            "Cookie",
            "Authorization",
            "Origin",
            "X-Custom-Thing",
        ],
        "Managed-AllViewerExceptHostHeader",
    );
    c.eq(
        "Host",
        ORIGIN_DOMAIN,
        "Host is the one header not forwarded",
    );
    c.forwarded("User-Agent", "all viewer headers but Host are forwarded");
    c.forwarded(
        "Accept-Encoding",
        "compression support is off in CachingDisabled, so Accept-Encoding is an ordinary viewer header, forwarded by the policy",
    );
    c.finish();
}

#[test]
fn managed_user_agent_referer_headers_forwards_just_those_two() {
    let o = origin();
    let site = site(
        "orp-ua-referer",
        &o,
        "Managed-CachingOptimized",
        Some("Managed-UserAgentRefererHeaders"),
    )
    .start();

    let (r, q) = send(&site, &o, "GET", "/h/ua-referer", &[]);
    let mut c = Check::new(
        "CachingOptimized + Managed-UserAgentRefererHeaders, GET",
        &q,
    );
    check_edge_headers(&mut c, &r);
    check_policy_headers(&mut c, &["Referer"], "Managed-UserAgentRefererHeaders");
    c.forwarded("User-Agent", "the policy forwards User-Agent");
    c.eq("Host", ORIGIN_DOMAIN, "the origin's domain_name");
    c.eq("Accept-Encoding", "br,gzip", "normalised");
    c.finish();
}

#[test]
fn managed_cors_custom_origin_forwards_origin_only() {
    let o = origin();
    let site = site(
        "orp-cors",
        &o,
        "Managed-CachingOptimized",
        Some("Managed-CORS-CustomOrigin"),
    )
    .start();

    let (r, q) = send(&site, &o, "GET", "/h/cors", &[]);
    let mut c = Check::new("CachingOptimized + Managed-CORS-CustomOrigin, GET", &q);
    check_edge_headers(&mut c, &r);
    check_policy_headers(&mut c, &["Origin"], "Managed-CORS-CustomOrigin");
    c.eq(
        "User-Agent",
        "Amazon CloudFront",
        "replaced unless forwarded",
    );
    c.eq("Host", ORIGIN_DOMAIN, "the origin's domain_name");
    c.eq("Accept-Encoding", "br,gzip", "normalised");
    c.finish();
}

#[test]
fn a_custom_whitelist_policy_forwards_exactly_the_listed_headers() {
    let o = origin();
    let site = site(
        "orp-whitelist",
        &o,
        "Managed-CachingOptimized",
        Some("forward-some"),
    )
    .block(
        "[[origin_request_policies]]\nname = \"forward-some\"\nheaders_config = { header_behavior = \"whitelist\", headers = [\"x-custom-thing\", \"Accept-Language\", \"Referer\"] }\n",
    )
    .start();

    let (r, q) = send(
        &site,
        &o,
        "GET",
        "/h/whitelist",
        &[("X-Other-Thing", "other")],
    );
    let mut c = Check::new(
        "CachingOptimized + whitelist [x-custom-thing, Accept-Language, Referer], GET",
        &q,
    );
    check_edge_headers(&mut c, &r);
    check_policy_headers(
        &mut c,
        &["X-Custom-Thing", "Accept-Language", "Referer"],
        "the whitelist (names match case-insensitively)",
    );
    c.absent(
        "X-Other-Thing",
        "a whitelist forwards only the listed viewer headers",
    );
    c.eq(
        "User-Agent",
        "Amazon CloudFront",
        "replaced unless forwarded",
    );
    c.eq("Host", ORIGIN_DOMAIN, "the origin's domain_name");
    c.eq("Accept-Encoding", "br,gzip", "normalised");
    c.finish();
}

#[test]
fn authorization_is_removed_on_get_and_head_but_forwarded_on_other_methods() {
    let o = origin();
    let site = site("orp-authorization", &o, "Managed-CachingOptimized", None).start();
    let auth = [("Authorization", "Bearer viewer-token")];

    let mut wrong = Vec::new();
    for (method, path, forwarded) in [
        ("GET", "/h/auth-get", false),
        ("HEAD", "/h/auth-head", false),
        ("POST", "/h/auth-post", true),
        ("PUT", "/h/auth-put", true),
        ("DELETE", "/h/auth-delete", true),
        ("PATCH", "/h/auth-patch", true),
    ] {
        let body: &[u8] = if matches!(method, "POST" | "PUT" | "PATCH") {
            b"a=1"
        } else {
            b""
        };
        let r = site.request(method, path, &auth, body);
        assert_eq!(r.status, 200, "{method} {path}: {r:?}");
        let got = o.last_for_path(path);
        let value = got.header("authorization");
        let ok = if forwarded {
            value == Some("Bearer viewer-token")
        } else {
            value.is_none()
        };
        if !ok {
            wrong.push(format!(
                "{method} {path}: want Authorization {}, got {value:?}",
                if forwarded { "forwarded" } else { "removed" }
            ));
        }
        if method == "POST" && got.body_text() != "a=1" {
            wrong.push(format!("POST body not forwarded: {got:#?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn authorization_on_options_is_removed_only_when_options_responses_are_cached() {
    // The Authorization row of the live "HTTP request headers and CloudFront behavior" table:
    // "OPTIONS requests – CloudFront removes the Authorization header field before forwarding the
    // request to your origin if you configure CloudFront to cache responses to OPTIONS requests.
    // CloudFront forwards the Authorization header field to your origin if you don't configure
    // CloudFront to cache responses to OPTIONS requests." (The reference's summary says only
    // "Authorization (GET/HEAD)".)
    let o = origin();
    let site = site(
        "orp-authorization-options",
        &o,
        "Managed-CachingOptimized",
        None,
    )
    .behavior(
        "/opt-cached/*",
        "o",
        "Managed-CachingOptimized",
        &[
            "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]",
            "cached_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]",
        ],
    )
    .start();
    let auth = [("Authorization", "Bearer viewer-token")];

    let mut wrong = Vec::new();
    for (path, forwarded) in [("/opt-cached/auth", false), ("/h/auth-options", true)] {
        let r = site.request("OPTIONS", path, &auth, b"");
        assert_eq!(r.status, 200, "OPTIONS {path}: {r:?}");
        let value = o
            .last_for_path(path)
            .header("authorization")
            .map(str::to_string);
        let ok = if forwarded {
            value.as_deref() == Some("Bearer viewer-token")
        } else {
            value.is_none()
        };
        if !ok {
            wrong.push(format!(
                "OPTIONS {path}: want Authorization {}, got {value:?}",
                if forwarded {
                    "forwarded (OPTIONS not cached)"
                } else {
                    "removed (OPTIONS cached)"
                }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn accept_encoding_is_normalised_or_identity_with_compression_and_ordinary_without() {
    let o = origin();
    let site = site("orp-accept-encoding", &o, "Managed-CachingOptimized", None)
        .behavior("/plain/*", "o", "Managed-CachingDisabled", &[])
        .behavior("/gzip-only/*", "o", "gzip-only", &[])
        .cache_policy(
            "gzip-only",
            "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 60\nenable_accept_encoding_gzip = true",
        )
        .start();

    let mut wrong = Vec::new();
    // (path, viewer Accept-Encoding, what the origin should get)
    let cases: [(&str, Option<&str>, Option<&str>); 8] = [
        ("/ae/both", Some("gzip, deflate, br"), Some("br,gzip")),
        ("/ae/gzip", Some("deflate, gzip"), Some("gzip")),
        ("/ae/br", Some("br;q=0.9"), Some("br")),
        // "If the viewer does not support Brotli or Gzip ... includes Accept-Encoding: identity".
        ("/ae/neither", Some("deflate, compress"), Some("identity")),
        // "When the viewer request does not include the Accept-Encoding header, CloudFront ...
        // doesn't include it in the corresponding origin request."
        ("/ae/missing", None, None),
        ("/gzip-only/x", Some("gzip, br"), Some("gzip")),
        ("/gzip-only/y", Some("br"), Some("identity")),
        // Both disabled: an ordinary header, not forwarded without a policy that lists it.
        ("/plain/x", Some("gzip, br"), None),
    ];
    for (path, sent, want) in cases {
        let headers: Vec<(&str, &str)> = sent.map(|v| ("Accept-Encoding", v)).into_iter().collect();
        let r = site.get(path, &headers);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let got = o.last_for_path(path);
        let values = got.headers.get_all("accept-encoding");
        let want_v: Vec<&str> = want.into_iter().collect();
        if values != want_v {
            wrong.push(format!(
                "{path}: viewer Accept-Encoding {sent:?}: the origin should get {want:?}, got {values:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn connection_is_replaced_by_keep_alive() {
    // "Connection: CloudFront replaces this header with Connection: Keep-Alive before forwarding
    // the request to your origin."
    let o = origin();
    let site = site("orp-connection", &o, "Managed-CachingOptimized", None).start();

    let mut wrong = Vec::new();
    for (path, connection) in [
        ("/c/none", None),
        ("/c/keep-alive", Some("keep-alive")),
        ("/c/close", Some("close")),
    ] {
        let headers: Vec<(&str, &str)> =
            connection.map(|v| ("Connection", v)).into_iter().collect();
        let r = site.get(path, &headers);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let q = o.last_for_path(path);
        let got = q.headers.get_all("connection");
        if got.len() != 1 || !got[0].eq_ignore_ascii_case("keep-alive") {
            wrong.push(format!(
                "{path} (viewer Connection {connection:?}): want `Connection: Keep-Alive`, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn cloudfront_viewer_headers_are_computed_never_taken_from_the_viewer() {
    let o = origin();
    let site = site("cf-viewer-headers", &o, "by-device", Some("cf-headers"))
        .cache_policy(
            "by-device",
            "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 300\nheaders_config = { header_behavior = \"whitelist\", headers = [\"CloudFront-Is-Mobile-Viewer\"] }",
        )
        .block(
            "[[origin_request_policies]]\nname = \"cf-headers\"\nheaders_config = { header_behavior = \"allViewerAndWhitelistCloudFront\", headers = [\"CloudFront-Forwarded-Proto\", \"CloudFront-Viewer-Address\", \"CloudFront-Viewer-Http-Version\", \"CloudFront-Viewer-City\"] }\n",
        )
        .start();
    const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
    // A desktop client that claims to be a phone in Germany, over HTTPS, in Atlantis.
    let spoofed = [
        ("User-Agent", "curl/8.0"),
        ("CloudFront-Forwarded-Proto", "https"),
        ("CloudFront-Is-Mobile-Viewer", "true"),
        ("CloudFront-Viewer-Country", "DE"),
        ("CloudFront-Viewer-City", "Atlantis"),
    ];
    let r = site.get("/cf/page", &spoofed);
    assert_eq!(r.status, 200, "{r:?}");
    assert_from_edge(&r, "Miss from cloudfront");
    let q = o.last_for_path("/cf/page");
    assert_eq!(
        q.header("cloudfront-forwarded-proto"),
        Some("http"),
        "{q:#?}"
    );
    assert!(
        q.header("cloudfront-viewer-address")
            .is_some_and(|a| a.starts_with("127.0.0.1:") && a.len() > "127.0.0.1:".len()),
        "{q:#?}"
    );
    assert_eq!(
        q.header("cloudfront-viewer-http-version"),
        Some("1.1"),
        "{q:#?}"
    );
    assert_eq!(
        q.header("cloudfront-is-mobile-viewer"),
        Some("false"),
        "{q:#?}"
    );
    assert_eq!(
        q.header("cloudfront-viewer-city"),
        None,
        "unknown to ferry: {q:#?}"
    );
    assert_eq!(
        q.header("cloudfront-viewer-country"),
        None,
        "not named, and never the viewer's: {q:#?}"
    );

    // The cache key has CloudFront's device class: a phone gets its own entry...
    let r = site.get("/cf/page", &[("User-Agent", PHONE)]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(o.count_path("/cf/page"), 2, "{:#?}", o.requests());
    let q = o.last_for_path("/cf/page");
    assert_eq!(
        q.header("cloudfront-is-mobile-viewer"),
        Some("true"),
        "{q:#?}"
    );
    // ...and a desktop claiming to be mobile shares the desktop entry.
    let r = site.get(
        "/cf/page",
        &[
            ("User-Agent", "curl/8.1"),
            ("CloudFront-Is-Mobile-Viewer", "true"),
        ],
    );
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/cf/page"), 2, "{:#?}", o.requests());
}

/// An origin's `Vary: User-Agent` stays in the response when CloudFront's device headers are
/// forwarded (CloudFront keeps it there, and drops it otherwise), and the cache still keys on the
/// device class, not on each User-Agent: two desktop browsers share one entry, a phone has its own.
#[test]
fn vary_user_agent_is_kept_with_device_headers_and_the_cache_keys_on_the_device() {
    let o = Origin::start_with("o", |req| {
        Response::text(
            200,
            format!("for {}", req.header("user-agent").unwrap_or("-")),
        )
        .with_header("Cache-Control", "max-age=300")
        .with_header("Vary", "User-Agent, Accept-Encoding")
    });
    let site = site("vary-device", &o, "by-device", None)
        .cache_policy(
            "by-device",
            "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 300\nheaders_config = { header_behavior = \"whitelist\", headers = [\"CloudFront-Is-Mobile-Viewer\"] }",
        )
        .behavior("/plain/*", "o", "Managed-CachingOptimized", &[])
        .start();
    const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
    let vary = |r: &Response| {
        r.headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    let path = "/d/page";
    let r = site.get(path, &[("User-Agent", "Firefox/1 (X11; Linux x86_64)")]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(vary(&r), ["user-agent", "accept-encoding"], "{r:?}");
    let r = site.get(path, &[("User-Agent", "Firefox/2 (X11; Linux x86_64)")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(vary(&r), ["user-agent", "accept-encoding"], "{r:?}");
    assert_eq!(o.count_path(path), 1, "{:#?}", o.requests());
    let r = site.get(path, &[("User-Agent", PHONE)]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(o.count_path(path), 2, "{:#?}", o.requests());

    // Without device headers CloudFront drops it.
    let r = site.get("/plain/page", &[("User-Agent", "Firefox/1")]);
    assert_eq!(vary(&r), ["accept-encoding"], "{r:?}");
}
