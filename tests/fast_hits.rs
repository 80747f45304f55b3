//! The edge's HTTP/1 hit fast path: a plain `GET` of a fresh object is answered without pingora's
//! HTTP session, with the same bytes pingora's path writes (compared with an edge that has the
//! path turned off, `FERRY_FAST_HITS=0`); what the path does not answer goes to pingora on the same
//! connection, which comes back to the fast path after it; its hits are counted; a reload reaches
//! them.

mod common;

use common::*;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// An origin whose object carries what a stored header can hold: names in odd case, its own
/// `Date`, `Age` and `Via` (which the edge replaces), a `Vary` on Accept-Encoding only (no
/// variants), and a body.
fn origin() -> Origin {
    Origin::start_with("o", |req| {
        Response::new(200)
            .with_header("content-type", "text/plain")
            .with_header("Cache-Control", "max-age=600")
            .with_header("X-Odd-CASE", "kept")
            .with_header("Date", "Tue, 24 Nov 2026 10:00:00 GMT")
            .with_header("Age", "7")
            .with_header("Via", "1.1 upstream")
            .with_header("Vary", "Accept-Encoding")
            .with_header("ETag", "\"v1\"")
            .with_body(body_of(req.path()))
    })
}

/// `/big...` is 100 KiB and more (written apart from its head), `/huge...` some 3 MB (more than a
/// loopback socket's buffers hold of a pipelined few), anything else 480 bytes or so.
fn body_of(path: &str) -> Vec<u8> {
    let times = if path.starts_with("/big") {
        8_000
    } else if path.starts_with("/huge") {
        200_000
    } else {
        40
    };
    format!("body of {path}").repeat(times).into_bytes()
}

fn site(label: &str, origin: &Origin, env: &[(&str, &str)]) -> Site {
    SiteBuilder::new(label, origin)
        .wait_admin()
        .start_with_env(env)
}

/// The response's head lines as `name: value`, with the per-response values (`Date`, `Age`,
/// `X-Amz-Cf-Id`) and the per-process one (`Via`'s host) blanked out.
fn normalized_head(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.split("\r\n")
        .map(|line| match line.split_once(": ") {
            Some((name, _))
                if ["date", "age", "x-amz-cf-id", "via"]
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n)) =>
            {
                format!("{name}: *")
            }
            _ => line.to_string(),
        })
        .collect()
}

/// Sends `GET path` on `conn` and returns the response and its raw bytes.
fn get_raw(conn: &mut Conn, path: &str, headers: &[(&str, &str)]) -> (Response, Vec<u8>) {
    let before = conn.received.len();
    let response = conn
        .request("GET", path, headers, b"")
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (response, conn.received[before..].to_vec())
}

/// The edge's metric `name`, scraped until it reads `want` or 5 s have passed (a hit is counted
/// just after its response has gone out, a body goes to its file just after its miss).
fn metric(site: &Site, name: &str, want: f64) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = site.client.get(&site.admin, "/metrics", &[]).body_text();
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        if count == want || std::time::Instant::now() > deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ferry_edge_fast_hits_total`, once it reads `want` (or after 5 s).
fn fast_hits(site: &Site, want: f64) -> f64 {
    metric(site, "ferry_edge_fast_hits_total", want)
}

/// `ferry_edge_cache_files`, once it reads `want` (or after 5 s).
fn cache_files(site: &Site, want: f64) -> f64 {
    metric(site, "ferry_edge_cache_files", want)
}

#[test]
fn a_fast_hit_is_the_hit_pingora_would_write() {
    let origin = origin();
    let fast = site("fast-hits-on", &origin, &[]);
    let slow = site("fast-hits-off", &origin, &[("FERRY_FAST_HITS", "0")]);
    let host = [("Host", SITE_HOST), ("User-Agent", "fast-test")];
    for path in ["/obj", "/big-object"] {
        let mut heads = Vec::new();
        for s in [&fast, &slow] {
            let mut conn = Conn::open(&s.edge, TIMEOUT).expect("connect");
            let (miss, _) = get_raw(&mut conn, path, &host);
            assert_eq!(x_cache(&miss), "Miss from cloudfront", "{miss:?}");
            let (hit, raw) = get_raw(&mut conn, path, &host);
            assert_eq!(hit.status, 200);
            assert_eq!(x_cache(&hit), "Hit from cloudfront", "{hit:?}");
            assert!(
                hit.body == body_of(path),
                "{path}: wrong body ({} bytes)",
                hit.body.len()
            );
            assert_eq!(hit.headers.get("age"), Some("0"), "{hit:?}");
            assert_ne!(
                hit.headers.get("date"),
                Some("Tue, 24 Nov 2026 10:00:00 GMT"),
                "the hit's Date is the edge's"
            );
            heads.push(normalized_head(&raw));
        }
        assert_eq!(
            heads[0], heads[1],
            "{path}: fast path (left) and pingora's path (right) differ"
        );
        assert!(
            heads[0].iter().any(|l| l == "X-Odd-CASE: kept"),
            "{:?}",
            heads[0]
        );
    }
    assert_eq!(
        fast_hits(&fast, 2.0),
        2.0,
        "the fast edge answered the hits itself"
    );
    assert_eq!(
        fast_hits(&slow, 0.0),
        0.0,
        "FERRY_FAST_HITS=0 turns the path off"
    );

    // Age grows as the object does; the request ids differ from hit to hit.
    std::thread::sleep(Duration::from_millis(1100));
    let mut conn = Conn::open(&fast.edge, TIMEOUT).expect("connect");
    let (a, _) = get_raw(&mut conn, "/obj", &host);
    let (b, _) = get_raw(&mut conn, "/obj", &host);
    assert!(age(&a).is_some_and(|s| s >= 1), "{a:?}");
    assert_ne!(a.headers.get("x-amz-cf-id"), b.headers.get("x-amz-cf-id"));
    assert_eq!(origin.count_path("/obj"), 2, "one miss per edge");
    assert_eq!(origin.count_path("/big-object"), 2, "one miss per edge");
}

#[test]
fn what_the_fast_path_does_not_answer_goes_to_pingora_on_the_same_connection() {
    let origin = origin();
    let site = site("fast-hits-handover", &origin, &[]);
    let host = [("Host", SITE_HOST)];
    let mut conn = Conn::open(&site.edge, TIMEOUT).expect("connect");
    get_raw(&mut conn, "/obj", &host);
    let (hit, _) = get_raw(&mut conn, "/obj", &host);
    assert_eq!(x_cache(&hit), "Hit from cloudfront");

    // A range: pingora slices the object, on this connection.
    let (range, _) = get_raw(
        &mut conn,
        "/obj",
        &[("Host", SITE_HOST), ("Range", "bytes=0-3")],
    );
    assert_eq!(range.status, 206, "{range:?}");
    assert_eq!(range.body, b"body");
    assert_eq!(range.headers.get("content-range"), Some("bytes 0-3/480"));
    // And the connection comes back: its next hit is a fast one again.
    let (after, _) = get_raw(&mut conn, "/obj", &host);
    assert_eq!(after.status, 200);
    assert_eq!(x_cache(&after), "Hit from cloudfront");
    assert_eq!(after.body.len(), 480);
    assert_eq!(
        fast_hits(&site, 2.0),
        2.0,
        "the hits before and after the range"
    );

    // Pipelined on a new connection: a fast hit, then a conditional request behind it in the
    // same write; both answered, in order.
    let mut conn = Conn::open(&site.edge, TIMEOUT).expect("connect");
    let pipelined = format!(
        "GET /obj HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\nGET /obj HTTP/1.1\r\nHost: {SITE_HOST}\r\nIf-None-Match: \"v1\"\r\n\r\n"
    );
    conn.write_raw(pipelined.as_bytes()).expect("write");
    let first = conn.read_response(false).expect("first response");
    let second = conn.read_response(false).expect("second response");
    assert_eq!((first.status, first.body.len()), (200, 480), "{first:?}");
    assert_eq!(second.status, 304, "{second:?}");
    assert_eq!(fast_hits(&site, 3.0), 3.0, "the pipelined plain hit too");

    // A miss goes to pingora too, and is a miss.
    let (miss, _) = get_raw(
        &mut Conn::open(&site.edge, TIMEOUT).expect("connect"),
        "/other",
        &host,
    );
    assert_eq!(x_cache(&miss), "Miss from cloudfront");
    assert_eq!(origin.count_path("/obj"), 1);
}

#[test]
fn a_reload_reaches_the_fast_hits_of_objects_cached_before_it() {
    let origin = origin();
    let builder = SiteBuilder::new("fast-hits-reload", &origin).wait_admin();
    let site = builder.start();
    let host = [("Host", SITE_HOST)];
    let mut conn = Conn::open(&site.edge, TIMEOUT).expect("connect");
    get_raw(&mut conn, "/obj", &host);
    let (hit, _) = get_raw(&mut conn, "/obj", &host);
    assert_eq!(hit.headers.get("x-amz-cf-pop"), Some("LOC1-C1"), "{hit:?}");

    let text = std::fs::read_to_string(site.topology.path()).expect("read topology");
    let changed = text.replacen("[edge]\n", "[edge]\npop = \"FRA9\"\n", 1);
    std::fs::write(site.topology.path(), changed).expect("write topology");
    let answer = site
        .client
        .request(&site.admin, "POST", "/ferry/reload", &[], b"");
    assert!(
        answer.body_text().contains("\"reloaded\":true"),
        "{answer:?}"
    );
    let (hit, _) = get_raw(&mut conn, "/obj", &host);
    assert_eq!(x_cache(&hit), "Hit from cloudfront", "{hit:?}");
    assert_eq!(hit.headers.get("x-amz-cf-pop"), Some("FRA9-C1"), "{hit:?}");
    assert_eq!(origin.count_path("/obj"), 1, "the cache was kept");
}

#[test]
fn a_head_begun_behind_a_fast_hit_in_the_same_write_is_timed_too() {
    let origin = origin();
    let site = SiteBuilder::new("fast-hits-slowloris", &origin)
        .edge("client_header_timeout = 1")
        .start();
    let host = [("Host", SITE_HOST)];
    let mut warm = Conn::open(&site.edge, TIMEOUT).expect("connect");
    get_raw(&mut warm, "/obj", &host);

    // A whole hit head and the first byte of the next in one write, then nothing more: the hit is
    // answered, and the connection closed once the second head is overdue (not held for ever).
    let mut conn = Conn::open(&site.edge, TIMEOUT).expect("connect");
    conn.write_raw(format!("GET /obj HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\nG").as_bytes())
        .expect("write");
    let hit = conn.read_response(false).expect("the hit");
    assert_eq!(x_cache(&hit), "Hit from cloudfront", "{hit:?}");
    let started = std::time::Instant::now();
    assert!(
        conn.closed_by_peer(Duration::from_secs(5)),
        "the dripped head is still open after 5 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the head timeout: {:?}",
        started.elapsed()
    );

    // A kept-alive connection answered a fast hit is not cut by the head timeout while idle.
    let mut idle = Conn::open(&site.edge, TIMEOUT).expect("connect");
    get_raw(&mut idle, "/obj", &host);
    assert!(
        !idle.closed_by_peer(Duration::from_millis(1500)),
        "an idle kept-alive connection was closed by the head timeout"
    );
    let (again, _) = get_raw(&mut idle, "/obj", &host);
    assert_eq!(x_cache(&again), "Hit from cloudfront");
}

/// Waits until the access log at `path` has `n` lines for `path_in_log`, and returns them with the
/// per-request and per-connection fields (date, time, request id, time taken, client port, time
/// to first byte) blanked out.
fn logged_requests(log: &std::path::Path, path_in_log: &str, n: usize) -> Vec<Vec<String>> {
    const PER_REQUEST: [usize; 6] = [0, 1, 14, 18, 26, 27];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<Vec<String>> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').map(str::to_string).collect::<Vec<_>>())
            .filter(|f| f.get(7).is_some_and(|p| p == path_in_log))
            .map(|mut f| {
                for i in PER_REQUEST {
                    if let Some(v) = f.get_mut(i) {
                        *v = "*".into();
                    }
                }
                f
            })
            .collect();
        if lines.len() >= n || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_fast_hit_is_logged_as_pingora_s_path_logs_it() {
    let origin = origin();
    let logs = TempDir::new("fast-hits-logs");
    let fast_log = logs.path().join("fast.log");
    let slow_log = logs.path().join("slow.log");
    let fast_log_s = fast_log.to_string_lossy().to_string();
    let slow_log_s = slow_log.to_string_lossy().to_string();
    // Under `/typed/`, a policy changes the Content-Type the log reports.
    let build = |label: &str, env: &[(&str, &str)]| {
        SiteBuilder::new(label, &origin)
            .block(
                "[[response_headers_policies]]\nname = \"typed\"\n\
                 custom_headers_config = [{ header = \"Content-Type\", value = \"application/x-typed\", override = true }]\n",
            )
            .behavior(
                "/typed/*",
                "o",
                "Managed-CachingOptimized",
                &["response_headers_policy = \"typed\""],
            )
            .wait_admin()
            .start_with_env(env)
    };
    let fast = build(
        "fast-hits-log-on",
        &[("FERRY_EDGE_ACCESS_LOG", fast_log_s.as_str())],
    );
    let slow = build(
        "fast-hits-log-off",
        &[
            ("FERRY_EDGE_ACCESS_LOG", slow_log_s.as_str()),
            ("FERRY_FAST_HITS", "0"),
        ],
    );
    let headers = [
        ("Host", SITE_HOST),
        ("User-Agent", "fast test/1.0"),
        ("Referer", "http://referrer.test/a b"),
        ("Cookie", "a=1; b=2"),
        ("X-Forwarded-For", "192.0.2.7"),
    ];
    for path in ["/logged?x=1&y=%20", "/typed/x"] {
        for s in [&fast, &slow] {
            let mut conn = Conn::open(&s.edge, TIMEOUT).expect("connect");
            get_raw(&mut conn, path, &headers);
            let (hit, _) = get_raw(&mut conn, path, &headers);
            assert_eq!(x_cache(&hit), "Hit from cloudfront", "{hit:?}");
        }
    }
    assert_eq!(fast_hits(&fast, 2.0), 2.0, "the hits took the fast path");
    for stem in ["/logged", "/typed/x"] {
        let fast_lines = logged_requests(&fast_log, stem, 2);
        let slow_lines = logged_requests(&slow_log, stem, 2);
        assert_eq!(fast_lines.len(), 2, "{fast_lines:?}");
        assert_eq!(fast_lines[1][13], "Hit", "{:?}", fast_lines[1]);
        assert_eq!(
            fast_lines, slow_lines,
            "{stem}: the fast path's log lines (left) differ from pingora's path's (right)"
        );
    }
    let typed = logged_requests(&fast_log, "/typed/x", 2);
    assert_eq!(typed[1][29], "application/x-typed", "{:?}", typed[1]);
}

/// A response headers policy that adds the same headers to every hit (security, custom and
/// removed headers) keeps the fast path; one with CORS (which answers the viewer's Origin) does
/// not. Either way the hit is the one pingora's path writes.
#[test]
fn response_headers_policies_on_fast_hits() {
    let origin = origin();
    let policies = "[[response_headers_policies]]\nname = \"site-headers\"\n\
         custom_headers_config = [\
         { header = \"X-Odd-CASE\", value = \"policy\", override = false }, \
         { header = \"ETag\", value = \"\\\"policy\\\"\", override = true }, \
         { header = \"X-Added\", value = \"policy\", override = false }]\n\
         remove_headers_config = [{ header = \"Server\" }]\n\
         security_headers_config = { \
         strict_transport_security = { access_control_max_age_sec = 63072000, include_subdomains = true, preload = true, override = true }, \
         frame_options = { frame_option = \"DENY\", override = false } }\n\
         [[response_headers_policies]]\nname = \"cors\"\n\
         cors_config = { access_control_allow_credentials = false, access_control_allow_headers = [\"*\"], \
         access_control_allow_methods = [\"GET\"], access_control_allow_origins = [\"*\"], origin_override = true }\n";
    let build = |label: &str| {
        SiteBuilder::new(label, &origin)
            .block(policies)
            .default_behavior("response_headers_policy = \"site-headers\"")
            .behavior(
                "/cors/*",
                "o",
                "Managed-CachingOptimized",
                &["response_headers_policy = \"cors\""],
            )
            .wait_admin()
    };
    let fast = build("fast-hits-policy-on").start();
    let slow = build("fast-hits-policy-off").start_with_env(&[("FERRY_FAST_HITS", "0")]);
    let host = [("Host", SITE_HOST), ("Origin", "http://app.test")];
    for path in ["/policy", "/cors/x"] {
        let mut heads = Vec::new();
        for s in [&fast, &slow] {
            let mut conn = Conn::open(&s.edge, TIMEOUT).expect("connect");
            get_raw(&mut conn, path, &host);
            let (hit, raw) = get_raw(&mut conn, path, &host);
            assert_eq!(x_cache(&hit), "Hit from cloudfront", "{hit:?}");
            heads.push(normalized_head(&raw));
        }
        assert_eq!(
            heads[0], heads[1],
            "{path}: fast (left) and pingora's path (right) differ"
        );
        let has = |line: &str| heads[0].iter().any(|l| l.eq_ignore_ascii_case(line));
        if path == "/policy" {
            assert!(
                has("X-Added: policy") && has("X-Frame-Options: DENY"),
                "{:?}",
                heads[0]
            );
            assert!(
                has("ETag: \"policy\"") && has("X-Odd-CASE: kept"),
                "{:?}",
                heads[0]
            );
        } else {
            assert!(has("Access-Control-Allow-Origin: *"), "{:?}", heads[0]);
        }
    }
    assert_eq!(
        fast_hits(&fast, 1.0),
        1.0,
        "the per-object policy's hit took the fast path, the CORS one did not"
    );
}

#[test]
fn large_pipelined_hits_arrive_whole_and_in_order_when_the_reader_lags() {
    let origin = origin();
    let site = SiteBuilder::new("fast-hits-large", &origin)
        .wait_admin()
        .edge("client_header_timeout = 1")
        .start();
    let host = [("Host", SITE_HOST)];
    let mut warm = Conn::open(&site.edge, TIMEOUT).expect("connect");
    let (miss, _) = get_raw(&mut warm, "/huge-one", &host);
    assert_eq!(x_cache(&miss), "Miss from cloudfront", "{miss:?}");
    // Sent from its file: sendfile until the socket is full, then a page through the stream.
    assert_eq!(cache_files(&site, 1.0), 1.0);

    // Eight hits asked for at once and not read for a while: the edge's socket fills up
    // mid-body (the 27 MB are more than the loopback buffers hold), and the rest of each body
    // follows as room is made. Each response is whole and in order.
    let want = body_of("/huge-one");
    let mut conn = Conn::open(&site.edge, TIMEOUT).expect("connect");
    let request = format!("GET /huge-one HTTP/1.1\r\nHost: {SITE_HOST}\r\n\r\n");
    conn.write_raw(request.repeat(8).as_bytes()).expect("write");
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..8 {
        let hit = conn.read_response(false).expect("a pipelined hit");
        assert_eq!(hit.status, 200, "response {i}: {hit:?}");
        assert_eq!(x_cache(&hit), "Hit from cloudfront", "response {i}");
        assert!(
            hit.body == want,
            "response {i}: wrong body ({} bytes, {} wanted)",
            hit.body.len(),
            want.len()
        );
    }
    assert_eq!(fast_hits(&site, 8.0), 8.0, "the fast path answered them");

    // A connection idle after a large hit is kept alive past the head timeout, as after any
    // response.
    assert!(
        !conn.closed_by_peer(Duration::from_millis(1500)),
        "an idle connection was closed by the head timeout after a large hit"
    );
    let (again, _) = get_raw(&mut conn, "/huge-one", &host);
    assert!(again.body == want, "the hit after the pause");
}

/// Bodies of 64 KiB and more are kept in unlinked files and sent from them (`sendfile` on the fast
/// path, the mapped bytes on pingora's): every way of reading one gives the origin's bytes, as an
/// edge that keeps every body in memory (`FERRY_CACHE_FILES=0`) gives them.
#[test]
fn large_bodies_kept_in_files_are_served_whole_on_both_paths_and_in_ranges() {
    let origin = origin();
    let files = site("cache-files-on", &origin, &[]);
    let memory = site("cache-files-off", &origin, &[("FERRY_CACHE_FILES", "0")]);
    let pingora = site("cache-files-pingora", &origin, &[("FERRY_FAST_HITS", "0")]);
    let host = [("Host", SITE_HOST)];
    let big = body_of("/big-in-file");
    assert!(big.len() >= 64 * 1024);
    for (s, in_files) in [(&files, 1.0), (&memory, 0.0), (&pingora, 1.0)] {
        let mut conn = Conn::open(&s.edge, TIMEOUT).expect("connect");
        let (miss, _) = get_raw(&mut conn, "/big-in-file", &host);
        assert_eq!(x_cache(&miss), "Miss from cloudfront", "{miss:?}");
        // The body goes to its file just after the miss; the hits below are sent from it.
        assert_eq!(
            cache_files(s, in_files),
            in_files,
            "{}",
            s.ferry.output_report()
        );
        assert!(
            miss.body == big,
            "the miss's body ({} bytes)",
            miss.body.len()
        );
        let (small, _) = get_raw(&mut conn, "/small-in-memory", &host);
        assert_eq!(small.body, body_of("/small-in-memory"));
        // Hits, some of them after a small one on the same connection.
        for i in 0..3 {
            let (hit, _) = get_raw(&mut conn, "/big-in-file", &host);
            assert_eq!(x_cache(&hit), "Hit from cloudfront", "hit {i}: {hit:?}");
            assert_eq!(
                hit.headers.get("content-length"),
                Some(big.len().to_string().as_str())
            );
            assert!(
                hit.body == big,
                "hit {i}: wrong body ({} bytes)",
                hit.body.len()
            );
            let (small, _) = get_raw(&mut conn, "/small-in-memory", &host);
            assert_eq!(x_cache(&small), "Hit from cloudfront");
            assert_eq!(small.body, body_of("/small-in-memory"));
        }
        // A range is sliced from the kept body by pingora's path.
        let (range, _) = get_raw(
            &mut conn,
            "/big-in-file",
            &[("Host", SITE_HOST), ("Range", "bytes=70000-70009")],
        );
        assert_eq!(range.status, 206, "{range:?}");
        assert_eq!(range.body, &big[70_000..70_010]);
        // A HEAD has the length and no body.
        let head = conn
            .request("HEAD", "/big-in-file", &host, b"")
            .expect("HEAD");
        assert_eq!(head.status, 200);
        assert_eq!(
            head.headers.get("content-length"),
            Some(big.len().to_string().as_str())
        );
        assert!(head.body.is_empty());
    }
    assert_eq!(
        cache_files(&files, 1.0),
        1.0,
        "the large body is kept in a file"
    );
    assert_eq!(
        cache_files(&pingora, 1.0),
        1.0,
        "whichever path answers its hits"
    );
    assert_eq!(
        cache_files(&memory, 0.0),
        0.0,
        "FERRY_CACHE_FILES=0 keeps it in memory"
    );
    assert_eq!(origin.count_path("/big-in-file"), 3, "one miss per edge");

    // An invalidation drops the object and its file.
    let created = files.create_invalidation("site", &["/big-in-file"]);
    assert!(created.status < 300, "{created:?}");
    assert_eq!(
        cache_files(&files, 0.0),
        0.0,
        "the invalidated body's file is closed"
    );
}
