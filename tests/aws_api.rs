//! The admin listener as the AWS SDK sees it: boto3 (from the virtualenv `./test.sh` makes, named
//! by `FERRY_TEST_PYTHON`) runs the scripts in `tests/aws_api/` against a running `ferry up` with
//! `endpoint_url` on the admin listener, and this side checks what the edge and the balancer do
//! about it: an invalidation sends the next request to the origin, a deregistered target gets no
//! new request, bad input is refused with AWS's error codes and nothing half applied; and
//! `ferry status` summarises the running topology.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The Python with boto3: `FERRY_TEST_PYTHON`, which `./test.sh` sets. Missing, it is a failure,
/// not a skipped test.
fn python() -> PathBuf {
    let Some(python) = std::env::var_os("FERRY_TEST_PYTHON") else {
        panic!(
            "FERRY_TEST_PYTHON is not set: run ./test.sh, which creates the Python virtualenv with boto3 \
             ($HOME/.cache/ferry-venv) and sets it (or set FERRY_TEST_PYTHON to a python that has boto3)"
        );
    };
    let python = PathBuf::from(python);
    let out = run_with_timeout(
        Command::new(&python).args(["-c", "import boto3"]),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("FERRY_TEST_PYTHON={}: {e}: run ./test.sh", python.display()));
    assert!(
        out.status.success(),
        "FERRY_TEST_PYTHON={} has no boto3: run ./test.sh, which installs it in $HOME/.cache/ferry-venv\n{}",
        python.display(),
        text(&out.stderr)
    );
    python
}

/// Runs `tests/aws_api/SCRIPT ARGS` against the admin listener `admin` with the access key id
/// `key`; returns its stdout lines. Panics with its output unless it exits 0.
fn boto3_as(key: &str, admin: &str, script: &str, args: &[&str]) -> Vec<String> {
    let script_path = project_dir().join("tests/aws_api").join(script);
    let mut cmd = Command::new(python());
    cmd.arg(&script_path)
        .args(args)
        .current_dir(project_dir().join("tests/aws_api"))
        .env("FERRY_ENDPOINT", format!("http://{admin}"))
        // No __pycache__ in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    let out =
        run_with_timeout(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| panic!("{e}"));
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    stdout.lines().map(str::to_string).collect()
}

fn boto3(admin: &str, script: &str, args: &[&str]) -> Vec<String> {
    boto3_as("test", admin, script, args)
}

/// The value after `key ` on the first line that starts with it.
fn field(lines: &[String], key: &str) -> String {
    let prefix = format!("{key} ");
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{key}` line in {lines:#?}"))
        .to_string()
}

fn has_line(lines: &[String], line: &str) {
    assert!(
        lines.iter().any(|l| l == line),
        "expected the line `{line}` in {lines:#?}"
    );
}

/// GETs `path` on the site and asserts its X-Cache.
fn expect(site: &Site, path: &str, x_cache: &str) {
    let r = site.get(path, &[]);
    assert_eq!(r.status, 200, "{path}: {r:?}");
    assert_from_edge(&r, x_cache);
}

/// `ferry status --admin ADMIN ARGS`: its stdout, after asserting it succeeded.
fn ferry_status(admin: &str, args: &[&str]) -> String {
    let mut all = vec!["status", "--admin", admin];
    all.extend_from_slice(args);
    let out = ferry_cmd(&all);
    assert!(
        out.status.success(),
        "ferry status failed:\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn cloudfront_invalidations_and_distributions_through_boto3() {
    let _ = python();
    let o = Origin::start("o");
    let other = Origin::start("other");
    let site = SiteBuilder::new("aws-api-cloudfront", &o)
        .aliases(&[SITE_HOST, "*.img.example.test"])
        .edge("pop = \"TST1\"")
        .dist_key("comment = \"the site\"")
        .origin_keys(&["custom_headers = { X-Origin-Verify = \"ferry\" }"])
        .cache_policy("short", "default_ttl = 60\nmax_ttl = 600")
        .behavior(
            "/api/*",
            "o",
            "short",
            &[r#"allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]"#],
        )
        .distribution(&format!(
            r#"[[distributions]]
id = "other"
aliases = ["other.example.test"]

  [[distributions.origins]]
  id = "o2"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "o2"
  viewer_protocol_policy = "redirect-to-https"
  cache_policy = "Managed-CachingDisabled""#,
            other.port()
        ))
        .wait_admin()
        .start();
    let admin = site.admin.as_str();

    // CreateInvalidation: the next request goes to the origin again.
    expect(&site, "/inv/a", "Miss from cloudfront");
    expect(&site, "/inv/a", "Hit from cloudfront");
    expect(&site, "/inv/b", "Miss from cloudfront");
    assert_eq!(o.count_path("/inv/a"), 1);
    let created = boto3(
        admin,
        "cloudfront.py",
        &["create-invalidation", "site", "/inv/a"],
    );
    let id = field(&created, "id");
    assert_eq!(field(&created, "status"), "InProgress", "{created:#?}");
    expect(&site, "/inv/a", "Miss from cloudfront");
    assert_eq!(
        o.count_path("/inv/a"),
        2,
        "after the invalidation the next request reaches the origin"
    );
    expect(&site, "/inv/b", "Hit from cloudfront");
    assert_eq!(o.count_path("/inv/b"), 1, "other objects stay cached");

    // GetInvalidation (through boto3's waiter), ListInvalidations (page by page).
    let done = boto3(admin, "cloudfront.py", &["wait-completed", "site", &id]);
    assert_eq!(field(&done, "status"), "Completed");
    assert_eq!(field(&done, "paths"), "/inv/a");
    let second = boto3(
        admin,
        "cloudfront.py",
        &["create-invalidation", "site", "/inv/*"],
    );
    let second_id = field(&second, "id");
    let listed = boto3(admin, "cloudfront.py", &["list-invalidations", "site"]);
    assert_eq!(
        listed,
        [
            format!("id {second_id} Completed"),
            format!("id {id} Completed")
        ],
        "newest first"
    );
    expect(&site, "/inv/b", "Miss from cloudfront");

    // GetDistribution: the topology as CloudFront's API shows it.
    let d = boto3(admin, "cloudfront.py", &["get-distribution", "site"]);
    assert_eq!(field(&d, "id"), "site");
    assert_eq!(
        field(&d, "arn"),
        "arn:aws:cloudfront::000000000000:distribution/site"
    );
    assert_eq!(field(&d, "status"), "Deployed");
    assert_eq!(field(&d, "domain"), "site.cloudfront.net");
    assert_eq!(field(&d, "enabled"), "True");
    assert_eq!(field(&d, "comment"), "the site");
    assert_eq!(field(&d, "http_version"), "http2");
    has_line(&d, &format!("alias {SITE_HOST}"));
    has_line(&d, "alias *.img.example.test");
    has_line(
        &d,
        &format!(
            "origin o {ORIGIN_DOMAIN} {} http-only headers=X-Origin-Verify=ferry",
            o.port()
        ),
    );
    // Managed-CachingOptimized by its AWS id; a policy of the topology by an id ferry makes up.
    has_line(
        &d,
        "default o allow-all 658327ea-f89d-4fab-a63d-7e88639e58f6 GET,HEAD",
    );
    let behavior = field(&d, "behavior");
    assert!(
        behavior.starts_with("/api/* o allow-all ")
            && behavior.ends_with(" GET,HEAD,OPTIONS,PUT,POST,PATCH,DELETE"),
        "{behavior}"
    );
    let etag = field(&d, "etag");
    let again = boto3(admin, "cloudfront.py", &["get-distribution", "site"]);
    assert_eq!(field(&again, "etag"), etag, "the ETag is stable");

    // ListDistributions, one per page.
    let all = boto3(admin, "cloudfront.py", &["list-distributions"]);
    assert_eq!(
        all,
        [
            format!("distribution site site.cloudfront.net {SITE_HOST},*.img.example.test"),
            "distribution other other.cloudfront.net other.example.test".to_string()
        ]
    );

    // Bad input: AWS's codes and statuses, and nothing invalidated by a refused batch.
    expect(&site, "/bad/a", "Miss from cloudfront");
    expect(&site, "/bad/a", "Hit from cloudfront");
    let errors = boto3(admin, "cloudfront.py", &["bad-input", "site"]);
    assert_eq!(
        errors,
        [
            "error no-slash InvalidArgument 400",
            "error star-inside InvalidArgument 400",
            "error 3001-paths TooManyInvalidationsInProgress 400",
            "error 16-wildcards TooManyInvalidationsInProgress 400",
            "error unknown-distribution NoSuchDistribution 404",
            "error get-unknown-distribution NoSuchDistribution 404",
            "error get-unknown-invalidation NoSuchInvalidation 404",
            "error reused-reference InvalidationBatchAlreadyExists 409",
        ]
    );
    // XML that is not well-formed (boto3 cannot send it): MalformedXML.
    for body in [
        "this is not xml".to_string(),
        "<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/bad/a</Path></Items></Paths>"
            .to_string(),
        invalidation_batch(&["/bad/a"], 1, &unique_caller_reference())
            .replace("</Items>", "</Itemz>"),
        String::new(),
    ] {
        let r = site.admin_request(
            "POST",
            "/2020-05-31/distribution/site/invalidation",
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert_eq!(
            xml_tag(&r.body_text(), "Code").as_deref(),
            Some("MalformedXML"),
            "{body}: {r:?}"
        );
    }
    expect(&site, "/bad/a", "Hit from cloudfront");
    assert_eq!(
        o.count_path("/bad/a"),
        1,
        "no refused batch invalidated anything"
    );

    // ferry status: listeners, distributions, cache.
    let status = ferry_status(admin, &[]);
    assert!(
        status.contains(&format!("http://{}  edge (pop TST1)", site.edge)),
        "{status}"
    );
    let site_row = status
        .lines()
        .find(|l| l.starts_with("site "))
        .unwrap_or_else(|| panic!("no row for site in:\n{status}"));
    for part in [
        "yes",
        "site.cloudfront.net",
        "www.example.test, *.img.example.test",
        &format!("o {ORIGIN_DOMAIN}:{}", o.port()),
    ] {
        assert!(
            site_row.contains(part),
            "`{part}` in `{site_row}`\n{status}"
        );
    }
    assert!(status.contains("other "), "{status}");
    assert!(status.contains("cache: "), "{status}");
    assert!(status.contains(" objects, "), "{status}");
    let json = ferry_status(admin, &["--json"]);
    assert!(json.starts_with("{\"version\":"), "{json}");
    assert!(json.contains("\"edge\":{"), "{json}");
}

/// Health checks every 5 s (ALB's minimum), thresholds 2: a target settles in about 5-10 s.
const CHECKS: &str = r#"path = "/", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2, unhealthy_threshold_count = 2"#;
const SETTLE: Duration = Duration::from_secs(16);

/// `n` GETs of `prefix{i}` on `node`; who served each.
fn spray(node: &str, prefix: &str, n: usize) -> Vec<String> {
    let c = Client::new();
    (0..n)
        .map(|i| {
            let r = c.get(node, &format!("{prefix}{i}"), &[]);
            assert_eq!(r.status, 200, "{prefix}{i}: {r:?}");
            served_by(&r).to_string()
        })
        .collect()
}

#[test]
fn elbv2_targets_and_rules_through_boto3() {
    let _ = python();
    // a answers /slow/ requests after 3 s, for one to be in flight while it drains.
    let a = Origin::start_slow("a", Duration::from_secs(3));
    let b = Origin::start("b");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let listener = r#"  default_actions = [{ type = "forward", target_group = "web" }]

    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{ field = "path-pattern", values = ["/health"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200", content_type = "text/plain", message_body = "ok" } }]

    [[load_balancers.listeners.rules]]
    priority = 20
    conditions = [{ field = "host-header", values = ["old.example.test"] }, { field = "http-header", http_header_name = "X-Env", values = ["prod*"] }]
    actions = [{ type = "redirect", redirect_config = { host = "new.example.test", status_code = "HTTP_301" } }]"#;
    let mut toml = String::from("stack = \"e2e-aws-api-elbv2\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, listener)],
    ));
    toml.push_str(&target_group_block(
        "web",
        &[(a.port(), "a"), (b.port(), "a")],
        CHECKS,
        r#""deregistration_delay.timeout_seconds" = 30"#,
    ));
    let alb = Alb::up("aws-api-elbv2", &toml, &[&node]);
    let admin = alb.admin.as_str();

    // DescribeTargetGroups, DescribeTargetHealth.
    let groups = boto3(admin, "elbv2.py", &["target-groups"]);
    let group = field(&groups, "group");
    assert!(
        group.starts_with(
            "web arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/"
        ),
        "{group}"
    );
    assert!(
        group.contains(&format!(" HTTP {} checks=True lbs=arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/alb/", a.port())),
        "{group}"
    );
    alb.wait_state("web", a.port(), "healthy", SETTLE);
    alb.wait_state("web", b.port(), "healthy", SETTLE);
    let health = boto3(admin, "elbv2.py", &["health", "web"]);
    has_line(&health, &format!("target 127.0.0.1:{} healthy -", a.port()));
    has_line(&health, &format!("target 127.0.0.1:{} healthy -", b.port()));
    let served = spray(&node, "/before/", 10);
    assert!(
        served.iter().any(|s| s == "a") && served.iter().any(|s| s == "b"),
        "both targets serve: {served:?}"
    );

    // DeregisterTargets with a request in flight on a: it drains and gets no new request. Round
    // robin puts one of two consecutive requests on a.
    let in_flight: Vec<_> = (0..2)
        .map(|i| {
            let node = node.clone();
            let h =
                std::thread::spawn(move || Client::new().get(&node, &format!("/slow/{i}"), &[]));
            std::thread::sleep(Duration::from_millis(100));
            h
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while a.count_prefix("/slow/") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no slow request reached a: {:#?}",
            a.requests()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = boto3(
        admin,
        "elbv2.py",
        &["deregister", "web", &a.port().to_string()],
    );
    has_line(&out, "deregistered 200");
    let health = boto3(admin, "elbv2.py", &["health", "web"]);
    has_line(
        &health,
        &format!(
            "target 127.0.0.1:{} draining Target.DeregistrationInProgress",
            a.port()
        ),
    );
    let served = spray(&node, "/drained/", 10);
    assert!(
        served.iter().all(|s| s == "b"),
        "a draining target gets no new request: {served:?}"
    );
    assert_eq!(a.count_prefix("/drained/"), 0);

    // ferry status shows the listener and the draining target.
    let status = ferry_status(admin, &[]);
    assert!(
        status.contains(&format!(
            "http://{node}  load balancer alb (zone a): 2 rules, default forward web"
        )),
        "{status}"
    );
    let a_row = status
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", a.port())))
        .unwrap_or_else(|| panic!("no row for a in:\n{status}"));
    assert!(
        a_row.starts_with("web ")
            && a_row.contains(" draining ")
            && a_row.contains("Target.DeregistrationInProgress"),
        "{a_row}\n{status}"
    );
    let b_row = status
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{}", b.port())))
        .unwrap_or_else(|| panic!("no row for b in:\n{status}"));
    assert!(b_row.contains(" healthy "), "{b_row}\n{status}");

    // Its last request in flight ends: the deregistration completes then, not after the 30 s delay.
    for h in in_flight {
        let r = h.join().expect("slow request thread");
        assert_eq!(r.status, 200, "in flight during draining: {r:?}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alb.health_of("web", a.port()).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a still listed 5 s after its last request ended (delay 30 s): {:#?}",
            alb.target_health("web")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = boto3(admin, "elbv2.py", &["health", "web"]);
    assert_eq!(
        health,
        [format!("target 127.0.0.1:{} healthy -", b.port())],
        "only b is registered"
    );

    // RegisterTargets: back again once healthy.
    let out = boto3(
        admin,
        "elbv2.py",
        &["register", "web", &format!("{}@a", a.port())],
    );
    has_line(&out, "registered 200");
    alb.wait_state("web", a.port(), "healthy", SETTLE);
    let served = spray(&node, "/after/", 10);
    assert!(
        served.iter().any(|s| s == "a"),
        "a registered target serves again: {served:?}"
    );

    // DescribeLoadBalancers, DescribeListeners, DescribeRules (by listener and by rule ARNs).
    let rules = boto3(admin, "elbv2.py", &["rules", "alb", &port.to_string()]);
    assert_eq!(
        rules,
        [
            "load-balancer alb alb.internal application".to_string(),
            format!("listener {port} HTTP default=forward web"),
            "rule 10 default=False [path-pattern=/health] -> fixed-response 200 ok".to_string(),
            "rule 20 default=False [host-header=old.example.test http-header:X-Env=prod*] -> redirect HTTP_301 new.example.test".to_string(),
            "rule default default=True [] -> forward web".to_string(),
        ]
    );

    // Bad input: AWS's codes, and nothing half applied.
    let errors = boto3(admin, "elbv2.py", &["bad-input", "web"]);
    assert_eq!(
        errors,
        [
            "error health-unknown-group TargetGroupNotFound 400",
            "error describe-unknown-group TargetGroupNotFound 400",
            "error register-unknown-group TargetGroupNotFound 400",
            "error register-bad-target ValidationError 400",
            "error deregister-unregistered InvalidTarget 400",
            "error rules-unknown-listener ListenerNotFound 400",
            "error rules-unknown-rule RuleNotFound 400",
            "error unknown-load-balancer LoadBalancerNotFound 400",
        ]
    );
    let health = alb.target_health("web");
    assert_eq!(
        health.len(),
        2,
        "the refused RegisterTargets registered nothing: {health:#?}"
    );
    assert!(health.iter().all(|t| t.state == "healthy"), "{health:#?}");
}

#[test]
fn with_an_admin_token_aws_clients_give_it_as_their_access_key_id() {
    let _ = python();
    let o = Origin::start("o");
    let token = "s3cret-admin-token";
    let site = SiteBuilder::new("aws-api-token", &o)
        .edge(&format!("admin_token = \"{token}\""))
        .wait_admin()
        .start();
    let admin = site.admin.as_str();

    let ok = boto3_as(token, admin, "cloudfront.py", &["token-check"]);
    assert_eq!(ok, ["ok 1"]);
    let refused = boto3_as("test", admin, "cloudfront.py", &["token-check"]);
    assert_eq!(
        refused,
        ["error list-distributions InvalidClientTokenId 403"]
    );

    // Without any credential: 401, for AWS-shaped and plain requests alike.
    let r = site.admin_request("GET", "/2020-05-31/distribution", b"");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        xml_tag(&r.body_text(), "Code").as_deref(),
        Some("MissingAuthenticationToken"),
        "{r:?}"
    );
    let r = site.admin_request("GET", "/ferry/status", b"");
    assert_eq!(r.status, 401, "{r:?}");

    // ferry status: with the token it works; without, it says what to do.
    let out = ferry_cmd(&["status", "--admin", admin]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("FERRY_ADMIN_TOKEN"),
        "{}",
        text(&out.stderr)
    );
    let status = ferry_status(admin, &["--token", token]);
    assert!(status.contains("site.cloudfront.net"), "{status}");
}
