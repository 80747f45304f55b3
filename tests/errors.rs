//! What a user sees when something is wrong: an unknown Host (403 from the edge), a target that
//! refuses connections (502 naming the target group), a target group with no targets (503),
//! malformed requests (a 4xx, never a hang, and ferry keeps serving), and a port already taken
//! (`ferry up` exits 1 naming the address).

mod common;

use common::*;
use std::time::Duration;

struct Setup {
    edge: String,
    lb_port: u16,
    node: String,
    dead: String,
}

impl Setup {
    fn new() -> Setup {
        let p = free_ports(3);
        Setup {
            edge: format!("127.0.0.1:{}", p[0]),
            lb_port: p[1],
            node: format!("127.0.0.1:{}", p[1]),
            dead: format!("127.0.0.1:{}", p[2]),
        }
    }

    /// Distribution `site` (alias www.example.test, no default distribution) → the balancer, whose
    /// rules send `/refused/*` to group `dead-pool` (one target with nothing listening) and
    /// `/empty/*` to group `empty-pool` (no targets); the rest goes to group `web`.
    fn topology(&self, web: &Origin) -> String {
        let edge = &self.edge;
        let lb_port = self.lb_port;
        let web_port = web.port();
        let dead_port = self.dead.rsplit(':').next().expect("port");
        format!(
            r#"stack = "e2e-errors"

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
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {lb_port}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]

    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{{ field = "path-pattern", values = ["/refused/*"] }}]
    actions = [{{ type = "forward", target_group = "dead-pool" }}]

    [[load_balancers.listeners.rules]]
    priority = 20
    conditions = [{{ field = "path-pattern", values = ["/empty/*"] }}]
    actions = [{{ type = "forward", target_group = "empty-pool" }}]

[[target_groups]]
name = "web"
port = {web_port}
targets = [{{ id = "127.0.0.1", port = {web_port}, zone = "a" }}]

[[target_groups]]
name = "dead-pool"
port = {dead_port}
targets = [{{ id = "127.0.0.1", port = {dead_port}, zone = "a" }}]

[[target_groups]]
name = "empty-pool"
port = {web_port}
targets = []
"#
        )
    }

    fn start(&self, label: &str, web: &Origin) -> (Topology, Ferry) {
        let topo = Topology::write(label, &self.topology(web));
        let ferry = Ferry::up(&topo, &[&self.edge, &self.node]);
        (topo, ferry)
    }
}

const WWW: (&str, &str) = ("Host", "www.example.test");

#[test]
fn unknown_host_gets_403_from_the_edge() {
    let web = Origin::start("web");
    let s = Setup::new();
    let (_topo, _ferry) = s.start("errors-unknown-host", &web);
    let c = Client::new();

    let r = c.get(&s.edge, "/uh/probe", &[("Host", "unknown.example.test")]);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"), "{r:?}");
    assert!(
        r.body_text().to_lowercase().contains("host"),
        "the body says the Host is not configured: {r:?}"
    );
    let r = c.get(&s.edge, "/uh/by-address", &[]);
    assert_eq!(
        r.status, 403,
        "no default distribution, Host 127.0.0.1:PORT: {r:?}"
    );
    assert!(
        web.requests_containing("/uh/").is_empty(),
        "{:#?}",
        web.requests()
    );

    // The alias itself is served (and Host matching ignores case, as DNS does).
    for host in ["www.example.test", "WWW.Example.TEST"] {
        let r = c.get(&s.edge, "/uh/alias", &[("Host", host)]);
        assert_eq!(r.status, 200, "Host {host}: {r:?}");
    }
}

#[test]
fn a_target_that_refuses_connections_gives_502_naming_the_target_group() {
    let web = Origin::start("web");
    let s = Setup::new();
    let (_topo, _ferry) = s.start("errors-502", &web);
    let c = Client::new();

    let direct = c.get(&s.node, "/refused/x", &[("Host", "alb.internal")]);
    assert_eq!(direct.status, 502, "from the balancer: {direct:?}");
    let body = direct.body_text();
    assert!(
        body.contains("dead-pool"),
        "the body names the target group: {direct:?}"
    );
    assert!(
        body.to_lowercase().contains("refused"),
        "the body says why (connection refused): {direct:?}"
    );

    let via_edge = c.get(&s.edge, "/refused/y", &[WWW]);
    assert_eq!(via_edge.status, 502, "through the edge: {via_edge:?}");
    assert!(
        via_edge.body_text().contains("dead-pool"),
        "the edge passes the balancer's answer through: {via_edge:?}"
    );
    assert!(web.requests_containing("/refused/").is_empty());
}

#[test]
fn a_target_group_with_no_targets_gives_503() {
    let web = Origin::start("web");
    let s = Setup::new();
    let (_topo, _ferry) = s.start("errors-503", &web);
    let c = Client::new();

    let direct = c.get(&s.node, "/empty/x", &[("Host", "alb.internal")]);
    assert_eq!(direct.status, 503, "from the balancer: {direct:?}");
    let via_edge = c.get(&s.edge, "/empty/y", &[WWW]);
    assert_eq!(via_edge.status, 503, "through the edge: {via_edge:?}");
    assert!(web.requests_containing("/empty/").is_empty());
}

#[test]
fn malformed_requests_get_a_4xx_and_ferry_keeps_serving() {
    let web = Origin::start("web");
    let s = Setup::new();
    let (_topo, mut ferry) = s.start("errors-malformed", &web);
    let c = Client::new();
    let long = "a".repeat(70 * 1024);

    // Each is sent to the edge as raw bytes. RFC 9112 §3.2: a request with no Host, more than one
    // Host or an invalid Host gets 400; absolute-form must not let the Host header pick a
    // distribution the URI does not name.
    let cases: Vec<(&str, String)> = vec![
        (
            "Host with a space",
            "GET /malformed/space HTTP/1.1\r\nHost: www.exa mple.test\r\n\r\n".to_string(),
        ),
        (
            "Host with a non-numeric port",
            "GET /malformed/port HTTP/1.1\r\nHost: www.example.test:abc\r\n\r\n".to_string(),
        ),
        (
            "two Host headers",
            "GET /malformed/two HTTP/1.1\r\nHost: www.example.test\r\nHost: www.example.test\r\n\r\n"
                .to_string(),
        ),
        (
            "no Host header",
            "GET /malformed/none HTTP/1.1\r\n\r\n".to_string(),
        ),
        (
            "absolute-form URI",
            "GET http://other.test/malformed/absolute HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
                .to_string(),
        ),
        (
            "a 70 KiB header line",
            format!("GET /malformed/long HTTP/1.1\r\nHost: www.example.test\r\nX-Long: {long}\r\n\r\n"),
        ),
    ];

    let mut failures = Vec::new();
    for (what, bytes) in &cases {
        let raw = c.send_raw(&s.edge, bytes.as_bytes());
        match raw.status() {
            Some(status) if (400..500).contains(&status) => {}
            Some(status) => failures.push(format!(
                "{what}: got {status}, expected a 4xx: {:?}",
                raw.response
            )),
            None => failures.push(format!(
                "{what}: no HTTP answer ({}); received {:?}",
                raw.error.as_deref().unwrap_or("?"),
                shorten(&raw.text(), 300)
            )),
        }
        if !ferry.is_running() {
            panic!(
                "ferry exited after {what}; so far: {failures:#?}\n{}",
                ferry.output_report()
            );
        }
        let ok = c.get(&s.edge, "/malformed-check/ok", &[WWW]);
        assert_eq!(ok.status, 200, "still serving after {what}: {ok:?}");
    }
    let leaked = web.requests_containing("/malformed/");
    if !leaked.is_empty() {
        failures.push(format!(
            "the origin received malformed requests: {leaked:#?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn up_exits_1_naming_the_address_when_a_port_is_taken() {
    let web = Origin::start("web");
    for which in ["edge", "balancer node"] {
        let s = Setup::new();
        let taken = if which == "edge" { &s.edge } else { &s.node };
        let _holder = std::net::TcpListener::bind(taken.as_str()).expect("hold the port");
        let topo = Topology::write("errors-port-taken", &s.topology(&web));
        let out = ferry_cmd_timeout(&["up", topo.path_str()], Duration::from_secs(20));
        let stderr = text(&out.stderr);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{which} port {taken} taken: ferry up should exit 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            stderr.contains(taken.as_str()),
            "{which} port taken: the message names {taken}:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "{which} port taken: no panic:\n{stderr}"
        );
    }
}
