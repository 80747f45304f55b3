//! ALB's HTTP desync mitigation through a running balancer: what each mode does with compliant,
//! ambiguous and severe requests, seen from the client and counted at the target.

mod common;

use common::*;
use std::time::Duration;

fn topology(port: u16, target: &Origin, mode: &str) -> String {
    let attributes = format!("\"routing.http.desync_mitigation_mode\" = \"{mode}\"");
    let mut t = String::from("stack = \"desync\"\n\n");
    t.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        &attributes,
        &[(port, "forward-web")],
    ));
    t.push_str(&target_group_block(
        "web",
        &[(target.port(), "a")],
        "enabled = false",
        "",
    ));
    t.replace(
        "forward-web",
        "  default_actions = [{ type = \"forward\", target_group = \"web\" }]",
    )
}

/// (name, raw request, status in defensive mode, status in strictest mode, reaches the target in
/// defensive mode)
const CASES: &[(&str, &str, u16, u16, bool)] = &[
    ("compliant GET", "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", 200, 200, true),
    (
        "severe: chunked twice",
        "POST /te2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        400,
        false,
    ),
    (
        "ambiguous: GET with a body",
        "GET /getbody HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab",
        200,
        400,
        true,
    ),
    (
        "ambiguous: Transfer-Encoding and Content-Length",
        "POST /tecl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        200,
        400,
        true,
    ),
    (
        "ambiguous: duplicate Content-Length",
        "POST /dupcl HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        200,
        400,
        true,
    ),
];

fn run(mode: &str, strictest: bool) {
    let target = Origin::start("web");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up(
        &format!("desync-{mode}"),
        &topology(port, &target, mode),
        &[&node],
    );
    let client = Client::with_timeout(Duration::from_secs(5));
    for (name, raw, defensive, strict, reaches) in CASES {
        let path = raw.split(' ').nth(1).unwrap_or("/");
        let expected = if strictest { *strict } else { *defensive };
        let r = client.send_raw(&node, raw.as_bytes());
        assert_eq!(r.status(), Some(expected), "{mode}: {name}: {}", r.text());
        let reached = target.count_prefix(path) > 0;
        assert_eq!(
            reached,
            expected == 200 && *reaches,
            "{mode}: {name}: target saw it: {reached}"
        );
        if expected == 400 {
            assert!(
                r.text().contains("desync"),
                "{mode}: {name}: the page says why: {}",
                r.text()
            );
        }
        if name.starts_with("ambiguous") && expected == 200 {
            let closes = r
                .response
                .as_ref()
                .and_then(|resp| resp.header("connection"))
                .is_some_and(|c| c.eq_ignore_ascii_case("close"));
            assert!(
                closes,
                "{mode}: {name}: an ambiguous request is served, then the connection closed: {}",
                r.text()
            );
        }
    }
    let ok = client.get(&node, "/after", &[]);
    assert_eq!(ok.status, 200, "{mode}: still serving");
    drop(alb);
}

#[test]
fn defensive_rejects_severe_and_closes_after_ambiguous() {
    run("defensive", false);
}

#[test]
fn strictest_rejects_ambiguous_too() {
    run("strictest", true);
}

#[test]
fn monitor_forwards_everything_pingora_lets_through() {
    let target = Origin::start("web");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let _alb = Alb::up(
        "desync-monitor",
        &topology(port, &target, "monitor"),
        &[&node],
    );
    let r = Client::with_timeout(Duration::from_secs(5)).send_raw(&node, CASES[1].1.as_bytes());
    assert_eq!(
        r.status(),
        Some(200),
        "monitor forwards a severe request: {}",
        r.text()
    );
    assert_eq!(target.count_prefix("/te2"), 1);
}

/// Transfer-Encoding with Content-Length is Ambiguous (`BothTeClPresent`) in every mode, though
/// pingora drops the Content-Length before the parsed head is seen: the access log says so in
/// monitor mode as in the others.
#[test]
fn transfer_encoding_with_content_length_is_classed_ambiguous_in_monitor_mode() {
    let target = Origin::start("web");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let topology = Topology::write("desync-log", &topology(port, &target, "monitor"));
    let log = topology.dir().path().join("balancer.log");
    let log_s = log.to_string_lossy().to_string();
    let _ferry = Ferry::start_with_env(
        &["up", topology.path_str()],
        &[("FERRY_BALANCER_ACCESS_LOG", log_s.as_str())],
        &[node.as_str()],
    );
    let raw = "POST /tecl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    let r = Client::with_timeout(Duration::from_secs(5)).send_raw(&node, raw.as_bytes());
    assert_eq!(r.status(), Some(200), "{}", r.text());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let fields = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let found = text
            .lines()
            .map(ferry_balancer::access_log::split)
            .find(|f| f.get(12).is_some_and(|r| r.contains("/tecl")));
        match found {
            Some(f) => break f,
            None if std::time::Instant::now() > deadline => panic!("no log line for /tecl: {text}"),
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(
        (fields[27].as_str(), fields[28].as_str()),
        ("Ambiguous", "BothTeClPresent"),
        "{fields:?}"
    );
}
