//! The headers the balancer adds and the errors it answers itself, through a running `ferry up`:
//! X-Forwarded-For per `routing.http.xff_header_processing.mode`, X-Forwarded-Proto/-Port,
//! X-Amzn-Trace-Id, 463 for more than 30 forwarded addresses, 400/414 for oversized requests,
//! 502 for targets that refuse, reset or answer garbage, 503 for a group without targets, 504
//! after the idle timeout; each in ALB's error-page shape, and the balancer still serving after.

mod common;

use common::*;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NO_CHECKS: &str = "enabled = false";

/// ferry up with one load balancer `alb` on 127.0.0.1 with `attributes`; `/ok/*` and everything
/// unmatched go to group `ok` (the `ok` origin), and `rules` send `/<prefix>/*` to group
/// `<prefix>`, whose blocks are in `groups`.
fn start(
    label: &str,
    attributes: &str,
    ok: &Origin,
    rules: &[&str],
    groups: &[String],
) -> (Alb, String) {
    let port = free_port();
    let mut listener =
        String::from("  default_actions = [{ type = \"forward\", target_group = \"ok\" }]\n");
    for (i, prefix) in rules.iter().enumerate() {
        listener.push_str(&format!(
            "\n    [[load_balancers.listeners.rules]]\n    priority = {}\n    conditions = [{{ field = \"path-pattern\", values = [\"/{prefix}/*\"] }}]\n    actions = [{{ type = \"forward\", target_group = \"{prefix}\" }}]\n",
            i + 1
        ));
    }
    let mut toml = format!("stack = \"e2e-{label}\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        attributes,
        &[(port, &listener)],
    ));
    toml.push_str(&target_group_block(
        "ok",
        &[(ok.port(), "a")],
        NO_CHECKS,
        "",
    ));
    for g in groups {
        toml.push_str(g);
    }
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up(label, &toml, &[&node]);
    (alb, node)
}

/// Whether the balancer still forwards a plain request (`Err` says what it did instead).
fn check_still_serves(node: &str, ok: &Origin, after: &str) -> Result<(), String> {
    let path = format!("/ok/after-{}", after.replace(' ', "-"));
    match Client::new().try_get(node, &path, &[]) {
        Ok(r) if r.status == 200 && served_by(&r) == "ok" && ok.count_target(&path) == 1 => Ok(()),
        other => Err(format!(
            "after {after} the balancer should still serve {path}, got {other:?}"
        )),
    }
}

/// Asserts the balancer still forwards a plain request.
fn still_serves(alb: &Alb, node: &str, ok: &Origin, after: &str) {
    if let Err(e) = check_still_serves(node, ok, after) {
        panic!("{e}\n{}", alb.ferry.output_report());
    }
}

/// What differs from ALB's own error page, served by the balancer itself (no target's mark).
fn error_page_problem(r: &Response, status: u16, reason: &str) -> Option<String> {
    alb_error_page_problem(r, status, reason, served_by(r).is_empty())
}

fn assert_alb_error_page(r: &Response, status: u16, reason: &str) {
    if let Some(problem) = error_page_problem(r, status, reason) {
        panic!("{problem}");
    }
}

// ---------------------------------------------------------------------------------------------
// Targets that misbehave, on raw sockets
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Misbehave {
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Resets the connection as soon as the request has arrived.
    Reset,
    /// Sends half a status line and headers, then resets.
    HalfHead,
    /// Sends a complete head promising 1000 bytes, 100 of them, then resets.
    MidBody,
    /// Reads the request and never answers.
    Silent,
    /// Answers as an HTTP/0.9 server does: the body alone, no status line, then closes.
    Http09,
}

/// A target on 127.0.0.1 that reads each request head and then misbehaves; counts the requests.
struct RawTarget {
    port: u16,
    requests: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RawTarget {
    fn start(how: Misbehave) -> RawTarget {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = requests.clone();
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let reset = |s: &tokio::net::TcpStream| {
                        let _ = s.set_zero_linger();
                    };
                    match how {
                        Misbehave::Garbage => {
                            let _ = stream
                                .write_all(b"this is not http at all\r\n\r\nreally not\r\n")
                                .await;
                            let _ = stream.shutdown().await;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Misbehave::Reset => reset(&stream),
                        Misbehave::HalfHead => {
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            reset(&stream);
                        }
                        Misbehave::MidBody => {
                            let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n".to_vec();
                            out.extend_from_slice(&[b'x'; 100]);
                            let _ = stream.write_all(&out).await;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            reset(&stream);
                        }
                        Misbehave::Silent => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        Misbehave::Http09 => {
                            let _ = stream.write_all(b"<html>hello from 1991</html>\n").await;
                            let _ = stream.shutdown().await;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                    drop(stream);
                });
            }
        });
        RawTarget {
            port,
            requests,
            runtime: Some(runtime),
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for RawTarget {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

#[test]
fn x_forwarded_headers_follow_the_xff_processing_mode() {
    let t = Origin::start("t");
    let ports = free_ports(3);
    let listener = "  default_actions = [{ type = \"forward\", target_group = \"t\" }]";
    let mut toml = String::from("stack = \"e2e-errors-xff\"\n\n");
    let modes = ["append", "preserve", "remove"];
    for (mode, port) in modes.iter().zip(&ports) {
        let attrs = if *mode == "append" {
            String::new() // the default
        } else {
            format!("\"routing.http.xff_header_processing.mode\" = \"{mode}\"")
        };
        toml.push_str(&lb_block(
            mode,
            &[("a", "127.0.0.1")],
            &attrs,
            &[(*port, listener)],
        ));
    }
    toml.push_str(&target_group_block("t", &[(t.port(), "a")], NO_CHECKS, ""));
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let ready: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let alb = Alb::up("errors-xff", &toml, &ready);

    // (mode, X-Forwarded-For sent, client source address, X-Forwarded-For the target sees)
    let cases: [(usize, Option<&str>, &str, Option<&str>); 9] = [
        (0, None, "127.0.0.1", Some("127.0.0.1")),
        (0, None, "127.0.0.3", Some("127.0.0.3")),
        (
            0,
            Some("203.0.113.7"),
            "127.0.0.1",
            Some("203.0.113.7, 127.0.0.1"),
        ),
        (
            0,
            Some("203.0.113.7, 198.51.100.2"),
            "127.0.0.1",
            Some("203.0.113.7, 198.51.100.2, 127.0.0.1"),
        ),
        (1, None, "127.0.0.1", None),
        (1, Some("203.0.113.7"), "127.0.0.1", Some("203.0.113.7")),
        (
            1,
            Some("203.0.113.7, 198.51.100.2"),
            "127.0.0.3",
            Some("203.0.113.7, 198.51.100.2"),
        ),
        (2, None, "127.0.0.1", None),
        (2, Some("203.0.113.7"), "127.0.0.1", None),
    ];
    let mut wrong = Vec::new();
    for (i, (mode, sent, source, seen)) in cases.iter().enumerate() {
        let path = format!("/xff/{i}");
        let mut headers = vec![];
        if let Some(x) = sent {
            headers.push(("X-Forwarded-For", *x));
        }
        let ip: IpAddr = source.parse().expect("ip");
        let r = Conn::open_from(&nodes[*mode], ip, IO_TIMEOUT)
            .and_then(|mut c| c.request("GET", &path, &headers, b""));
        match r {
            Ok(r) if r.status == 200 => {}
            other => {
                wrong.push(format!("{path} ({}): {other:?}", modes[*mode]));
                continue;
            }
        }
        let q = t.last_for_path(&path);
        let xff = q.headers.get_all("x-forwarded-for");
        let got = if xff.is_empty() {
            None
        } else {
            Some(xff.join(", "))
        };
        if got.as_deref() != *seen {
            wrong.push(format!(
                "{path} mode {}: sent {sent:?} from {source}: target saw X-Forwarded-For {got:?}, expected {seen:?}",
                modes[*mode]
            ));
        }
        let port = ports[*mode].to_string();
        if q.header("x-forwarded-proto") != Some("http")
            || q.header("x-forwarded-port") != Some(port.as_str())
        {
            wrong.push(format!(
                "{path} mode {}: X-Forwarded-Proto {:?} (expected http), X-Forwarded-Port {:?} (expected {port})",
                modes[*mode],
                q.header("x-forwarded-proto"),
                q.header("x-forwarded-port")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "forwarded headers:\n{}\n{}",
        wrong.join("\n"),
        alb.ferry.output_report()
    );
}

/// The `Name=value` fields of an X-Amzn-Trace-Id header, in order.
fn trace_fields(v: &str) -> Vec<(String, String)> {
    v.split(';')
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let (k, v) = f.trim().split_once('=').unwrap_or((f.trim(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn fields_named<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn trace_id_is_generated_in_alb_format_and_a_self_field_added_to_a_given_one() {
    let ok = Origin::start("ok");
    let (alb, node) = start("errors-trace", "", &ok, &[], &[]);
    let c = Client::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();

    // None sent: `Root=1-<epoch hex>-<24 hex>`, new for every request.
    let mut roots = Vec::new();
    for i in 0..3 {
        let path = format!("/ok/trace-new-{i}");
        assert_eq!(c.get(&node, &path, &[]).status, 200);
        let q = ok.last_for_path(&path);
        let v = q.header("x-amzn-trace-id").unwrap_or("").to_string();
        let root = v.strip_prefix("Root=").unwrap_or("");
        assert!(
            is_trace_id(root),
            "X-Amzn-Trace-Id {v:?} is not Root=1-<8 hex>-<24 hex>"
        );
        let epoch = u64::from_str_radix(&root[2..10], 16).expect("hex");
        assert!(
            epoch.abs_diff(now) < 3600,
            "the trace id's time field is the epoch in seconds: {v:?} (now {now:x})"
        );
        roots.push(root.to_string());
    }
    roots.sort();
    roots.dedup();
    assert_eq!(
        roots.len(),
        3,
        "every request gets its own trace id: {roots:?}"
    );

    // A Root sent by the client is kept and a Self field added; custom fields are kept.
    let given = "Root=1-67891233-abcdef012345678912345678";
    for (i, sent) in [given.to_string(), format!("{given};CalledFrom=app")]
        .iter()
        .enumerate()
    {
        let path = format!("/ok/trace-given-{i}");
        assert_eq!(
            c.get(&node, &path, &[("X-Amzn-Trace-Id", sent)]).status,
            200
        );
        let q = ok.last_for_path(&path);
        let v = q.header("x-amzn-trace-id").unwrap_or("");
        let f = trace_fields(v);
        assert_eq!(
            fields_named(&f, "Root"),
            ["1-67891233-abcdef012345678912345678"],
            "the client's Root is kept: {v:?}"
        );
        let selfs = fields_named(&f, "Self");
        assert!(
            selfs.len() == 1 && is_trace_id(selfs[0]),
            "one Self field in trace-id format is added: {v:?}"
        );
        if sent.contains("CalledFrom") {
            assert_eq!(fields_named(&f, "CalledFrom"), ["app"], "{v:?}");
        }
    }

    // A Self field already present is updated, not repeated.
    let old_self = "1-67891233-12456789abcdef0123456789";
    let sent = format!("Self={old_self};{given}");
    let path = "/ok/trace-self";
    assert_eq!(
        c.get(&node, path, &[("X-Amzn-Trace-Id", &sent)]).status,
        200
    );
    let q = ok.last_for_path(path);
    let v = q.header("x-amzn-trace-id").unwrap_or("");
    let f = trace_fields(v);
    let selfs = fields_named(&f, "Self");
    assert!(
        selfs.len() == 1 && selfs[0] != old_self && is_trace_id(selfs[0]),
        "ALB updates an existing Self field (one Self, new value): sent {sent:?}, target saw {v:?}\n{}",
        alb.ferry.output_report()
    );
    assert_eq!(
        fields_named(&f, "Root"),
        ["1-67891233-abcdef012345678912345678"],
        "{v:?}"
    );
}

#[test]
fn more_than_30_forwarded_addresses_get_463() {
    let ok = Origin::start("ok");
    let (alb, node) = start("errors-463", "", &ok, &[], &[]);
    let c = Client::new();
    let list = |n: usize| {
        (1..=n)
            .map(|i| format!("10.0.0.{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let thirty = list(30);
    let r = c.get(&node, "/ok/xff-30", &[("X-Forwarded-For", &thirty)]);
    assert_eq!(r.status, 200, "30 addresses are allowed: {r:?}");
    let q = ok.last_for_path("/ok/xff-30");
    assert_eq!(
        q.header("x-forwarded-for"),
        Some(format!("{thirty}, 127.0.0.1").as_str())
    );

    let thirty_one = list(31);
    let r = c.get(&node, "/ok/xff-31", &[("X-Forwarded-For", &thirty_one)]);
    assert_eq!(
        r.status,
        463,
        "31 addresses in X-Forwarded-For: {r:?}\n{}",
        alb.ferry.output_report()
    );
    assert_eq!(r.header("server"), Some("awselb/2.0"), "{r:?}");
    assert_eq!(
        ok.count_path("/ok/xff-31"),
        0,
        "a 463 never reaches a target"
    );
    still_serves(&alb, &node, &ok, "463");
}

#[test]
fn the_host_a_target_sees_carries_the_listener_port_unless_preserved() {
    let ok = Origin::start("ok");
    let (_alb, node) = start("host-default", "", &ok, &[], &[]);
    let port = node.rsplit(':').next().expect("a port");
    let c = Client::new();
    c.get(&node, "/ok/host", &[("Host", "www.example.test")]);
    let q = ok.last_for_path("/ok/host");
    let expected = format!("www.example.test:{port}");
    assert_eq!(q.header("host"), Some(expected.as_str()), "{q:#?}");
    c.get(&node, "/ok/host-port", &[("Host", "www.example.test:9999")]);
    let q = ok.last_for_path("/ok/host-port");
    assert_eq!(q.header("host"), Some("www.example.test:9999"), "{q:#?}");

    let kept = Origin::start("kept");
    let (_alb, node) = start(
        "host-preserved",
        "\"routing.http.preserve_host_header.enabled\" = \"true\"",
        &kept,
        &[],
        &[],
    );
    c.get(&node, "/ok/host", &[("Host", "www.example.test")]);
    let q = kept.last_for_path("/ok/host");
    assert_eq!(q.header("host"), Some("www.example.test"), "{q:#?}");
}

#[test]
fn client_port_in_x_forwarded_for_and_invalid_header_names_dropped_when_asked() {
    let plain = Origin::start("plain");
    let (_alb, node) = start("xff-default", "", &plain, &[], &[]);
    let headers = [("X_Under", "1"), ("X-Ok", "2")];
    Client::new().get(&node, "/ok/attrs", &headers);
    let q = plain.last_for_path("/ok/attrs");
    assert_eq!(q.header("x-forwarded-for"), Some("127.0.0.1"), "{q:#?}");
    assert_eq!(q.header("x_under"), Some("1"), "passed by default: {q:#?}");

    let asked = Origin::start("asked");
    let (_alb, node) = start(
        "xff-port",
        "\"routing.http.xff_client_port.enabled\" = \"true\", \"routing.http.drop_invalid_header_fields.enabled\" = \"true\"",
        &asked,
        &[],
        &[],
    );
    let mut conn = Client::new().connect(&node).expect("a connection");
    let client_port = conn.local_addr().expect("the client's address").port();
    let r = conn
        .request("GET", "/ok/attrs", &headers, b"")
        .expect("an answer");
    assert_eq!(r.status, 200, "{r:?}");
    let q = asked.last_for_path("/ok/attrs");
    let xff = format!("127.0.0.1:{client_port}");
    assert_eq!(q.header("x-forwarded-for"), Some(xff.as_str()), "{q:#?}");
    assert_eq!(
        q.header("x_under"),
        None,
        "an invalid name is dropped: {q:#?}"
    );
    assert_eq!(q.header("x-ok"), Some("2"), "{q:#?}");
}

#[test]
fn trace_gets_405_from_the_load_balancer() {
    let ok = Origin::start("ok");
    let (alb, node) = start("errors-trace", "", &ok, &[], &[]);
    let r = Client::new().request(&node, "TRACE", "/ok/trace", &[], b"");
    assert_alb_error_page(&r, 405, "Method Not Allowed");
    assert_eq!(
        ok.count_path("/ok/trace"),
        0,
        "a TRACE never reaches a target"
    );
    still_serves(&alb, &node, &ok, "405");
}

#[test]
fn oversized_header_gets_400_and_oversized_uri_gets_414() {
    let ok = Origin::start("ok");
    let (alb, node) = start("errors-oversized", "", &ok, &[], &[]);
    let c = Client::new();

    let fine = "a".repeat(15 * 1024);
    let r = c.get(&node, "/ok/header-15k", &[("X-Big", &fine)]);
    assert_eq!(r.status, 200, "a 15 KB header passes: {r:?}");
    assert_eq!(
        ok.last_for_path("/ok/header-15k")
            .header("x-big")
            .map(str::len),
        Some(fine.len())
    );

    let big = "b".repeat(17 * 1024);
    let r = c.get(&node, "/ok/header-17k", &[("X-Big", &big)]);
    assert_alb_error_page(&r, 400, "Bad Request");
    assert_eq!(ok.count_path("/ok/header-17k"), 0);
    still_serves(&alb, &node, &ok, "400");

    // Each under 16 KB, 75 KB in all: over ALB's 64 KB for the whole head.
    let chunk = "c".repeat(15 * 1024);
    let names = ["X-A", "X-B", "X-C", "X-D", "X-E"];
    let many: Vec<(&str, &str)> = names.iter().map(|n| (*n, chunk.as_str())).collect();
    let r = c.get(&node, "/ok/headers-75k", &many);
    assert_alb_error_page(&r, 400, "Bad Request");
    assert_eq!(ok.count_path("/ok/headers-75k"), 0);
    let r = c.get(&node, "/ok/headers-60k", &many[..4]);
    assert_eq!(r.status, 200, "60 KB in all passes: {r:?}");

    let long_path = format!("/ok/{}", "p".repeat(17 * 1024));
    let r = c.get(&node, &long_path, &[]);
    assert_eq!(r.status, 414, "a 17 KB URI: {r:?}");
    assert_eq!(r.header("server"), Some("awselb/2.0"), "{r:?}");
    let long_query = format!("/ok/q?x={}", "q".repeat(17 * 1024));
    let r = c.get(&node, &long_query, &[]);
    assert_eq!(r.status, 414, "a 17 KB query: {r:?}");
    assert_eq!(ok.count_prefix("/ok/pppp"), 0);
    assert_eq!(ok.count_prefix("/ok/q?"), 0);
    still_serves(&alb, &node, &ok, "414");
}

#[test]
fn targets_that_refuse_reset_or_answer_garbage_give_502() {
    let ok = Origin::start("ok");
    let garbage = RawTarget::start(Misbehave::Garbage);
    let reset = RawTarget::start(Misbehave::Reset);
    let half = RawTarget::start(Misbehave::HalfHead);
    let mid = RawTarget::start(Misbehave::MidBody);
    let http09 = RawTarget::start(Misbehave::Http09);
    let refused_port: u16 = dead_addr()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let groups = [
        target_group_block("refused", &[(refused_port, "a")], NO_CHECKS, ""),
        target_group_block("garbage", &[(garbage.port, "a")], NO_CHECKS, ""),
        target_group_block("reset", &[(reset.port, "a")], NO_CHECKS, ""),
        target_group_block("half", &[(half.port, "a")], NO_CHECKS, ""),
        target_group_block("mid", &[(mid.port, "a")], NO_CHECKS, ""),
        target_group_block("http09", &[(http09.port, "a")], NO_CHECKS, ""),
    ];
    let (alb, node) = start(
        "errors-502",
        "",
        &ok,
        &["refused", "garbage", "reset", "half", "mid", "http09"],
        &groups,
    );
    let c = Client::new();

    let mut wrong = Vec::new();
    for (prefix, target) in [
        ("refused", None),
        ("garbage", Some(&garbage)),
        ("reset", Some(&reset)),
        ("half", Some(&half)),
        ("http09", Some(&http09)),
    ] {
        let before = target.map(RawTarget::requests).unwrap_or(0);
        match c.try_get(&node, &format!("/{prefix}/x"), &[]) {
            Ok(r) => {
                if let Some(problem) = error_page_problem(&r, 502, "Bad Gateway") {
                    wrong.push(format!("/{prefix}/x: {problem}"));
                }
            }
            Err(e) => wrong.push(format!(
                "/{prefix}/x: expected a 502, the connection failed: {e}"
            )),
        }
        if let Some(t) = target {
            let sent = t.requests() - before;
            if sent != 1 {
                wrong.push(format!(
                    "/{prefix}/x reached the target {sent} times; ALB sends a request once"
                ));
            }
        }
        if let Err(e) = check_still_serves(&node, &ok, prefix) {
            wrong.push(e);
        }
    }

    // Reset in the middle of the body: the head is already on its way, so the client sees a
    // truncated response and a closed connection, never a complete one.
    let r = c.try_get(&node, "/mid/x", &[]);
    if let Ok(resp) = &r {
        if resp.status == 200 && resp.body.len() == 1000 {
            wrong.push(format!(
                "/mid/x: the target reset after 100 of 1000 bytes, yet the client got a complete response: {resp:?}"
            ));
        } else if resp.status == 200 {
            wrong.push(format!(
                "/mid/x: a truncated body must not look complete: {resp:?}"
            ));
        }
    }
    if mid.requests() != 1 {
        wrong.push(format!(
            "/mid/x reached the target {} times",
            mid.requests()
        ));
    }
    if let Err(e) = check_still_serves(&node, &ok, "mid-body reset") {
        wrong.push(e);
    }
    assert!(
        wrong.is_empty(),
        "502 handling:\n{}\n{}",
        wrong.join("\n"),
        alb.ferry.output_report()
    );
}

#[test]
fn a_group_without_registered_targets_gives_503() {
    let ok = Origin::start("ok");
    let gone = Origin::start("gone");
    let groups = [
        target_group_block("empty", &[], NO_CHECKS, ""),
        target_group_block(
            "gone",
            &[(gone.port(), "a")],
            NO_CHECKS,
            r#""deregistration_delay.timeout_seconds" = 0"#,
        ),
    ];
    let (alb, node) = start("errors-503", "", &ok, &["empty", "gone"], &groups);
    let c = Client::new();

    let r = c.get(&node, "/empty/x", &[]);
    assert_alb_error_page(&r, 503, "Service Temporarily Unavailable");
    still_serves(&alb, &node, &ok, "503");

    // Deregistering the last target of a group leaves it without targets: 503 too.
    let r = c.get(&node, "/gone/before", &[]);
    assert_eq!(served_by(&r), "gone", "{r:?}");
    let r = alb.deregister("gone", &[gone.port()]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.get(&node, "/gone/after", &[]);
    assert_alb_error_page(&r, 503, "Service Temporarily Unavailable");
    assert_eq!(gone.count_path("/gone/after"), 0);
    still_serves(&alb, &node, &ok, "503 after deregistration");
}

#[test]
fn a_target_that_never_answers_gives_504_after_the_idle_timeout() {
    let ok = Origin::start("ok");
    let silent = RawTarget::start(Misbehave::Silent);
    let groups = [target_group_block(
        "silent",
        &[(silent.port, "a")],
        NO_CHECKS,
        "",
    )];
    let (alb, node) = start(
        "errors-504",
        r#""idle_timeout.timeout_seconds" = 1"#,
        &ok,
        &["silent"],
        &groups,
    );
    let r = Client::new().try_get(&node, "/silent/x", &[]);
    let r = r.unwrap_or_else(|e| {
        panic!(
            "a target that never answers should give 504 after the 1 s idle timeout, the client got: {e}\n{}",
            alb.ferry.output_report()
        )
    });
    assert_alb_error_page(&r, 504, "Gateway Time-out");
    assert_eq!(
        silent.requests(),
        1,
        "the request is sent once, not retried"
    );
    still_serves(&alb, &node, &ok, "504");
}
