//! Invalidations through CloudFront's REST API on the admin listener (CreateInvalidation,
//! GetInvalidation, API version 2020-05-31) and through `ferry invalidate`: exact paths and
//! `*`-at-the-end prefixes, case sensitive, per distribution; the next request for a matching key
//! goes to the origin while others stay hits; the invalidation reads back `Completed`; invalid
//! batches are refused with CloudFront's error codes.

mod common;

use common::*;

/// The id in a CreateInvalidation answer, after checking its shape (201, `Location`, XML).
fn created_id(r: &Response) -> String {
    assert_eq!(r.status, 201, "CreateInvalidation: {r:?}");
    let body = r.body_text();
    assert!(body.contains("<Invalidation"), "{r:?}");
    let id = xml_tag(&body, "Id").unwrap_or_else(|| panic!("no <Id> in {r:?}"));
    assert!(!id.is_empty(), "{r:?}");
    let status = xml_tag(&body, "Status").unwrap_or_else(|| panic!("no <Status> in {r:?}"));
    assert!(
        status == "InProgress" || status == "Completed",
        "Status {status:?} in {r:?}"
    );
    let location = r
        .header("location")
        .unwrap_or_else(|| panic!("no Location header in {r:?}"));
    assert!(
        location.ends_with(&format!("/invalidation/{id}")),
        "Location {location:?} does not name invalidation {id}: {r:?}"
    );
    id
}

/// Invalidates `paths` of `distribution` via the admin API and waits until it is Completed.
fn invalidate(site: &Site, distribution: &str, paths: &[&str]) -> String {
    let r = site.create_invalidation(distribution, paths);
    let id = created_id(&r);
    let done = site.wait_invalidation_completed(distribution, &id);
    let body = done.body_text();
    assert_eq!(
        xml_tag(&body, "Id").as_deref(),
        Some(id.as_str()),
        "{done:?}"
    );
    for p in paths {
        assert!(
            body.contains(&format!("<Path>{p}</Path>")),
            "GetInvalidation lists {p}: {done:?}"
        );
    }
    id
}

/// GETs `path` and asserts its X-Cache.
fn expect(site: &Site, path: &str, host: &str, x_cache: &str) {
    let r = site.get(path, &[("Host", host)]);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert_from_edge(&r, x_cache);
}

/// GETs every path twice (a miss, then a hit) to put it in the cache.
fn fill(site: &Site, host: &str, paths: &[&str]) {
    for p in paths {
        expect(site, p, host, "Miss from cloudfront");
        expect(site, p, host, "Hit from cloudfront");
    }
}

fn other_distribution(other: &Origin) -> String {
    format!(
        r#"[[distributions]]
id = "other"
aliases = ["other.example.test"]

  [[distributions.origins]]
  id = "o2"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "o2"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"
"#,
        other.port()
    )
}

#[test]
fn an_exact_path_invalidation_refetches_only_that_key() {
    let o = Origin::start("o");
    let o2 = Origin::start("o2");
    let site = SiteBuilder::new("invalidate-exact", &o)
        .distribution(&other_distribution(&o2))
        .wait_admin()
        .start();

    fill(
        &site,
        SITE_HOST,
        &["/inv/a", "/inv/b", "/inv/A", "/inv/a/deeper"],
    );
    fill(&site, "other.example.test", &["/inv/a"]);

    invalidate(&site, "site", &["/inv/a"]);

    expect(&site, "/inv/a", SITE_HOST, "Miss from cloudfront");
    assert_eq!(o.count_path("/inv/a"), 2, "{:#?}", o.requests());
    expect(&site, "/inv/a", SITE_HOST, "Hit from cloudfront");
    // Other keys, another case, a longer path and another distribution stay cached.
    expect(&site, "/inv/b", SITE_HOST, "Hit from cloudfront");
    expect(&site, "/inv/A", SITE_HOST, "Hit from cloudfront");
    expect(&site, "/inv/a/deeper", SITE_HOST, "Hit from cloudfront");
    expect(&site, "/inv/a", "other.example.test", "Hit from cloudfront");
    assert_eq!(o.count_path("/inv/b"), 1);
    assert_eq!(o2.count_path("/inv/a"), 1);
}

#[test]
fn a_wildcard_invalidation_refetches_every_key_under_the_prefix() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-wildcard", &o)
        .wait_admin()
        .start();

    let all = [
        "/w/images/a.png",
        "/w/images/sub/b.png",
        "/w/imagesX.png",
        "/w/Images/c.png",
        "/w/other.png",
        "/w/otherness",
        "/w/style.css",
    ];
    fill(&site, SITE_HOST, &all);

    invalidate(&site, "site", &["/w/images/*"]);
    expect(&site, "/w/images/a.png", SITE_HOST, "Miss from cloudfront");
    expect(
        &site,
        "/w/images/sub/b.png",
        SITE_HOST,
        "Miss from cloudfront",
    );
    for p in [
        "/w/imagesX.png",
        "/w/Images/c.png",
        "/w/other.png",
        "/w/otherness",
    ] {
        expect(&site, p, SITE_HOST, "Hit from cloudfront");
    }

    // A `*` right after a name matches anything that starts with it.
    invalidate(&site, "site", &["/w/other*"]);
    expect(&site, "/w/other.png", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/w/otherness", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/w/style.css", SITE_HOST, "Hit from cloudfront");
    expect(&site, "/w/images/a.png", SITE_HOST, "Hit from cloudfront");

    // `/*` is everything in the distribution.
    invalidate(&site, "site", &["/*"]);
    for p in all {
        expect(&site, p, SITE_HOST, "Miss from cloudfront");
    }
}

#[test]
fn query_string_variants_are_invalidated_with_their_path() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-query", &o)
        .cache_policy(
            "qs-all",
            "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400\nquery_strings_config = { query_string_behavior = \"all\" }",
        )
        .policy("qs-all")
        .wait_admin()
        .start();

    fill(
        &site,
        SITE_HOST,
        &["/qi/page?v=1", "/qi/page?v=2", "/qi/other?v=1"],
    );
    // A `*` after the path covers every query string of it (CloudFront's advice for objects that
    // are cached by query string).
    invalidate(&site, "site", &["/qi/page*"]);
    expect(&site, "/qi/page?v=1", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/qi/page?v=2", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/qi/other?v=1", SITE_HOST, "Hit from cloudfront");
}

/// An object is invalidated by the path it is cached under, the query as its key holds it: with
/// the query out of the key, `/app.js` removes the object first fetched as `/app.js?v=123`; with a
/// whitelist, the path with the listed parameters removes the object whatever else its first
/// request carried.
#[test]
fn an_object_is_invalidated_by_the_path_its_key_names() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-keyed", &o)
        .wait_admin()
        .start();
    expect(&site, "/qk/app.js?v=123", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/qk/app.js?v=456", SITE_HOST, "Hit from cloudfront");
    invalidate(&site, "site", &["/qk/app.js"]);
    expect(&site, "/qk/app.js?v=789", SITE_HOST, "Miss from cloudfront");
    assert_eq!(o.count_path("/qk/app.js"), 2, "{:#?}", o.requests());

    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-whitelist", &o)
        .cache_policy(
            "qs-v",
            "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400\nquery_strings_config = { query_string_behavior = \"whitelist\", query_strings = [\"v\"] }",
        )
        .policy("qs-v")
        .wait_admin()
        .start();
    expect(
        &site,
        "/qw/app.js?utm=a&v=1",
        SITE_HOST,
        "Miss from cloudfront",
    );
    expect(
        &site,
        "/qw/app.js?v=1&utm=b",
        SITE_HOST,
        "Hit from cloudfront",
    );
    expect(&site, "/qw/app.js?v=2", SITE_HOST, "Miss from cloudfront");
    invalidate(&site, "site", &["/qw/app.js?v=1"]);
    expect(&site, "/qw/app.js?v=1", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/qw/app.js?v=2", SITE_HOST, "Hit from cloudfront");
}

/// An object whose fill was under way when an invalidation of it completed (its origin's answer
/// begun before, ended after) is not stored: the next request goes to the origin, as CloudFront
/// serves nothing fetched before an invalidation once it is complete.
#[test]
fn a_fill_under_way_during_an_invalidation_is_not_kept() {
    use std::time::Duration;
    let body = "x".repeat(2000);
    let origin = raw_target::RawTarget::start(move |_| {
        let whole = raw_target::wire(
            "HTTP/1.1 200 OK",
            &[
                ("Cache-Control", "max-age=3600"),
                ("Content-Length", "2000"),
            ],
            body.as_bytes(),
        );
        let (first, rest) = whole.split_at(whole.len() - 1000);
        raw_target::Reply::KeepThen(first.to_vec(), Duration::from_millis(1500), rest.to_vec())
    });
    let site = SiteBuilder::on_port("invalidate-in-flight", origin.port)
        .wait_admin()
        .start();
    std::thread::scope(|s| {
        let during = s.spawn(|| site.get("/slow/big.js", &[("Host", SITE_HOST)]));
        // The origin's head is in, its body not yet.
        std::thread::sleep(Duration::from_millis(500));
        invalidate(&site, "site", &["/slow/big.js"]);
        let r = during.join().expect("client thread");
        assert_eq!(r.status, 200, "{r:?}");
        assert_from_edge(&r, "Miss from cloudfront");
    });
    expect(&site, "/slow/big.js", SITE_HOST, "Miss from cloudfront");
    assert_eq!(
        origin.seen().len(),
        2,
        "fetched again after the invalidation"
    );
    expect(&site, "/slow/big.js", SITE_HOST, "Hit from cloudfront");
}

#[test]
fn ferry_invalidate_on_the_command_line() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-cli", &o).wait_admin().start();

    fill(&site, SITE_HOST, &["/cli/a", "/cli/dir/x", "/cli/c"]);
    let out = ferry_cmd(&[
        "invalidate",
        "--admin",
        &site.admin,
        "--distribution",
        "site",
        "/cli/a",
        "/cli/dir/*",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "ferry invalidate failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
    // It prints the invalidation id: find the token the admin API knows.
    let id = stdout
        .split_whitespace()
        .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .find(|t| !t.is_empty() && site.get_invalidation("site", t).status == 200)
        .unwrap_or_else(|| panic!("no invalidation id in the output: {stdout:?}"))
        .to_string();
    site.wait_invalidation_completed("site", &id);

    expect(&site, "/cli/a", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/cli/dir/x", SITE_HOST, "Miss from cloudfront");
    expect(&site, "/cli/c", SITE_HOST, "Hit from cloudfront");

    // A path CloudFront would refuse fails the command.
    let out = ferry_cmd(&[
        "invalidate",
        "--admin",
        &site.admin,
        "--distribution",
        "site",
        "/cli/*/x",
    ]);
    assert!(
        !out.status.success(),
        "ferry invalidate accepted `*` in the middle:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    expect(&site, "/cli/c", SITE_HOST, "Hit from cloudfront");
}

/// Asserts a CloudFront API error: the status and `<Code>` in the error XML.
fn assert_api_error(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "expected {status} {code}: {r:?}");
    assert_eq!(
        xml_tag(&r.body_text(), "Code").as_deref(),
        Some(code),
        "expected error code {code}: {r:?}"
    );
}

#[test]
fn invalid_batches_are_refused() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-invalid", &o)
        .wait_admin()
        .start();
    fill(&site, SITE_HOST, &["/bad/a", "/bad/b"]);

    // `*` only at the end; a path starts with `/` in the API.
    for path in ["/bad/*/a", "/b*d/a", "bad/a", "*"] {
        let r = site.create_invalidation("site", &[path]);
        assert_api_error(&r, 400, "InvalidArgument");
    }
    // One bad path refuses the whole batch.
    let r = site.create_invalidation("site", &["/bad/a", "/x*y"]);
    assert_api_error(&r, 400, "InvalidArgument");
    // Quantity must match the items.
    let body = invalidation_batch(&["/bad/a"], 2, &unique_caller_reference());
    let r = site.admin_request(
        "POST",
        "/2020-05-31/distribution/site/invalidation",
        body.as_bytes(),
    );
    assert_api_error(&r, 400, "InconsistentQuantities");
    // Not XML at all: a 400 with an error code (CreateInvalidation models MissingBody and
    // InvalidArgument; the API names no code for unparseable XML).
    let r = site.admin_request(
        "POST",
        "/2020-05-31/distribution/site/invalidation",
        b"this is not xml",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(xml_tag(&r.body_text(), "Code").is_some(), "{r:?}");
    // Unknown distribution and invalidation.
    let r = site.create_invalidation("nope", &["/bad/a"]);
    assert_api_error(&r, 404, "NoSuchDistribution");
    let r = site.get_invalidation("site", "INOSUCHID");
    assert_api_error(&r, 404, "NoSuchInvalidation");

    // Nothing was invalidated.
    expect(&site, "/bad/a", SITE_HOST, "Hit from cloudfront");
    expect(&site, "/bad/b", SITE_HOST, "Hit from cloudfront");
    assert_eq!(o.count_path("/bad/a"), 1);
}

#[test]
fn a_repeated_caller_reference_returns_the_same_invalidation() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("invalidate-caller-reference", &o)
        .wait_admin()
        .start();
    let reference = unique_caller_reference();
    let path = "/2020-05-31/distribution/site/invalidation";

    let body = invalidation_batch(&["/cr/a"], 1, &reference);
    let first = site.admin_request("POST", path, body.as_bytes());
    let id = created_id(&first);
    // The same batch again: the same invalidation, not a new one.
    let again = site.admin_request("POST", path, body.as_bytes());
    assert!(
        again.status == 201 || again.status == 200,
        "the same batch again: {again:?}"
    );
    assert_eq!(
        xml_tag(&again.body_text(), "Id").as_deref(),
        Some(id.as_str()),
        "{again:?}"
    );
    // The same reference with other paths: "CloudFront returns an InvalidationBatchAlreadyExists
    // error" (CreateInvalidation, CallerReference). The API reference gives no status for it; the
    // other *AlreadyExists errors of CloudFront are 409.
    let other = invalidation_batch(&["/cr/b"], 1, &reference);
    let r = site.admin_request("POST", path, other.as_bytes());
    assert!(r.status == 409 || r.status == 400, "{r:?}");
    assert_eq!(
        xml_tag(&r.body_text(), "Code").as_deref(),
        Some("InvalidationBatchAlreadyExists"),
        "{r:?}"
    );
}
