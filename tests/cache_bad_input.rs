//! Bad input on both sides of the edge, every case bounded in time: origins that answer garbage,
//! reset the connection, never answer, or send an object far above `cache_max_object_size`;
//! viewers that send 10,000 headers, a 1 MB URL, or a GET with a body. After each, the edge still
//! serves a normal request.
//!
//! CloudFront's documented answers: a response it cannot use is a 502 with `X-Cache: Error from
//! cloudfront`; no answer within the origin read timeout is a 504 (a timeout counts as a 5xx), and
//! for GET/HEAD the read timeout is retried up to ConnectionAttempts (RequestAndResponseBehavior-
//! CustomOrigin, "Origin response timeout"); a request or URL over its limits (20,480 / 8,192 bytes)
//! is refused (413, the connection closed) without reaching the origin; a GET with a body gets 403.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A TCP server on 127.0.0.1 that is not HTTP: each accepted connection goes to `handler` on its
/// own thread. Stops (and tells its handlers to stop) on drop.
struct RawOrigin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl RawOrigin {
    fn start<F>(handler: F) -> RawOrigin
    where
        F: Fn(TcpStream, &AtomicBool) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let (st, acc) = (stop.clone(), accepted.clone());
        let accept_thread = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        acc.fetch_add(1, Ordering::SeqCst);
                        let (h, s) = (handler.clone(), st.clone());
                        thread::spawn(move || h(stream, &s));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RawOrigin {
            addr,
            stop,
            accepted,
            accept_thread: Some(accept_thread),
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections were accepted.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until the request's first bytes are there, then closes without reading them: with unread
/// input, the kernel answers the close with a reset.
fn reset_connection(stream: TcpStream, _stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut b = [0u8; 1];
    let _ = stream.peek(&mut b);
    drop(stream);
}

/// Reads the request head, then holds the connection open without answering until told to stop
/// (or 30 s pass).
fn never_answer(mut stream: TcpStream, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return,
            _ => continue,
        }
    }
}

/// A site whose default behavior goes to a normal origin `o` (the "still serves" check) and whose
/// `/bad/*` behavior goes to origin `bad` on `bad_port`.
fn site_with_bad_origin(
    label: &str,
    good: &Origin,
    bad_port: u16,
    keys: &[&str],
    config: &[&str],
) -> Site {
    SiteBuilder::new(label, good)
        .origin_on_port("bad", bad_port, keys, config)
        .behavior("/bad/*", "bad", "Managed-CachingOptimized", &[])
        .start()
}

/// A normal request through the edge still works.
fn assert_still_serves(site: &Site, good: &Origin, path: &str) {
    let r = site.get(path, &[]);
    assert_eq!(
        r.status,
        200,
        "after the bad input, {path} should still be served: {r:?}\n{}",
        site.ferry.output_report()
    );
    assert_eq!(r.body_text(), format!("origin o: GET {path}"), "{r:?}");
    assert_eq!(good.count_path(path), 1, "{:#?}", good.requests());
}

/// Asserts an edge-generated error: `status` and `X-Cache: Error from cloudfront`.
fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert_eq!(
        x_cache(r),
        "Error from cloudfront",
        "{what}: X-Cache in {r:?}"
    );
}

#[test]
fn an_origin_that_answers_garbage_gets_502() {
    let good = Origin::start("o");
    let garbage = Origin::start_with("garbage", |_| {
        Response::raw(b"SSH-2.0-OpenSSH_9.6\r\nthis is not HTTP at all\r\n\r\n".to_vec())
    });
    let site = site_with_bad_origin("bad-garbage", &good, garbage.port(), &[], &[]);

    let started = Instant::now();
    let r = site.get("/bad/garbage", &[]);
    assert_error(&r, 502, "an origin answering garbage");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 502 took {:?}",
        started.elapsed()
    );
    assert!(garbage.count_path("/bad/garbage") >= 1);
    assert_still_serves(&site, &good, "/ok/after-garbage");
}

#[test]
fn an_origin_that_resets_the_connection_gets_502() {
    let good = Origin::start("o");
    let reset = RawOrigin::start(reset_connection);
    let site = site_with_bad_origin("bad-reset", &good, reset.port(), &[], &[]);

    let started = Instant::now();
    let r = site.get("/bad/reset", &[]);
    assert_error(&r, 502, "an origin resetting the connection");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the 502 took {:?}",
        started.elapsed()
    );
    assert!(reset.accepted() >= 1, "the edge never connected");
    assert_still_serves(&site, &good, "/ok/after-reset");
}

#[test]
fn an_origin_that_never_answers_gets_504_after_the_read_timeout() {
    let good = Origin::start("o");
    let silent = RawOrigin::start(never_answer);
    let site = site_with_bad_origin(
        "bad-silent",
        &good,
        silent.port(),
        &[],
        &["origin_read_timeout = 1"],
    );

    let c = Client::with_timeout(Duration::from_secs(20));
    let started = Instant::now();
    let r = c
        .try_request(
            &site.edge,
            "GET",
            "/bad/silent",
            &[("Host", SITE_HOST)],
            b"",
        )
        .unwrap_or_else(|e| panic!("no answer within 20 s: {e}\n{}", site.ferry.output_report()));
    let took = started.elapsed();
    assert_error(&r, 504, "an origin that never answers");
    // At most ConnectionAttempts (default 3) read timeouts of 1 s, plus slack.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "the 504 came after {took:?}; origin_read_timeout is 1 s"
    );
    assert_still_serves(&site, &good, "/ok/after-silent");
}

#[test]
fn a_read_timeout_on_get_is_retried_up_to_connection_attempts() {
    // "GET and HEAD requests – If the origin doesn't respond or stops responding within the
    // duration of the response timeout, CloudFront drops the connection. If the specified number
    // of origin connection attempts is more than 1, CloudFront tries again to get a complete
    // response." (RequestAndResponseBehaviorCustomOrigin, "Origin response timeout")
    let good = Origin::start("o");
    let silent = RawOrigin::start(never_answer);
    let site = site_with_bad_origin(
        "bad-silent-retry",
        &good,
        silent.port(),
        &["connection_attempts = 2"],
        &["origin_read_timeout = 1"],
    );

    let c = Client::with_timeout(Duration::from_secs(20));
    let started = Instant::now();
    let r = c
        .try_request(&site.edge, "GET", "/bad/retry", &[("Host", SITE_HOST)], b"")
        .unwrap_or_else(|e| panic!("no answer within 20 s: {e}"));
    let took = started.elapsed();
    assert_error(&r, 504, "an origin that never answers");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        silent.accepted(),
        2,
        "with connection_attempts = 2 the edge tries the silent origin twice (answered after {took:?})"
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "two read timeouts of 1 s, answered after {took:?}"
    );
}

/// The bytes of a large object: a pattern that differs per position, so a lost, duplicated or
/// reordered block shows.
fn large_body(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ ((i / 4096) % 256) as u8)
        .collect()
}

/// `GET path` on the edge, reading a large body in a streaming way (the harness client re-parses
/// its whole buffer per read): (status, headers, body).
fn get_large(edge: &str, path: &str, timeout: Duration) -> (u16, Headers, Vec<u8>) {
    let mut s = TcpStream::connect(edge).expect("connect to the edge");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {SITE_HOST}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "no response head within {timeout:?}"
        );
        let n = s.read(&mut chunk).expect("read the head");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let mut headers = Headers::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push(k.trim(), v.trim());
        }
    }
    let mut rest = buf[head_end + 4..].to_vec();
    // Read to the end (Connection: close), then undo the framing.
    loop {
        assert!(
            Instant::now() < deadline,
            "the body was not complete within {timeout:?} ({} bytes so far)",
            rest.len()
        );
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("reading the body after {} bytes: {e}", rest.len()),
        }
    }
    let body = if headers.has_token("transfer-encoding", "chunked") {
        let mut body = Vec::with_capacity(rest.len());
        let mut pos = 0;
        loop {
            let line_end = rest[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map(|i| pos + i)
                .unwrap_or_else(|| panic!("truncated chunked body at {pos}"));
            let size_text = String::from_utf8_lossy(&rest[pos..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
            pos = line_end + 2;
            if size == 0 {
                break;
            }
            assert!(rest.len() >= pos + size + 2, "truncated chunk at {pos}");
            body.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        body
    } else {
        if let Some(len) = headers.get("content-length") {
            let len: usize = len.parse().expect("numeric Content-Length");
            assert_eq!(rest.len(), len, "body length against Content-Length");
        }
        rest
    };
    (status, headers, body)
}

#[test]
fn an_object_far_above_cache_max_object_size_reaches_the_viewer_whole_and_is_not_cached() {
    const LEN: usize = 20 * 1024 * 1024;
    let body = Arc::new(large_body(LEN));
    let b = body.clone();
    let good = Origin::start_with("o", move |req| {
        if req.path() == "/big/object" {
            Response::new(200)
                .with_header("Content-Type", "application/octet-stream")
                .with_header("Cache-Control", "max-age=3600")
                .with_body(b.as_ref().clone())
        } else {
            default_origin_response("o", req)
        }
    });
    let site = SiteBuilder::new("bad-huge-object", &good)
        .edge("cache_max_object_size = \"1MiB\"")
        .start();

    for round in 1..=2 {
        let started = Instant::now();
        let (status, headers, got) = get_large(&site.edge, "/big/object", Duration::from_secs(60));
        assert_eq!(status, 200, "round {round}: {headers:?}");
        assert_eq!(
            got.len(),
            LEN,
            "round {round}: the viewer got {} of {LEN} bytes ({:?})",
            got.len(),
            started.elapsed()
        );
        assert!(
            got == *body,
            "round {round}: the 20 MiB arrived but not intact (first difference at byte {:?})",
            got.iter().zip(body.iter()).position(|(a, b)| a != b)
        );
        assert_eq!(
            headers.get("x-cache"),
            Some("Miss from cloudfront"),
            "round {round}: {headers:?}"
        );
        assert_eq!(
            good.count_path("/big/object"),
            round,
            "round {round}: above cache_max_object_size the object is not stored, so every request reaches the origin"
        );
    }
    assert_still_serves(&site, &good, "/ok/after-huge");
}

#[test]
fn a_viewer_sending_10000_headers_gets_a_4xx_quickly() {
    let good = Origin::start("o");
    let site = SiteBuilder::new("bad-many-headers", &good).start();

    let mut raw = format!("GET /bad/headers HTTP/1.1\r\nHost: {SITE_HOST}\r\n").into_bytes();
    for i in 0..10_000 {
        raw.extend_from_slice(format!("X-Header-{i:05}: value-{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let got = Client::with_timeout(Duration::from_secs(10)).send_raw(&site.edge, &raw);
    let took = started.elapsed();
    let status = got.status();
    eprintln!("10,000 headers: {status:?} after {took:?}");
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "10,000 headers ({} bytes): want a 4xx (CloudFront: 413 above 20,480 bytes), got {status:?} after {took:?}: {:?}\n{}",
        raw.len(),
        got.error,
        shorten(&got.text(), 500)
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(good.count_path("/bad/headers"), 0, "{:#?}", good.requests());
    assert_still_serves(&site, &good, "/ok/after-headers");
}

#[test]
fn a_viewer_sending_a_1mb_url_gets_a_4xx_and_the_origin_never_sees_it() {
    let good = Origin::start("o");
    let site = SiteBuilder::new("bad-long-url", &good).start();

    // Just above CloudFront's 8,192-byte URL limit, and far above it.
    for len in [9_000, 1024 * 1024] {
        let path = format!("/long/{}", "a".repeat(len));
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\n");
        let started = Instant::now();
        let got =
            Client::with_timeout(Duration::from_secs(10)).send_raw(&site.edge, raw.as_bytes());
        let took = started.elapsed();
        let status = got.status();
        eprintln!("a {len}-byte URL: {status:?} after {took:?}");
        assert!(
            status.is_some_and(|s| (400..500).contains(&s)),
            "a {len}-byte URL: want 413 or another 4xx, got {status:?} after {took:?}: {:?}\n{}",
            got.error,
            shorten(&got.text(), 500)
        );
        if len == 9_000 {
            // Within what the edge reads: CloudFront's answer, and the connection closed after it.
            assert_eq!(status, Some(413), "{}", shorten(&got.text(), 500));
            assert!(
                got.text()
                    .to_ascii_lowercase()
                    .contains("connection: close"),
                "{}",
                shorten(&got.text(), 500)
            );
        }
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
        assert_eq!(
            good.count_prefix("/long/"),
            0,
            "the origin never sees a URL over the limit"
        );
    }
    // A URL under the limit goes through.
    let path = format!("/long-ok/{}", "b".repeat(7_000));
    let r = site.get(&path, &[]);
    assert_eq!(
        r.status, 200,
        "a 7,000-byte URL is under the limit: {}",
        r.status
    );
    assert_still_serves(&site, &good, "/ok/after-long-url");
}

#[test]
fn a_get_with_a_body_gets_403_and_the_origin_never_sees_it() {
    let good = Origin::start("o");
    let site = SiteBuilder::new("bad-get-body", &good).start();

    let r = site.request("GET", "/bad/get-body", &[], b"hello");
    assert_error(&r, 403, "a GET with a Content-Length body");
    let r = site.request(
        "GET",
        "/bad/get-chunked",
        &[("Transfer-Encoding", "chunked")],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    assert_error(&r, 403, "a GET with a chunked body");
    assert_eq!(good.count_prefix("/bad/"), 0, "{:#?}", good.requests());
    assert_still_serves(&site, &good, "/ok/after-get-body");
}

/// `response_completion_timeout` (CloudFront: "If the complete response isn't received from the
/// origin by this time, CloudFront ends the connection"): an origin whose every byte comes within
/// its read timeout but whose whole answer takes longer is cut at the deadline: a 504 when its head
/// never completed, a cut body when it had.
#[test]
fn an_origin_answer_not_complete_within_the_response_completion_timeout_is_cut() {
    use raw_target::{RawTarget, Reply};
    let every = Duration::from_millis(500);
    let origin = RawTarget::start(move |req| match req.path() {
        "/slow-body" => {
            let mut pieces = vec![b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n".to_vec()];
            pieces.extend((0..12).map(|_| b"x".to_vec()));
            Reply::Trickle(pieces, every)
        }
        "/slow-head" => {
            let mut pieces = vec![b"HTTP/1.1 200 OK\r\n".to_vec()];
            pieces.extend((0..12).map(|i| format!("X-Line-{i}: 1\r\n").into_bytes()));
            pieces.push(b"Content-Length: 2\r\n\r\nok".to_vec());
            Reply::Trickle(pieces, every)
        }
        _ => Reply::Keep(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()),
    });
    let site = SiteBuilder::on_port("completion-timeout", origin.port)
        .policy("Managed-CachingDisabled")
        .origin_keys(&["response_completion_timeout = 3"])
        .origin_config(&["origin_read_timeout = 2"])
        .start();

    let started = Instant::now();
    let r = site.get("/slow-head", &[]);
    let took = started.elapsed();
    assert_eq!(r.status, 504, "{r:?}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    let mut conn = Conn::open(&site.edge, Duration::from_secs(10)).expect("connect");
    let started = Instant::now();
    let cut = conn.request("GET", "/slow-body", &[("Host", SITE_HOST)], b"");
    let took = started.elapsed();
    assert!(
        cut.as_ref().map_or(true, |r| r.body.len() < 12),
        "the body is cut short: {cut:?}"
    );
    assert!(took < Duration::from_secs(5), "cut after {took:?}");

    let fine = site.get("/fine", &[]);
    assert_eq!((fine.status, fine.body_text().as_str()), (200, "ok"));
}
