//! Methods and bodies at the caching edge: POST/PUT/PATCH/DELETE pass through and are never
//! cached; HEAD is served from a cached GET; a method outside `allowed_methods` gets 403; only GET
//! and HEAD (and OPTIONS when `cached_methods` has it) are cached; `default_root_object` applies to
//! `/` only; `Set-Cookie` is stripped unless cookies are forwarded; and a response whose body is
//! cut short is never cached.

mod common;

use common::*;

const ALL_METHODS: &str =
    "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]";

/// The default origin answer, made cacheable for an hour.
fn cacheable_origin(name: &'static str) -> Origin {
    Origin::start_with(name, move |req| {
        default_origin_response(name, req).with_header("Cache-Control", "max-age=3600")
    })
}

fn count_method(o: &Origin, method: &str, path: &str) -> usize {
    o.requests_matching(|r| r.method == method && r.path() == path)
        .len()
}

#[test]
fn post_put_patch_delete_pass_through_and_are_never_cached() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-post", &o)
        .default_behavior(ALL_METHODS)
        .start();

    for i in 1..=2 {
        let r = site.request(
            "POST",
            "/m/p",
            &[("Content-Type", "text/plain")],
            b"payload",
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_text(), "origin o: POST /m/p", "{r:?}");
        assert_from_edge(&r, "Miss from cloudfront");
        assert_eq!(count_method(&o, "POST", "/m/p"), i, "{:#?}", o.requests());
    }
    let q = o.last_for_path("/m/p");
    assert_eq!(
        q.body_text(),
        "payload",
        "the body reaches the origin: {q:#?}"
    );

    // A POST did not fill the cache for GET ...
    let r = site.get("/m/p", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(r.body_text(), "origin o: GET /m/p", "{r:?}");
    let r = site.get("/m/p", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    // ... and a cached GET does not answer a POST.
    let r = site.request("POST", "/m/p", &[], b"again");
    assert_eq!(r.body_text(), "origin o: POST /m/p", "{r:?}");
    assert_eq!(count_method(&o, "POST", "/m/p"), 3);
    assert_eq!(count_method(&o, "GET", "/m/p"), 1);

    for method in ["PUT", "PATCH", "DELETE"] {
        for _ in 0..2 {
            let r = site.request(method, "/m/other", &[], b"data");
            assert_eq!(r.status, 200, "{r:?}");
            assert_eq!(
                r.body_text(),
                format!("origin o: {method} /m/other"),
                "{r:?}"
            );
        }
        assert_eq!(
            count_method(&o, method, "/m/other"),
            2,
            "{method} is never cached: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn head_after_get_is_served_from_the_cache() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-head", &o).start();

    let r = site.get("/m/h", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let body_len = r.body.len();
    let r = site.request("HEAD", "/m/h", &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");
    if let Some(len) = r.header("content-length") {
        assert_eq!(len, body_len.to_string(), "{r:?}");
    }
    assert_eq!(o.count_path("/m/h"), 1, "{:#?}", o.requests());
}

#[test]
fn methods_not_allowed_get_403_without_reaching_the_origin() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-not-allowed", &o)
        .behavior(
            "/opt/*",
            "o",
            "Managed-CachingOptimized",
            &["allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]"],
        )
        .start();

    // Default behavior: allowed_methods defaults to GET and HEAD.
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let r = site.request(method, "/m/na", &[], b"");
        assert_eq!(r.status, 403, "{method}: {r:?}");
        assert_from_edge(&r, "Error from cloudfront");
    }
    let r = site.request("POST", "/opt/x", &[], b"x");
    assert_eq!(r.status, 403, "{r:?}");
    let r = site.request("OPTIONS", "/opt/x", &[], b"");
    assert_eq!(r.status, 200, "OPTIONS is allowed on /opt/*: {r:?}");
    assert_eq!(
        o.requests_matching(|r| r.method != "OPTIONS").len(),
        0,
        "{:#?}",
        o.requests()
    );
}

#[test]
fn only_get_head_and_configured_options_are_cached() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-options", &o)
        .behavior(
            "/opt-nc/*",
            "o",
            "Managed-CachingOptimized",
            &[
                "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]",
                "cached_methods = [\"GET\", \"HEAD\"]",
            ],
        )
        .behavior(
            "/opt-c/*",
            "o",
            "Managed-CachingOptimized",
            &[
                "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]",
                "cached_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]",
            ],
        )
        .start();

    for _ in 0..2 {
        let r = site.request("OPTIONS", "/opt-nc/x", &[], b"");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_text(), "origin o: OPTIONS /opt-nc/x", "{r:?}");
    }
    assert_eq!(
        count_method(&o, "OPTIONS", "/opt-nc/x"),
        2,
        "OPTIONS is not cached without cached_methods: {:#?}",
        o.requests()
    );

    for _ in 0..2 {
        let r = site.request("OPTIONS", "/opt-c/x", &[], b"");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_text(), "origin o: OPTIONS /opt-c/x", "{r:?}");
    }
    assert_eq!(
        count_method(&o, "OPTIONS", "/opt-c/x"),
        1,
        "OPTIONS is cached when cached_methods has it: {:#?}",
        o.requests()
    );
    // The OPTIONS answer is not the GET object.
    let r = site.get("/opt-c/x", &[]);
    assert_eq!(r.body_text(), "origin o: GET /opt-c/x", "{r:?}");
    assert_eq!(count_method(&o, "GET", "/opt-c/x"), 1);
}

#[test]
fn a_get_with_a_body_is_refused_with_403() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-get-body", &o).start();

    let r = site.request("GET", "/m/get-body", &[], b"a body on a GET");
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(o.count_path("/m/get-body"), 0, "{:#?}", o.requests());
}

#[test]
fn default_root_object_applies_to_the_root_only() {
    let o = cacheable_origin("o");
    let site = SiteBuilder::new("methods-root-object", &o)
        .dist_key("default_root_object = \"index.html\"")
        .start();

    let r = site.get("/", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin o: GET /index.html", "{r:?}");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = site.get("/", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/index.html"), 1, "{:#?}", o.requests());
    assert_eq!(o.count_path("/"), 0, "{:#?}", o.requests());

    // Not for subdirectories.
    let r = site.get("/sub/", &[]);
    assert_eq!(r.body_text(), "origin o: GET /sub/", "{r:?}");
    assert_eq!(o.count_path("/sub/index.html"), 0, "{:#?}", o.requests());
}

#[test]
fn set_cookie_is_stripped_unless_cookies_are_forwarded() {
    let o = Origin::start_with("o", |req| {
        default_origin_response("o", req)
            .with_header("Cache-Control", "max-age=3600")
            .with_header("Set-Cookie", "s=1; Path=/")
    });
    let site = SiteBuilder::new("methods-set-cookie", &o)
        .cache_policy(
            "cookies-all",
            "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400\ncookies_config = { cookie_behavior = \"all\" }",
        )
        .behavior("/ck/*", "o", "cookies-all", &[])
        .start();

    // Managed-CachingOptimized forwards no cookies: no Set-Cookie to viewers, miss or hit.
    let r = site.get("/m/sc", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(r.header("set-cookie"), None, "{r:?}");
    let r = site.get("/m/sc", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(r.header("set-cookie"), None, "{r:?}");

    // With cookies forwarded, it reaches the viewer.
    let r = site.get("/ck/sc", &[("Cookie", "a=1")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("set-cookie"), Some("s=1; Path=/"), "{r:?}");
}

/// Asserts that an origin answer cut short after `sent` body bytes did not reach the viewer as a
/// complete response: either the viewer's read fails (the edge cut it short too, as CloudFront
/// does) or it gets a 5xx. A framed, complete 2xx is wrong whatever it holds; the message tells
/// whether bytes the origin never sent (an error page) were spliced into the body.
fn assert_not_served_complete(result: std::io::Result<Response>, sent: &[u8]) {
    let Ok(r) = result else { return };
    if r.status >= 500 {
        return;
    }
    if !r.body.starts_with(sent) || r.body.len() > sent.len() {
        panic!(
            "a cut-short origin body reached the viewer as a complete {} with bytes the origin never sent ({} bytes; the origin sent {}): {r:?}",
            r.status,
            r.body.len(),
            sent.len()
        );
    }
    panic!(
        "a cut-short origin body reached the viewer as a complete {} of {} bytes: {r:?}",
        r.status,
        r.body.len()
    );
}

/// What the cut-short origins send: `(raw answer, the body bytes in it)`.
fn cut_short(kind: &str) -> (Vec<u8>, Vec<u8>) {
    match kind {
        // Content-Length says 100, 40 bytes follow, then the connection closes.
        "length" => {
            let body = b"0123456789".repeat(4);
            let mut raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\nCache-Control: max-age=3600\r\n\r\n".to_vec();
            raw.extend_from_slice(&body);
            (raw, body)
        }
        // One chunk, then the connection closes without the last chunk.
        _ => (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nCache-Control: max-age=3600\r\n\r\na\r\n0123456789\r\n".to_vec(),
            b"0123456789".to_vec(),
        ),
    }
}

/// An edge in front of an origin that cuts its answers short the `kind` way.
fn cut_short_site(label: &str, kind: &str) -> (Origin, Site) {
    let (raw, _) = cut_short(kind);
    let o = Origin::start_with("o", move |_req| Response::raw(raw.clone()));
    let site = SiteBuilder::new(label, &o)
        .origin_keys(&["connection_attempts = 1"])
        .start();
    (o, site)
}

#[test]
fn a_body_cut_short_is_never_served_as_complete() {
    for kind in ["length", "chunked"] {
        let (o, site) = cut_short_site(&format!("methods-cut-short-served-{kind}"), kind);
        let (_, sent) = cut_short(kind);
        assert_not_served_complete(site.try_request("GET", "/m/cut", &[], b""), &sent);
        assert_eq!(o.count_path("/m/cut"), 1);
    }
}

#[test]
fn a_body_cut_short_is_not_cached() {
    for kind in ["length", "chunked"] {
        let (o, site) = cut_short_site(&format!("methods-cut-short-cached-{kind}"), kind);
        // Whatever the viewer got, ...
        let _ = site.try_request("GET", "/m/cut", &[], b"");
        assert_eq!(o.count_path("/m/cut"), 1);

        // ... the next request reaches the origin again: nothing partial was stored ...
        let full = "0123456789".repeat(10);
        let body = full.clone();
        o.set_handler(move |_req| {
            Response::text(200, body.clone()).with_header("Cache-Control", "max-age=3600")
        });
        let r = site.get("/m/cut", &[]);
        assert_eq!(r.status, 200, "{kind}: {r:?}");
        assert_eq!(r.body_text(), full, "{kind}: {r:?}");
        assert_eq!(o.count_path("/m/cut"), 2, "{kind}: {:#?}", o.requests());
        // ... and the whole object is cached.
        let r = site.get("/m/cut", &[]);
        assert_from_edge(&r, "Hit from cloudfront");
        assert_eq!(r.body_text(), full, "{kind}: {r:?}");
        assert_eq!(o.count_path("/m/cut"), 2, "{kind}");
    }
}
