//! One topology run as three processes, as on three hosts: `ferry balancer FILE --zone a`,
//! `ferry balancer FILE --zone b` and `ferry edge FILE`. Each balancer process listens only on its
//! own zone's node address; the edge reaches the load balancer by its dns_name, which resolves to
//! both nodes, and (like CloudFront with a name that has several addresses) retries a refused
//! connection up to ConnectionAttempts (default 3) on the name's other addresses, so one zone's
//! process going away costs no request. Bad invocations exit 1 with a message.

mod common;

use common::*;
use std::io;
use std::net::TcpStream;
use std::time::Duration;

const ZONE_A: &str = "127.0.0.1";
const ZONE_B: &str = "127.0.0.2";
const WWW: (&str, &str) = ("Host", "www.example.test");

struct Setup {
    topology: Topology,
    edge: String,
    lb_port: u16,
}

impl Setup {
    fn node(&self, ip: &str) -> String {
        format!("{ip}:{}", self.lb_port)
    }
}

/// Edge → load balancer `alb` (zone a on 127.0.0.1, zone b on 127.0.0.2, one HTTP listener) →
/// target group `web` with `t1` (zone a) and `t2` (zone b).
fn setup(t1: &Origin, t2: &Origin) -> Setup {
    let lb_port = free_port_on(&[ZONE_A, ZONE_B]);
    let edge_port = loop {
        let p = free_port();
        if p != lb_port {
            break p;
        }
    };
    let edge = format!("127.0.0.1:{edge_port}");
    let (p1, p2) = (t1.port(), t2.port());
    let toml = format!(
        r#"stack = "e2e-separate"

[edge]
http = "{edge}"

[[distributions]]
id = "site"
aliases = ["www.example.test"]

  [[distributions.origins]]
  id = "alb"
  domain_name = "alb.internal"
  custom_origin_config = {{ http_port = {lb_port}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "alb"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "{ZONE_A}", b = "{ZONE_B}" }}

  [[load_balancers.listeners]]
  port = {lb_port}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]

[[target_groups]]
name = "web"
port = {p1}
targets = [{{ id = "127.0.0.1", port = {p1}, zone = "a" }}, {{ id = "127.0.0.1", port = {p2}, zone = "b" }}]
"#
    );
    Setup {
        topology: Topology::write("separate", &toml),
        edge,
        lb_port,
    }
}

/// Whether a TCP connection to `addr` is refused (nothing listens there).
fn refused(addr: &str) -> bool {
    match TcpStream::connect_timeout(&addr.parse().expect("an IP:port"), Duration::from_secs(2)) {
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::ConnectionRefused,
    }
}

/// The explanation line of an edge error page (or the start of another body).
fn error_reason(body: &str) -> String {
    body.lines()
        .find(|l| l.starts_with("We can't"))
        .map(str::to_string)
        .unwrap_or_else(|| shorten(body, 200))
}

/// `n` GETs of distinct paths through the edge; every one must reach t1 or t2 and come back 200.
fn all_reach_a_target(s: &Setup, t1: &Origin, t2: &Origin, prefix: &str, n: usize, why: &str) {
    let c = Client::new();
    let mut wrong = Vec::new();
    for i in 0..n {
        let path = format!("/{prefix}/{i}");
        match c.try_get(&s.edge, &path, &[WWW]) {
            Ok(r) => {
                let body = r.body_text();
                if r.status != 200
                    || (body != format!("origin t1: GET {path}")
                        && body != format!("origin t2: GET {path}"))
                {
                    wrong.push(format!(
                        "{path}: {} ({}) {}",
                        r.status,
                        x_cache(&r),
                        error_reason(&body)
                    ));
                }
            }
            Err(e) => wrong.push(format!("{path}: {e}")),
        }
    }
    let reached = t1.count_prefix(&format!("/{prefix}/")) + t2.count_prefix(&format!("/{prefix}/"));
    assert!(
        wrong.is_empty() && reached == n,
        "{why}: {} of {n} requests failed and {reached} reached a target:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_topology_runs_as_an_edge_and_one_balancer_process_per_zone() {
    let t1 = Origin::start("t1");
    let t2 = Origin::start("t2");
    let s = setup(&t1, &t2);
    let file = s.topology.path_str();
    let (node_a, node_b) = (s.node(ZONE_A), s.node(ZONE_B));

    // Zone a's process listens on zone a's address only.
    let mut zone_a = Ferry::start(&["balancer", file, "--zone", "a"], &[&node_a]);
    assert!(
        refused(&node_b),
        "with only `--zone a` running, {node_b} (zone b's node) must refuse connections\n{}",
        zone_a.output_report()
    );
    assert!(
        refused(&s.edge),
        "`ferry balancer` must not run the edge ({} answers)",
        s.edge
    );

    // Zone b's process on zone b's; then the edge alone.
    let mut zone_b = Ferry::start(&["balancer", file, "--zone", "b"], &[&node_b]);
    let edge = Ferry::start(&["edge", file], &[&s.edge]);
    assert!(zone_a.is_running() && zone_b.is_running());

    // Both nodes answer as the load balancer (the edge sends Host = the dns_name).
    for node in [&node_a, &node_b] {
        let r = Client::new().get(node, "/direct/node", &[("Host", "alb.internal")]);
        assert_eq!(r.status, 200, "{node}: {r:?}");
        assert!(r.body_text().starts_with("origin t"), "{node}: {r:?}");
    }

    // Through the edge, to a target.
    let r = Client::new().get(&s.edge, "/through/first", &[WWW]);
    assert_eq!(r.status, 200, "{r:?}\n{}", edge.output_report());
    assert_from_edge(&r, "Miss from cloudfront");
    let q = t1
        .requests_matching(|q| q.path() == "/through/first")
        .into_iter()
        .chain(t2.requests_matching(|q| q.path() == "/through/first"))
        .collect::<Vec<_>>();
    assert_eq!(q.len(), 1, "one target got it: {q:#?}");
    // With ALB's listener port added (preserve_host_header is off).
    let host = format!("alb.internal:{}", s.lb_port);
    assert_eq!(q[0].header("host"), Some(host.as_str()), "{:#?}", q[0]);
    assert!(
        q[0].header("x-amz-cf-id").is_some() && q[0].header("x-amzn-trace-id").is_some(),
        "through the edge and the balancer: {:#?}",
        q[0]
    );
    all_reach_a_target(&s, &t1, &t2, "both", 20, "both zones up");

    // Zone b's process goes away: its address refuses, zone a's still answers, and the edge
    // retries refused connections on the name's other address.
    zone_b.kill();
    assert!(
        refused(&node_b),
        "{node_b} still accepts after zone b's process was killed"
    );
    assert!(
        !refused(&node_a),
        "{node_a} went down with zone b's process"
    );
    all_reach_a_target(&s, &t1, &t2, "only-a", 20, "zone b's process killed");

    // Zone b back, zone a gone: the same from the other side.
    let _zone_b = Ferry::start(&["balancer", file, "--zone", "b"], &[&node_b]);
    zone_a.kill();
    assert!(
        refused(&node_a),
        "{node_a} still accepts after zone a's process was killed"
    );
    all_reach_a_target(&s, &t1, &t2, "only-b", 20, "zone a's process killed");
    drop(edge);
}

#[test]
fn with_no_balancer_process_the_edge_answers_502_within_the_connection_attempts() {
    let t1 = Origin::start("t1");
    let t2 = Origin::start("t2");
    let s = setup(&t1, &t2);
    let _edge = Ferry::start(&["edge", s.topology.path_str()], &[&s.edge]);

    let started = std::time::Instant::now();
    let r = Client::new().get(&s.edge, "/nobody/home", &[WWW]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(x_cache(&r), "Error from cloudfront", "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused connections fail fast: {:?}",
        started.elapsed()
    );
}

#[test]
fn balancer_with_an_unknown_zone_exits_1_naming_it() {
    let t1 = Origin::start("t1");
    let t2 = Origin::start("t2");
    let s = setup(&t1, &t2);
    let out = ferry_cmd(&["balancer", s.topology.path_str(), "--zone", "nope"]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    assert!(
        stderr.contains("nope"),
        "the message names the zone: {stderr}"
    );
    assert!(refused(&s.node(ZONE_A)) && refused(&s.node(ZONE_B)));
}

/// Runs `ferry edge FILE` on `toml`; it must exit 1 (not start serving) within 15 s.
fn edge_exits_1(label: &str, toml: &str) -> String {
    let topo = Topology::write(label, toml);
    let out = run_with_timeout(
        &mut ferry_command(&["edge", topo.path_str()]),
        Duration::from_secs(15),
    )
    .unwrap_or_else(|e| {
        panic!("`ferry edge` on a topology with no distributions kept running: {e}")
    });
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{label}: stdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    assert!(!stderr.trim().is_empty(), "{label}: exit 1 with no message");
    stderr
}

#[test]
fn edge_on_a_topology_with_no_distributions_exits_1() {
    let lb_port = free_port();
    let target = free_port();
    let balancer_only = format!(
        r#"stack = "e2e-no-distributions"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {lb_port}
  protocol = "HTTP"
  default_actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "ok" }} }}]

[[target_groups]]
name = "web"
port = {target}
targets = [{{ id = "127.0.0.1", port = {target}, zone = "a" }}]
"#
    );
    let msg = edge_exits_1("no-distributions", &balancer_only);
    assert!(
        msg.contains("distribution"),
        "the message says there is no distribution: {msg}"
    );

    // An [edge] section alone does not make an edge worth running either.
    let edge_port = free_port();
    let edge_section = format!("{balancer_only}\n[edge]\nhttp = \"127.0.0.1:{edge_port}\"\n");
    let msg = edge_exits_1("edge-section-no-distributions", &edge_section);
    assert!(
        msg.contains("distribution"),
        "the message says there is no distribution: {msg}"
    );
    assert!(refused(&format!("127.0.0.1:{edge_port}")));
}
