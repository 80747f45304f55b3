//! Revalidation and staleness: on expiry the edge asks the origin with the stored validators
//! (`If-None-Match` with the ETag, `If-Modified-Since` with Last-Modified) and a 304 refreshes the
//! object (`X-Cache: RefreshHit from cloudfront`); `stale-while-revalidate` serves the stale object
//! at once and refreshes it with one origin request; `stale-if-error` serves the stale object when
//! the origin answers 500/502/503/504, is down, or does not answer in time; and a viewer's own
//! conditional request for a cached object is answered 304 by the edge.

mod common;

use common::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";

/// One second past `ttl` seconds after `since`.
fn wait_past(since: Instant, ttl: u64) {
    sleep_until(since, Duration::from_secs(ttl + 1));
}

#[test]
fn expiry_revalidates_with_the_etag_and_a_304_is_a_refresh_hit() {
    let o = Origin::start_with("o", |req| {
        conditional_response(
            req,
            Some("\"e1\""),
            None,
            &[("Cache-Control", "max-age=2")],
            "etag body",
        )
    });
    let site = SiteBuilder::new("revalidate-etag", &o).start();

    let r = site.get("/rv/etag", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let stored = Instant::now();
    let r = site.get("/rv/etag", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    wait_past(stored, 2);

    let r = site.get("/rv/etag", &[]);
    assert_eq!(r.status, 200, "the viewer asked unconditionally: {r:?}");
    assert_eq!(r.body_text(), "etag body", "{r:?}");
    assert_from_edge(&r, "RefreshHit from cloudfront");
    let got = o.requests_matching(|q| q.path() == "/rv/etag");
    assert_eq!(got.len(), 2, "{got:#?}");
    assert!(!is_conditional(&got[0]), "{got:#?}");
    assert_eq!(
        got[1].header("if-none-match"),
        Some("\"e1\""),
        "the revalidation carries the stored ETag: {got:#?}"
    );

    // The 304 refreshed the object for another max-age.
    let r = site.get("/rv/etag", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(r.body_text(), "etag body");
    assert_eq!(o.count_path("/rv/etag"), 2);
}

#[test]
fn expiry_revalidates_with_last_modified() {
    let o = Origin::start_with("o", |req| {
        conditional_response(
            req,
            None,
            Some(LAST_MODIFIED),
            &[("Cache-Control", "max-age=2")],
            "dated body",
        )
    });
    let site = SiteBuilder::new("revalidate-last-modified", &o).start();

    let r = site.get("/rv/dated", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    let stored = Instant::now();
    wait_past(stored, 2);

    let r = site.get("/rv/dated", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "dated body", "{r:?}");
    assert_from_edge(&r, "RefreshHit from cloudfront");
    let q = o.last_for_path("/rv/dated");
    assert_eq!(o.count_path("/rv/dated"), 2);
    assert_eq!(
        q.header("if-modified-since"),
        Some(LAST_MODIFIED),
        "the revalidation carries Last-Modified: {q:#?}"
    );
    let r = site.get("/rv/dated", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/rv/dated"), 2);
}

#[test]
fn a_changed_object_replaces_the_stored_one_on_revalidation() {
    let o = Origin::start_with("o", |req| {
        conditional_response(
            req,
            Some("\"e1\""),
            None,
            &[("Cache-Control", "max-age=2")],
            "old body",
        )
    });
    let site = SiteBuilder::new("revalidate-changed", &o).start();

    let r = site.get("/rv/changed", &[]);
    assert_eq!(r.body_text(), "old body", "{r:?}");
    let stored = Instant::now();
    o.set_handler(|req| {
        conditional_response(
            req,
            Some("\"e2\""),
            None,
            &[("Cache-Control", "max-age=3600")],
            "new body",
        )
    });
    wait_past(stored, 2);

    let r = site.get("/rv/changed", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "new body", "{r:?}");
    assert_eq!(r.header("etag"), Some("\"e2\""), "{r:?}");
    let q = o.last_for_path("/rv/changed");
    assert_eq!(q.header("if-none-match"), Some("\"e1\""), "{q:#?}");

    let r = site.get("/rv/changed", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(r.body_text(), "new body", "{r:?}");
    assert_eq!(o.count_path("/rv/changed"), 2);
}

#[test]
fn stale_while_revalidate_serves_stale_at_once_and_refreshes_with_one_request() {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let o = Origin::start_with("o", move |_req| {
        let i = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let r = Response::text(200, format!("version {i}"))
            .with_header("Cache-Control", "max-age=1, stale-while-revalidate=60");
        // Refreshes are slow: a viewer that waited for one would get the new version.
        if i > 1 {
            r.with_delay(Duration::from_secs(2))
        } else {
            r
        }
    });
    let site = SiteBuilder::new("revalidate-swr", &o).start();

    let r = site.get("/rv/swr", &[]);
    assert_eq!(r.body_text(), "version 1", "{r:?}");
    assert_from_edge(&r, "Miss from cloudfront");
    let stored = Instant::now();
    wait_past(stored, 1);

    // Expired, but within stale-while-revalidate: the stale object, without waiting for the origin.
    let r = site.get("/rv/swr", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body_text(),
        "version 1",
        "stale-while-revalidate serves the stale object: {r:?}"
    );

    // The refresh happens in the background; viewers keep getting the stale object until it lands,
    // and however many ask meanwhile, it is one origin request.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        let r = site.get("/rv/swr", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let body = r.body_text();
        seen.push(body.clone());
        if body == "version 2" {
            break;
        }
        assert_eq!(body, "version 1", "{r:?}");
        assert!(
            Instant::now() < deadline,
            "the background refresh never landed; bodies seen: {seen:?}; origin: {:#?}",
            o.requests()
        );
        thread::sleep(Duration::from_millis(150));
    }
    assert_eq!(
        o.count_path("/rv/swr"),
        2,
        "one origin request for the refresh, after {} viewer requests: {:#?}",
        seen.len() + 1,
        o.requests()
    );
}

/// An origin whose every path answers `good <path>` with `max-age=1, stale-if-error=60`.
fn stale_if_error_origin() -> Origin {
    Origin::start_with("o", |req| {
        Response::text(200, format!("good {}", req.path()))
            .with_header("Cache-Control", "max-age=1, stale-if-error=60")
    })
}

#[test]
fn stale_if_error_serves_the_stale_object_on_500_502_503_504() {
    let o = stale_if_error_origin();
    let site = SiteBuilder::new("revalidate-sie-5xx", &o).start();

    let codes = [500u16, 502, 503, 504];
    for code in codes {
        let r = site.get(&format!("/sie/{code}"), &[]);
        assert_eq!(r.status, 200, "{r:?}");
    }
    let stored = Instant::now();
    // From now on, `/sie/<code>` answers `<code>`.
    o.set_handler(|req| {
        let code: u16 = req
            .path()
            .rsplit('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
        Response::text(code, "origin is failing")
    });
    wait_past(stored, 1);

    for code in codes {
        let path = format!("/sie/{code}");
        let r = site.get(&path, &[]);
        assert_eq!(r.status, 200, "stale-if-error on a {code}: {r:?}");
        assert_eq!(r.body_text(), format!("good {path}"), "{r:?}");
        assert_eq!(
            o.count_path(&path),
            2,
            "the edge did ask the origin: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn stale_if_error_serves_the_stale_object_when_the_origin_is_down() {
    let mut o = stale_if_error_origin();
    let site = SiteBuilder::new("revalidate-sie-down", &o)
        .origin_keys(&["connection_attempts = 1", "connection_timeout = 1"])
        .start();

    let r = site.get("/sie/down", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let stored = Instant::now();
    o.stop();
    wait_past(stored, 1);

    let r = site.get("/sie/down", &[]);
    assert_eq!(
        r.status, 200,
        "stale-if-error with the origin refusing: {r:?}"
    );
    assert_eq!(r.body_text(), "good /sie/down", "{r:?}");
}

#[test]
fn stale_if_error_serves_the_stale_object_when_the_origin_times_out() {
    let o = stale_if_error_origin();
    let site = SiteBuilder::new("revalidate-sie-timeout", &o)
        .origin_keys(&["connection_attempts = 1"])
        .origin_config(&["origin_read_timeout = 1"])
        .start();

    let r = site.get("/sie/slow", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let stored = Instant::now();
    o.set_handler(|req| {
        Response::text(200, format!("late {}", req.path())).with_delay(Duration::from_secs(5))
    });
    wait_past(stored, 1);

    let r = site.get("/sie/slow", &[]);
    assert_eq!(
        r.status, 200,
        "stale-if-error with the origin timing out: {r:?}"
    );
    assert_eq!(r.body_text(), "good /sie/slow", "{r:?}");
}

#[test]
fn viewer_conditional_requests_are_answered_304_from_the_cache() {
    let o = Origin::start_with("o", |req| {
        conditional_response(
            req,
            Some("\"abc\""),
            Some(LAST_MODIFIED),
            &[("Cache-Control", "max-age=3600")],
            "cached body",
        )
    });
    let site = SiteBuilder::new("revalidate-viewer-conditional", &o).start();

    let r = site.get("/vcond/x", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_from_edge(&r, "Miss from cloudfront");

    let r = site.get("/vcond/x", &[("If-None-Match", "\"abc\"")]);
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty(), "{r:?}");
    assert_eq!(r.header("etag"), Some("\"abc\""), "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");

    let r = site.get("/vcond/x", &[("If-None-Match", "\"zzz\", \"abc\"")]);
    assert_eq!(r.status, 304, "a list that names the ETag: {r:?}");

    let r = site.get("/vcond/x", &[("If-None-Match", "\"zzz\"")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "cached body", "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");

    let r = site.get("/vcond/x", &[("If-Modified-Since", LAST_MODIFIED)]);
    assert_eq!(r.status, 304, "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");

    let r = site.get(
        "/vcond/x",
        &[("If-Modified-Since", "Tue, 20 Oct 2015 07:28:00 GMT")],
    );
    assert_eq!(r.status, 200, "modified since a day earlier: {r:?}");
    assert_eq!(r.body_text(), "cached body", "{r:?}");

    assert_eq!(
        o.count_path("/vcond/x"),
        1,
        "the edge answered every conditional request itself: {:#?}",
        o.requests()
    );
}
