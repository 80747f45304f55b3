//! Topology reload on a running `ferry up`, end to end: `POST /ferry/reload`, SIGHUP and `ferry
//! reload`. A valid new file takes effect for new requests, on connections opened before it too,
//! with the cache of unchanged distributions kept and target groups reconciled (a target removed
//! from the file stops getting requests, a new one gets them). An invalid file, or one that needs a
//! restart, is refused with its located errors and the old topology keeps serving.

mod common;

use common::*;
use std::time::{Duration, Instant};

struct Ports {
    edge: String,
    lb: u16,
    admin: String,
}

/// Distribution `site` (site.test, CachingOptimized) on origin `o`; load balancer `alb` with
/// `/fixed` answering `fixed_body` and everything else forwarded to group `web` (`targets`);
/// `extra` is appended (another distribution, say).
fn topology(
    ports: &Ports,
    origin: &Origin,
    targets: &[&Origin],
    fixed_body: &str,
    extra: &str,
) -> String {
    let targets: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "{{ id = \"127.0.0.1\", port = {}, zone = \"a\" }}",
                t.port()
            )
        })
        .collect();
    format!(
        r#"stack = "reload"

[edge]
http = "{edge}"
admin = "{admin}"

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["site.test"]
  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {origin}, origin_protocol_policy = "http-only" }}
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
  [[load_balancers.listeners]]
  port = {lb}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]
    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{{ field = "path-pattern", values = ["/fixed"] }}]
    actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "{fixed_body}" }} }}]

[[target_groups]]
name = "web"
protocol = "HTTP"
port = 80
health_check = {{ path = "/", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2, unhealthy_threshold_count = 2 }}
targets = [{targets}]
{extra}"#,
        edge = ports.edge,
        admin = ports.admin,
        origin = origin.port(),
        lb = ports.lb,
        targets = targets.join(", "),
    )
}

const NEW_DISTRIBUTION: &str = r#"
[[distributions]]
id = "new"
aliases = ["new.test"]
  [[distributions.origins]]
  id = "o"
  domain_name = "origin.internal"
  custom_origin_config = { http_port = PORT, origin_protocol_policy = "http-only" }
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
"#;

fn ports() -> Ports {
    let p = free_ports(3);
    Ports {
        edge: format!("127.0.0.1:{}", p[0]),
        lb: p[1],
        admin: format!("127.0.0.1:{}", p[2]),
    }
}

fn reload(admin: &str) -> Response {
    Client::new().request(admin, "POST", "/ferry/reload", &[], b"")
}

#[test]
fn a_valid_topology_takes_effect_without_dropping_a_connection_or_the_cache() {
    let origin = Origin::start("o");
    let (t1, t2) = (Origin::start("t1"), Origin::start("t2"));
    let ports = ports();
    let lb = format!("127.0.0.1:{}", ports.lb);
    let file = Topology::write("reload-valid", &topology(&ports, &origin, &[&t1], "v1", ""));
    // Logs as JSON lines, to check them below.
    let ferry = Ferry::start_with_env(
        &["--log-format", "json", "up", file.path_str()],
        &[("FERRY_LOG", "info")],
        &[&ports.edge, &lb, &ports.admin],
    );
    let client = Client::new();
    let site = [("Host", "site.test")];

    assert_eq!(
        client.get(&ports.edge, "/page", &site).header("X-Cache"),
        Some("Miss from cloudfront")
    );
    assert_eq!(
        client.get(&ports.edge, "/page", &site).header("X-Cache"),
        Some("Hit from cloudfront")
    );
    assert_eq!(origin.count_path("/page"), 1);
    let mut kept = client.connect(&lb).expect("a connection to the balancer");
    let r = kept
        .request("GET", "/fixed", &[], b"")
        .expect("/fixed before");
    assert_eq!(r.body_text(), "v1");
    assert_eq!(
        client.get(&lb, "/to-target", &[]).body_text(),
        "origin t1: GET /to-target"
    );

    // v2: another fixed body, the target group moved from t1 to t2, a new distribution.
    let extra = NEW_DISTRIBUTION.replace("PORT", &origin.port().to_string());
    std::fs::write(file.path(), topology(&ports, &origin, &[&t2], "v2", &extra)).expect("rewrite");
    let answer = reload(&ports.admin);
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert!(
        answer.body_text().contains("\"reloaded\":true"),
        "{}",
        answer.body_text()
    );

    // The connection opened before the reload is still served, under the new rules.
    let r = kept
        .request("GET", "/fixed", &[], b"")
        .expect("/fixed after, same connection");
    assert_eq!(r.body_text(), "v2");
    let t1_before = t1.count_prefix("/to-target");
    for i in 0..6 {
        let r = client.get(&lb, &format!("/to-target/{i}"), &[]);
        assert_eq!(r.header("X-Origin-Name"), Some("t2"), "{r:?}");
    }
    assert_eq!(
        t1.count_prefix("/to-target"),
        t1_before,
        "t1 left the group: no new requests"
    );

    // The unchanged distribution kept its cache; the new one serves.
    assert_eq!(
        client.get(&ports.edge, "/page", &site).header("X-Cache"),
        Some("Hit from cloudfront")
    );
    assert_eq!(origin.count_path("/page"), 1);
    let r = client.get(&ports.edge, "/n", &[("Host", "new.test")]);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, "origin o: GET /n")
    );

    // The admin API shows the new topology, without the token.
    let shown = client.get(&ports.admin, "/ferry/topology", &[]);
    assert_eq!(shown.status, 200);
    assert!(
        shown.body_text().contains("new.test"),
        "{}",
        shown.body_text()
    );

    // Every log line is a JSON object with a level; the reload is one of them.
    let logs = ferry.stderr();
    let events: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(events.iter().all(|e| e.get("level").is_some()), "{logs}");
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("topology reloaded"))),
        "{logs}"
    );
}

#[test]
fn an_invalid_topology_or_one_that_needs_a_restart_is_refused_and_the_old_one_keeps_serving() {
    let origin = Origin::start("o");
    let t1 = Origin::start("t1");
    let ports = ports();
    let lb = format!("127.0.0.1:{}", ports.lb);
    let good = topology(&ports, &origin, &[&t1], "v1", "");
    let file = Topology::write("reload-invalid", &good);
    let mut ferry = Ferry::up(&file, &[&ports.edge, &lb, &ports.admin]);
    let client = Client::new();

    // An invalid value: 400, `ferry validate`'s located error.
    let bad = good.replace(
        "viewer_protocol_policy = \"allow-all\"",
        "viewer_protocol_policy = \"sometimes\"",
    );
    let line = bad
        .lines()
        .position(|l| l.contains("sometimes"))
        .map(|i| i + 1)
        .unwrap_or(0);
    std::fs::write(file.path(), &bad).expect("rewrite");
    let answer = reload(&ports.admin);
    assert_eq!(answer.status, 400, "{}", answer.body_text());
    let body = answer.body_text();
    assert!(
        body.contains("\"reloaded\":false") && body.contains("\"reason\":\"invalid\""),
        "{body}"
    );
    assert!(
        body.contains(&format!("{}:{line}:", file.path_str()))
            && body.contains("viewer_protocol_policy"),
        "names the file, line {line} and field: {body}"
    );
    assert_eq!(
        client.get(&lb, "/fixed", &[]).body_text(),
        "v1",
        "the old topology serves"
    );

    // The same through SIGHUP: logged, nothing changes, the process goes on.
    let before = ferry.stderr().matches("reload refused").count();
    ferry.signal("HUP");
    ferry.wait_for_output("the refusal in the log", Duration::from_secs(10), |out| {
        out.matches("reload refused").count() > before
    });
    assert!(ferry.is_running(), "SIGHUP must not stop ferry");
    assert_eq!(client.get(&lb, "/fixed", &[]).body_text(), "v1");

    // And through `ferry reload`: exit 1, the errors on stderr.
    let out = ferry_cmd(&["reload", "--admin", &ports.admin]);
    assert_eq!(out.status.code(), Some(1), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("viewer_protocol_policy"),
        "{}",
        text_of(&out)
    );

    // A new edge port needs a restart: 409, the field named; the old port still serves.
    let elsewhere = format!("127.0.0.1:{}", free_port());
    std::fs::write(file.path(), good.replace(&ports.edge, &elsewhere)).expect("rewrite");
    let answer = reload(&ports.admin);
    assert_eq!(answer.status, 409, "{}", answer.body_text());
    assert!(
        answer.body_text().contains("edge.http"),
        "{}",
        answer.body_text()
    );
    let r = client.get(&ports.edge, "/still", &[("Host", "site.test")]);
    assert_eq!(r.status, 200);

    // Back to a valid change: `ferry reload` takes it.
    std::fs::write(file.path(), good.replace("\"v1\"", "\"v3\"")).expect("rewrite");
    let out = ferry_cmd(&["reload", "--admin", &ports.admin]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(text(&out.stdout).contains("reloaded"), "{}", text_of(&out));
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get(&lb, "/fixed", &[]).body_text() != "v3" {
        assert!(Instant::now() < deadline, "the reloaded rule never served");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text_of(out: &std::process::Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The threads are fixed at start, from `[edge] threads` or from `--threads`: a changed
/// `[edge] threads` is refused by a process that took it from the file, and taken (it changes
/// nothing there) by one started with `--threads`, whose other changes then still apply.
#[test]
fn a_thread_count_from_the_command_line_lets_the_files_change_through() {
    let origin = Origin::start("o");
    let t1 = Origin::start("t1");
    for (args, refused) in [(&[][..], true), (&["--threads", "1"][..], false)] {
        let ports = ports();
        let lb = format!("127.0.0.1:{}", ports.lb);
        let good = topology(&ports, &origin, &[&t1], "v1", "");
        let file = Topology::write("reload-threads", &good);
        let mut up = vec!["up", file.path_str()];
        up.extend_from_slice(args);
        let _ferry = Ferry::start(&up, &[&ports.edge, &lb, &ports.admin]);
        let more = good
            .replace("[edge]\n", "[edge]\nthreads = 97\n")
            .replace("\"v1\"", "\"v2\"");
        std::fs::write(file.path(), more).expect("rewrite");
        let answer = reload(&ports.admin);
        let body = Client::new().get(&lb, "/fixed", &[]).body_text();
        if refused {
            assert_eq!(answer.status, 409, "{}", answer.body_text());
            assert!(
                answer.body_text().contains("edge.threads: ")
                    && answer.body_text().contains(" -> 97"),
                "{}",
                answer.body_text()
            );
            assert_eq!(body, "v1", "the old topology serves");
        } else {
            assert_eq!(answer.status, 200, "{}", answer.body_text());
            assert_eq!(body, "v2", "the new topology serves");
        }
    }
}
