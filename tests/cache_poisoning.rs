//! Web cache poisoning through unkeyed headers: a request header that is not in the cache key
//! must not let one viewer (the attacker) put a response into the cache that another viewer then
//! receives.
//!
//! The origin here reflects the classic poisoning headers into its body (`X-Forwarded-Host`,
//! `X-Original-URL`, `X-Rewrite-URL`, `X-HTTP-Method-Override`, `X-Forwarded-Scheme`) and says
//! `Cache-Control: max-age=300`. What the tests prove, judged by what each viewer receives and
//! what reached the origin:
//!
//! - with a cache policy and no origin request policy, CloudFront forwards none of those headers,
//!   so the attacker's request caches a clean object (the origin saw neither the headers nor any
//!   method but GET);
//! - with `Managed-AllViewer` (every viewer header forwarded, none in the key) and an origin that
//!   answers `Vary: X-Forwarded-Host`, ferry keeps one variant per value: the attacker's variant
//!   is served only to requests with the same value;
//! - without that `Vary` the cache key alone decides, as in CloudFront, and the attacker's object
//!   is served to everyone: the defence above comes from `Vary`;
//! - a `Vary` name that is not forwarded is dropped from the response (CloudFront's behaviour),
//!   and every viewer gets the one clean object;
//! - `X-HTTP-Method-Override` / `X-Method-Override` never turn a GET into anything else.

mod common;

use common::*;

/// The headers the origin reflects, in the order of its body.
const REFLECTED: &[&str] = &[
    "X-Forwarded-Host",
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-HTTP-Method-Override",
    "X-Forwarded-Scheme",
];

/// The attacker's headers: every reflected one with a value that must never reach another viewer.
const ATTACK: &[(&str, &str)] = &[
    ("X-Forwarded-Host", "evil.test"),
    ("X-Original-URL", "/admin"),
    ("X-Rewrite-URL", "/admin/rewrite"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("X-Forwarded-Scheme", "nothttps"),
];

/// Strings of the attacker's values that must not appear in what a clean viewer gets.
const POISON: &[&str] = &["evil", "/admin", "DELETE", "nothttps"];

/// The body the origin answers `req` with: `method=M` then `name=value` (or `name=-`) for each
/// reflected header, one per line.
fn reflect(req: &Request) -> String {
    let mut body = format!("method={} path={}\n", req.method, req.path());
    for name in REFLECTED {
        body.push_str(&format!("{name}={}\n", req.header(name).unwrap_or("-")));
    }
    body
}

/// An origin that reflects the headers, cacheable for 300 s, with `vary` as its `Vary` if any.
fn reflecting_origin(vary: Option<&'static str>) -> Origin {
    Origin::start_with("o", move |req| {
        let mut r = Response::text(200, reflect(req)).with_header("Cache-Control", "max-age=300");
        if let Some(v) = vary {
            r = r.with_header("Vary", v);
        }
        r
    })
}

/// The body a viewer that sent none of the headers gets, for `path`.
fn clean_body(path: &str) -> String {
    let mut body = format!("method=GET path={path}\n");
    for name in REFLECTED {
        body.push_str(&format!("{name}=-\n"));
    }
    body
}

/// Asserts that `r` is a 200 whose body is exactly the clean one and carries none of the
/// attacker's values.
fn assert_clean(r: &Response, path: &str, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r:?}");
    let body = r.body_text();
    for p in POISON {
        assert!(
            !body.contains(p),
            "{what}: the body carries the attacker's {p:?} (cache poisoned): {r:?}"
        );
    }
    assert_eq!(body, clean_body(path), "{what}: {r:?}");
}

/// The `Vary` names of `r`, lowercase.
fn vary_names(r: &Response) -> Vec<String> {
    r.headers
        .get_all("vary")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn without_an_origin_request_policy_the_attackers_headers_never_reach_the_origin() {
    let o = reflecting_origin(None);
    let site = SiteBuilder::new("poison-no-orp", &o).start();
    let path = "/p/no-orp.html";

    // The attacker fills the cache.
    let r = site.get(path, ATTACK);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_clean(
        &r,
        path,
        "the attacker's own answer (nothing of it was forwarded)",
    );

    let seen = o.requests_matching(|q| q.path() == path);
    assert_eq!(seen.len(), 1, "one origin request: {seen:#?}");
    assert_eq!(
        seen[0].method, "GET",
        "the origin saw another method: {seen:#?}"
    );
    for (name, _) in ATTACK {
        assert_eq!(
            seen[0].header(name),
            None,
            "{name} reached the origin without any policy forwarding it: {:#?}",
            seen[0]
        );
    }

    // A clean viewer gets the cached object, which carries nothing of the attacker's.
    let r = site.get(path, &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_clean(&r, path, "a clean viewer after the attacker");
    assert_eq!(o.count_path(path), 1, "{:#?}", o.requests());
}

/// A site whose default behavior forwards every viewer header (`Managed-AllViewer`) while its
/// cache policy (`Managed-CachingOptimized`) keys on none, in front of an origin that reflects
/// the headers and answers `Vary: X-Forwarded-Host`.
fn all_viewer_site(label: &str, o: &Origin) -> Site {
    SiteBuilder::new(label, o)
        .default_behavior("origin_request_policy = \"Managed-AllViewer\"")
        .start()
}

/// Asserts the reflected `X-Forwarded-Host` in `r`'s body is `value`.
fn assert_reflected_host(r: &Response, value: &str, what: &str) {
    assert_eq!(r.status, 200, "{what}: {r:?}");
    assert!(
        r.body_text()
            .contains(&format!("\nX-Forwarded-Host={value}\n")),
        "{what}: want the answer made for X-Forwarded-Host {value:?}: {r:?}"
    );
}

/// Asserts `r`'s `X-Cache` (with a message saying what was expected and why), then the rest of
/// the edge's headers.
fn assert_x_cache(r: &Response, want: &str, what: &str) {
    assert_eq!(
        r.header("x-cache"),
        Some(want),
        "{what}: want X-Cache {want:?}: {r:?}"
    );
    assert_from_edge(r, want);
}

#[test]
fn a_clean_viewer_never_gets_the_attackers_variant_of_a_forwarded_unkeyed_header() {
    // Only what each viewer receives is checked here, not whether it came from the cache: the
    // next test checks the caching of each variant.
    let o = reflecting_origin(Some("X-Forwarded-Host"));
    let site = all_viewer_site("poison-vary-content", &o);
    let path = "/p/vary-content.html";
    let attack = [("X-Forwarded-Host", "evil.test")];

    // The attacker's request is forwarded with its header (the policy says so).
    let r = site.get(path, &attack);
    assert_x_cache(&r, "Miss from cloudfront", "the attacker's first request");
    assert_reflected_host(&r, "evil.test", "the attacker's first request");
    assert!(
        vary_names(&r).contains(&"x-forwarded-host".to_string()),
        "a forwarded header stays in Vary: {r:?}"
    );
    assert_eq!(
        o.last_for_path(path).header("X-Forwarded-Host"),
        Some("evil.test"),
        "Managed-AllViewer forwards X-Forwarded-Host"
    );

    // A clean viewer does not get the attacker's answer: the origin is asked again, without
    // the header.
    let r = site.get(path, &[]);
    assert_clean(&r, path, "a clean viewer right after the attacker");
    assert_x_cache(
        &r,
        "Miss from cloudfront",
        "a clean viewer right after the attacker",
    );
    assert_eq!(o.count_path(path), 2, "{:#?}", o.requests());
    assert_eq!(
        o.last_for_path(path).header("X-Forwarded-Host"),
        None,
        "the clean viewer's request to the origin"
    );

    // However the requests interleave, each gets the answer made for its own header.
    for round in 0..3 {
        let r = site.get(path, &[]);
        assert_clean(&r, path, &format!("round {round}: a clean viewer"));
        let r = site.get(path, &attack);
        assert_reflected_host(&r, "evil.test", &format!("round {round}: the attacker"));
        let r = site.get(path, &[("X-Forwarded-Host", "other.test")]);
        assert_reflected_host(&r, "other.test", &format!("round {round}: another host"));
    }
}

// Each value of a forwarded, unkeyed header the origin varies on is its own cache variant (the
// store keeps pingora's variance key with the object).
#[test]
fn each_value_of_a_forwarded_vary_header_is_cached_as_its_own_variant() {
    let o = reflecting_origin(Some("X-Forwarded-Host"));
    let site = all_viewer_site("poison-vary-variants", &o);
    let path = "/p/vary-variants.html";
    let attack = [("X-Forwarded-Host", "evil.test")];

    let r = site.get(path, &attack);
    assert_x_cache(&r, "Miss from cloudfront", "the attacker's first request");
    assert_reflected_host(&r, "evil.test", "the attacker's first request");
    let r = site.get(path, &[]);
    assert_x_cache(
        &r,
        "Miss from cloudfront",
        "a clean viewer after the attacker",
    );
    assert_clean(&r, path, "a clean viewer after the attacker");
    assert_eq!(o.count_path(path), 2, "{:#?}", o.requests());

    // Each variant is now cached and served only to its own kind of request.
    let r = site.get(path, &[]);
    assert_x_cache(
        &r,
        "Hit from cloudfront",
        "a second clean viewer: the clean variant was cached by the first",
    );
    assert_clean(&r, path, "a second clean viewer");
    let r = site.get(path, &attack);
    assert_x_cache(
        &r,
        "Hit from cloudfront",
        "the attacker's second request: its own variant was cached by its first",
    );
    assert_reflected_host(&r, "evil.test", "the attacker's second request");
    assert_eq!(o.count_path(path), 2, "{:#?}", o.requests());

    // Another value of the header is a third variant, not one of the two cached ones.
    let r = site.get(path, &[("X-Forwarded-Host", "other.test")]);
    assert_x_cache(&r, "Miss from cloudfront", "a third value of the header");
    assert_reflected_host(&r, "other.test", "a third value of the header");
    let r = site.get(path, &[("X-Forwarded-Host", "other.test")]);
    assert_x_cache(&r, "Hit from cloudfront", "the third value again");
    assert_reflected_host(&r, "other.test", "the third value again");
    let r = site.get(path, &[]);
    assert_x_cache(&r, "Hit from cloudfront", "a clean viewer at the end");
    assert_clean(&r, path, "a clean viewer at the end");
    let r = site.get(path, &attack);
    assert_x_cache(&r, "Hit from cloudfront", "the attacker at the end");
    assert_reflected_host(&r, "evil.test", "the attacker at the end");
    assert_eq!(o.count_path(path), 3, "{:#?}", o.requests());
}

#[test]
fn without_vary_the_cache_key_decides_as_in_cloudfront() {
    // This is CloudFront's documented behaviour, not a defence: with an origin request policy
    // that forwards a header the cache policy leaves out of the key, CloudFront caches one object
    // per cache key, whatever the origin made of the header ("Control origin requests with a
    // policy": values forwarded by the origin request policy are not in the cache key). An origin
    // that reflects such a header and does not say `Vary` is poisonable; the fix is to put the
    // header in the cache key (or not forward it). The previous test differs only by the origin's
    // `Vary: X-Forwarded-Host`, which is therefore what protects the clean viewer there.
    let o = reflecting_origin(None);
    let site = SiteBuilder::new("poison-no-vary", &o)
        .default_behavior("origin_request_policy = \"Managed-AllViewer\"")
        .start();
    let path = "/p/no-vary.html";

    let r = site.get(path, &[("X-Forwarded-Host", "evil.test")]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert!(
        r.body_text().contains("X-Forwarded-Host=evil.test\n"),
        "{r:?}"
    );

    let r = site.get(path, &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert!(
        r.body_text().contains("X-Forwarded-Host=evil.test\n"),
        "without Vary the clean viewer gets the object cached under the same key: {r:?}"
    );
    assert_eq!(o.count_path(path), 1, "{:#?}", o.requests());
}

#[test]
fn a_vary_name_that_is_not_forwarded_is_dropped_and_everyone_gets_the_clean_object() {
    let o = reflecting_origin(Some("Accept-Encoding, X-Forwarded-Host"));
    let site = SiteBuilder::new("poison-vary-unforwarded", &o).start();
    let path = "/p/vary-unforwarded.html";

    let r = site.get(path, ATTACK);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_clean(&r, path, "the attacker's own answer");
    let names = vary_names(&r);
    assert!(
        !names.contains(&"x-forwarded-host".to_string()),
        "Vary names a header that is not forwarded (CloudFront drops it): {r:?}"
    );
    assert!(
        names.contains(&"accept-encoding".to_string()),
        "Vary: Accept-Encoding is kept: {r:?}"
    );
    assert_eq!(
        o.last_for_path(path).header("X-Forwarded-Host"),
        None,
        "no policy forwards X-Forwarded-Host"
    );

    // Whatever X-Forwarded-Host a viewer sends (or none), it gets the one cached object.
    for (what, headers) in [
        ("a clean viewer", &[][..]),
        ("another host", &[("X-Forwarded-Host", "other.test")][..]),
        ("the attacker again", ATTACK),
    ] {
        let r = site.get(path, headers);
        assert_from_edge(&r, "Hit from cloudfront");
        assert_clean(&r, path, what);
        assert!(
            !vary_names(&r).contains(&"x-forwarded-host".to_string()),
            "{what}: {r:?}"
        );
    }
    assert_eq!(o.count_path(path), 1, "{:#?}", o.requests());
}

#[test]
fn method_override_headers_never_make_a_get_anything_else() {
    let o = reflecting_origin(None);
    // The default behavior has no origin request policy; `/all/*` forwards every viewer header.
    // Both allow only GET and HEAD (the default allowed_methods).
    let site = SiteBuilder::new("poison-method-override", &o)
        .behavior(
            "/all/*",
            "o",
            "Managed-CachingOptimized",
            &["origin_request_policy = \"Managed-AllViewer\""],
        )
        .start();

    for path in ["/p/override.html", "/all/override.html"] {
        let r = site.get(path, &[("X-HTTP-Method-Override", "POST")]);
        assert_from_edge(&r, "Miss from cloudfront");
        assert_clean(
            &r,
            path,
            &format!("{path}: GET with X-HTTP-Method-Override: POST"),
        );
        let r = site.get(path, &[("X-Method-Override", "POST")]);
        assert_from_edge(&r, "Hit from cloudfront");
        assert_clean(
            &r,
            path,
            &format!("{path}: GET with X-Method-Override: POST"),
        );
        let r = site.get(
            path,
            &[
                ("X-HTTP-Method-Override", "DELETE"),
                ("X-Method-Override", "PUT"),
            ],
        );
        assert_from_edge(&r, "Hit from cloudfront");
        assert_clean(&r, path, &format!("{path}: GET with both overrides"));
        let r = site.get(path, &[]);
        assert_from_edge(&r, "Hit from cloudfront");
        assert_clean(&r, path, &format!("{path}: a plain GET"));

        let seen = o.requests_matching(|q| q.path() == path);
        assert_eq!(seen.len(), 1, "{path}: one origin request: {seen:#?}");
        assert_eq!(seen[0].method, "GET", "{path}: {seen:#?}");
        // CloudFront always removes X-HTTP-Method-Override, whatever the policies say.
        assert_eq!(
            seen[0].header("X-HTTP-Method-Override"),
            None,
            "{path}: {seen:#?}"
        );
    }

    // HEAD with an override is still a HEAD served from the same object.
    let r = site
        .client
        .try_request(
            &site.edge,
            "HEAD",
            "/p/override.html",
            &[("Host", SITE_HOST), ("X-HTTP-Method-Override", "DELETE")],
            b"",
        )
        .unwrap_or_else(|e| panic!("HEAD on the edge: {e}\n{}", site.ferry.output_report()));
    assert_eq!(r.status, 200, "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");
    assert!(r.body.is_empty(), "{r:?}");
    assert!(
        o.requests_matching(|q| q.method != "GET").is_empty(),
        "the origin only ever saw GET: {:#?}",
        o.requests()
    );
}

/// An origin request policy that forwards `Authorization` while the cache key leaves it out (the
/// design's `forward-auth` beside a short cache policy; CloudFront refuses such a policy, since the
/// key must hold the header): the answer to one viewer's credentials is never stored for all. It
/// is stored when the origin says a shared cache may (`public`, RFC 9111 §3.5), and a cache policy
/// that keys on Authorization keeps one object per credential.
#[test]
fn an_answer_to_credentials_the_key_leaves_out_is_not_served_to_others() {
    let o = Origin::start_with("o", |req| {
        let who = req.header("Authorization").unwrap_or("nobody").to_string();
        let cache_control = if req.path().starts_with("/public/") {
            "public, max-age=60"
        } else {
            "max-age=60"
        };
        Response::text(200, format!("for {who}")).with_header("Cache-Control", cache_control)
    });
    let site = SiteBuilder::new("authorization-unkeyed", &o)
        .cache_policy(
            "short",
            "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 3600",
        )
        .cache_policy(
            "by-auth",
            "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 3600\nheaders_config = { header_behavior = \"whitelist\", headers = [\"Authorization\"] }",
        )
        .block(
            "[[origin_request_policies]]\nname = \"forward-auth\"\nheaders_config = { header_behavior = \"whitelist\", headers = [\"Authorization\"] }",
        )
        .policy("short")
        .default_behavior("origin_request_policy = \"forward-auth\"")
        .behavior("/keyed/*", "o", "by-auth", &[])
        .start();
    let alice = [("Host", SITE_HOST), ("Authorization", "Bearer alice")];
    let anonymous = [("Host", SITE_HOST)];

    let r = site.get("/api/me", &alice);
    assert_eq!(r.body_text(), "for Bearer alice", "{r:?}");
    let r = site.get("/api/me", &anonymous);
    assert_eq!(
        r.body_text(),
        "for nobody",
        "alice's answer was stored for all: {r:?}"
    );
    assert_eq!(o.count_path("/api/me"), 2);

    let r = site.get("/public/logo", &alice);
    assert_eq!(r.body_text(), "for Bearer alice", "{r:?}");
    let r = site.get("/public/logo", &anonymous);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(
        o.count_path("/public/logo"),
        1,
        "`public` lets it be stored"
    );

    let r = site.get("/keyed/me", &alice);
    assert_eq!(r.body_text(), "for Bearer alice", "{r:?}");
    let r = site.get("/keyed/me", &alice);
    assert_from_edge(&r, "Hit from cloudfront");
    let r = site.get("/keyed/me", &anonymous);
    assert_eq!(r.body_text(), "for nobody", "keyed apart: {r:?}");
}
