//! Routing through `ferry up FILE`: the edge's cache behaviors by path pattern, the balancer's
//! rules by path and Host, round robin over a target group, and the edge's default distribution.
//! Every origin and target is a recording [`Origin`], so the assertions are on what each one
//! received. Paths are unique per check, so health checks and readiness probes do not count.

mod common;

use common::*;

/// Ports and addresses of one run.
struct Setup {
    edge: String,
    lb_port: u16,
    /// `IP:PORT` of every balancer node.
    nodes: Vec<String>,
}

impl Setup {
    fn new(node_ips: &[&str]) -> Setup {
        let lb_port = free_port_on(node_ips);
        let edge_port = loop {
            let p = free_port();
            if p != lb_port {
                break p;
            }
        };
        Setup {
            edge: format!("127.0.0.1:{edge_port}"),
            lb_port,
            nodes: node_ips
                .iter()
                .map(|ip| format!("{ip}:{lb_port}"))
                .collect(),
        }
    }

    fn ready(&self) -> Vec<&str> {
        let mut v = vec![self.edge.as_str()];
        v.extend(self.nodes.iter().map(String::as_str));
        v
    }

    /// The topology: distribution `site` (alias www.example.test) with origin `alb` (the load
    /// balancer, by its dns_name) for the default behavior and origin `static` (an Origin reached
    /// straight through `[resolve]`, origin_path `/assets`) for `/static/*`. The balancer's one
    /// listener sends `/api/*` to group `api`, `Host: status.example.test` to a fixed response,
    /// and the rest to group `web`.
    fn topology(
        &self,
        node_ips: &[&str],
        static_origin: &Origin,
        web: &[&Origin],
        api: &Origin,
        default_distribution: bool,
    ) -> String {
        let edge = &self.edge;
        let lb_port = self.lb_port;
        let static_port = static_origin.port();
        let api_port = api.port();
        let zones = ["a", "b"];
        let nodes = node_ips
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("{} = \"{ip}\"", zones[i]))
            .collect::<Vec<_>>()
            .join(", ");
        let web_targets = web
            .iter()
            .enumerate()
            .map(|(i, o)| {
                format!(
                    "{{ id = \"127.0.0.1\", port = {}, zone = \"{}\" }}",
                    o.port(),
                    zones[i % 2]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let web_port = web[0].port();
        let default_distribution = if default_distribution {
            "default_distribution = \"site\""
        } else {
            ""
        };
        format!(
            r#"stack = "e2e-routing"

[edge]
http = "{edge}"
{default_distribution}

[resolve]
"static.internal" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["www.example.test"]

  [[distributions.origins]]
  id = "alb"
  domain_name = "alb.internal"
  custom_headers = {{ X-Origin-Verify = "alb-secret" }}
  custom_origin_config = {{ http_port = {lb_port}, origin_protocol_policy = "http-only" }}

  [[distributions.origins]]
  id = "static"
  domain_name = "static.internal"
  origin_path = "/assets"
  custom_headers = {{ X-Origin-Verify = "static-secret" }}
  custom_origin_config = {{ http_port = {static_port}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "alb"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
  origin_request_policy = "Managed-AllViewerExceptHostHeader"  # forwards the query string

  [[distributions.cache_behaviors]]
  path_pattern = "/static/*"
  target_origin_id = "static"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
  origin_request_policy = "Managed-AllViewerExceptHostHeader"  # forwards the query string

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ {nodes} }}

  [[load_balancers.listeners]]
  port = {lb_port}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]

    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{{ field = "path-pattern", values = ["/api/*"] }}]
    actions = [{{ type = "forward", target_group = "api" }}]

    [[load_balancers.listeners.rules]]
    priority = 20
    conditions = [{{ field = "host-header", values = ["status.example.test"] }}]
    actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "status ok" }} }}]

[[target_groups]]
name = "web"
port = {web_port}
targets = [{web_targets}]

[[target_groups]]
name = "api"
port = {api_port}
targets = [{{ id = "127.0.0.1", port = {api_port}, zone = "a" }}]
"#
        )
    }
}

const WWW: (&str, &str) = ("Host", "www.example.test");

/// The one request `origin` received whose target is exactly `target`.
fn only(origin: &Origin, target: &str) -> Request {
    let got = origin.requests_matching(|r| r.target == target);
    assert_eq!(
        got.len(),
        1,
        "origin {} should have received {target} exactly once; it received {:#?}",
        origin.name(),
        origin.requests()
    );
    got.into_iter().next().expect("one")
}

fn never(origin: &Origin, needle: &str) {
    let got = origin.requests_containing(needle);
    assert!(
        got.is_empty(),
        "origin {} should not have received {needle}: {got:#?}",
        origin.name()
    );
}

/// The last element of X-Forwarded-For.
fn xff_last(req: &Request) -> String {
    let xff = req
        .header("x-forwarded-for")
        .unwrap_or_else(|| panic!("no X-Forwarded-For in {req:#?}"));
    xff.rsplit(',').next().unwrap_or("").trim().to_string()
}

#[test]
fn edge_routes_by_path_pattern_straight_to_an_origin_or_to_the_balancer() {
    let stat = Origin::start("static");
    let web = Origin::start("web");
    let api = Origin::start("api");
    let s = Setup::new(&["127.0.0.1"]);
    let topo = Topology::write(
        "routing-edge",
        &s.topology(&["127.0.0.1"], &stat, &[&web], &api, false),
    );
    let _ferry = Ferry::up(&topo, &s.ready());
    let c = Client::new();

    // `/static/*` goes straight to the static origin: origin_path prefixed, Host = its
    // domain_name, its custom header, and none of the balancer's headers.
    let r = c.get(&s.edge, "/static/app.js?v=1", &[WWW]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body_text(),
        "origin static: GET /assets/static/app.js?v=1"
    );
    assert_from_edge(&r, "Miss from cloudfront");
    let q = only(&stat, "/assets/static/app.js?v=1");
    assert_eq!(q.method, "GET");
    assert_eq!(q.header("host"), Some("static.internal"), "{q:#?}");
    assert_eq!(q.header("x-origin-verify"), Some("static-secret"), "{q:#?}");
    assert!(
        q.header("x-amzn-trace-id").is_none(),
        "went through a balancer: {q:#?}"
    );
    assert!(
        q.header("x-forwarded-port").is_none(),
        "went through a balancer: {q:#?}"
    );
    never(&web, "app.js");
    never(&api, "app.js");

    // The default behavior goes to the load balancer, whose default action forwards to web.
    let r = c.get(&s.edge, "/index.html", &[WWW]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin web: GET /index.html");
    assert_from_edge(&r, "Miss from cloudfront");
    let q = only(&web, "/index.html");
    // ALB adds its listener's port to the Host (routing.http.preserve_host_header.enabled is off).
    let lb_host = format!("alb.internal:{}", s.lb_port);
    assert_eq!(q.header("host"), Some(lb_host.as_str()), "{q:#?}");
    assert_eq!(q.header("x-origin-verify"), Some("alb-secret"), "{q:#?}");
    assert_eq!(q.header("x-forwarded-proto"), Some("http"), "{q:#?}");
    assert_eq!(
        q.header("x-forwarded-port"),
        Some(s.lb_port.to_string().as_str()),
        "{q:#?}"
    );
    assert_eq!(xff_last(&q), "127.0.0.1", "{q:#?}");
    assert!(
        q.header("x-amzn-trace-id")
            .is_some_and(|v| v.starts_with("Root=1-")),
        "{q:#?}"
    );
    never(&stat, "/index.html");

    // Path patterns are case sensitive and `/static/*` needs the slash.
    for path in ["/STATIC/app.js", "/static", "/staticfile"] {
        let r = c.get(&s.edge, path, &[WWW]);
        assert_eq!(r.body_text(), format!("origin web: GET {path}"), "{r:?}");
        only(&web, path);
    }
    assert_eq!(stat.count_prefix("/assets/"), 1, "{:#?}", stat.requests());
}

#[test]
fn balancer_routes_by_path_pattern_and_host_header() {
    let stat = Origin::start("static");
    let web = Origin::start("web");
    let api = Origin::start("api");
    let s = Setup::new(&["127.0.0.1"]);
    let topo = Topology::write(
        "routing-balancer",
        &s.topology(&["127.0.0.1"], &stat, &[&web], &api, false),
    );
    let _ferry = Ferry::up(&topo, &s.ready());
    let c = Client::new();
    let node = s.nodes[0].as_str();
    let port = s.lb_port.to_string();

    // Through the edge: `/api/*` to api, the rest to web.
    let r = c.get(&s.edge, "/api/users?id=7", &[WWW]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin api: GET /api/users?id=7");
    only(&api, "/api/users?id=7");
    never(&web, "/api/users");
    let r = c.get(&s.edge, "/users", &[WWW]);
    assert_eq!(r.body_text(), "origin web: GET /users", "{r:?}");
    only(&web, "/users");
    // path-pattern is case sensitive and `/api/*` needs the slash.
    for path in ["/API/users", "/api"] {
        let r = c.get(&s.edge, path, &[WWW]);
        assert_eq!(r.body_text(), format!("origin web: GET {path}"), "{r:?}");
    }

    // Straight to the node, since the edge sends Host = the origin's domain_name.
    for host in ["status.example.test", "STATUS.Example.Test"] {
        let r = c.get(node, "/health-page", &[("Host", host)]);
        assert_eq!(r.status, 200, "Host {host}: {r:?}");
        assert_eq!(r.body_text(), "status ok", "Host {host}: {r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|v| v.starts_with("text/plain")),
            "{r:?}"
        );
    }
    never(&web, "/health-page");
    never(&api, "/health-page");

    // Rules go by priority: `/api/*` (10) wins over the Host rule (20).
    let r = c.get(node, "/api/status", &[("Host", "status.example.test")]);
    assert_eq!(r.body_text(), "origin api: GET /api/status", "{r:?}");

    // Forwarded headers: the client's X-Forwarded-For is appended to; Host gets the listener port.
    let r = c.get(
        node,
        "/direct/xff",
        &[
            ("Host", "other.example.test"),
            ("X-Forwarded-For", "203.0.113.7"),
        ],
    );
    assert_eq!(r.body_text(), "origin web: GET /direct/xff", "{r:?}");
    let q = only(&web, "/direct/xff");
    let other_host = format!("other.example.test:{}", s.lb_port);
    assert_eq!(q.header("host"), Some(other_host.as_str()), "{q:#?}");
    assert_eq!(
        q.header("x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1"),
        "{q:#?}"
    );
    assert_eq!(q.header("x-forwarded-proto"), Some("http"), "{q:#?}");
    assert_eq!(q.header("x-forwarded-port"), Some(port.as_str()), "{q:#?}");
    assert!(
        q.header("x-amzn-trace-id")
            .is_some_and(|v| v.starts_with("Root=1-")),
        "{q:#?}"
    );

    let r = c.get(node, "/direct/plain", &[("Host", "other.example.test")]);
    assert_eq!(r.status, 200, "{r:?}");
    let q = only(&web, "/direct/plain");
    assert_eq!(q.header("x-forwarded-for"), Some("127.0.0.1"), "{q:#?}");
    never(&stat, "/direct/");
}

#[test]
fn round_robin_spreads_requests_over_two_targets() {
    let stat = Origin::start("static");
    let t1 = Origin::start("t1");
    let t2 = Origin::start("t2");
    let api = Origin::start("api");
    let ips = ["127.0.0.1", "127.0.0.2"];
    let s = Setup::new(&ips);
    let topo = Topology::write(
        "routing-round-robin",
        &s.topology(&ips, &stat, &[&t1, &t2], &api, false),
    );
    let _ferry = Ferry::up(&topo, &s.ready());
    let c = Client::new();

    for i in 0..100 {
        let path = format!("/rr/{i}");
        let r = c.get(&s.edge, &path, &[WWW]);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let body = r.body_text();
        assert!(
            body == format!("origin t1: GET {path}") || body == format!("origin t2: GET {path}"),
            "{path}: {r:?}"
        );
    }
    let (n1, n2) = (t1.count_prefix("/rr/"), t2.count_prefix("/rr/"));
    assert_eq!(
        n1 + n2,
        100,
        "each request reached exactly one target: t1 {n1}, t2 {n2}"
    );
    assert!(
        (40..=60).contains(&n1) && (40..=60).contains(&n2),
        "round robin over two targets: t1 got {n1}, t2 got {n2} of 100"
    );
    assert_eq!(
        stat.count_prefix("/assets/rr/") + api.count_prefix("/rr/"),
        0
    );
}

#[test]
fn default_distribution_serves_hosts_that_match_no_alias() {
    let stat = Origin::start("static");
    let web = Origin::start("web");
    let api = Origin::start("api");
    let s = Setup::new(&["127.0.0.1"]);
    let topo = Topology::write(
        "routing-default-distribution",
        &s.topology(&["127.0.0.1"], &stat, &[&web], &api, true),
    );
    let _ferry = Ferry::up(&topo, &s.ready());
    let c = Client::new();

    // The Host a browser sends for http://127.0.0.1:PORT/, and a name with no alias.
    let r = c.get(&s.edge, "/dd/by-address", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin web: GET /dd/by-address");
    assert_from_edge(&r, "Miss from cloudfront");
    let r = c.get(&s.edge, "/dd/by-name", &[("Host", "nobody.example.test")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin web: GET /dd/by-name");
    // Its cache behaviors apply too.
    let r = c.get(
        &s.edge,
        "/static/dd.css",
        &[("Host", "nobody.example.test")],
    );
    assert_eq!(
        r.body_text(),
        "origin static: GET /assets/static/dd.css",
        "{r:?}"
    );
}
