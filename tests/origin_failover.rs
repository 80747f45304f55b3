//! Origin groups and origin timeouts, end to end with real origins.
//!
//! Failover as CloudFront documents it ("Optimize high availability with CloudFront origin
//! failover"): every request goes to the primary first, with no sticky failover; a GET, HEAD or
//! OPTIONS request goes to the secondary when the primary answers one of the group's
//! `failover_criteria.status_codes`, refuses the connection, or times out (after its
//! `connection_attempts`); the viewer gets the secondary's answer, and that is what is cached; a
//! POST never fails over; a status outside the criteria passes through; an expired object is
//! served stale only when the secondary fails too.
//!
//! Timeouts (RequestAndResponseBehaviorCustomOrigin): no connection within `connection_timeout`
//! after `connection_attempts` tries is a 504, a refused connection a 502, no answer within
//! `origin_read_timeout` a 504, each with CloudFront's error page and `X-Cache: Error from
//! cloudfront`; `origin_keepalive_timeout` is how long an idle origin connection is kept.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ALL_METHODS: &str =
    "allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]";

/// A site whose origin `p` (on `primary_port`, named `o` by the origins these tests start) is the
/// primary of group `g`, with the origin `s` as its secondary and `criteria` as its failover status
/// codes. `/cached/*` goes to the group with CachingOptimized, everything else to the group with
/// CachingDisabled and all methods. `keys` go in the primary's origin table, `config` in its
/// `custom_origin_config`. The returned origin is the builder's unused default origin.
fn group_site(
    label: &str,
    primary_port: u16,
    secondary: &Origin,
    criteria: &str,
    keys: &[&str],
    config: &[&str],
) -> (Site, Origin) {
    let unused = Origin::start("unused");
    let site = SiteBuilder::new(label, &unused)
        .origin_on_port("p", primary_port, keys, config)
        .origin("s", secondary, &[])
        .dist_key(&format!(
            "origin_groups = [{{ id = \"g\", members = [\"p\", \"s\"], failover_criteria = {{ status_codes = [{criteria}] }} }}]"
        ))
        .behavior("/cached/*", "g", "Managed-CachingOptimized", &[])
        .behavior("*", "g", "Managed-CachingDisabled", &[ALL_METHODS])
        .start();
    (site, unused)
}

/// An origin answering every request with `status` and a body naming itself.
fn failing(name: &str, status: u16) -> Origin {
    let n = name.to_string();
    Origin::start_with(name, move |req| {
        Response::text(
            status,
            format!("origin {n} failed: {} {}", req.method, req.target),
        )
        .with_header("X-Origin-Name", n.as_str())
    })
}

fn assert_secondary(r: &Response, method: &str, path: &str, site: &Site) {
    assert_eq!(
        r.status,
        200,
        "{method} {path}: the secondary's answer: {r:?}\n{}",
        site.ferry.output_report()
    );
    assert_eq!(served_by(r), "s", "{method} {path}: {r:?}");
    if method != "HEAD" {
        assert_eq!(
            r.body_text(),
            format!("origin s: {method} {path}"),
            "only the secondary's body: {r:?}"
        );
    }
}

/// A port on 127.0.0.1 where a TCP connection never completes: a listener that never accepts,
/// whose accept queue is full, so the kernel drops further SYNs.
struct Blackhole {
    port: u16,
    _runtime: tokio::runtime::Runtime,
    _listener: tokio::net::TcpListener,
    _queued: Vec<TcpStream>,
}

impl Blackhole {
    fn start() -> Blackhole {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = {
            let _guard = runtime.enter();
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            socket
                .bind("127.0.0.1:0".parse().expect("address"))
                .expect("bind");
            socket.listen(0).expect("listen")
        };
        let addr = listener.local_addr().expect("local_addr");
        let mut queued = Vec::new();
        for _ in 0..16 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => {
                    return Blackhole {
                        port: addr.port(),
                        _runtime: runtime,
                        _listener: listener,
                        _queued: queued,
                    }
                }
            }
        }
        panic!("the accept queue of {addr} never filled: cannot make a connect timeout here");
    }
}

// ---------------------------------------------------------------- failover on status codes

#[test]
fn primary_503_gives_the_secondarys_answer_and_that_is_what_is_cached() {
    let primary = failing("o", 503);
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-503",
        primary.port(),
        &secondary,
        "500, 502, 503, 504",
        &[],
        &[],
    );

    let r = site.get("/cached/a", &[]);
    assert_secondary(&r, "GET", "/cached/a", &site);
    assert_eq!(x_cache(&r), "Miss from cloudfront", "{r:?}");
    assert_eq!(primary.count_path("/cached/a"), 1, "the primary first");
    assert_eq!(secondary.count_path("/cached/a"), 1);

    // The secondary's answer was cached, not the primary's 503.
    let again = site.get("/cached/a", &[]);
    assert_secondary(&again, "GET", "/cached/a", &site);
    assert_eq!(x_cache(&again), "Hit from cloudfront", "{again:?}");
    assert_eq!(primary.count_path("/cached/a"), 1, "a hit goes nowhere");
    assert_eq!(secondary.count_path("/cached/a"), 1);

    // HEAD and OPTIONS fail over too.
    let head = site.request("HEAD", "/h", &[], b"");
    assert_secondary(&head, "HEAD", "/h", &site);
    let options = site.request("OPTIONS", "/o", &[], b"");
    assert_secondary(&options, "OPTIONS", "/o", &site);
    assert_eq!(primary.count_path("/h") + primary.count_path("/o"), 2);
}

#[test]
fn every_request_tries_the_primary_first_with_no_sticky_failover() {
    // The primary fails /down/* only, with a large body: the edge abandons it unread, and must
    // not reuse that connection for the next request.
    let primary = Origin::start_with("o", |req| {
        if req.path().starts_with("/down/") {
            Response::text(503, "primary down\n".repeat(50_000)).with_header("X-Origin-Name", "o")
        } else {
            default_origin_response("o", req)
        }
    });
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-first",
        primary.port(),
        &secondary,
        "503",
        &[],
        &[],
    );

    for i in 0..5 {
        let down = format!("/down/{i}");
        let r = site.get(&down, &[]);
        assert_secondary(&r, "GET", &down, &site);
        // Right after a failover, the next request goes to the primary again, which answers it.
        let up = format!("/up/{i}");
        let r = site.get(&up, &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(served_by(&r), "o", "no sticky failover: {r:?}");
    }
    assert_eq!(
        primary.count_prefix("/down/"),
        5,
        "each request tried the primary"
    );
    assert_eq!(primary.count_prefix("/up/"), 5);
    assert_eq!(secondary.count_prefix("/down/"), 5);
    assert_eq!(
        secondary.count_prefix("/up/"),
        0,
        "{:#?}",
        secondary.requests()
    );
}

#[test]
fn a_status_outside_the_criteria_passes_through() {
    let primary = failing("o", 404);
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-criteria",
        primary.port(),
        &secondary,
        "503",
        &[],
        &[],
    );

    let r = site.get("/missing", &[]);
    assert_eq!(r.status, 404, "the primary's 404: {r:?}");
    assert_eq!(served_by(&r), "o", "{r:?}");
    assert_eq!(r.body_text(), "origin o failed: GET /missing");
    // Nor is a 500.
    primary.respond_with(Response::text(500, "primary error").with_header("X-Origin-Name", "o"));
    let r = site.get("/error", &[]);
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(served_by(&r), "o", "{r:?}");
    assert_eq!(secondary.count(), 0, "{:#?}", secondary.requests());
}

#[test]
fn the_secondarys_failure_is_what_the_viewer_gets() {
    let primary = failing("o", 503);
    let secondary = failing("s", 502);
    let (site, _unused) = group_site(
        "failover-both",
        primary.port(),
        &secondary,
        "502, 503",
        &[],
        &[],
    );
    let r = site.get("/both", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(
        served_by(&r),
        "s",
        "the secondary's answer, no third try: {r:?}"
    );
    assert_eq!(r.body_text(), "origin s failed: GET /both");
    assert_eq!(primary.count_path("/both"), 1);
    assert_eq!(secondary.count_path("/both"), 1);
}

/// An expired object whose primary now fails: the request fails over to the secondary before
/// the stale copy is considered (the group is one origin to CloudFront), and the stale copy stands
/// in only when the secondary fails too.
#[test]
fn an_expired_object_fails_over_before_it_is_served_stale() {
    let primary = Origin::start_with("o", |req| {
        default_origin_response("o", req).with_header("Cache-Control", "max-age=1")
    });
    let secondary = Origin::start_with("s", |req| {
        if req.path().starts_with("/cached/both") {
            Response::text(503, "secondary down").with_header("X-Origin-Name", "s")
        } else {
            default_origin_response("s", req).with_header("Cache-Control", "max-age=1")
        }
    });
    let (site, _unused) = group_site(
        "failover-stale",
        primary.port(),
        &secondary,
        "500, 502, 503, 504",
        &[],
        &[],
    );
    for path in ["/cached/one", "/cached/both"] {
        let r = site.get(path, &[]);
        assert_eq!((r.status, served_by(&r)), (200, "o"), "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(1_500));
    primary.respond_with(Response::text(503, "primary down").with_header("X-Origin-Name", "o"));

    let r = site.get("/cached/one", &[]);
    assert_secondary(&r, "GET", "/cached/one", &site);
    assert_eq!(
        (
            primary.count_path("/cached/one"),
            secondary.count_path("/cached/one")
        ),
        (2, 1)
    );

    let r = site.get("/cached/both", &[]);
    assert_eq!(
        (r.status, served_by(&r), r.body_text().as_str()),
        (200, "o", "origin o: GET /cached/both"),
        "both members failed: the stale copy: {r:?}"
    );
    assert_eq!(
        (
            primary.count_path("/cached/both"),
            secondary.count_path("/cached/both")
        ),
        (2, 1)
    );
}

#[test]
fn post_put_and_delete_never_fail_over() {
    let primary = failing("o", 503);
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-post",
        primary.port(),
        &secondary,
        "500, 502, 503, 504",
        &[],
        &[],
    );

    for method in ["POST", "PUT", "DELETE"] {
        let r = site.request(method, "/form", &[("Content-Type", "text/plain")], b"hello");
        assert_eq!(r.status, 503, "{method} gets the primary's 503: {r:?}");
        assert_eq!(served_by(&r), "o", "{method}: {r:?}");
        assert_eq!(r.body_text(), format!("origin o failed: {method} /form"));
    }
    assert_eq!(primary.count_path("/form"), 3);
    assert_eq!(secondary.count(), 0, "{:#?}", secondary.requests());
    // The POST body reached the primary whole.
    assert_eq!(primary.last_for_path("/form").body_text(), "hello");
}

// ---------------------------------------------------------------- failover on connection failures

#[test]
fn a_refused_primary_fails_over_after_its_connection_attempts() {
    let secondary = Origin::start("s");
    let dead = dead_addr();
    let dead_port: u16 = dead
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("dead port");
    let (site, _unused) = group_site(
        "failover-refused",
        dead_port,
        &secondary,
        "503",
        &["connection_attempts = 3"],
        &[],
    );

    let started = Instant::now();
    let r = site.get("/refused", &[]);
    assert_secondary(&r, "GET", "/refused", &site);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(secondary.count_path("/refused"), 1);

    // A POST to a refused primary is not failed over: CloudFront's 502.
    let r = site.request("POST", "/refused-post", &[], b"x");
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(x_cache(&r), "Error from cloudfront", "{r:?}");
    assert_eq!(secondary.count_path("/refused-post"), 0);
}

#[test]
fn a_primary_that_times_out_fails_over() {
    // The primary answers after 5 s; its read timeout is 1 s with one attempt.
    let primary = Origin::start_with("o", |req| {
        default_origin_response("o", req).with_delay(Duration::from_secs(5))
    });
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-read-timeout",
        primary.port(),
        &secondary,
        "503",
        &["connection_attempts = 1"],
        &["origin_read_timeout = 1"],
    );
    let started = Instant::now();
    let r = site.get("/slow", &[]);
    let took = started.elapsed();
    assert_secondary(&r, "GET", "/slow", &site);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "one read timeout of 1 s, then the secondary: {took:?}"
    );
    assert_eq!(primary.count_path("/slow"), 1);
}

#[test]
fn a_primary_that_never_accepts_fails_over_after_the_connection_timeout() {
    let hole = Blackhole::start();
    let secondary = Origin::start("s");
    let (site, _unused) = group_site(
        "failover-connect-timeout",
        hole.port,
        &secondary,
        "503",
        &["connection_attempts = 2", "connection_timeout = 1"],
        &[],
    );
    let started = Instant::now();
    let r = site.get("/unreachable", &[]);
    let took = started.elapsed();
    assert_secondary(&r, "GET", "/unreachable", &site);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "two connection timeouts of 1 s, then the secondary: {took:?}"
    );
}

// ---------------------------------------------------------------- timeouts without a group

/// A site whose `/bad/*` behavior goes to origin `bad` on `port` (keys in its table, config in
/// its custom_origin_config), everything else to a working origin.
fn site_with(label: &str, good: &Origin, port: u16, keys: &[&str], config: &[&str]) -> Site {
    SiteBuilder::new(label, good)
        .origin_on_port("bad", port, keys, config)
        .behavior("/bad/*", "bad", "Managed-CachingDisabled", &[])
        .start()
}

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert_eq!(x_cache(r), "Error from cloudfront", "{what}: {r:?}");
    assert_eq!(r.header("server"), Some("CloudFront"), "{what}: {r:?}");
    assert!(
        r.body_text()
            .contains("Generated by cloudfront (CloudFront)"),
        "CloudFront's error page: {r:?}"
    );
}

#[test]
fn connection_timeouts_give_504_after_the_connection_attempts() {
    let good = Origin::start("o");
    let hole = Blackhole::start();
    let site = site_with(
        "timeout-connect",
        &good,
        hole.port,
        &["connection_attempts = 2", "connection_timeout = 1"],
        &[],
    );
    let c = Client::with_timeout(Duration::from_secs(20));
    let started = Instant::now();
    let r = c
        .try_request(&site.edge, "GET", "/bad/x", &[("Host", SITE_HOST)], b"")
        .unwrap_or_else(|e| panic!("no answer: {e}\n{}", site.ferry.output_report()));
    let took = started.elapsed();
    assert_error(&r, 504, "no connection within connection_timeout");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "two attempts of 1 s: {took:?}"
    );
}

#[test]
fn a_refused_connection_gives_502_and_a_silent_origin_504() {
    let good = Origin::start("o");
    let dead = dead_addr();
    let dead_port: u16 = dead
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("dead port");
    let site = site_with("timeout-refused", &good, dead_port, &[], &[]);
    let r = site.get("/bad/refused", &[]);
    assert_error(&r, 502, "a refused connection");

    let slow = Origin::start_with("slow", |req| {
        default_origin_response("slow", req).with_delay(Duration::from_secs(5))
    });
    let site = site_with(
        "timeout-read",
        &good,
        slow.port(),
        &["connection_attempts = 1"],
        &["origin_read_timeout = 1"],
    );
    let started = Instant::now();
    let r = site.get("/bad/slow", &[]);
    assert_error(&r, 504, "no answer within origin_read_timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
}

/// A keep-alive HTTP/1.1 origin that answers every request `200 ok` and records, per connection,
/// how long after its last answer the edge closed it.
struct ClosingOrigin {
    port: u16,
    /// Per accepted connection: `Some(idle time before the edge closed it)` once it has.
    closed_after: Arc<Mutex<Vec<Option<Duration>>>>,
}

impl ClosingOrigin {
    fn start() -> ClosingOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let closed_after: Arc<Mutex<Vec<Option<Duration>>>> = Arc::new(Mutex::new(Vec::new()));
        let record = closed_after.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let index = {
                    let mut all = record.lock().expect("lock");
                    all.push(None);
                    all.len() - 1
                };
                let record = record.clone();
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut last = Instant::now();
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) => {
                                record.lock().expect("lock")[index] = Some(last.elapsed());
                                return;
                            }
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                            Err(_) => return,
                        }
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            pending.drain(..end + 4);
                            if stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                                .is_err()
                            {
                                return;
                            }
                            last = Instant::now();
                        }
                    }
                });
            }
        });
        ClosingOrigin { port, closed_after }
    }

    fn closed_after(&self) -> Vec<Option<Duration>> {
        self.closed_after.lock().expect("lock").clone()
    }
}

#[test]
fn origin_keepalive_timeout_is_how_long_an_idle_origin_connection_is_kept() {
    let good = Origin::start("o");
    let short = ClosingOrigin::start();
    let long = ClosingOrigin::start();
    let site = SiteBuilder::new("keepalive", &good)
        .origin_on_port("short", short.port, &[], &["origin_keepalive_timeout = 1"])
        .origin_on_port("long", long.port, &[], &["origin_keepalive_timeout = 5"])
        .behavior("/short/*", "short", "Managed-CachingDisabled", &[])
        .behavior("/long/*", "long", "Managed-CachingDisabled", &[])
        .start();
    for path in ["/short/x", "/long/x"] {
        let r = site.get(path, &[]);
        assert_eq!((r.status, r.body_text().as_str()), (200, "ok"), "{r:?}");
    }
    thread::sleep(Duration::from_millis(2500));
    // Keepalive 1 s: the edge closed its idle connection about 1 s after the answer.
    let closed = short.closed_after();
    assert_eq!(closed.len(), 1, "one connection: {closed:?}");
    let idle = closed[0].unwrap_or_else(|| panic!("still open after 2.5 s idle: {closed:?}"));
    assert!(
        idle >= Duration::from_millis(800) && idle < Duration::from_millis(2000),
        "closed after {idle:?} idle; origin_keepalive_timeout is 1 s"
    );
    // Keepalive 5 s: still open after 2.5 s.
    let closed = long.closed_after();
    assert_eq!(closed, vec![None], "the 5 s connection is still pooled");
}
