//! `ferry up` with no file runs the embedded default topology (examples/default.toml): edge on
//! 127.0.0.1:8080 → load balancer nodes 127.0.0.1:8081 (zone a) and 127.0.0.2:8081 (zone b) →
//! demo targets 127.0.0.1:9001 (zone a) and 127.0.0.1:9002 (zone b).
//!
//! This is the only test file that uses those fixed ports, and it uses them from one test, so
//! nothing else can race for them. The other test here uses free ports.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::time::Duration;

const EDGE: &str = "127.0.0.1:8080";
const FIXED: [&str; 5] = [
    "127.0.0.1:8080",
    "127.0.0.1:8081",
    "127.0.0.2:8081",
    "127.0.0.1:9001",
    "127.0.0.1:9002",
];

/// The demo target's name from its answer, after checking the answer is one.
fn demo_target(r: &Response, path: &str) -> String {
    assert_eq!(r.status, 200, "{path}: {r:?}");
    let name = r
        .header("x-demo-target")
        .unwrap_or_else(|| panic!("{path}: no X-Demo-Target in {r:?}"))
        .to_string();
    let body = r.body_text();
    assert!(
        body.starts_with(&format!("demo target {name}: GET /")),
        "{path}: the body should start `demo target {name}: GET /`: {r:?}"
    );
    name
}

#[test]
fn up_without_a_file_serves_the_default_topology_through_all_three_tiers() {
    let mut ferry = Ferry::start(&["up"], &FIXED);
    let c = Client::new();

    // What a user does first: open http://127.0.0.1:8080/.
    let r = c.get("http://127.0.0.1:8080", "/", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body_text().starts_with("demo target "), "{r:?}");
    let first = demo_target(&r, "/");
    assert_from_edge(&r, "Miss from cloudfront");

    // Over a few requests (distinct paths, so a cache would not hide them) both targets answer.
    let mut seen = BTreeSet::from([first]);
    for i in 0..20 {
        if seen.len() == 2 {
            break;
        }
        let path = format!("/up-default/{i}");
        let r = c.get(EDGE, &path, &[]);
        assert_from_edge(&r, "Miss from cloudfront");
        seen.insert(demo_target(&r, &path));
    }
    assert_eq!(
        seen.len(),
        2,
        "both demo targets answer within 20 requests: {seen:?}"
    );

    // Each tier answers on its own too.
    for node in ["127.0.0.1:8081", "127.0.0.2:8081"] {
        let r = c.get(node, "/up-default/node", &[]);
        demo_target(&r, node);
        assert!(
            r.header("via").is_none(),
            "{node} is a balancer node, not the edge: {r:?}"
        );
    }
    let mut direct = BTreeSet::new();
    for target in ["127.0.0.1:9001", "127.0.0.1:9002"] {
        let r = c.get(target, "/up-default/direct", &[]);
        let name = r.header("x-demo-target").unwrap_or("?").to_string();
        assert!(
            r.body_text()
                .starts_with(&format!("demo target {name}: GET /up-default/direct")),
            "{target}: {r:?}"
        );
        direct.insert(demo_target(&r, target));
    }
    assert_eq!(
        direct, seen,
        "the targets seen through the edge are the two demo targets"
    );

    // It prints the addresses it listens on.
    ferry.wait_for_output(
        "the addresses it listens on",
        Duration::from_secs(5),
        |out| FIXED.iter().all(|a| out.contains(a)),
    );

    // SIGTERM stops it, and the ports are free again.
    ferry.signal("TERM");
    let status = ferry.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some(),
        "ferry up did not stop within 20 s of SIGTERM\n{}",
        ferry.output_report()
    );
    for addr in FIXED {
        assert!(
            std::net::TcpListener::bind(addr).is_ok(),
            "{addr} still taken after ferry up stopped"
        );
    }
}

#[test]
fn up_with_a_file_runs_its_demo_targets_and_stops_on_sigint() {
    let p = free_ports(4);
    let (edge, lb, t1, t2) = (
        format!("127.0.0.1:{}", p[0]),
        p[1],
        format!("127.0.0.1:{}", p[2]),
        format!("127.0.0.1:{}", p[3]),
    );
    let node = format!("127.0.0.1:{lb}");
    let topo = Topology::write(
        "up-demo-targets",
        &format!(
            r#"stack = "e2e-up"

[edge]
http = "{edge}"
default_distribution = "site"

[[demo_targets]]
name = "alpha"
listen = "{t1}"

[[demo_targets]]
name = "beta"
listen = "{t2}"

[[distributions]]
id = "site"

  [[distributions.origins]]
  id = "alb"
  domain_name = "alb.internal"
  custom_origin_config = {{ http_port = {lb}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "alb"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {lb}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "demo" }}]

[[target_groups]]
name = "demo"
port = {p2}
targets = [{{ id = "127.0.0.1", port = {p2}, zone = "a" }}, {{ id = "127.0.0.1", port = {p3}, zone = "a" }}]
"#,
            p2 = p[2],
            p3 = p[3],
        ),
    );
    let mut ferry = Ferry::up(&topo, &[&edge, &node, &t1, &t2]);
    let c = Client::new();

    let r = c.get(&t1, "/direct", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-demo-target"), Some("alpha"), "{r:?}");
    assert!(
        r.body_text().starts_with("demo target alpha: GET /direct"),
        "{r:?}"
    );
    let r = c.request(&t2, "POST", "/p", &[], b"body");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body_text().starts_with("demo target beta: POST /p"),
        "{r:?}"
    );

    let mut seen = BTreeSet::new();
    for i in 0..20 {
        if seen.len() == 2 {
            break;
        }
        let path = format!("/demo/{i}");
        let r = c.get(&edge, &path, &[]);
        assert_from_edge(&r, "Miss from cloudfront");
        seen.insert(demo_target(&r, &path));
    }
    assert_eq!(
        seen,
        BTreeSet::from(["alpha".to_string(), "beta".to_string()])
    );

    ferry.signal("INT");
    assert!(
        ferry.wait_exit(Duration::from_secs(20)).is_some(),
        "ferry up did not stop within 20 s of SIGINT\n{}",
        ferry.output_report()
    );
}
