//! Request collapsing ("Simultaneous requests for the same object", RequestAndResponseBehavior-
//! CustomOrigin.md): simultaneous misses for one cache key make one origin request and the others
//! are served from it; no collapsing where CloudFront does not collapse (CachingDisabled, Cookie in
//! the key, MinTTL 0 with `private`); and a leader whose origin fails never leaves its waiters
//! hanging.

mod common;

use common::*;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// How long the origin takes to answer, so that every request arrives while the first is out.
const ORIGIN_DELAY: Duration = Duration::from_millis(300);

/// An origin that answers after [`ORIGIN_DELAY`] with `reply <n>` (n counts from 1 per origin)
/// and the given extra headers.
fn slow_counting_origin(headers: &'static [(&'static str, &'static str)]) -> Origin {
    let n = Arc::new(AtomicUsize::new(0));
    Origin::start_with("o", move |_req| {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        let mut r = Response::text(200, format!("reply {i}")).with_delay(ORIGIN_DELAY);
        for (k, v) in headers {
            r = r.with_header(k, *v);
        }
        r
    })
}

/// `n` GETs for `path` started together (a barrier), each on its own connection, with a client
/// timeout of `timeout`; the results in thread order.
fn concurrent_gets(
    site: &Site,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
    timeout: Duration,
) -> Vec<io::Result<Response>> {
    let barrier = Barrier::new(n);
    let mut all = headers.to_vec();
    all.insert(0, ("Host", SITE_HOST));
    let all = &all;
    let barrier = &barrier;
    let client = Client::with_timeout(timeout);
    let client = &client;
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(move || {
                    barrier.wait();
                    client.try_request(&site.edge, "GET", path, all, b"")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request thread"))
            .collect()
    })
}

/// Unwraps every result, with the ferry log on failure.
fn responses(site: &Site, results: Vec<io::Result<Response>>) -> Vec<Response> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|e| {
                panic!(
                    "request {i} got no response: {e}\n{}",
                    site.ferry.output_report()
                )
            })
        })
        .collect()
}

#[test]
fn fifty_simultaneous_misses_make_one_origin_request() {
    let o = slow_counting_origin(&[("Cache-Control", "max-age=3600")]);
    let site = SiteBuilder::new("collapse-fifty", &o).start();

    let got = responses(
        &site,
        concurrent_gets(&site, "/c/one", &[], 50, Duration::from_secs(30)),
    );
    assert_eq!(
        o.count_path("/c/one"),
        1,
        "50 simultaneous misses for one key: {:#?}",
        o.requests()
    );
    for r in &got {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_text(), "reply 1", "{r:?}");
    }
    // The first is a Miss and the others were served from it (CloudFront logs them as Hit).
    let misses = got
        .iter()
        .filter(|r| x_cache(r) == "Miss from cloudfront")
        .count();
    let hits = got
        .iter()
        .filter(|r| x_cache(r) == "Hit from cloudfront")
        .count();
    assert_eq!(
        (misses, hits),
        (1, 49),
        "X-Cache values: {:?}",
        got.iter().map(x_cache).collect::<Vec<_>>()
    );
    // And the object stays cached.
    let r = site.get("/c/one", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/c/one"), 1);
}

#[test]
fn caching_disabled_is_not_collapsed() {
    let o = slow_counting_origin(&[]);
    let site = SiteBuilder::new("collapse-disabled", &o)
        .policy("Managed-CachingDisabled")
        .start();

    let got = responses(
        &site,
        concurrent_gets(&site, "/c/off", &[], 10, Duration::from_secs(30)),
    );
    assert_eq!(o.count_path("/c/off"), 10, "{:#?}", o.requests());
    let mut bodies: Vec<String> = got.iter().map(|r| r.body_text()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        10,
        "every viewer got its own origin answer: {got:#?}"
    );
    for r in &got {
        assert_from_edge(r, "Miss from cloudfront");
    }
}

#[test]
fn cookie_in_the_key_is_not_collapsed() {
    let o = slow_counting_origin(&[]);
    let site = SiteBuilder::new("collapse-cookie", &o)
        .cache_policy(
            "by-cookie",
            "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400\ncookies_config = { cookie_behavior = \"all\" }",
        )
        .policy("by-cookie")
        .start();

    let got = responses(
        &site,
        concurrent_gets(
            &site,
            "/c/cookie",
            &[("Cookie", "session=same")],
            10,
            Duration::from_secs(30),
        ),
    );
    for r in &got {
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(
        o.count_path("/c/cookie"),
        10,
        "with Cookie in the cache key CloudFront does not collapse: {:#?}",
        o.requests()
    );
}

#[test]
fn private_responses_are_never_shared_between_simultaneous_viewers() {
    let o = slow_counting_origin(&[("Cache-Control", "private")]);
    // Default behavior: a MinTTL 0 policy, so `private` is obeyed.
    let site = SiteBuilder::new("collapse-private", &o)
        .cache_policy("min0", "min_ttl = 0\ndefault_ttl = 3600\nmax_ttl = 86400")
        .policy("min0")
        .start();

    let got = responses(
        &site,
        concurrent_gets(&site, "/c/private", &[], 10, Duration::from_secs(30)),
    );
    assert_eq!(o.count_path("/c/private"), 10, "{:#?}", o.requests());
    let mut bodies: Vec<String> = got.iter().map(|r| r.body_text()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        10,
        "a private answer went to more than one viewer: {got:#?}"
    );
}

/// Asserts that every one of `got` is an error answer from the edge.
fn assert_all_errors(got: &[Response]) {
    for r in got {
        assert!(
            (500..600).contains(&r.status),
            "a waiter of a failed leader gets a 5xx: {r:?}"
        );
        assert_from_edge(r, "Error from cloudfront");
    }
}

#[test]
fn waiters_of_a_leader_whose_origin_answers_garbage_all_get_an_answer() {
    let o = Origin::start_with("o", |_req| {
        Response::raw(&b"this is not HTTP\r\n\r\n"[..]).with_delay(ORIGIN_DELAY)
    });
    let site = SiteBuilder::new("collapse-garbage", &o)
        .origin_keys(&["connection_attempts = 1"])
        .start();

    let got = responses(
        &site,
        concurrent_gets(&site, "/c/garbage", &[], 20, Duration::from_secs(30)),
    );
    assert_eq!(got.len(), 20);
    assert_all_errors(&got);
    for r in &got {
        assert_eq!(r.status, 502, "an origin that answers garbage: {r:?}");
    }

    // The edge keeps serving.
    o.set_handler(|req| default_origin_response("o", req));
    let r = site.get("/c/after-garbage", &[]);
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn waiters_of_a_leader_whose_origin_stalls_all_get_an_answer() {
    let o = Origin::start_with("o", |_req| {
        Response::text(200, "too late").with_delay(Duration::from_secs(6))
    });
    let site = SiteBuilder::new("collapse-stall", &o)
        .origin_keys(&["connection_attempts = 1"])
        .origin_config(&["origin_read_timeout = 1"])
        .start();

    let got = responses(
        &site,
        concurrent_gets(&site, "/c/stall", &[], 20, Duration::from_secs(40)),
    );
    assert_eq!(got.len(), 20);
    assert_all_errors(&got);
    for r in &got {
        assert_eq!(
            r.status, 504,
            "an origin that does not answer in time: {r:?}"
        );
    }

    o.set_handler(|req| default_origin_response("o", req));
    let r = site.get("/c/after-stall", &[]);
    assert_eq!(r.status, 200, "{r:?}");
}
