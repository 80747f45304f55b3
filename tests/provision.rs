//! `ferry plan`, `apply`, `destroy` and `import` against a real moto server on loopback (installed
//! by `./test.sh` in the test virtualenv, started here, one per test so that tests never share
//! state). What is checked is what a user sees: the plan's lines and exit codes, and what AWS
//! (moto, read with boto3) has afterwards.

mod common;

use common::*;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);

fn python() -> PathBuf {
    let Some(python) = std::env::var_os("FERRY_TEST_PYTHON") else {
        panic!(
            "FERRY_TEST_PYTHON is not set: run ./test.sh, which creates the Python virtualenv with \
             boto3 and moto ($HOME/.cache/ferry-venv) and sets it"
        );
    };
    PathBuf::from(python)
}

/// A moto server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let server = python().with_file_name("moto_server");
        assert!(
            server.exists(),
            "{} is missing: run ./test.sh, which installs moto[server] into the virtualenv",
            server.display()
        );
        // moto's server, refusing what AWS refuses and moto lets through (moto_strict.py), on a
        // port the kernel picks and the server prints: a port chosen here and bound by moto a
        // second later could be another test's server by then (both tests would talk to one).
        let mut child = Command::new(python())
            .arg(project_dir().join("tests/provision/moto_strict.py"))
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", server.display()));
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            // Read to the end, so that the server's request log never fills the pipe.
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = line
                        .split("Running on http://127.0.0.1:")
                        .nth(1)
                        .and_then(|p| p.trim().parse::<u16>().ok())
                    {
                        let _ = tx.send(port);
                    }
                }
            });
        }
        let port = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("moto_server did not say where it listens within 30 s");
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs tests/provision/moto.py against this server; its stdout, trimmed.
    fn py(&self, args: &[&str]) -> String {
        let script = project_dir().join("tests/provision/moto.py");
        let out = run_with_timeout(
            Command::new(python())
                .arg(script)
                .arg(&self.endpoint)
                .args(args),
            TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "moto.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs `ferry ARGS --endpoint-url THIS`.
    fn ferry(&self, args: &[&str]) -> Output {
        let mut cmd = ferry_command(args);
        cmd.args(["--endpoint-url", &self.endpoint])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_REGION")
            .env("FERRY_PROVISION_POLL_MS", "50");
        run_with_timeout(&mut cmd, TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The lines of a plan that name steps (`+ create ...`, `~ update ...`, `- delete ...`).
fn steps(plan: &str) -> Vec<String> {
    plan.lines()
        .filter(|l| l.starts_with(['+', '~', '-']) && !l.starts_with("  "))
        .map(str::to_string)
        .collect()
}

struct Network {
    vpc: String,
    a: String,
    b: String,
}

fn network(moto: &Moto) -> Network {
    let ids = moto.py(&["network"]);
    let mut parts = ids.split_whitespace().map(str::to_string);
    let (Some(vpc), Some(a), Some(b)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("network: {ids:?}");
    };
    Network { vpc, a, b }
}

/// A stack with every kind of resource: two target groups with targets and attributes, a load
/// balancer with attributes, a listener, four rules (all six condition types, weighted forward
/// with stickiness, redirect, fixed response) and a distribution with two origins, an ordered
/// behavior on managed policies and a custom error response.
fn topology(stack: &str, net: &Network) -> String {
    format!(
        r#"stack = "{stack}"

[[distributions]]
id = "site"
default_root_object = "index.html"

  [[distributions.origins]]
  id = "alb"
  domain_name = "alb.internal"
  custom_headers = {{ X-Origin-Verify = "secret" }}
  custom_origin_config = {{ http_port = 8081, origin_protocol_policy = "http-only", origin_read_timeout = 20 }}

  [[distributions.origins]]
  id = "static"
  domain_name = "static.example.com"
  custom_origin_config = {{ origin_protocol_policy = "https-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "alb"
  viewer_protocol_policy = "redirect-to-https"
  cache_policy = "Managed-CachingOptimized"
  compress = true

  [[distributions.cache_behaviors]]
  path_pattern = "/api/*"
  target_origin_id = "alb"
  viewer_protocol_policy = "https-only"
  allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
  cache_policy = "Managed-CachingDisabled"
  origin_request_policy = "Managed-AllViewer"
  response_headers_policy = "Managed-SimpleCORS"

  [[distributions.custom_error_responses]]
  error_code = 404
  response_page_path = "/404.html"
  response_code = 404
  error_caching_min_ttl = 30

[[load_balancers]]
name = "{stack}-alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1", b = "127.0.0.2" }}
attributes = {{ "idle_timeout.timeout_seconds" = 30 }}

  [[load_balancers.listeners]]
  port = 8081
  protocol = "HTTP"
  attributes = {{ "routing.http.response.server.enabled" = false }}
  default_actions = [{{ type = "forward", target_group = "{stack}-web" }}]

    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{{ field = "path-pattern", values = ["/api/*"] }}]
    actions = [{{ type = "forward", target_group = "{stack}-api" }}]

    [[load_balancers.listeners.rules]]
    priority = 20
    conditions = [
      {{ field = "http-header", http_header_name = "X-Beta", values = ["on"] }},
      {{ field = "http-request-method", values = ["GET", "HEAD"] }},
    ]
    actions = [{{ type = "forward", forward_config = {{ target_groups = [{{ target_group = "{stack}-web", weight = 1 }}, {{ target_group = "{stack}-api", weight = 3 }}], target_group_stickiness_config = {{ enabled = true, duration_seconds = 300 }} }} }}]

    [[load_balancers.listeners.rules]]
    priority = 30
    conditions = [{{ field = "query-string", values = [{{ key = "version", value = "v1" }}] }}, {{ field = "source-ip", values = ["10.0.0.0/8"] }}]
    actions = [{{ type = "redirect", redirect_config = {{ path = "/v1/#{{path}}", status_code = "HTTP_301" }} }}]

    [[load_balancers.listeners.rules]]
    priority = 40
    conditions = [{{ field = "host-header", values = ["status.example.test"] }}]
    actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "ok" }} }}]

[[target_groups]]
name = "{stack}-web"
port = 9001
health_check = {{ path = "/health", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 3, unhealthy_threshold_count = 2, matcher = "200-299" }}
attributes = {{ "load_balancing.algorithm.type" = "least_outstanding_requests", "stickiness.enabled" = true, "stickiness.type" = "lb_cookie", "deregistration_delay.timeout_seconds" = 10 }}
targets = [{{ id = "10.0.1.10", zone = "a" }}, {{ id = "10.0.2.10", port = 9002, zone = "b" }}]

[[target_groups]]
name = "{stack}-api"
port = 9003
attributes = {{ "slow_start.duration_seconds" = 30 }}
targets = [{{ id = "10.0.1.11", zone = "a" }}]

[aws]
region = "us-east-1"
vpc_id = "{vpc}"
subnets = {{ a = "{a}", b = "{b}" }}
"#,
        vpc = net.vpc,
        a = net.a,
        b = net.b,
    )
}

fn applied(moto: &Moto, file: &str) {
    let out = moto.ferry(&["apply", file, "--auto-approve"]);
    assert_eq!(code(&out), 0, "apply: {}\n{}", stdout(&out), stderr(&out));
}

#[test]
fn plan_on_empty_state_then_apply_then_nothing_to_do() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-apply");
    let file = dir.write("t.toml", topology("s1", &net));
    let file = file.to_str().unwrap_or_default();

    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 2, "changes exit 2: {}", stderr(&plan));
    assert_eq!(
        steps(&stdout(&plan)),
        vec![
            "+ create target group s1-web",
            "+ create target group s1-api",
            "+ create load balancer s1-alb",
            "+ create listener s1-alb:8081",
            "+ create rule s1-alb:8081 priority 10",
            "+ create rule s1-alb:8081 priority 20",
            "+ create rule s1-alb:8081 priority 30",
            "+ create rule s1-alb:8081 priority 40",
            "+ create targets of s1-web",
            "+ create targets of s1-api",
            "+ create distribution site",
        ],
        "{}",
        stdout(&plan)
    );
    assert!(stdout(&plan).contains("Plan: 11 to create, 0 to update, 0 to replace, 0 to delete."));
    assert!(
        stdout(&plan).contains("provisioned as \"ip\""),
        "the inferred target type is explained: {}",
        stdout(&plan)
    );

    let apply = moto.ferry(&["apply", file, "--auto-approve"]);
    assert_eq!(code(&apply), 0, "{}\n{}", stdout(&apply), stderr(&apply));
    for line in [
        "create load balancer s1-alb: done",
        "create distribution site: done",
    ] {
        assert!(
            stderr(&apply).contains(line),
            "progress shows {line:?}: {}",
            stderr(&apply)
        );
    }
    assert!(stderr(&apply).contains("Apply complete: 11 step(s) done."));
    assert_eq!(
        moto.py(&["count-owned", "s1"]),
        "3",
        "two target groups and a load balancer are tagged"
    );

    let again = moto.ferry(&["plan", file]);
    assert_eq!(code(&again), 0, "no changes exit 0: {}", stdout(&again));
    assert!(steps(&stdout(&again)).is_empty(), "{}", stdout(&again));
    assert!(stdout(&again).contains("No changes"));

    let twice = moto.ferry(&["apply", file, "--auto-approve"]);
    assert_eq!(code(&twice), 0);
    assert!(
        !stderr(&twice).contains(": done"),
        "a second apply does nothing: {}",
        stderr(&twice)
    );

    let json = moto.ferry(&["plan", file, "--json"]);
    assert_eq!(code(&json), 0);
    assert!(stdout(&json).contains("\"steps\": []"), "{}", stdout(&json));
}

#[test]
fn one_changed_field_of_each_kind_is_exactly_that_update() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-update");
    let original = topology("s2", &net);
    let file = dir.write("t.toml", &original);
    applied(&moto, file.to_str().unwrap_or_default());

    let changed = original
        .replace("interval_seconds = 5", "interval_seconds = 10")
        .replace(
            "\"idle_timeout.timeout_seconds\" = 30",
            "\"idle_timeout.timeout_seconds\" = 45",
        )
        .replace(
            "default_actions = [{ type = \"forward\", target_group = \"s2-web\" }]",
            "default_actions = [{ type = \"forward\", target_group = \"s2-api\" }]",
        )
        .replace("values = [\"on\"]", "values = [\"yes\"]")
        .replace(
            "attributes = { \"routing.http.response.server.enabled\" = false }",
            "attributes = { \"routing.http.response.server.enabled\" = false, \"routing.http.response.x_frame_options.header_value\" = \"DENY\" }",
        )
        .replace("id = \"10.0.1.11\"", "id = \"10.0.1.12\"")
        .replace("origin_read_timeout = 20", "origin_read_timeout = 25");
    let file2 = dir.write("t2.toml", &changed);
    let file2 = file2.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file2]);
    assert_eq!(code(&plan), 2);
    let text = stdout(&plan);
    assert_eq!(
        steps(&text),
        vec![
            "~ update target group s2-web",
            "~ update load balancer s2-alb",
            "~ update listener s2-alb:8081",
            "~ update rule s2-alb:8081 priority 20",
            "~ update targets of s2-api",
            "~ update distribution site",
        ],
        "{text}"
    );
    for change in [
        "health_check.interval_seconds: 5 → 10",
        "attributes.idle_timeout.timeout_seconds: \"30\" → \"45\"",
        "default_actions[0].target_group: \"s2-web\" → \"s2-api\"",
        "attributes.routing.http.response.x_frame_options.header_value: (none) → \"DENY\"",
        "conditions[0].values[0]: \"on\" → \"yes\"",
        "targets[0].id: \"10.0.1.11\" → \"10.0.1.12\"",
        "origins[0].custom_origin_config.origin_read_timeout: 20 → 25",
    ] {
        assert!(text.contains(change), "plan shows {change:?}:\n{text}");
    }
    assert!(
        text.contains("Plan: 0 to create, 6 to update, 0 to replace, 0 to delete."),
        "{text}"
    );

    applied(&moto, file2);
    let after = moto.ferry(&["plan", file2]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));

    // Removing a rule and a target group's attribute: a delete and an update back to the default.
    let fewer = changed
        .replace("attributes = { \"slow_start.duration_seconds\" = 30 }\n", "")
        .replace(
            "    [[load_balancers.listeners.rules]]\n    priority = 40\n    conditions = [{ field = \"host-header\", values = [\"status.example.test\"] }]\n",
            "",
        )
        .replace(
            "    actions = [{ type = \"fixed-response\", fixed_response_config = { status_code = \"200\", content_type = \"text/plain\", message_body = \"ok\" } }]\n",
            "",
        );
    let file3 = dir.write("t3.toml", &fewer);
    let file3 = file3.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file3]);
    let text = stdout(&plan);
    assert_eq!(
        steps(&text),
        vec![
            "~ update target group s2-api",
            "- delete rule s2-alb:8081 priority 40"
        ],
        "{text}"
    );
    assert!(
        text.contains("attributes.slow_start.duration_seconds: \"30\" → (none)"),
        "{text}"
    );
    applied(&moto, file3);
    let after = moto.ferry(&["plan", file3]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
}

/// Fields AWS cannot change in place: a target group gets a new port (a new group under another
/// AWS name takes its targets and the listener's and rules' forwards before the old one goes;
/// moto refuses to delete a group in use, as AWS does) and the load balancer a new scheme (its
/// listeners and rules are made again on the new one and the distribution follows its DNS name).
#[test]
fn replacements_move_what_refers_to_the_replaced_resource() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-replace");
    let base = topology("s8", &net);
    let file = dir.write("t.toml", &base);
    applied(&moto, file.to_str().unwrap_or_default());

    let changed = base
        .replace(
            "name = \"s8-web\"\nport = 9001",
            "name = \"s8-web\"\nport = 9101",
        )
        .replace(
            "dns_name = \"alb.internal\"\n",
            "dns_name = \"alb.internal\"\nscheme = \"internal\"\n",
        );
    let file2 = dir.write("t2.toml", &changed);
    let file2 = file2.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file2]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert_eq!(
        steps(&text),
        vec![
            "-/+ replace target group s8-web",
            "-/+ replace load balancer s8-alb",
            "+ create listener s8-alb:8081",
            "+ create rule s8-alb:8081 priority 10",
            "+ create rule s8-alb:8081 priority 20",
            "+ create rule s8-alb:8081 priority 30",
            "+ create rule s8-alb:8081 priority 40",
            "~ update distribution site",
        ],
        "{text}"
    );
    assert!(text.contains("port: 9001 → 9101"), "{text}");
    applied(&moto, file2);
    let after = moto.ferry(&["plan", file2]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
    assert_eq!(moto.py(&["exists", "target-group", "s8-web-r"]), "yes");
    assert_eq!(moto.py(&["exists", "target-group", "s8-web"]), "no");
    let dns = moto.py(&["lb-dns", "s8-alb"]);
    assert!(
        moto.py(&["origin-domains"]).split(' ').any(|d| d == dns),
        "the distribution's origin is the new load balancer {dns}"
    );

    // Back to the first port: the replacement takes the topology name again.
    let file3 = dir.write("t3.toml", changed.replace("port = 9101", "port = 9001"));
    let file3 = file3.to_str().unwrap_or_default();
    applied(&moto, file3);
    assert_eq!(code(&moto.ferry(&["plan", file3])), 0);
    assert_eq!(moto.py(&["exists", "target-group", "s8-web"]), "yes");
    assert_eq!(moto.py(&["exists", "target-group", "s8-web-r"]), "no");
}

/// A target group replacement that failed half-way (the new group created beside the old one,
/// the listener moved to it, a rule still forwarding to the old one) leaves two groups with the
/// topology's name: the next plan keeps the one the topology fits, moves the rule to it and
/// deletes the other, and the apply after it leaves nothing to do.
#[test]
fn a_replacement_left_half_done_is_finished_by_the_next_apply() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-half-replaced");
    let base = topology("s10", &net);
    let file = dir.write("t.toml", &base);
    applied(&moto, file.to_str().unwrap_or_default());
    moto.py(&["half-replace", "s10", "s10-web", "9101", "s10-alb", "8081"]);

    let changed = base.replace(
        "name = \"s10-web\"\nport = 9001",
        "name = \"s10-web\"\nport = 9101",
    );
    let file2 = dir.write("t2.toml", &changed);
    let file2 = file2.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file2]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    let planned = steps(&text);
    assert!(
        !planned.iter().any(|s| s.contains("replace")),
        "the group that fits the topology is kept: {text}"
    );
    assert!(
        planned.contains(&"~ update rule s10-alb:8081 priority 20".to_string()),
        "the rule still forwarding to the old group moves: {text}"
    );
    assert!(
        planned.contains(&"- delete target group s10-web (left over as s10-web)".to_string()),
        "{text}"
    );
    assert!(
        !planned.iter().any(|s| s.contains("listener")),
        "the listener already forwards to the group kept: {text}"
    );
    assert!(
        text.contains("target group s10-web: a replacement stopped half-way left two AWS groups; s10-web-r is kept and s10-web is deleted once nothing forwards to it"),
        "{text}"
    );
    // No topology describes the stack as it is: import says so rather than write one.
    let import = moto.ferry(&["import", "--stack", "s10"]);
    assert_eq!(code(&import), 1, "{}", stdout(&import));
    assert!(
        stderr(&import)
            .contains("target group s10-web: AWS groups s10-web and s10-web-r both carry it"),
        "{}",
        stderr(&import)
    );
    applied(&moto, file2);
    let after = moto.ferry(&["plan", file2]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
    assert_eq!(moto.py(&["exists", "target-group", "s10-web-r"]), "yes");
    assert_eq!(moto.py(&["exists", "target-group", "s10-web"]), "no");
}

/// An authentication action added to a stack's rule outside ferry (whose topology refuses them)
/// is drift like any other: the plan shows it going, the apply puts the topology's actions back,
/// and import, which could not write it, says so.
#[test]
fn an_authentication_action_added_outside_ferry_is_planned_away() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-auth-drift");
    let file = dir.write("t.toml", topology("s11", &net));
    let file = file.to_str().unwrap_or_default();
    applied(&moto, file);
    assert_eq!(
        moto.py(&["add-auth", "s11-alb", "8081", "10"]),
        "authenticate-oidc forward"
    );

    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    let text = stdout(&plan);
    assert_eq!(
        steps(&text),
        ["~ update rule s11-alb:8081 priority 10"],
        "{text}"
    );
    assert!(text.contains("\"authenticate-oidc\""), "{text}");
    let import = moto.ferry(&["import", "--stack", "s11"]);
    assert_eq!(code(&import), 1, "{}", stdout(&import));
    assert!(
        stderr(&import).contains(
            "rule s11-alb:8081 priority 10: an authentication action, which ferry's balancer does not serve"
        ),
        "{}",
        stderr(&import)
    );
    applied(&moto, file);
    let after = moto.ferry(&["plan", file]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
}

#[test]
fn destroy_removes_the_stack_and_nothing_else() {
    let moto = Moto::start();
    let net = network(&moto);
    let bystander_distribution = moto.py(&["bystanders", &net.vpc, &net.a, &net.b]);
    let dir = TempDir::new("provision-destroy");
    let file = dir.write("t.toml", topology("s3", &net));
    let file = file.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file]);
    assert!(
        !stdout(&plan).contains("bystander") && !stdout(&plan).contains("other-stack"),
        "resources without the stack's tag are not in its plan: {}",
        stdout(&plan)
    );
    applied(&moto, file);

    let destroy = moto.ferry(&["destroy", file, "--auto-approve"]);
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    let text = stdout(&destroy);
    assert_eq!(
        steps(&text),
        vec![
            "- delete distribution site",
            "- delete rule s3-alb:8081 priority 10",
            "- delete rule s3-alb:8081 priority 20",
            "- delete rule s3-alb:8081 priority 30",
            "- delete rule s3-alb:8081 priority 40",
            "- delete listener s3-alb:8081",
            "- delete load balancer s3-alb",
            "- delete target group s3-api",
            "- delete target group s3-web",
        ],
        "reverse dependency order: {text}"
    );
    assert_eq!(moto.py(&["count-owned", "s3"]), "0");
    for (kind, name) in [
        ("target-group", "bystander-tg"),
        ("target-group", "other-stack-tg"),
        ("load-balancer", "bystander-lb"),
        ("distribution", bystander_distribution.as_str()),
    ] {
        assert_eq!(
            moto.py(&["exists", kind, name]),
            "yes",
            "{kind} {name} is untouched"
        );
    }
    assert_eq!(moto.py(&["exists", "load-balancer", "s3-alb"]), "no");
    let plan = moto.ferry(&["plan", file]);
    assert!(
        stdout(&plan).contains("Plan: 11 to create"),
        "{}",
        stdout(&plan)
    );
}

/// RegisterTargets needs the Availability Zone "all" for an ip target in none of the VPC's
/// subnets (another VPC, on-premises, or a block of this VPC without a subnet) and refuses it for
/// one inside a subnet (moto_strict.py refuses as AWS does). A target whose address a new subnet
/// comes to hold is registered again without it.
#[test]
fn ip_targets_outside_the_vpcs_subnets_register_in_the_zone_all() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-zone-all");
    let file = dir.write(
        "t.toml",
        topology("s9", &net).replace(
            "targets = [{ id = \"10.0.1.11\", zone = \"a\" }]",
            "targets = [{ id = \"10.0.1.11\", zone = \"a\" }, { id = \"10.0.9.9\", zone = \"a\" }, { id = \"192.168.7.7\", zone = \"b\" }]",
        ),
    );
    let file = file.to_str().unwrap_or_default();
    applied(&moto, file);
    assert_eq!(
        moto.py(&["target-zones", "s9-api"]),
        "10.0.1.11=us-east-1a 10.0.9.9=all 192.168.7.7=all"
    );
    let again = moto.ferry(&["plan", file]);
    assert_eq!(code(&again), 0, "no changes: {}", stdout(&again));

    // A subnet now holds 10.0.9.9: AWS finds its zone, and "all" would be refused.
    moto.py(&["subnet", &net.vpc, "10.0.9.0/24", "us-east-1a"]);
    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 2, "{}", stderr(&plan));
    assert_eq!(
        steps(&stdout(&plan)),
        ["~ update targets of s9-api"],
        "{}",
        stdout(&plan)
    );
    applied(&moto, file);
    assert_eq!(
        moto.py(&["target-zones", "s9-api"]),
        "10.0.1.11=us-east-1a 10.0.9.9=us-east-1a 192.168.7.7=all"
    );
    let settled = moto.ferry(&["plan", file]);
    assert_eq!(code(&settled), 0, "no changes: {}", stdout(&settled));
}

/// A load balancer with deletion protection on is never deleted half-way: destroy is refused
/// before anything goes (the distribution stays), and so is a replacement; once the topology turns
/// the protection off and that is applied, destroy removes everything.
#[test]
fn deletion_protection_refuses_destroy_and_replacement_before_anything_changes() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-protected");
    let protected = topology("s8", &net).replace(
        r#"attributes = { "idle_timeout.timeout_seconds" = 30 }"#,
        r#"attributes = { "idle_timeout.timeout_seconds" = 30, "deletion_protection.enabled" = true }"#,
    );
    let file = dir.write("t.toml", &protected);
    let file = file.to_str().unwrap_or_default();
    applied(&moto, file);

    let destroy = moto.ferry(&["destroy", file, "--auto-approve"]);
    assert_eq!(code(&destroy), 1, "{}", stdout(&destroy));
    assert!(
        stderr(&destroy).contains("load balancer s8-alb: deletion_protection.enabled is true in AWS and this plan deletes it"),
        "{}",
        stderr(&destroy)
    );
    assert_eq!(moto.py(&["exists", "load-balancer", "s8-alb"]), "yes");
    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 0, "nothing was deleted: {}", stdout(&plan));

    let internal = dir.write(
        "internal.toml",
        protected.replace(
            "nodes = { a = \"127.0.0.1\", b = \"127.0.0.2\" }",
            "nodes = { a = \"127.0.0.1\", b = \"127.0.0.2\" }\nscheme = \"internal\"",
        ),
    );
    let internal = internal.to_str().unwrap_or_default();
    let replace = moto.ferry(&["apply", internal, "--auto-approve"]);
    assert_eq!(code(&replace), 1, "{}", stdout(&replace));
    assert!(
        stderr(&replace)
            .contains("deletion_protection.enabled is true in AWS and this plan replaces it"),
        "{}",
        stderr(&replace)
    );

    let unprotected = dir.write(
        "off.toml",
        protected.replace(
            r#""deletion_protection.enabled" = true"#,
            r#""deletion_protection.enabled" = false"#,
        ),
    );
    let unprotected = unprotected.to_str().unwrap_or_default();
    applied(&moto, unprotected);
    let destroy = moto.ferry(&["destroy", unprotected, "--auto-approve"]);
    assert_eq!(code(&destroy), 0, "{}", stderr(&destroy));
    assert_eq!(moto.py(&["count-owned", "s8"]), "0");
}

#[test]
fn import_writes_a_topology_that_plans_no_changes() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-import");
    // With a gRPC target group: ALB's gRPC matcher (GrpcCode) and health check path.
    let grpc = "\n[[target_groups]]\nname = \"s4-grpc\"\nport = 50051\nprotocol_version = \"GRPC\"\ntargets = [{ id = \"10.0.1.20\", zone = \"a\" }]\n";
    let file = dir.write("t.toml", format!("{}{grpc}", topology("s4", &net)));
    applied(&moto, file.to_str().unwrap_or_default());
    assert_eq!(
        moto.py(&["tg-health", "s4-grpc"]),
        "GRPC {'GrpcCode': '12'} /AWS.ALB/healthcheck"
    );

    let import = moto.ferry(&["import", "--stack", "s4"]);
    assert_eq!(code(&import), 0, "{}", stderr(&import));
    let text = stdout(&import);
    for line in [
        "stack = \"s4\"",
        "name = \"s4-web\"",
        "target_group = \"s4-api\"",
        "cache_policy = \"Managed-CachingOptimized\"",
        "\"idle_timeout.timeout_seconds\" = \"30\"",
        "http_header_name = \"X-Beta\"",
        "protocol_version = \"GRPC\"",
    ] {
        assert!(text.contains(line), "import has {line:?}:\n{text}");
    }
    let imported = dir.write("imported.toml", &text);
    let imported = imported.to_str().unwrap_or_default();
    let validate = ferry_cmd(&["validate", imported]);
    assert!(
        validate.status.success(),
        "the imported file is valid: {}",
        stderr(&validate)
    );
    let plan = moto.ferry(&["plan", imported]);
    assert_eq!(
        code(&plan),
        0,
        "import → plan shows no changes:\n{}",
        stdout(&plan)
    );
}

#[test]
fn a_failure_half_way_stops_and_reports_what_was_done() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-failure");
    // A target group outside the stack already has a name of the stack's, with other settings:
    // the topology is valid and the plan creates the group, AWS refuses it.
    moto.py(&["tg", "s5-api", &net.vpc]);
    let file = dir.write("t.toml", topology("s5", &net));
    let file = file.to_str().unwrap_or_default();
    let apply = moto.ferry(&["apply", file, "--auto-approve"]);
    assert_eq!(code(&apply), 1, "{}", stderr(&apply));
    let err = stderr(&apply);
    assert!(
        err.contains("Apply stopped at: create target group s5-api"),
        "{err}"
    );
    assert!(
        err.contains("CreateTargetGroup s5-api: DuplicateTargetGroupName: "),
        "the AWS call is named, and AWS's refusal given as AWS words it: {err}"
    );
    assert!(
        !err.contains("raw: Response"),
        "no dump of the SDK's response: {err}"
    );
    assert!(
        err.contains("Done (1):\n  create target group s5-web\n"),
        "{err}"
    );
    assert!(err.contains("Not done (10):"), "{err}");

    // What was done is in the stack: the next plan shows only what remains.
    let plan = moto.ferry(&["plan", file]);
    let text = stdout(&plan);
    assert!(!text.contains("create target group s5-web"), "{text}");
    assert!(text.contains("+ create target group s5-api"), "{text}");

    // With the name free again, apply finishes the job.
    moto.py(&["delete-tg", "s5-api"]);
    applied(&moto, file);
    assert_eq!(code(&moto.ferry(&["plan", file])), 0);
}

/// What AWS would refuse is found before anything changes, from the topology and from lookups
/// (EC2 for the subnets' zones, ACM for the certificates): missing certificates, two subnets in one
/// zone, a subnet that does not exist, a certificate still pending validation, an alias the
/// certificate does not name. With all of it fixed, the same stack applies.
#[test]
fn what_aws_would_refuse_is_refused_before_anything_changes() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-invalid");
    let https = topology("s6", &net)
        .replace("protocol = \"HTTP\"\n  attributes", "protocol = \"HTTPS\"\n  default_certificate = { cert = \"c.pem\", key = \"c.key\" }\n  attributes")
        .replace("[[distributions]]\nid = \"site\"", "[[distributions]]\nid = \"site\"\naliases = [\"www.example.test\", \"api.example.test\"]");
    let (cert, key) = self_signed("localhost");
    dir.write("c.pem", cert);
    dir.write("c.key", key);
    let file = dir.write("t.toml", &https);
    let file = file.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 1, "{}\n{}", stdout(&plan), stderr(&plan));
    let err = stderr(&plan);
    assert!(
        err.contains("listener s6-alb:8081: an HTTPS listener needs an ACM certificate"),
        "{err}"
    );
    assert!(
        err.contains("distribution site: aliases need a certificate"),
        "{err}"
    );
    let apply = moto.ferry(&["apply", file, "--auto-approve"]);
    assert_eq!(code(&apply), 1);
    assert_eq!(moto.py(&["count-owned", "s6"]), "0", "nothing was created");

    // Certificates named, but one pending and one that does not name api.example.test; the
    // second zone's subnet in the first zone; a subnet that does not exist.
    let pending = moto.py(&["request-cert", "alb.example.test"]);
    let www_only = moto.py(&["import-cert", "www.example.test"]);
    let same_zone = moto.py(&["subnet", &net.vpc, "10.0.3.0/24", "us-east-1a"]);
    let looked_up = https
        .replace(&format!("b = \"{}\"", net.b), &format!("b = \"{same_zone}\", c = \"subnet-0000dead\""))
        .replace(
            "targets = [{ id = \"10.0.1.11\", zone = \"a\" }]",
            "targets = [{ id = \"10.0.1.11\", zone = \"a\" }, { id = \"127.0.0.1\", zone = \"a\" }, { id = \"192.168.7.7\", zone = \"a\" }]",
        )
        + &format!(
            "viewer_certificate = {{ acm_certificate_arn = \"{www_only}\", ssl_support_method = \"sni-only\" }}\nlistener_certificates = {{ 8081 = \"{pending}\" }}\n"
        );
    let file2 = dir.write("t2.toml", &looked_up);
    let file2 = file2.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file2]);
    assert_eq!(code(&plan), 1, "{}\n{}", stdout(&plan), stderr(&plan));
    let err = stderr(&plan);
    for problem in [
        format!("load balancer s6-alb: its subnets ({}, {same_zone}) are all in us-east-1a", net.a),
        "[aws] subnets.c: subnet subnet-0000dead does not exist in us-east-1".to_string(),
        format!("[aws] listener_certificates.8081: certificate {pending} is PENDING_VALIDATION, not ISSUED"),
        format!("distribution site: alias api.example.test is not covered by certificate {www_only}"),
        "target group s6-api: target 127.0.0.1 is not an address AWS registers".to_string(),
    ] {
        assert!(err.contains(&problem), "plan says {problem:?}:\n{err}");
    }
    assert!(!err.contains("alias www.example.test"), "{err}");
    assert!(
        !err.contains("192.168.7.7"),
        "a private address outside the VPC is one AWS registers: {err}"
    );
    let apply = moto.ferry(&["apply", file2, "--auto-approve"]);
    assert_eq!(code(&apply), 1);
    assert_eq!(moto.py(&["count-owned", "s6"]), "0", "nothing was created");

    // Fixed: issued certificates that cover every name, subnets in two zones.
    let wildcard = moto.py(&["import-cert", "*.example.test"]);
    let listener_cert = moto.py(&["import-cert", "alb.example.test"]);
    let fixed = looked_up
        .replace(
            &format!("b = \"{same_zone}\", c = \"subnet-0000dead\""),
            &format!("b = \"{}\"", net.b),
        )
        .replace(&www_only, &wildcard)
        .replace(&pending, &listener_cert)
        .replace(", { id = \"127.0.0.1\", zone = \"a\" }", "");
    let file3 = dir.write("t3.toml", &fixed);
    let file3 = file3.to_str().unwrap_or_default();
    let plan = moto.ferry(&["plan", file3]);
    assert_eq!(code(&plan), 2, "{}\n{}", stdout(&plan), stderr(&plan));
    applied(&moto, file3);
    let after = moto.ferry(&["plan", file3]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
}

/// An alias moving between distributions (CloudFront refuses an alias another distribution holds,
/// and the test's moto refuses it too): the one that has it gives it up first, whether it is
/// updated or deleted, and every apply goes through to a plan with nothing to do.
#[test]
fn an_alias_moves_between_distributions() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-alias-move");
    let wildcard = moto.py(&["import-cert", "*.example.test"]);
    let second = |id: &str, aliases: &str| {
        format!(
            r#"
[[distributions]]
id = "{id}"
aliases = [{aliases}]
  [[distributions.origins]]
  id = "static"
  domain_name = "static.example.com"
  custom_origin_config = {{ origin_protocol_policy = "https-only" }}
  [distributions.default_cache_behavior]
  target_origin_id = "static"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"
"#
        )
    };
    let stack = |site: &str, other: String| {
        let base = topology("s9", &net).replace(
            "[[distributions]]\nid = \"site\"",
            &format!("[[distributions]]\nid = \"site\"\naliases = [{site}]"),
        );
        let (head, aws) = base.split_once("[aws]").unwrap_or((&base, ""));
        format!(
            "{head}{other}\n[aws]{aws}viewer_certificate = {{ acm_certificate_arn = \"{wildcard}\", ssl_support_method = \"sni-only\" }}\n"
        )
    };
    let applies = |name: &str, text: String, want_steps: &[&str]| {
        let file = dir.write(name, &text);
        let file = file.to_str().unwrap_or_default();
        let plan = moto.ferry(&["plan", file]);
        assert_eq!(code(&plan), 2, "{}\n{}", stdout(&plan), stderr(&plan));
        let steps = steps(&stdout(&plan));
        let distributions: Vec<&str> = steps
            .iter()
            .map(String::as_str)
            .filter(|l| l.contains("distribution"))
            .collect();
        assert_eq!(distributions, want_steps, "{}", stdout(&plan));
        applied(&moto, file);
        let after = moto.ferry(&["plan", file]);
        assert_eq!(code(&after), 0, "{name}: {}", stdout(&after));
        stdout(&plan)
    };

    applies(
        "1.toml",
        stack("\"www.example.test\"", second("next", "")),
        &["+ create distribution site", "+ create distribution next"],
    );
    // www moves from site (updated) to next.
    let plan = applies(
        "2.toml",
        stack("", second("next", "\"www.example.test\"")),
        &["~ update distribution site", "~ update distribution next"],
    );
    assert!(
        plan.contains("distribution site first gives up www.example.test (to distribution next)"),
        "{plan}"
    );
    // next goes, and a new distribution takes its alias.
    applies(
        "3.toml",
        stack("", second("third", "\"WWW.example.test\"")),
        &[
            "~ update distribution next",
            "+ create distribution third",
            "- delete distribution next",
        ],
    );
}

/// 20 cache behaviors and 60 rules on one listener (more than a page of DescribeRules: 50 on
/// moto): applied, the next plan has nothing to do.
#[test]
fn a_large_stack_plans_and_applies() {
    let moto = Moto::start();
    let net = network(&moto);
    let dir = TempDir::new("provision-large");
    let mut text = topology("s7", &net);
    let mut behaviors = String::new();
    for i in 0..20 {
        behaviors.push_str(&format!(
            "\n  [[distributions.cache_behaviors]]\n  path_pattern = \"/b{i}/*\"\n  target_origin_id = \"static\"\n  viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingOptimized\"\n"
        ));
    }
    text = text.replace(
        "\n  [[distributions.custom_error_responses]]",
        &format!("{behaviors}\n  [[distributions.custom_error_responses]]"),
    );
    let mut rules = String::new();
    for i in 0..60 {
        rules.push_str(&format!(
            "\n    [[load_balancers.listeners.rules]]\n    priority = {}\n    conditions = [{{ field = \"path-pattern\", values = [\"/r{i}/*\"] }}]\n    actions = [{{ type = \"forward\", target_group = \"s7-api\" }}]\n",
            100 + i
        ));
    }
    text = text.replace(
        "\n[[target_groups]]\nname = \"s7-web\"",
        &format!("{rules}\n[[target_groups]]\nname = \"s7-web\""),
    );
    let file = dir.write("t.toml", text);
    let file = file.to_str().unwrap_or_default();
    applied(&moto, file);
    let plan = moto.ferry(&["plan", file]);
    assert_eq!(code(&plan), 0, "{}", stdout(&plan));
}

/// A self-signed certificate and key (PEM) for `name`: the local HTTPS listener needs files.
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}"));
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .and_then(|p| p.self_signed(&key))
        .unwrap_or_else(|e| panic!("certificate: {e}"));
    (cert.pem(), key.serialize_pem())
}
