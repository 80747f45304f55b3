//! The cache key: what makes two viewer requests one cached object or two, judged by how many
//! requests reach a recording origin. Path, query strings (none / whitelist / allExcept / all),
//! headers (whitelist), cookies (none / whitelist / all), the Accept-Encoding normalisation, the
//! distribution (not the Host alias) in the key, and viewer Cache-Control / Pragma ignored.
//!
//! Everything that is in the key is also forwarded to the origin, and nothing else from the
//! viewer's query string or cookies is (cache policy `ParametersInCacheKeyAndForwardedToOrigin`,
//! no origin request policy), so the tests also check what the origin received.

mod common;

use common::*;

/// A 200 from the origin with no caching headers: cached for the policy's DefaultTTL.
fn plain_origin(name: &str) -> Origin {
    Origin::start(name)
}

/// Asserts `r` is a 200 whose body is the default origin answer for `target`.
fn assert_body(r: &Response, origin: &str, target: &str) {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body_text(),
        format!("origin {origin}: GET {target}"),
        "{r:?}"
    );
}

/// A policy with a long DefaultTTL and the given key settings.
fn keyed_policy(settings: &str) -> String {
    format!("min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400\n{settings}")
}

#[test]
fn path_is_in_the_key_case_sensitively() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-path", &o).start();

    let r = site.get("/k/a.txt", &[]);
    assert_body(&r, "o", "/k/a.txt");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/k/a.txt", &[]);
    assert_body(&r, "o", "/k/a.txt");
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/k/a.txt"), 1, "{:#?}", o.requests());

    // Another path, and the same path in another case, are other objects.
    let r = site.get("/k/b.txt", &[]);
    assert_body(&r, "o", "/k/b.txt");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/k/A.txt", &[]);
    assert_body(&r, "o", "/k/A.txt");
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(o.count_path("/k/b.txt"), 1);
    assert_eq!(o.count_path("/k/A.txt"), 1);
    assert_eq!(o.count_path("/k/a.txt"), 1);
}

#[test]
fn query_strings_none_are_neither_in_the_key_nor_forwarded() {
    let o = plain_origin("o");
    // Managed-CachingOptimized: query_string_behavior none.
    let site = SiteBuilder::new("keys-qs-none", &o).start();

    let r = site.get("/q/none?x=1&y=2", &[]);
    assert_body(&r, "o", "/q/none");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/q/none?x=2", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_body(&r, "o", "/q/none");
    let r = site.get("/q/none", &[]);
    assert_from_edge(&r, "Hit from cloudfront");

    let got = o.requests_matching(|r| r.path() == "/q/none");
    assert_eq!(got.len(), 1, "one object for every query string: {got:#?}");
    assert_eq!(
        got[0].target, "/q/none",
        "no query string forwarded: {got:#?}"
    );
}

#[test]
fn query_strings_whitelist_keys_and_forwards_only_the_listed_names() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-qs-whitelist", &o)
        .cache_policy(
            "qs-whitelist",
            &keyed_policy(
                "query_strings_config = { query_string_behavior = \"whitelist\", query_strings = [\"v\"] }",
            ),
        )
        .policy("qs-whitelist")
        .start();

    let r = site.get("/q/wl?v=1&utm=a", &[]);
    assert_body(&r, "o", "/q/wl?v=1");
    assert_from_edge(&r, "Miss from cloudfront");
    // A parameter outside the list does not make another object.
    let r = site.get("/q/wl?v=1&utm=b", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_body(&r, "o", "/q/wl?v=1");
    // A listed parameter with another value does.
    let r = site.get("/q/wl?v=2&utm=a", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_body(&r, "o", "/q/wl?v=2");
    // And so does its absence.
    let r = site.get("/q/wl?utm=a", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_body(&r, "o", "/q/wl");

    assert_eq!(o.count_target("/q/wl?v=1"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/wl?v=2"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/wl"), 1, "{:#?}", o.requests());
    assert_eq!(
        o.requests_containing("utm").len(),
        0,
        "utm is not in the policy, so it is not forwarded: {:#?}",
        o.requests()
    );
}

#[test]
fn query_strings_all_except_keys_and_forwards_all_but_the_listed_names() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-qs-allexcept", &o)
        .cache_policy(
            "qs-allexcept",
            &keyed_policy(
                "query_strings_config = { query_string_behavior = \"allExcept\", query_strings = [\"utm_source\"] }",
            ),
        )
        .policy("qs-allexcept")
        .start();

    let r = site.get("/q/ae?a=1&utm_source=x", &[]);
    assert_body(&r, "o", "/q/ae?a=1");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/q/ae?a=1&utm_source=y", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/q/ae?a=2&utm_source=x", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_body(&r, "o", "/q/ae?a=2");
    let r = site.get("/q/ae?a=1&b=3", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_body(&r, "o", "/q/ae?a=1&b=3");

    assert_eq!(o.count_target("/q/ae?a=1"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/ae?a=2"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/ae?a=1&b=3"), 1, "{:#?}", o.requests());
    assert_eq!(o.requests_containing("utm_source").len(), 0);
}

#[test]
fn query_strings_all_keys_and_forwards_every_parameter() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-qs-all", &o)
        .cache_policy(
            "qs-all",
            &keyed_policy("query_strings_config = { query_string_behavior = \"all\" }"),
        )
        .policy("qs-all")
        .start();

    let r = site.get("/q/all?a=1&b=2", &[]);
    assert_body(&r, "o", "/q/all?a=1&b=2");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/q/all?a=1&b=2", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/q/all?a=1&b=3", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_body(&r, "o", "/q/all?a=1&b=3");
    let r = site.get("/q/all", &[]);
    assert_from_edge(&r, "Miss from cloudfront");

    assert_eq!(o.count_target("/q/all?a=1&b=2"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/all?a=1&b=3"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/q/all"), 1, "{:#?}", o.requests());
}

#[test]
fn whitelisted_header_makes_objects_and_other_headers_do_not() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-headers", &o)
        .cache_policy(
            "by-language",
            &keyed_policy(
                "headers_config = { header_behavior = \"whitelist\", headers = [\"Accept-Language\"] }",
            ),
        )
        .policy("by-language")
        .behavior("/nolang/*", "o", "Managed-CachingOptimized", &[])
        .start();

    let en = [("Accept-Language", "en"), ("X-Other", "1")];
    let r = site.get("/h/page", &en);
    assert_from_edge(&r, "Miss from cloudfront");
    // The same key with another value of a header outside the key: one object.
    let r = site.get(
        "/h/page",
        &[
            ("Accept-Language", "en"),
            ("X-Other", "2"),
            ("User-Agent", "other-agent/1.0"),
        ],
    );
    assert_from_edge(&r, "Hit from cloudfront");
    // Another value of the header in the key: another object. The header name is case
    // insensitive.
    let r = site.get("/h/page", &[("accept-language", "fr")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/h/page", &[("Accept-Language", "fr")]);
    assert_from_edge(&r, "Hit from cloudfront");

    let got = o.requests_matching(|r| r.path() == "/h/page");
    assert_eq!(got.len(), 2, "two objects: {got:#?}");
    // What is in the key is forwarded.
    assert_eq!(got[0].header("accept-language"), Some("en"), "{got:#?}");
    assert_eq!(got[1].header("accept-language"), Some("fr"), "{got:#?}");

    // Without Accept-Language in the policy, it is neither in the key nor forwarded
    // (RequestAndResponseBehaviorCustomOrigin: removed unless in the policy).
    let r = site.get("/nolang/page", &[("Accept-Language", "en")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/nolang/page", &[("Accept-Language", "de")]);
    assert_from_edge(&r, "Hit from cloudfront");
    let q = o.last_for_path("/nolang/page");
    assert_eq!(o.count_path("/nolang/page"), 1);
    assert_eq!(q.header("accept-language"), None, "{q:#?}");
}

#[test]
fn cookies_none_whitelist_and_all() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-cookies", &o)
        .cache_policy(
            "cookie-session",
            &keyed_policy(
                "cookies_config = { cookie_behavior = \"whitelist\", cookies = [\"session\"] }",
            ),
        )
        .cache_policy(
            "cookie-all",
            &keyed_policy("cookies_config = { cookie_behavior = \"all\" }"),
        )
        .behavior("/cw/*", "o", "cookie-session", &[])
        .behavior("/ca/*", "o", "cookie-all", &[])
        .start();

    // none (Managed-CachingOptimized): cookies are not in the key and not forwarded.
    let r = site.get("/cn/x", &[("Cookie", "session=1; other=a")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/cn/x", &[("Cookie", "session=2; other=b")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/cn/x"), 1);
    let q = o.last_for_path("/cn/x");
    assert_eq!(q.header("cookie"), None, "{q:#?}");

    // whitelist: only `session` is in the key and forwarded.
    let r = site.get("/cw/x", &[("Cookie", "session=1; other=a")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/cw/x", &[("Cookie", "other=b; session=1")]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/cw/x", &[("Cookie", "session=2; other=a")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let got = o.requests_matching(|r| r.path() == "/cw/x");
    assert_eq!(got.len(), 2, "two objects: {got:#?}");
    assert_eq!(got[0].header("cookie"), Some("session=1"), "{got:#?}");
    assert_eq!(got[1].header("cookie"), Some("session=2"), "{got:#?}");

    // all: every cookie is in the key and forwarded.
    let r = site.get("/ca/x", &[("Cookie", "a=1; b=2")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/ca/x", &[("Cookie", "a=1; b=2")]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/ca/x", &[("Cookie", "a=1; b=3")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let got = o.requests_matching(|r| r.path() == "/ca/x");
    assert_eq!(got.len(), 2, "two objects: {got:#?}");
    let mut cookies: Vec<&str> = got[0]
        .header("cookie")
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .collect();
    cookies.sort();
    assert_eq!(cookies, ["a=1", "b=2"], "{got:#?}");
}

#[test]
fn accept_encoding_is_normalised_to_gzip_and_br() {
    let o = plain_origin("o");
    // Managed-CachingOptimized enables gzip and brotli in the key.
    let site = SiteBuilder::new("keys-accept-encoding", &o).start();

    let r = site.get("/ae/x", &[("Accept-Encoding", "gzip, deflate")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/ae/x", &[("Accept-Encoding", "gzip")]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/ae/x", &[("Accept-Encoding", "deflate, gzip;q=0.5")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/ae/x"), 1, "{:#?}", o.requests());
    let q = o.last_for_path("/ae/x");
    let forwarded = q.header("accept-encoding").unwrap_or("");
    assert!(
        forwarded.contains("gzip") && !forwarded.contains("deflate"),
        "the origin gets the normalised Accept-Encoding: {q:#?}"
    );

    // br is another object.
    let r = site.get("/ae/x", &[("Accept-Encoding", "br")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/ae/x", &[("Accept-Encoding", "br")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/ae/x"), 2, "{:#?}", o.requests());
    let q = o.last_for_path("/ae/x");
    let forwarded = q.header("accept-encoding").unwrap_or("");
    assert!(forwarded.contains("br"), "{q:#?}");

    // No Accept-Encoding, and encodings outside gzip/br, share a third object.
    let r = site.get("/ae/x", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/ae/x", &[("Accept-Encoding", "deflate")]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/ae/x", &[("Accept-Encoding", "identity")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/ae/x"), 3, "{:#?}", o.requests());
}

#[test]
fn aliases_of_one_distribution_share_objects_and_distributions_do_not() {
    let o = plain_origin("o");
    let other = plain_origin("other");
    let other_port = other.port();
    let site = SiteBuilder::new("keys-aliases", &o)
        .aliases(&["a.example.test", "b.example.test"])
        .distribution(&format!(
            r#"[[distributions]]
id = "other"
aliases = ["c.example.test"]

  [[distributions.origins]]
  id = "o2"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {other_port}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "o2"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"
"#
        ))
        .start();

    // The key holds the distribution, not the Host alias the viewer used.
    let r = site.get("/shared.css", &[("Host", "a.example.test")]);
    assert_body(&r, "o", "/shared.css");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/shared.css", &[("Host", "b.example.test")]);
    assert_body(&r, "o", "/shared.css");
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/shared.css", &[("Host", "A.Example.Test:80")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/shared.css"), 1, "{:#?}", o.requests());

    // Another distribution never gets this one's object for the same path.
    let r = site.get("/shared.css", &[("Host", "c.example.test")]);
    assert_body(&r, "other", "/shared.css");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/shared.css", &[("Host", "c.example.test")]);
    assert_body(&r, "other", "/shared.css");
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(other.count_path("/shared.css"), 1);
    assert_eq!(o.count_path("/shared.css"), 1);
}

#[test]
fn viewer_cache_control_and_pragma_never_force_a_refetch() {
    let o = plain_origin("o");
    let site = SiteBuilder::new("keys-viewer-cc", &o).start();

    let r = site.get("/vc/x", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    for h in [
        ("Cache-Control", "no-cache"),
        ("Cache-Control", "no-store"),
        ("Cache-Control", "max-age=0"),
        ("Cache-Control", "must-revalidate"),
        ("Pragma", "no-cache"),
    ] {
        let r = site.get("/vc/x", &[h]);
        assert_body(&r, "o", "/vc/x");
        assert_from_edge(&r, "Hit from cloudfront");
    }
    assert_eq!(o.count_path("/vc/x"), 1, "{:#?}", o.requests());
}

#[test]
fn the_other_managed_cache_policies_key_as_aws_defines_them() {
    // `/…/cc/…` paths are cacheable by the origin's own header; the rest carry no caching header.
    let o = Origin::start_with("o", |req| {
        let r = default_origin_response("o", req);
        if req.path().contains("/cc/") {
            r.with_header("Cache-Control", "max-age=3600")
        } else {
            r
        }
    });
    let site = SiteBuilder::new("keys-managed", &o)
        .aliases(&["a.example.test", "b.example.test"])
        .behavior(
            "/unc/*",
            "o",
            "Managed-CachingOptimizedForUncompressedObjects",
            &[],
        )
        .behavior("/uoc/*", "o", "Managed-UseOriginCacheControlHeaders", &[])
        .behavior(
            "/uocq/*",
            "o",
            "Managed-UseOriginCacheControlHeaders-QueryStrings",
            &[],
        )
        .start();
    let a = ("Host", "a.example.test");
    let b = ("Host", "b.example.test");

    // CachingOptimizedForUncompressedObjects: Accept-Encoding is not in the key.
    let r = site.get("/unc/x", &[a, ("Accept-Encoding", "gzip")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/unc/x", &[a, ("Accept-Encoding", "br")]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/unc/x"), 1, "{:#?}", o.requests());

    // UseOriginCacheControlHeaders: DefaultTTL 0, so nothing is kept without the origin's say ...
    site.get("/uoc/plain", &[a]);
    site.get("/uoc/plain", &[a]);
    assert_eq!(o.count_path("/uoc/plain"), 2, "{:#?}", o.requests());
    // ... and with it, Host and every cookie are in the key, the query string is not.
    let r = site.get("/uoc/cc/x?q=1", &[a]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/uoc/cc/x?q=2", &[a]);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/uoc/cc/x", &[b]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/uoc/cc/x", &[a, ("Cookie", "k=v")]);
    assert_from_edge(&r, "Miss from cloudfront");
    let got = o.requests_matching(|r| r.path() == "/uoc/cc/x");
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].target, "/uoc/cc/x", "no query forwarded: {got:#?}");
    assert_eq!(
        got[0].header("host"),
        Some("a.example.test"),
        "Host is in the key, so it is forwarded: {got:#?}"
    );
    assert_eq!(got[1].header("host"), Some("b.example.test"), "{got:#?}");
    assert_eq!(got[2].header("cookie"), Some("k=v"), "{got:#?}");

    // UseOriginCacheControlHeaders-QueryStrings: the query string is in the key too.
    let r = site.get("/uocq/cc/x?q=1", &[a]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/uocq/cc/x?q=2", &[a]);
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/uocq/cc/x?q=1", &[a]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_target("/uocq/cc/x?q=1"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_target("/uocq/cc/x?q=2"), 1, "{:#?}", o.requests());
}
