//! Viewers that ask for a large response and stop reading it: the edge closes their connection
//! once they have taken none of it for `[edge] send_timeout` seconds (nginx's `send_timeout`), on
//! every path a response takes — a hit sent from its body file by the fast path, a hit through
//! pingora's cache (`FERRY_FAST_HITS=0`), a miss streamed from the origin, an uncached forward —
//! while other viewers are served meanwhile. Without it such a connection, its task and (on a
//! miss) its origin connection are held for ever.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The edge's send timeout, seconds.
const SEND_TIMEOUT: u64 = 2;
/// More than the loopback socket buffers of both ends hold, so that the edge's writes must wait.
const BODY: usize = 32 << 20;

fn origin() -> Origin {
    Origin::start_with("o", |req| {
        if req.path().starts_with("/small") {
            Response::new(200)
                .with_header("Cache-Control", "max-age=600")
                .with_body(b"small".to_vec())
        } else {
            Response::new(200)
                .with_header("Cache-Control", "max-age=600")
                .with_body(vec![b'x'; BODY])
        }
    })
}

fn site(label: &str, origin: &Origin, env: &[(&str, &str)]) -> Site {
    SiteBuilder::new(label, origin)
        .edge(&format!("send_timeout = {SEND_TIMEOUT}"))
        .behavior("/nocache/*", "o", "Managed-CachingDisabled", &[])
        .start_with_env(env)
}

/// Asks for `path` and reads nothing: the edge must close the connection between the send
/// timeout and a few seconds after it.
fn stall(site: &Site, path: &str, what: &str) {
    let mut viewer = TcpStream::connect(site.edge.as_str()).expect("connect");
    viewer
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\n").as_bytes())
        .expect("request");
    let asked = Instant::now();
    // Reads nothing for a while: what the edge wrote fills both sockets' buffers, and its writes
    // wait from then on.
    std::thread::sleep(Duration::from_secs(SEND_TIMEOUT + 2));
    // Meanwhile, others are served.
    let r = site.get("/small/meanwhile", &[]);
    assert_eq!(r.status, 200, "{what}: a viewer during the stall: {r:?}");
    assert!(
        closed_by_server(&mut viewer, Duration::from_secs(8)),
        "{what}: the connection of a viewer that stopped reading is still open {:?} after its request",
        asked.elapsed()
    );
}

#[test]
fn a_viewer_that_stops_reading_a_hit_is_cut_at_the_send_timeout() {
    let origin = origin();
    for (env, path) in [
        (&[][..], "/fast/hit"),
        (&[("FERRY_FAST_HITS", "0")][..], "/pingora/hit"),
    ] {
        let site = site("stalled-hit", &origin, env);
        let warm = site.get(path, &[]);
        assert_eq!(warm.status, 200, "{warm:?}");
        assert_eq!(warm.body.len(), BODY);
        let hit = site.get(path, &[]);
        assert_eq!(
            hit.headers.get("x-cache"),
            Some("Hit from cloudfront"),
            "{hit:?}"
        );
        stall(&site, path, &format!("a hit with {env:?}"));
        assert_eq!(origin.count_path(path), 1, "the object stays cached");
    }
}

#[test]
fn a_viewer_that_stops_reading_a_miss_or_a_forward_is_cut_at_the_send_timeout() {
    let origin = origin();
    let site = site("stalled-miss", &origin, &[]);
    stall(&site, "/miss", "a miss");
    stall(&site, "/nocache/forward", "an uncached forward");
    assert_eq!(origin.count_path("/miss"), 1);
    assert_eq!(origin.count_path("/nocache/forward"), 1);
}

/// A viewer that reads slowly but steadily, taking its response over longer than the send timeout
/// in all, is not cut: the timeout is for a send that takes nothing.
#[test]
fn a_slow_but_steady_viewer_gets_its_whole_response() {
    let origin = origin();
    let site = site("stalled-slow", &origin, &[]);
    let warm = site.get("/steady", &[]);
    assert_eq!(warm.status, 200, "{warm:?}");
    let mut viewer = TcpStream::connect(site.edge.as_str()).expect("connect");
    viewer
        .write_all(format!("GET /steady HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\n").as_bytes())
        .expect("request");
    viewer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let body_len = |got: &[u8]| {
        got.windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |end| got.len() - end - 4)
    };
    // At most 1 MiB every 150 ms: some 5 s for the whole body, more than twice the send timeout.
    while body_len(&got) < BODY {
        std::thread::sleep(Duration::from_millis(150));
        let n = std::io::Read::read(&mut viewer, &mut buf).unwrap_or_else(|e| {
            panic!(
                "cut after {:?} and {} bytes: {e}",
                started.elapsed(),
                got.len()
            )
        });
        assert!(
            n > 0,
            "closed after {:?} and {} bytes",
            started.elapsed(),
            got.len()
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() > Duration::from_secs(SEND_TIMEOUT),
        "the read took only {:?}",
        started.elapsed()
    );
    assert_eq!(body_len(&got), BODY, "the whole body and nothing more");
}
