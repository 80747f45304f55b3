//! The balancer's HTTP/1 fast path (`balancer/src/fast_forward.rs`): a plain request without a
//! body that a listener forwards to an HTTP target group is sent over the fast path's own
//! kept-alive connections, and what the target and the client see is what pingora's path gives
//! them. Every test runs two `ferry up` processes on the same topology: one as it is (fast path
//! on), one with `FERRY_FAST_FORWARDS=0` (pingora's path only), on the same listener port (on
//! 127.0.0.1 and 127.0.0.2, so that Host and X-Forwarded-Port are the same), and compares them;
//! `ferry_balancer_fast_forwards_total` says which path served.
//!
//! The targets are scripted raw-socket servers (`common::raw_target`) that record the request heads they get and
//! count the connections they accept, so that chunked, close-delimited, interim and malformed
//! responses and connections closed while idle can be written byte for byte.
//!
//! Where the two paths differ, or the fast path is wrong, the assertion is left out and a comment
//! marked BUG, DIFFERENCE or LIMITATION says what each path does.

mod common;

use common::raw_target::*;
use common::*;

use std::thread;
use std::time::{Duration, Instant};

const NO_CHECKS: &str = "enabled = false";
/// The node of the balancer with the fast path, and of the one without.
const FAST_IP: &str = "127.0.0.1";
const SLOW_IP: &str = "127.0.0.2";
const METRIC: &str = "ferry_balancer_fast_forwards_total";
/// The body bytes a balancer counts as sent to its clients.
const SENT_BYTES: &str = r#"ferry_balancer_bytes_total{direction="sent",load_balancer="alb"}"#;

// ---------------------------------------------------------------------------------------------
// Two balancers: the fast path on, and off
// ---------------------------------------------------------------------------------------------

/// The same topology run twice: `fast` as it is, `slow` with `FERRY_FAST_FORWARDS=0`.
struct Pair {
    fast: Alb,
    slow: Alb,
    port: u16,
}

/// `ferry up` (not yet ready) with load balancer `alb` on node `ip`: `lb_attributes` (the inside
/// of its attributes table), one HTTP listener on `port` with `listener` (its own lines:
/// attributes, default_actions, rules) and `groups`; `env` added to its environment. A rule
/// answers the harness's readiness probes itself (a fixed response, not a forward), so that the
/// targets and the counters see only the test's requests.
fn spawn_alb(
    label: &str,
    ip: &str,
    port: u16,
    env: &[(&str, &str)],
    (lb_attributes, listener, groups): (&str, &str, &[String]),
) -> (Alb, String) {
    let listener = format!(
        "{listener}\n\n    [[load_balancers.listeners.rules]]\n    priority = 49999\n    conditions = [{{ field = \"host-header\", values = [\"ferry-readiness.invalid\"] }}]\n    actions = [{{ type = \"fixed-response\", fixed_response_config = {{ status_code = \"200\", content_type = \"text/plain\", message_body = \"ready\" }} }}]\n"
    );
    let mut toml = format!("stack = \"e2e-ff-{label}\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", ip)],
        lb_attributes,
        &[(port, &listener)],
    ));
    for g in groups {
        toml.push_str(g);
    }
    let admin = format!("127.0.0.1:{}", free_port());
    let topology = Topology::write(&format!("ff-{label}"), &toml);
    let ferry = Ferry::spawn_with_env(&["up", topology.path_str(), "--admin", admin.as_str()], env);
    let alb = Alb {
        ferry,
        admin,
        topology,
    };
    (alb, format!("{ip}:{port}"))
}

/// Waits until the balancer's node and admin listener answer.
fn wait_alb(alb: &mut Alb, node: &str) {
    let admin = alb.admin.clone();
    alb.ferry.wait_ready(&[node, admin.as_str()], READY_TIMEOUT);
}

impl Pair {
    /// The topology of [`spawn_alb`] on both balancers (started together).
    fn start(label: &str, lb_attributes: &str, listener: &str, groups: &[String]) -> Pair {
        let port = free_port_on(&[FAST_IP, SLOW_IP]);
        let topology = (lb_attributes, listener, groups);
        let (mut fast, fast_node) = spawn_alb(&format!("{label}-on"), FAST_IP, port, &[], topology);
        let (mut slow, slow_node) = spawn_alb(
            &format!("{label}-off"),
            SLOW_IP,
            port,
            &[("FERRY_FAST_FORWARDS", "0")],
            topology,
        );
        wait_alb(&mut fast, &fast_node);
        wait_alb(&mut slow, &slow_node);
        Pair { fast, slow, port }
    }

    fn node(&self, ip: &str) -> String {
        format!("{ip}:{}", self.port)
    }

    /// (name, balancer, node address) of each: the fast one first.
    fn sides(&self) -> [(&'static str, &Alb, String); 2] {
        [
            ("fast path", &self.fast, self.node(FAST_IP)),
            ("pingora's path", &self.slow, self.node(SLOW_IP)),
        ]
    }

    /// Both processes' output, for failure messages.
    fn report(&self) -> String {
        format!(
            "=== fast path on ===\n{}\n=== FERRY_FAST_FORWARDS=0 ===\n{}",
            self.fast.ferry.output_report(),
            self.slow.ferry.output_report()
        )
    }
}

/// A listener's actions: forward to `default`, and `/{g}/*` to group `g` for each of `prefixed`
/// (rules in that order).
fn routed(default: &str, prefixed: &[&str]) -> String {
    let mut listener =
        format!("  default_actions = [{{ type = \"forward\", target_group = \"{default}\" }}]\n");
    for (i, g) in prefixed.iter().enumerate() {
        listener.push_str(&format!(
            "\n    [[load_balancers.listeners.rules]]\n    priority = {}\n    conditions = [{{ field = \"path-pattern\", values = [\"/{g}/*\"] }}]\n    actions = [{{ type = \"forward\", target_group = \"{g}\" }}]\n",
            i + 1
        ));
    }
    listener
}

/// `METRIC` of `alb`, scraped until it reads `want` or 5 s have passed.
fn fast_forwards(alb: &Alb, want: u64) -> u64 {
    counter(&alb.admin, METRIC, want)
}

/// Asserts the fast process's counter reads `want` and the other's 0.
fn assert_counted(pair: &Pair, want: u64, what: &str) {
    let admins = (pair.fast.admin.as_str(), pair.slow.admin.as_str());
    assert_fast_count(METRIC, admins, want, what, &|| pair.report());
}

// ---------------------------------------------------------------------------------------------
// 1. What the target sees
// ---------------------------------------------------------------------------------------------

/// The request line and the fields of a request head, names lowercased and sorted (a multiset),
/// with the id in X-Amzn-Trace-Id's `Self=` (or `Root=` when the balancer made the Root) blanked
/// out after checking its shape; and that id.
fn normalized_request(r: &Received) -> (String, Vec<(String, String)>, String) {
    let mut id = String::new();
    let mut fields: Vec<(String, String)> = r
        .fields()
        .into_iter()
        .map(|(n, v)| {
            let n = n.to_ascii_lowercase();
            if n != "x-amzn-trace-id" {
                return (n, v);
            }
            let parts: Vec<String> = v
                .split(';')
                .map(|f| match f.split_once('=') {
                    Some((k, value)) if k == "Self" || (k == "Root" && !v.contains("Self=")) => {
                        assert!(is_trace_id(value), "trace id {value:?} in {v:?}");
                        id = value.to_string();
                        format!("{k}=*")
                    }
                    _ => f.to_string(),
                })
                .collect();
            (n, parts.join(";"))
        })
        .collect();
    fields.sort();
    (r.line().to_string(), fields, id)
}

#[test]
fn the_target_gets_the_request_pingora_s_path_sends() {
    let target = RawTarget::start(|_| Reply::Keep(ok("seen")));
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block(
        "t",
        &[(target.port, "a")],
        NO_CHECKS,
        "",
    )];
    let pair = Pair::start("target-sees", "", listener, &groups);
    let given_root = "1-67891233-abcdef012345678912345678";
    let given_trace = format!("Root={given_root};Lineage=a1b2:0");
    let headers = [
        ("Host", "App.Example.test"),
        ("User-Agent", "fast-forwards-test/1.0"),
        ("Accept", "*/*"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Amzn-Trace-Id", given_trace.as_str()),
        ("x-CUSTOM-header", "Some Value, with commas"),
        ("Cookie", "session=abc; theme=dark"),
        ("Connection", "keep-alive"),
    ];
    let path = "/seen/a%20b/c?x=1&y=%2F&z";
    for (name, _, node) in pair.sides() {
        let mut conn = connect(&node);
        for _ in 0..2 {
            let (r, _) = exchange(&mut conn, "GET", path, &headers);
            assert_eq!(r.status, 200, "{name}: {r:?}");
            assert_eq!(r.body, b"seen", "{name}: {r:?}");
        }
        // And one without a trace id: the balancer makes the Root.
        let (r, _) = exchange(&mut conn, "GET", "/seen/no-trace", &[("Host", "app.test")]);
        assert_eq!(r.status, 200, "{name}: {r:?}");
    }
    assert_counted(&pair, 3, "the requests");

    let all = target.seen_path("/seen/a%20b/c");
    assert_eq!(all.len(), 4, "{all:#?}");
    let (fast, slow) = (&all[..2], &all[2..]);
    let port = pair.port.to_string();
    for (name, pair_of) in [("fast path", fast), ("pingora's path", slow)] {
        let r = &pair_of[0];
        assert_eq!(
            r.values("host"),
            [format!("App.Example.test:{port}")],
            "{name}: Host gets the listener's port: {r:#?}"
        );
        assert_eq!(
            r.values("x-forwarded-for"),
            ["203.0.113.9, 127.0.0.1"],
            "{name}: {r:#?}"
        );
        assert_eq!(r.values("x-forwarded-proto"), ["http"], "{name}: {r:#?}");
        assert_eq!(
            r.values("x-forwarded-port"),
            std::slice::from_ref(&port),
            "{name}: {r:#?}"
        );
        let trace = r.values("x-amzn-trace-id");
        assert_eq!(trace.len(), 1, "{name}: {r:#?}");
        assert!(
            trace[0].starts_with("Self=")
                && trace[0].contains(&format!(";Root={given_root}"))
                && trace[0].ends_with(";Lineage=a1b2:0"),
            "{name}: the client's Root (and its other fields) are kept, a Self added: {r:#?}"
        );
        // The trace id differs from request to request.
        let (_, _, first) = normalized_request(&pair_of[0]);
        let (_, _, second) = normalized_request(&pair_of[1]);
        assert_ne!(first, second, "{name}: two requests, one Self id");
    }
    let (fast_line, fast_fields, _) = normalized_request(&fast[0]);
    let (slow_line, slow_fields, _) = normalized_request(&slow[0]);
    assert_eq!(fast_line, format!("GET {path} HTTP/1.1"));
    assert_eq!(
        (fast_line, fast_fields),
        (slow_line, slow_fields),
        "the target got a different request from the fast path (left) than from pingora's (right):\n{}\n{}",
        fast[0].head,
        slow[0].head
    );

    let roots = target.seen_path("/seen/no-trace");
    assert_eq!(roots.len(), 2, "{roots:#?}");
    let (_, fast_fields, fast_id) = normalized_request(&roots[0]);
    let (_, slow_fields, slow_id) = normalized_request(&roots[1]);
    assert_eq!(
        fast_fields, slow_fields,
        "{:?} vs {:?}",
        roots[0].head, roots[1].head
    );
    assert!(
        roots[0].values("x-amzn-trace-id")[0].starts_with("Root=1-"),
        "{:?}",
        roots[0].head
    );
    assert_ne!(fast_id, slow_id);
}

// ---------------------------------------------------------------------------------------------
// 2. What the client sees
// ---------------------------------------------------------------------------------------------

/// A request: method, path and headers.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

#[test]
fn the_client_gets_the_response_pingora_s_path_sends() {
    let target = RawTarget::start(shapes);
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block(
        "t",
        &[(target.port, "a")],
        NO_CHECKS,
        "",
    )];
    let pair = Pair::start("client-sees", "", listener, &groups);
    let cases: [Case; 11] = [
        ("GET", "/length", &[]),
        ("GET", "/big", &[]),
        ("GET", "/chunked", &[]),
        ("HEAD", "/length", &[]),
        ("GET", "/no-content", &[]),
        ("GET", "/not-modified", &[("If-None-Match", "\"v1\"")]),
        ("GET", "/until-close", &[]),
        ("GET", "/interim", &[]),
        ("GET", "/early-hints", &[]),
        ("GET", "/length-and-chunked", &[]),
        ("GET", "/length", &[]),
    ];
    let mut answers: Vec<Vec<(Seen, Response)>> = Vec::new();
    let mut reopened: Vec<Vec<String>> = Vec::new();
    for (name, alb, node) in pair.sides() {
        let before = counter_now(&alb.admin, SENT_BYTES);
        let mut conn = connect(&node);
        let mut got = Vec::new();
        let mut closed = Vec::new();
        for (method, path, headers) in cases {
            let mut headers = headers.to_vec();
            headers.push(("Host", "app.test"));
            let (r, raw) = exchange(&mut conn, method, path, &headers);
            if r.headers.has_token("connection", "close") || conn.closed_by_peer(Duration::ZERO) {
                closed.push(format!("{method} {path}"));
                conn = connect(&node);
            }
            assert!(
                r.headers.has_token("connection", "keep-alive"),
                "{name}: {method} {path}: {r:?}"
            );
            got.push((seen(&raw, &r), r));
        }
        // Both paths count the bodies' payload as sent, whatever their framing.
        let want = before + got.iter().map(|(_, r)| r.body.len() as u64).sum::<u64>();
        let sent = counter(&alb.admin, SENT_BYTES, want);
        assert_eq!(sent, want, "{name}: body bytes counted as sent");
        answers.push(got);
        reopened.push(closed);
    }
    assert_counted(&pair, cases.len() as u64, "every case");
    for (i, (method, path, _)) in cases.iter().enumerate() {
        let (fast, fast_r) = &answers[0][i];
        let (slow, _) = &answers[1][i];
        // A Content-Length beside chunks is dropped on both paths (RFC 9112 6.3).
        assert_alike(&format!("{method} {path}"), fast, slow);
        if *path == "/interim" || *path == "/early-hints" {
            // Both paths pass the target's interim response on before the final one.
            assert_eq!(
                (fast.interim.len(), slow.interim.len()),
                (1, 1),
                "{method} {path}: the interim response"
            );
        } else {
            assert_eq!(
                (&fast.interim, &slow.interim),
                (&Vec::new(), &Vec::new()),
                "{method} {path}: no interim response"
            );
        }
        let want: Vec<u8> = match (*method, *path) {
            ("HEAD", _) | (_, "/no-content") | (_, "/not-modified") => Vec::new(),
            (_, "/length") => numbered(1024),
            (_, "/big") => numbered(150_000),
            (_, "/chunked") => CHUNKS.concat().into_bytes(),
            (_, "/until-close") => numbered(3000),
            (_, "/interim") => b"after an interim response".to_vec(),
            (_, "/early-hints") => b"after early hints".to_vec(),
            (_, "/length-and-chunked") => b"hello".to_vec(),
            _ => unreachable!(),
        };
        assert!(
            fast_r.body == want,
            "{method} {path}: the client got {} bytes, not the target's {}: {fast_r:?}",
            fast_r.body.len(),
            want.len()
        );
    }
    assert!(
        reopened[0].is_empty(),
        "the fast path kept the client's connection open through every case, but closed it after {:?}",
        reopened[0]
    );
    assert!(
        reopened[1].is_empty(),
        "pingora's path closed the client's connection after {:?}",
        reopened[1]
    );
}

// ---------------------------------------------------------------------------------------------
// 3, 4. Connections to targets
// ---------------------------------------------------------------------------------------------

#[test]
fn sequential_requests_share_one_connection_to_the_target() {
    let target = RawTarget::start(|r| Reply::Keep(ok(&format!("answer to {}", r.target()))));
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block(
        "t",
        &[(target.port, "a")],
        NO_CHECKS,
        "",
    )];
    let pair = Pair::start("reuse", "", listener, &groups);
    let mut connections = Vec::new();
    for (name, _, node) in pair.sides() {
        let before = target.connections();
        let mut conn = connect(&node);
        for i in 0..20 {
            let path = format!("/reuse/{i}");
            let (r, _) = exchange(&mut conn, "GET", &path, &[]);
            assert_eq!(r.status, 200, "{name}: {r:?}");
            assert_eq!(r.body_text(), format!("answer to {path}"), "{name}");
        }
        connections.push(target.connections() - before);
    }
    assert_counted(&pair, 20, "the 20 requests");
    assert_eq!(target.seen().len(), 40);
    assert!(
        (1..=2).contains(&connections[0]),
        "the fast path's 20 requests reached the target over {} connections",
        connections[0]
    );
    assert!(
        (1..=2).contains(&connections[1]),
        "pingora's path's 20 requests reached the target over {} connections",
        connections[1]
    );
}

#[test]
fn a_target_that_closes_kept_connections_still_answers_every_request() {
    // Closes each connection right after its response, which says nothing of it.
    let closing = RawTarget::start(|r| Reply::Close(ok(&format!("closing {}", r.target()))));
    // Keeps each connection after its first response, but closes it without a byte when the
    // next request comes on it: a kept connection found closed, for sure.
    let hangs_up = RawTarget::start(|r| {
        if r.nth == 1 {
            Reply::Keep(ok(&format!("hangs up {}", r.target())))
        } else {
            Reply::Hangup
        }
    });
    let listener = routed("closing", &["hangup"]);
    let groups = [
        target_group_block("closing", &[(closing.port, "a")], NO_CHECKS, ""),
        target_group_block("hangup", &[(hangs_up.port, "a")], NO_CHECKS, ""),
    ];
    let pair = Pair::start("target-closes", "", &listener, &groups);
    let mut failed = Vec::new();
    for (name, _, node) in pair.sides() {
        let mut conn = connect(&node);
        for i in 0..10 {
            for (prefix, says) in [("/close", "closing"), ("/hangup", "hangs up")] {
                let path = format!("{prefix}/{i}");
                let r = conn.request("GET", &path, &[], b"");
                match r {
                    Ok(r) if r.status == 200 && r.body_text() == format!("{says} {path}") => {}
                    other => {
                        failed.push(format!("{name}: GET {path}: {other:?}"));
                        conn = connect(&node);
                    }
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "requests that failed:\n{}\n{}",
        failed.join("\n"),
        pair.report()
    );
    assert_counted(&pair, 20, "the 20 requests");
    // Each request after the first reached the hanging-up target twice: on the kept connection
    // (closed without a byte), then once more on a new one; the fast path's come first.
    let hung = hangs_up.seen();
    assert_eq!(hung.len(), 38, "{hung:#?}");
    let (fast, slow) = hung.split_at(19);
    for (name, records) in [("fast path", fast), ("pingora's path", slow)] {
        for i in 0..10 {
            let path = format!("/hangup/{i}");
            let tries: Vec<(usize, usize)> = records
                .iter()
                .filter(|r| r.path() == path)
                .map(|r| (r.conn, r.nth))
                .collect();
            let want = if i == 0 { 1 } else { 2 };
            assert_eq!(
                tries.len(),
                want,
                "{name}: {path} reached the target as (connection, request on it) {tries:?}"
            );
        }
    }
    assert_eq!(
        closing.connections(),
        20,
        "one connection per request to the closing target"
    );
}

/// A kept connection on which the target wrote while it was idle (a stray `408` before it
/// closes, as some servers send when they time an idle connection out; or bytes past its last
/// response) must not carry the next request: what is there is no answer to it.
#[test]
fn bytes_a_target_sends_while_idle_are_not_the_next_response() {
    // Answers, then times the idle connection out with a 408 and closes it.
    let times_out = RawTarget::start(|r| {
        Reply::CloseThen(
            ok(&format!("answer to {}", r.target())),
            Duration::from_millis(50),
            wire(
                "HTTP/1.1 408 Request Timeout",
                &[("Connection", "close"), ("Content-Length", "0")],
                b"",
            ),
        )
    });
    // Answers its first request, then sends a second response nobody asked for.
    let extra = RawTarget::start(|r| {
        let answer = ok(&format!("answer to {}", r.target()));
        if r.nth == 1 {
            Reply::KeepThen(answer, Duration::from_millis(50), ok("stale"))
        } else {
            Reply::Keep(answer)
        }
    });
    let listener = routed("timeout", &["extra"]);
    let groups = [
        target_group_block("timeout", &[(times_out.port, "a")], NO_CHECKS, ""),
        target_group_block("extra", &[(extra.port, "a")], NO_CHECKS, ""),
    ];
    let pair = Pair::start("idle-bytes", "", &listener, &groups);
    let mut answers = Vec::new();
    for (name, _, node) in pair.sides() {
        for prefix in ["/timeout", "/extra"] {
            // Three requests on one connection, each once the target has written on the idle
            // connection to it.
            let mut conn = connect(&node);
            for i in 1..=3 {
                let path = format!("{prefix}/{i}");
                let got = match conn.request("GET", &path, &[], b"") {
                    Ok(r) => format!("{} {}", r.status, r.body_text()),
                    Err(e) => {
                        conn = connect(&node);
                        format!("error: {e}")
                    }
                };
                answers.push((name, path, got));
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let report: Vec<String> = answers
        .iter()
        .map(|(name, path, got)| format!("{name}: GET {path}: {got}"))
        .collect();
    for (name, path, got) in &answers {
        let want = format!("200 answer to {path}");
        // A kept connection with bytes no request asked for (a 408 before the target closed it,
        // a stray response) is not reused: its bytes are nobody's answer.
        assert_eq!(got, &want, "{name}: GET {path}:\n{}", report.join("\n"));
    }
    assert_counted(&pair, 6, "the GETs");
}

// ---------------------------------------------------------------------------------------------
// 5. Errors before a response
// ---------------------------------------------------------------------------------------------

/// What differs from ALB's own error page.
fn error_page_problem(r: &Response, status: u16, reason: &str) -> Option<String> {
    alb_error_page_problem(r, status, reason, true)
}

#[test]
fn errors_before_a_response_get_alb_s_error_page_on_both_paths() {
    let ok_target = RawTarget::start(|_| Reply::Keep(ok("fine")));
    let silent = RawTarget::start(|_| Reply::Silent);
    let garbage = RawTarget::start(|_| {
        Reply::Close(b"this is not http at all\r\n\r\nreally not\r\n".to_vec())
    });
    let hangup = RawTarget::start(|_| Reply::Hangup);
    let dead = free_port();
    let listener = routed("ok", &["dead", "silent", "garbage", "hangup"]);
    let groups = [
        target_group_block("ok", &[(ok_target.port, "a")], NO_CHECKS, ""),
        target_group_block("dead", &[(dead, "a")], NO_CHECKS, ""),
        target_group_block("silent", &[(silent.port, "a")], NO_CHECKS, ""),
        target_group_block("garbage", &[(garbage.port, "a")], NO_CHECKS, ""),
        target_group_block("hangup", &[(hangup.port, "a")], NO_CHECKS, ""),
    ];
    let pair = Pair::start(
        "errors",
        r#""idle_timeout.timeout_seconds" = 1"#,
        &listener,
        &groups,
    );
    let cases = [
        ("/dead/x", 502, "Bad Gateway"),
        ("/silent/x", 504, "Gateway Time-out"),
        ("/garbage/x", 502, "Bad Gateway"),
        ("/hangup/x", 502, "Bad Gateway"),
    ];
    // Both balancers at once: the 504s take the idle timeout.
    let results: Vec<Vec<(Seen, Response, bool, Duration)>> = thread::scope(|s| {
        let handles: Vec<_> = pair
            .sides()
            .into_iter()
            .map(|(_, _, node)| {
                s.spawn(move || {
                    cases
                        .iter()
                        .map(|(path, _, _)| {
                            let started = Instant::now();
                            let mut conn = connect(&node);
                            let (r, raw) = exchange(&mut conn, "GET", path, &[]);
                            let took = started.elapsed();
                            let closed = conn.closed_by_peer(Duration::from_secs(2));
                            (seen(&raw, &r), r, closed, took)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    for (i, (path, status, reason)) in cases.iter().enumerate() {
        for (side, (name, _, _)) in pair.sides().iter().enumerate() {
            let (_, r, closed, took) = &results[side][i];
            if let Some(problem) = error_page_problem(r, *status, reason) {
                panic!("{name}: GET {path}: {problem}\n{}", pair.report());
            }
            assert!(
                *closed,
                "{name}: GET {path}: the connection closes after the error"
            );
            if *status == 504 {
                assert!(
                    *took >= Duration::from_millis(900) && *took < Duration::from_secs(5),
                    "{name}: the 504 came after {took:?}, the idle timeout is 1 s"
                );
            }
        }
        // DIFFERENCE (reported, not asserted): pingora's path says `Connection: keep-alive` on
        // its error page and then closes the connection; the fast path says `Connection: close`.
        let fast = &results[0][i].1;
        assert_eq!(
            fast.header("connection"),
            Some("close"),
            "fast path: {fast:?}"
        );
        assert_alike(
            &format!("GET {path}"),
            &without(&results[0][i].0, "connection"),
            &without(&results[1][i].0, "connection"),
        );
    }
    assert_counted(&pair, 4, "the failed forwards");
    for (what, t) in [
        ("silent", &silent),
        ("garbage", &garbage),
        ("hangup", &hangup),
    ] {
        assert_eq!(
            t.seen().len(),
            2,
            "{what}: sent once per balancer, not retried"
        );
    }
    for (name, _, node) in pair.sides() {
        let (r, _) = exchange(&mut connect(&node), "GET", "/after", &[]);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, "fine"),
            "{name}: still serving"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Handing requests over to pingora on one connection
// ---------------------------------------------------------------------------------------------

#[test]
fn a_connection_goes_from_one_path_to_the_other_and_back() {
    let target = RawTarget::start(|r| {
        Reply::Keep(ok(&format!(
            "{} {} {}",
            r.method(),
            r.target(),
            String::from_utf8_lossy(&r.body)
        )))
    });
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block(
        "t",
        &[(target.port, "a")],
        NO_CHECKS,
        "",
    )];
    let pair = Pair::start("handover", "", listener, &groups);
    let host = "Host: app.test\r\n";
    let expect = |name: &str, conn: &mut Conn, body: &str| {
        let r = conn
            .read_response(false)
            .unwrap_or_else(|e| panic!("{name}: waiting for {body:?}: {e}\n{}", pair.report()));
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, body),
            "{name}: {r:?}"
        );
        assert!(
            r.headers.has_token("connection", "keep-alive"),
            "{name}: {r:?}"
        );
    };

    // The fast path's balancer.
    let name = "fast path";
    let mut conn = connect(&pair.node(FAST_IP));
    // A body: pingora's path.
    conn.send("POST", "/post", &[], b"hello").expect("send");
    expect(name, &mut conn, "POST /post hello");
    assert_eq!(fast_forwards(&pair.fast, 0), 0, "a POST is pingora's");
    // Then a plain GET on the same connection: the fast path.
    conn.send("GET", "/after", &[], b"").expect("send");
    expect(name, &mut conn, "GET /after ");
    assert_eq!(fast_forwards(&pair.fast, 1), 1, "the GET after the POST");
    // Two GETs in one write: two responses, in order.
    conn.write_raw(
        format!("GET /p1 HTTP/1.1\r\n{host}\r\nGET /p2 HTTP/1.1\r\n{host}\r\n").as_bytes(),
    )
    .expect("write");
    expect(name, &mut conn, "GET /p1 ");
    expect(name, &mut conn, "GET /p2 ");
    assert_eq!(fast_forwards(&pair.fast, 3), 3, "both pipelined GETs");
    // A POST behind a GET in one write: the fast path, then pingora's with the bytes read.
    conn.write_raw(
        format!(
            "GET /p3 HTTP/1.1\r\n{host}\r\nPOST /p4 HTTP/1.1\r\n{host}Content-Length: 3\r\n\r\nend"
        )
        .as_bytes(),
    )
    .expect("write");
    expect(name, &mut conn, "GET /p3 ");
    expect(name, &mut conn, "POST /p4 end");
    assert_eq!(fast_forwards(&pair.fast, 4), 4, "the GET before the POST");
    // And back to the fast path after it.
    conn.send("GET", "/last", &[], b"").expect("send");
    expect(name, &mut conn, "GET /last ");
    assert_eq!(fast_forwards(&pair.fast, 5), 5, "the GET after the POST");
    assert!(
        !conn.closed_by_peer(Duration::from_millis(100)),
        "{name}: the connection stays open"
    );
    // LIMITATION (reported, not asserted): a GET pipelined behind a POST in one write is read
    // by pingora along with the POST; pingora (pipelining off) answers the POST with
    // `Connection: keep-alive`, then closes the connection without answering the GET.
    let mut conn = connect(&pair.node(FAST_IP));
    conn.write_raw(
        format!("POST /p5 HTTP/1.1\r\n{host}Content-Length: 4\r\n\r\nbodyGET /p6 HTTP/1.1\r\n{host}\r\n")
            .as_bytes(),
    )
    .expect("write");
    expect(name, &mut conn, "POST /p5 body");

    // pingora's path only: the same requests get the same answers, and none is counted.
    let name = "pingora's path";
    let mut conn = connect(&pair.node(SLOW_IP));
    conn.send("POST", "/post", &[], b"hello").expect("send");
    expect(name, &mut conn, "POST /post hello");
    conn.send("GET", "/after", &[], b"").expect("send");
    expect(name, &mut conn, "GET /after ");
    // DIFFERENCE (reported, not asserted): pingora's path (pipelining off) answers the first of
    // two pipelined GETs and closes the connection without answering the second.
    conn.write_raw(
        format!("GET /p1 HTTP/1.1\r\n{host}\r\nGET /p2 HTTP/1.1\r\n{host}\r\n").as_bytes(),
    )
    .expect("write");
    expect(name, &mut conn, "GET /p1 ");
    assert_counted(&pair, 5, "the fast path's GETs");

    let count = |path: &str| target.seen_path(path).len();
    assert_eq!(
        (
            count("/post"),
            count("/after"),
            count("/p1"),
            count("/p3"),
            count("/p4")
        ),
        (2, 2, 2, 1, 1),
        "{:#?}",
        target.seen()
    );
    assert_eq!(count("/p2"), 1, "{:#?}", target.seen());
}

// ---------------------------------------------------------------------------------------------
// 7. The listener's response header modification
// ---------------------------------------------------------------------------------------------

#[test]
fn the_listener_s_response_header_edits_apply_on_both_paths() {
    let target = RawTarget::start(|_| {
        Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[
                ("Server", "target/1.0"),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("Content-Type", "text/plain"),
                ("x-frame-options", "ALLOW-FROM http://other.test"),
                ("Access-Control-Allow-Origin", "http://target.test"),
                ("Content-Length", "6"),
            ],
            b"edited",
        ))
    });
    let dead = free_port();
    let attributes = r#"  attributes = { "routing.http.response.server.enabled" = false, "routing.http.response.x_frame_options.header_value" = "DENY", "routing.http.response.strict_transport_security.header_value" = "max-age=31536000; includeSubDomains", "routing.http.response.access_control_allow_origin.header_value" = "*", "routing.http.response.x_content_type_options.header_value" = "nosniff" }"#;
    let listener = format!("{attributes}\n{}", routed("t", &["dead"]));
    let groups = [
        target_group_block("t", &[(target.port, "a")], NO_CHECKS, ""),
        target_group_block("dead", &[(dead, "a")], NO_CHECKS, ""),
    ];
    let pair = Pair::start("edits", "", &listener, &groups);
    let mut answers = Vec::new();
    for (name, _, node) in pair.sides() {
        let mut conn = connect(&node);
        let (r, raw) = exchange(&mut conn, "GET", "/edited", &[]);
        assert_eq!(
            (r.status, r.body_text().as_str()),
            (200, "edited"),
            "{name}: {r:?}"
        );
        assert_eq!(r.header("server"), None, "{name}: {r:?}");
        assert_eq!(
            r.headers.get_all("x-frame-options"),
            ["DENY"],
            "{name}: {r:?}"
        );
        assert_eq!(
            r.headers.get_all("access-control-allow-origin"),
            ["*"],
            "{name}: {r:?}"
        );
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains"),
            "{name}: {r:?}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{name}: {r:?}"
        );
        let (e, error_raw) = exchange(&mut connect(&node), "GET", "/dead/x", &[]);
        assert_eq!(e.status, 502, "{name}: {e:?}");
        assert_eq!(e.header("server"), None, "{name}: {e:?}");
        assert_eq!(
            e.headers.get_all("x-frame-options"),
            ["DENY"],
            "{name}: {e:?}"
        );
        answers.push((seen(&raw, &r), seen(&error_raw, &e)));
    }
    assert_alike("GET /edited", &answers[0].0, &answers[1].0);
    // (Connection differs on error pages: see errors_before_a_response_...)
    assert_alike(
        "GET /dead/x",
        &without(&answers[0].1, "connection"),
        &without(&answers[1].1, "connection"),
    );
    assert_counted(&pair, 2, "the forwards");
}

// ---------------------------------------------------------------------------------------------
// 8. Stickiness
// ---------------------------------------------------------------------------------------------

/// `Set-Cookie` values with their Expires date blanked out.
fn cookies_without_dates(r: &Response) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|c| {
            c.split("; ")
                .map(|a| {
                    if a.starts_with("Expires=") {
                        "Expires=*"
                    } else {
                        a
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect()
}

#[test]
fn lb_cookie_stickiness_is_the_same_on_both_paths() {
    let one = Origin::start("one");
    let two = Origin::start("two");
    let listener = r#"  default_actions = [{ type = "forward", target_group = "sticky" }]"#;
    let groups = [target_group_block(
        "sticky",
        &[(one.port(), "a"), (two.port(), "a")],
        NO_CHECKS,
        r#""stickiness.enabled" = true, "stickiness.type" = "lb_cookie", "stickiness.lb_cookie.duration_seconds" = 120"#,
    )];
    let pair = Pair::start("sticky", "", listener, &groups);
    let mut firsts = Vec::new();
    for (name, _, node) in pair.sides() {
        let mut conn = connect(&node);
        let (r, raw) = exchange(&mut conn, "GET", "/first", &[]);
        assert_eq!(r.status, 200, "{name}: {r:?}");
        let first_response = r.clone();
        let value = set_cookie_value(&r, "AWSALB")
            .unwrap_or_else(|| panic!("{name}: no AWSALB cookie: {r:?}"))
            .to_string();
        assert_eq!(
            set_cookie_value(&r, "AWSALBCORS"),
            Some(value.as_str()),
            "{name}: {r:?}"
        );
        let cors = set_cookies_named(&r, "AWSALBCORS");
        assert!(
            cors.len() == 1 && cors[0].contains("SameSite=None") && cors[0].contains("Secure"),
            "{name}: {r:?}"
        );
        let first = served_by(&r).to_string();
        // With the cookie (or its CORS twin), on this connection and on new ones: the same target.
        let cookie = format!("AWSALB={value}; theme=dark");
        let cors_only = format!("AWSALBCORS={value}");
        for i in 0..6 {
            let h = if i % 2 == 0 { &cookie } else { &cors_only };
            let path = format!("/again/{i}");
            let (r, _) = if i < 3 {
                exchange(&mut conn, "GET", &path, &[("Cookie", h)])
            } else {
                exchange(&mut connect(&node), "GET", &path, &[("Cookie", h)])
            };
            assert_eq!(
                (r.status, served_by(&r)),
                (200, first.as_str()),
                "{name}: {r:?}"
            );
            assert_eq!(
                set_cookie_value(&r, "AWSALB"),
                Some(value.as_str()),
                "{name}: {r:?}"
            );
        }
        // A request pingora's path serves (a body) sticks to the same target too.
        let r = conn
            .request("POST", "/posted", &[("Cookie", &cookie)], b"x")
            .expect("POST");
        assert_eq!(
            (r.status, served_by(&r)),
            (200, first.as_str()),
            "{name}: {r:?}"
        );
        firsts.push((raw, first_response, first, value));
    }
    assert_counted(&pair, 7, "the GETs");
    // The first answers set the same cookies (but for their values, which name the target each
    // balancer chose, and their Expires dates).
    let blank = |r: &Response| -> Vec<String> {
        cookies_without_dates(r)
            .iter()
            .map(|c| match c.split_once('=') {
                Some((n, rest)) => format!("{n}=*;{}", rest.split_once(';').map_or("", |x| x.1)),
                None => c.clone(),
            })
            .collect()
    };
    assert_eq!(blank(&firsts[0].1), blank(&firsts[1].1));
    assert_eq!(
        blank(&firsts[0].1),
        [
            "AWSALB=*; Expires=*; Path=/",
            "AWSALBCORS=*; Expires=*; Path=/; SameSite=None; Secure"
        ]
    );
    // The same cookie sent to both pins the same target, and the answers are alike.
    let cookie = format!("AWSALB={}", firsts[0].3);
    let mut pinned = Vec::new();
    for (name, _, node) in pair.sides() {
        let (r, raw) = exchange(
            &mut connect(&node),
            "GET",
            "/pinned",
            &[("Cookie", &cookie)],
        );
        assert_eq!(served_by(&r), firsts[0].2, "{name}: {r:?}");
        let mut seen = seen(&raw, &r);
        for (n, v) in &mut seen.fields {
            if n == "set-cookie" {
                *v = v
                    .split("; ")
                    .map(|a| {
                        if a.starts_with("Expires=") {
                            "Expires=*"
                        } else {
                            a
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
            }
        }
        pinned.push(seen);
    }
    assert_alike("GET /pinned", &pinned[0], &pinned[1]);
    assert_counted(&pair, 8, "the GETs");
}

// ---------------------------------------------------------------------------------------------
// The access log
// ---------------------------------------------------------------------------------------------

/// With an access log to write, every request goes through pingora's path (which writes it).
#[test]
fn with_an_access_log_every_request_takes_pingora_s_path_and_is_logged() {
    let target = RawTarget::start(|r| Reply::Keep(ok(&format!("answer to {}", r.target()))));
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block(
        "t",
        &[(target.port, "a")],
        NO_CHECKS,
        "",
    )];
    let logs = TempDir::new("ff-access-log");
    let log = logs.path().join("access.log");
    let log_s = log.to_string_lossy().to_string();
    let (mut alb, node) = spawn_alb(
        "access-log",
        FAST_IP,
        free_port(),
        &[("FERRY_BALANCER_ACCESS_LOG", log_s.as_str())],
        ("", listener, &groups),
    );
    wait_alb(&mut alb, &node);
    let mut conn = connect(&node);
    for i in 0..3 {
        let path = format!("/logged/{i}?x=1");
        let (r, _) = exchange(&mut conn, "GET", &path, &[]);
        assert_eq!(r.body_text(), format!("answer to {path}"), "{r:?}");
    }
    assert_eq!(fast_forwards(&alb, 0), 0, "the fast path stepped aside");
    let deadline = Instant::now() + Duration::from_secs(5);
    let logged = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let logged: Vec<String> = text
            .lines()
            .filter(|l| l.contains("/logged/"))
            .map(str::to_string)
            .collect();
        if logged.len() >= 3 || Instant::now() > deadline {
            break logged;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(logged.len(), 3, "one line per request: {logged:#?}");
    for (i, line) in logged.iter().enumerate() {
        assert!(
            line.contains(&format!("/logged/{i}?x=1 HTTP/1.1\"")) && line.contains(" 200 "),
            "{line}"
        );
    }
}

/// A forward to a target group without targets gets ALB's 503 on both paths, and the connection
/// stays open for the next request (the balancer answered it itself; nothing broke).
#[test]
fn a_group_without_targets_gets_a_503_and_the_connection_stays_open() {
    let ok_target = RawTarget::start(|r| Reply::Keep(ok(&format!("answer to {}", r.target()))));
    let listener = routed("ok", &["empty"]);
    let groups = [
        target_group_block("ok", &[(ok_target.port, "a")], NO_CHECKS, ""),
        target_group_block("empty", &[], NO_CHECKS, ""),
    ];
    let pair = Pair::start("no-targets", "", &listener, &groups);
    let mut answers = Vec::new();
    for (name, alb, node) in pair.sides() {
        // (What the readiness probes' answers counted before.)
        let before = counter_now(&alb.admin, SENT_BYTES);
        let mut conn = connect(&node);
        let (r, raw) = exchange(&mut conn, "GET", "/empty/x", &[]);
        if let Some(problem) = error_page_problem(&r, 503, "Service Temporarily Unavailable") {
            panic!("{name}: {problem}\n{}", pair.report());
        }
        assert_eq!(r.header("connection"), Some("keep-alive"), "{name}: {r:?}");
        let (next, _) = exchange(&mut conn, "GET", "/next", &[]);
        assert_eq!(
            (next.status, next.body_text()),
            (200, "answer to /next".to_string()),
            "{name}: the same connection serves the next request"
        );
        // The page's body bytes count as sent, as every answer's do.
        let want = before + (r.body.len() + next.body.len()) as u64;
        assert_eq!(
            counter(&alb.admin, SENT_BYTES, want),
            want,
            "{name}: body bytes sent"
        );
        answers.push(seen(&raw, &r));
    }
    assert_alike("GET /empty/x", &answers[0], &answers[1]);
    assert_counted(&pair, 2, "the 503 and the next request");
}

/// A target that sends an interim response and then hangs up: the client gets the interim head
/// and the connection closes (as pingora's path closes it), and the request is counted on both
/// paths all the same.
const REQUESTS: &str = "ferry_balancer_requests_total";

#[test]
fn a_request_cut_short_after_an_interim_response_is_still_counted() {
    let cut = RawTarget::start(|_| {
        Reply::Close(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n".to_vec())
    });
    let listener = r#"  default_actions = [{ type = "forward", target_group = "t" }]"#;
    let groups = [target_group_block("t", &[(cut.port, "a")], NO_CHECKS, "")];
    let pair = Pair::start("interim-cut", "", listener, &groups);
    for (name, alb, node) in pair.sides() {
        let before = metric_sum(&alb.admin, REQUESTS, None);
        let mut conn = connect(&node);
        conn.send("GET", "/hints", &[], b"").expect("send");
        assert!(
            conn.closed_by_peer(Duration::from_secs(5)),
            "{name}: the connection closes"
        );
        assert_eq!(
            metric_sum(&alb.admin, REQUESTS, Some(before + 1)),
            before + 1,
            "{name}: the request is counted\n{}",
            pair.report()
        );
    }
    assert_counted(&pair, 1, "the forward");
}
