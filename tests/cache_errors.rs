//! Error responses from the origin (HTTPStatusCodes.md, custom-error-pages-expiration.md):
//! 404/414/500/501/502/503/504 always cached, for the error caching minimum TTL (10 s by default);
//! 400/403/405/412/415 only with max-age/s-maxage; `custom_error_responses` with a page fetched
//! through the behavior that matches its path and a replaced status code; an error caching
//! minimum TTL of 0 turns error caching off; and an expired object is served stale when the origin
//! answers a 5xx.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// An origin that answers `/e/<code>` with `<code>` and `/e/<code>-ma` with `<code>` plus
/// `Cache-Control: max-age=60`; anything else gets the default 200.
fn error_origin(name: &'static str) -> Origin {
    Origin::start_with(name, move |req| {
        let last = req.path().rsplit('/').next().unwrap_or("");
        let (code, max_age) = match last.strip_suffix("-ma") {
            Some(code) => (code, true),
            None => (last, false),
        };
        match code.parse::<u16>() {
            Ok(code) if (400..600).contains(&code) => {
                let r = Response::text(code, format!("origin {name}: {code} for {}", req.path()));
                if max_age {
                    r.with_header("Cache-Control", "max-age=60")
                } else {
                    r
                }
            }
            _ => default_origin_response(name, req),
        }
    })
}

/// GETs `path` twice and returns both answers, asserting the status both times.
fn twice(site: &Site, path: &str, status: u16) -> (Response, Response) {
    let a = site.get(path, &[]);
    assert_eq!(a.status, status, "{path}: {a:?}");
    let b = site.get(path, &[]);
    assert_eq!(b.status, status, "{path}: {b:?}");
    (a, b)
}

#[test]
fn a_404_is_cached_for_ten_seconds_by_default() {
    let o = error_origin("o");
    let site = SiteBuilder::new("errors-404-default", &o).start();

    let first = site.get("/e/404", &[]);
    assert_eq!(first.status, 404, "{first:?}");
    assert_eq!(first.body_text(), "origin o: 404 for /e/404", "{first:?}");
    assert_from_edge(&first, "Error from cloudfront");
    let cached_at = Instant::now();
    let r = site.get("/e/404", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body_text(), "origin o: 404 for /e/404", "{r:?}");
    assert_eq!(o.count_path("/e/404"), 1, "{:#?}", o.requests());

    // Still cached a few seconds later (it is 10 s, not the policy's TTL of 0 for errors) ...
    sleep_until(cached_at, Duration::from_secs(4));
    site.get("/e/404", &[]);
    assert_eq!(o.count_path("/e/404"), 1, "{:#?}", o.requests());
    // ... and asked again once the 10 s have passed.
    sleep_until(cached_at, Duration::from_secs(11));
    let r = site.get("/e/404", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(o.count_path("/e/404"), 2, "{:#?}", o.requests());
}

#[test]
fn error_caching_min_ttl_sets_how_long_an_error_is_cached() {
    let o = error_origin("o");
    let site = SiteBuilder::new("errors-404-min-ttl", &o)
        .error_response(&["error_code = 404", "error_caching_min_ttl = 2"])
        .start();

    twice(&site, "/e/404", 404);
    let cached_at = Instant::now();
    assert_eq!(o.count_path("/e/404"), 1, "{:#?}", o.requests());
    sleep_until(cached_at, Duration::from_secs(3));
    site.get("/e/404", &[]);
    assert_eq!(o.count_path("/e/404"), 2, "{:#?}", o.requests());
}

#[test]
fn client_errors_are_cached_only_with_max_age() {
    let o = error_origin("o");
    let site = SiteBuilder::new("errors-4xx", &o).start();

    for code in [400u16, 403, 412, 415] {
        let plain = format!("/e/{code}");
        twice(&site, &plain, code);
        assert_eq!(
            o.count_path(&plain),
            2,
            "a {code} without max-age is not cached: {:#?}",
            o.requests()
        );
        let with_max_age = format!("/e/{code}-ma");
        twice(&site, &with_max_age, code);
        assert_eq!(
            o.count_path(&with_max_age),
            1,
            "a {code} with max-age is cached: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn server_errors_and_414_are_always_cached() {
    let o = error_origin("o");
    let site = SiteBuilder::new("errors-5xx", &o).start();

    for code in [414u16, 500, 501, 502, 503, 504] {
        let path = format!("/e/{code}");
        let (a, b) = twice(&site, &path, code);
        assert_eq!(a.body_text(), b.body_text());
        assert_eq!(
            o.count_path(&path),
            1,
            "a {code} is always cached: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn error_caching_min_ttl_zero_turns_error_caching_off() {
    let o = error_origin("o");
    let site = SiteBuilder::new("errors-min-ttl-zero", &o)
        .error_response(&["error_code = 500", "error_caching_min_ttl = 0"])
        .start();

    twice(&site, "/e/500", 500);
    assert_eq!(o.count_path("/e/500"), 2, "{:#?}", o.requests());
    // Other codes keep the default.
    twice(&site, "/e/503", 503);
    assert_eq!(o.count_path("/e/503"), 1, "{:#?}", o.requests());
}

#[test]
fn an_unavailable_custom_error_page_gives_the_status_its_origin_answered() {
    let app = error_origin("app");
    let pages = error_origin("pages");
    let site = SiteBuilder::new("errors-page-missing", &app)
        .origin("pages", &pages, &[])
        .behavior("/errors/*", "pages", "Managed-CachingOptimized", &[])
        .error_response(&[
            "error_code = 500",
            "response_page_path = \"/errors/404\"",
            "response_code = 200",
        ])
        .start();
    let r = site.get("/app/500", &[]);
    assert_eq!(r.status, 404, "the page's origin answered 404: {r:?}");
    assert_eq!(r.body_text(), "origin pages: 404 for /errors/404", "{r:?}");
    assert_from_edge(&r, "Error from cloudfront");
}

#[test]
fn custom_error_pages_behind_an_https_only_behavior_are_still_fetched() {
    // The page fetch is CloudFront's own request: the pages' behavior redirecting or refusing
    // plain HTTP viewers is not its business.
    let app = error_origin("app");
    let pages = Origin::start("pages");
    let site = SiteBuilder::new("errors-page-https-only", &app)
        .origin("pages", &pages, &[])
        .behavior(
            "/errors/*",
            "pages",
            "Managed-CachingOptimized",
            &["viewer_protocol_policy = \"redirect-to-https\""],
        )
        .error_response(&[
            "error_code = 404",
            "response_page_path = \"/errors/404.html\"",
            "response_code = 404",
        ])
        .start();
    let r = site.get("/app/404", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body_text(), "origin pages: GET /errors/404.html", "{r:?}");
    // A viewer asking for the page itself over HTTP is still redirected.
    let r = site.get("/errors/404.html", &[]);
    assert_eq!(r.status, 301, "{r:?}");
}

#[test]
fn custom_error_pages_are_fetched_through_their_behavior() {
    let app = error_origin("app");
    let pages = Origin::start("pages");
    let site = SiteBuilder::new("errors-custom-pages", &app)
        .origin("pages", &pages, &[])
        .behavior("/errors/*", "pages", "Managed-CachingOptimized", &[])
        .error_response(&[
            "error_code = 404",
            "response_page_path = \"/errors/404.html\"",
            "response_code = 404",
        ])
        .error_response(&[
            "error_code = 503",
            "response_page_path = \"/errors/503.html\"",
            "response_code = 200",
        ])
        .start();

    // The origin's 404 becomes the page, with the configured status.
    let r = site.get("/app/404", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body_text(), "origin pages: GET /errors/404.html", "{r:?}");
    assert_eq!(app.count_path("/app/404"), 1);
    assert_eq!(
        pages.count_path("/errors/404.html"),
        1,
        "the page came from the origin of the /errors/* behavior: {:#?}",
        pages.requests()
    );
    // The error is cached, and so is the page (by its own behavior).
    let r = site.get("/app/404", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body_text(), "origin pages: GET /errors/404.html", "{r:?}");
    assert_eq!(app.count_path("/app/404"), 1, "{:#?}", app.requests());
    assert_eq!(pages.count_path("/errors/404.html"), 1);
    let r = site.get("/errors/404.html", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_from_edge(&r, "Hit from cloudfront");

    // response_code replaces the status.
    let r = site.get("/app/503", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin pages: GET /errors/503.html", "{r:?}");
    // Still an error as far as X-Cache (and the log's result type) go.
    assert_from_edge(&r, "Error from cloudfront");
    assert_eq!(pages.count_path("/errors/503.html"), 1);

    // Errors without a custom response pass through as they are.
    let r = site.get("/app/500", &[]);
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.body_text(), "origin app: 500 for /app/500", "{r:?}");
    assert_eq!(
        app.count_path("/errors/404.html") + app.count_path("/errors/503.html"),
        0,
        "the default behavior's origin never saw the pages: {:#?}",
        app.requests()
    );
}

#[test]
fn an_expired_object_is_served_stale_when_the_origin_answers_5xx() {
    // HTTPStatusCodes.md, "The requested object is in the edge cache": on a 5xx for an expired
    // object CloudFront serves the object, without any stale-if-error from the origin.
    let o = Origin::start_with("o", |req| {
        Response::text(200, format!("good {}", req.path()))
            .with_header("Cache-Control", "max-age=1")
    });
    let site = SiteBuilder::new("errors-stale-on-5xx", &o).start();

    let codes = [500u16, 502, 503, 504];
    for code in codes {
        assert_eq!(site.get(&format!("/s/{code}"), &[]).status, 200);
    }
    assert_eq!(site.get("/s/gone", &[]).status, 200);
    let stored = Instant::now();
    // From now on `/s/<code>` answers `<code>`, and `/s/gone` answers 404.
    o.set_handler(|req| {
        let code: u16 = req
            .path()
            .rsplit('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(404);
        Response::text(code, "failing")
    });
    sleep_until(stored, Duration::from_secs(2));
    for code in codes {
        let path = format!("/s/{code}");
        let r = site.get(&path, &[]);
        assert_eq!(r.status, 200, "stale object on a {code}: {r:?}");
        assert_eq!(r.body_text(), format!("good {path}"), "{r:?}");
        assert_eq!(o.count_path(&path), 2, "{:#?}", o.requests());
        // For the error caching minimum TTL (10 s by default) the stale object is served
        // without asking the failing origin again.
        let r = site.get(&path, &[]);
        assert_eq!(r.body_text(), format!("good {path}"), "{r:?}");
        assert_eq!(
            o.count_path(&path),
            2,
            "asked once per error caching minimum TTL: {:#?}",
            o.requests()
        );
    }
    // A 4xx for an expired object is passed through.
    let r = site.get("/s/gone", &[]);
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(o.count_path("/s/gone"), 2, "{:#?}", o.requests());
}

/// An origin error with no body (`Content-Length: 0`, as an ALB fixed response without a message
/// sends) still gets its custom error page, whole, on a miss: the page is the body. The page is
/// fetched for the viewer's host.
#[test]
fn a_bodiless_origin_error_still_gets_its_custom_error_page() {
    let app = Origin::start_with("app", |req| {
        if req.path().starts_with("/down/") {
            Response::new(503).with_header("Content-Length", "0")
        } else {
            default_origin_response("app", req)
        }
    });
    let pages = Origin::start_with("pages", |_| Response::text(200, "under maintenance"));
    let site = SiteBuilder::new("errors-bodiless", &app)
        .origin("pages", &pages, &[])
        .behavior(
            "/errors/*",
            "pages",
            "Managed-CachingOptimized",
            &["origin_request_policy = \"Managed-AllViewer\""],
        )
        .error_response(&[
            "error_code = 503",
            "response_page_path = \"/errors/maintenance.html\"",
            "response_code = 503",
            "error_caching_min_ttl = 0",
        ])
        .start();
    for path in ["/down/a", "/down/a", "/down/b"] {
        let r = site.get(path, &[]);
        assert_eq!(r.status, 503, "{path}: {r:?}");
        assert_eq!(r.body_text(), "under maintenance", "{path}: {r:?}");
        assert_from_edge(&r, "Error from cloudfront");
    }
    // The page's fetch names the viewer's host, which a policy forwarding Host forwards.
    let hosts: Vec<String> = pages
        .requests()
        .iter()
        .map(|r| r.header("Host").unwrap_or("").to_string())
        .collect();
    assert!(
        !hosts.is_empty() && hosts.iter().all(|h| h == SITE_HOST),
        "{hosts:?}"
    );
}
