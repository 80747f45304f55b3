//! How long the edge keeps an object: every row of the TTL table (Expiration.md, reference §1.4)
//! through the running edge, judged by origin counts before and after the TTL runs out; `Age` on
//! hits; and the managed `CachingDisabled` / `CachingOptimized` policies.
//!
//! The origin picks its caching headers from the last path segment (see [`recipe`]); the first
//! segment picks a cache behavior, and so a cache policy:
//!
//! | prefix    | policy          | MinTTL | DefaultTTL | MaxTTL |
//! |-----------|-----------------|--------|------------|--------|
//! | `/long/`  | `long`          | 0      | 3600       | 86400  |
//! | `/short/` | `short-default` | 0      | 2          | 86400  |
//! | `/cap/`   | `capped`        | 0      | 2          | 2      |
//! | `/floor/` | `floor`         | 2      | 2          | 3600   |
//! | `/min/`   | `min60`         | 60     | 60         | 3600   |
//! | `/cd/`    | Managed-CachingDisabled                         |
//! | other     | Managed-CachingOptimized (1 / 86400 / 31536000)  |
//!
//! TTLs that must run out are 2 s (3 s for `Expires`, which has whole-second precision); the tests
//! sleep one second past them, which is waiting for time to pass, not a timing assertion.

mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// The ETag every recipe's 200 carries, so that a revalidation can be answered 304.
const ETAG: &str = "\"v1\"";

/// The caching headers the origin sends for the last path segment `name`.
fn recipe(name: &str) -> Vec<(String, String)> {
    let now = SystemTime::now();
    let cc = |v: &str| vec![("Cache-Control".to_string(), v.to_string())];
    let expires = |secs: i64| {
        let t = if secs >= 0 {
            now + Duration::from_secs(secs as u64)
        } else {
            now - Duration::from_secs(secs.unsigned_abs())
        };
        ("Expires".to_string(), http_date(t))
    };
    match name {
        "ma0" => cc("max-age=0"),
        "ma2" => cc("max-age=2"),
        "ma3600" => cc("max-age=3600"),
        "sma-short" => cc("max-age=3600, s-maxage=2"),
        "sma-long" => cc("max-age=2, s-maxage=3600"),
        "exp3" => vec![expires(3)],
        "exp-past" => vec![expires(-3600)],
        "ma3600-exp-past" => {
            let mut h = cc("max-age=3600");
            h.push(expires(-3600));
            h
        }
        "ma2-exp-future" => {
            let mut h = cc("max-age=2");
            h.push(expires(86_400));
            h
        }
        "vary-star" => {
            let mut h = cc("max-age=3600");
            h.push(("Vary".to_string(), "*".to_string()));
            h
        }
        "no-cache" => cc("no-cache"),
        "no-store" => cc("no-store"),
        "private" => cc("private"),
        _ => Vec::new(),
    }
}

/// The origin: `200 body-of <path>` with the recipe's headers and [`ETAG`]; a request that
/// revalidates that ETag gets a 304.
fn ttl_origin() -> Origin {
    Origin::start_with("o", |req| {
        let name = req.path().rsplit('/').next().unwrap_or("").to_string();
        let headers = recipe(&name);
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        conditional_response(
            req,
            Some(ETAG),
            None,
            &pairs,
            &format!("body-of {}", req.path()),
        )
    })
}

fn ttl_site(label: &str, origin: &Origin) -> Site {
    SiteBuilder::new(label, origin)
        .cache_policy("long", "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400")
        .cache_policy(
            "short-default",
            "min_ttl = 0\ndefault_ttl = 2\nmax_ttl = 86400",
        )
        .cache_policy("capped", "min_ttl = 0\ndefault_ttl = 2\nmax_ttl = 2")
        .cache_policy("floor", "min_ttl = 2\ndefault_ttl = 2\nmax_ttl = 3600")
        .cache_policy("min60", "min_ttl = 60\ndefault_ttl = 60\nmax_ttl = 3600")
        .behavior("/long/*", "o", "long", &[])
        .behavior("/short/*", "o", "short-default", &[])
        .behavior("/cap/*", "o", "capped", &[])
        .behavior("/floor/*", "o", "floor", &[])
        .behavior("/min/*", "o", "min60", &[])
        .behavior("/cd/*", "o", "Managed-CachingDisabled", &[])
        .start()
}

/// GET `path`: asserts a 200 with the origin's body and the given X-Cache.
fn fetch(site: &Site, path: &str, x_cache: &str) -> Response {
    let r = site.get(path, &[]);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert_eq!(r.body_text(), format!("body-of {path}"), "{path}: {r:?}");
    assert_from_edge(&r, x_cache);
    r
}

/// Requests `path` twice (a miss, then a hit) and returns when the first answer arrived.
fn miss_then_hit(site: &Site, origin: &Origin, path: &str) -> Instant {
    fetch(site, path, "Miss from cloudfront");
    let stored = Instant::now();
    fetch(site, path, "Hit from cloudfront");
    assert_eq!(
        origin.count_path(path),
        1,
        "{path} is cached: {:#?}",
        origin.requests()
    );
    stored
}

/// One second past `ttl` seconds after `since`.
fn wait_past(since: Instant, ttl: u64) {
    sleep_until(since, Duration::from_secs(ttl + 1));
}

#[test]
fn http_date_helper_formats_imf_fixdate() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_164_800);
    assert_eq!(http_date(t), "Thu, 29 Feb 2024 00:00:00 GMT");
}

#[test]
fn max_age_sets_the_ttl() {
    let o = ttl_origin();
    let site = ttl_site("ttl-max-age", &o);

    let stored = miss_then_hit(&site, &o, "/long/ma2");
    miss_then_hit(&site, &o, "/long/ma3600");
    wait_past(stored, 2);
    // max-age=2 ran out: the next request goes to the origin (a revalidation: see
    // cache_revalidate.rs for what it carries) ...
    let r = site.get("/long/ma2", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "body-of /long/ma2", "{r:?}");
    assert_eq!(o.count_path("/long/ma2"), 2, "{:#?}", o.requests());
    // ... while max-age=3600 under MaxTTL 86400 is still fresh.
    fetch(&site, "/long/ma3600", "Hit from cloudfront");
    assert_eq!(o.count_path("/long/ma3600"), 1);
}

#[test]
fn max_ttl_caps_max_age() {
    let o = ttl_origin();
    let site = ttl_site("ttl-max-ttl", &o);

    // max-age=3600 under MaxTTL 2: min(3600, 2) = 2 s.
    let stored = miss_then_hit(&site, &o, "/cap/ma3600");
    wait_past(stored, 2);
    let r = site.get("/cap/ma3600", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(o.count_path("/cap/ma3600"), 2, "{:#?}", o.requests());
    // The viewer still sees the origin's Cache-Control (browsers use max-age).
    assert_eq!(r.header("cache-control"), Some("max-age=3600"), "{r:?}");
}

#[test]
fn min_ttl_raises_a_shorter_max_age() {
    let o = ttl_origin();
    let site = ttl_site("ttl-min-ttl", &o);

    // max-age=0 under MinTTL 2: clamp(0, 2, 3600) = 2 s, so the second request is a hit.
    let stored = miss_then_hit(&site, &o, "/floor/ma0");
    wait_past(stored, 2);
    site.get("/floor/ma0", &[]);
    assert_eq!(o.count_path("/floor/ma0"), 2, "{:#?}", o.requests());
}

#[test]
fn s_maxage_wins_over_max_age() {
    let o = ttl_origin();
    let site = ttl_site("ttl-s-maxage", &o);

    let stored = miss_then_hit(&site, &o, "/long/sma-short");
    miss_then_hit(&site, &o, "/long/sma-long");
    wait_past(stored, 2);
    // s-maxage=2 ran out although max-age=3600 ...
    let r = site.get("/long/sma-short", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(o.count_path("/long/sma-short"), 2, "{:#?}", o.requests());
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=3600, s-maxage=2"),
        "Cache-Control reaches the viewer unchanged: {r:?}"
    );
    // ... and s-maxage=3600 keeps it although max-age=2.
    let r = fetch(&site, "/long/sma-long", "Hit from cloudfront");
    assert_eq!(o.count_path("/long/sma-long"), 1, "{:#?}", o.requests());
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=2, s-maxage=3600"),
        "{r:?}"
    );
}

#[test]
fn expires_alone_sets_the_ttl() {
    let o = ttl_origin();
    let site = ttl_site("ttl-expires", &o);

    // Expires = now + 3 s (whole seconds, so 2 to 3 s from the edge's clock).
    let stored = miss_then_hit(&site, &o, "/long/exp3");
    // Expires in the past: stale on arrival, so every request goes to the origin.
    fetch(&site, "/long/exp-past", "Miss from cloudfront");
    let r = site.get("/long/exp-past", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(x_cache(&r), "Hit from cloudfront", "{r:?}");
    assert_eq!(o.count_path("/long/exp-past"), 2, "{:#?}", o.requests());

    wait_past(stored, 3);
    site.get("/long/exp3", &[]);
    assert_eq!(o.count_path("/long/exp3"), 2, "{:#?}", o.requests());
}

#[test]
fn max_age_wins_over_expires() {
    let o = ttl_origin();
    let site = ttl_site("ttl-max-age-and-expires", &o);

    // max-age=3600 with an Expires in the past: cached (Expires ignored).
    miss_then_hit(&site, &o, "/long/ma3600-exp-past");
    // max-age=2 with an Expires a day ahead: 2 s (Expires ignored).
    let stored = miss_then_hit(&site, &o, "/long/ma2-exp-future");
    wait_past(stored, 2);
    site.get("/long/ma2-exp-future", &[]);
    assert_eq!(
        o.count_path("/long/ma2-exp-future"),
        2,
        "{:#?}",
        o.requests()
    );
    fetch(&site, "/long/ma3600-exp-past", "Hit from cloudfront");
    assert_eq!(o.count_path("/long/ma3600-exp-past"), 1);
}

#[test]
fn neither_header_uses_default_ttl() {
    let o = ttl_origin();
    let site = ttl_site("ttl-default", &o);

    let stored = miss_then_hit(&site, &o, "/short/plain");
    miss_then_hit(&site, &o, "/long/plain");
    wait_past(stored, 2);
    // DefaultTTL 2 ran out; DefaultTTL 3600 did not.
    site.get("/short/plain", &[]);
    assert_eq!(o.count_path("/short/plain"), 2, "{:#?}", o.requests());
    fetch(&site, "/long/plain", "Hit from cloudfront");
    assert_eq!(o.count_path("/long/plain"), 1);
}

#[test]
fn no_cache_no_store_private_with_min_ttl_zero_are_never_cached() {
    let o = ttl_origin();
    let site = ttl_site("ttl-no-cache-min0", &o);

    for directive in ["no-cache", "no-store", "private"] {
        let path = format!("/long/{directive}");
        for _ in 0..3 {
            let r = fetch(&site, &path, "Miss from cloudfront");
            assert_eq!(
                r.header("cache-control"),
                Some(directive),
                "browsers get the origin's directive: {r:?}"
            );
        }
        assert_eq!(
            o.count_path(&path),
            3,
            "{directive} with MinTTL 0: every request goes to the origin: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn no_cache_no_store_private_with_min_ttl_are_kept_for_when_the_origin_is_down() {
    let mut o = ttl_origin();
    let site = ttl_site("ttl-no-cache-min60-down", &o);

    let directives = ["no-cache", "no-store", "private"];
    for directive in directives {
        fetch(&site, &format!("/min/{directive}"), "Miss from cloudfront");
    }
    // With MinTTL > 0 the object is stored for MinTTL despite the directive (CachePolicyConfig:
    // "CloudFront will cache content for at least the duration specified in the cache policy's
    // minimum TTL, even if the Cache-Control: no-cache, no-store, or private directives are
    // present"), so an unreachable origin does not fail the viewer.
    o.stop();
    for directive in directives {
        let path = format!("/min/{directive}");
        let r = site.get(&path, &[]);
        assert_eq!(r.status, 200, "{directive}: {r:?}");
        assert_eq!(r.body_text(), format!("body-of {path}"), "{r:?}");
    }
}

#[test]
fn no_cache_with_min_ttl_still_asks_the_origin_on_every_request() {
    // Reference §1.4: "cached for MinTTL. Each request still goes to the origin, but if the origin
    // is unreachable the old object is served". (The older Expiration.md row only says "caches
    // objects for the value of the CloudFront minimum TTL"; see the report.)
    let o = ttl_origin();
    let site = ttl_site("ttl-no-cache-min60-revalidate", &o);

    for directive in ["no-cache", "no-store", "private"] {
        let path = format!("/min/{directive}");
        fetch(&site, &path, "Miss from cloudfront");
        let r = site.get(&path, &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_text(), format!("body-of {path}"), "{r:?}");
        assert_eq!(
            o.count_path(&path),
            2,
            "{directive} with MinTTL 60: the second request still reaches the origin: {:#?}",
            o.requests()
        );
    }
}

#[test]
fn age_is_present_and_increases_on_hits() {
    let o = ttl_origin();
    let site = ttl_site("ttl-age", &o);

    let r = fetch(&site, "/long/ma3600", "Miss from cloudfront");
    assert_eq!(age(&r), None, "no Age on a miss: {r:?}");
    let r = fetch(&site, "/long/ma3600", "Hit from cloudfront");
    let first = age(&r).unwrap_or_else(|| panic!("no numeric Age on a hit: {r:?}"));
    thread::sleep(Duration::from_millis(2200));
    let r = fetch(&site, "/long/ma3600", "Hit from cloudfront");
    let later = age(&r).unwrap_or_else(|| panic!("no numeric Age on a hit: {r:?}"));
    assert!(
        later > first && later <= first + 10,
        "Age went from {first} to {later} over 2.2 s"
    );
    assert_eq!(o.count_path("/long/ma3600"), 1);
}

#[test]
fn managed_caching_disabled_sends_every_request_to_the_origin() {
    let o = ttl_origin();
    let site = ttl_site("ttl-caching-disabled", &o);

    for path in ["/cd/ma3600", "/cd/plain"] {
        for _ in 0..3 {
            let r = fetch(&site, path, "Miss from cloudfront");
            assert_eq!(age(&r), None, "{r:?}");
        }
        assert_eq!(o.count_path(path), 3, "{:#?}", o.requests());
    }
    // And HEAD too.
    let r = site.request("HEAD", "/cd/plain", &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(o.count_path("/cd/plain"), 4, "{:#?}", o.requests());
}

#[test]
fn managed_caching_optimized_caches_by_default_ttl_and_honours_max_age() {
    let o = ttl_origin();
    let site = ttl_site("ttl-caching-optimized", &o);

    // No headers: DefaultTTL 86400.
    let stored = miss_then_hit(&site, &o, "/co/plain");
    // max-age=2 is within [MinTTL 1, MaxTTL 31536000].
    miss_then_hit(&site, &o, "/co/ma2");
    wait_past(stored, 2);
    fetch(&site, "/co/plain", "Hit from cloudfront");
    assert_eq!(o.count_path("/co/plain"), 1);
    site.get("/co/ma2", &[]);
    assert_eq!(o.count_path("/co/ma2"), 2, "{:#?}", o.requests());
}

/// `Vary: *` (RequestAndResponseBehaviorCustomOrigin, "Vary"): with a MinTTL of 0 "CloudFront
/// caches the object but still forwards every subsequent request for the object to the origin";
/// with any other MinTTL the `*` is dropped like any other name it cannot vary on, and the object
/// is cached by the TTL rules.
#[test]
fn vary_star_reaches_the_origin_every_time_only_with_a_min_ttl_of_0() {
    let origin = ttl_origin();
    let site = ttl_site("vary-star", &origin);

    let path = "/long/vary-star";
    for _ in 0..3 {
        let r = site.get(path, &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("vary"), Some("*"), "{r:?}");
    }
    assert_eq!(
        origin.count_path(path),
        3,
        "MinTTL 0: every request goes to the origin"
    );

    // Managed-CachingOptimized: MinTTL 1.
    let path = "/other/vary-star";
    fetch(&site, path, "Miss from cloudfront");
    let r = fetch(&site, path, "Hit from cloudfront");
    assert_eq!(r.header("vary"), None, "the `*` is dropped: {r:?}");
    assert_eq!(origin.count_path(path), 1);
}
