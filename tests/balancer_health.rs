//! Target health through a running `ferry up` and ELBv2's query API on its admin listener:
//! `initial` → `healthy` / `unhealthy` with DescribeTargetHealth's reason codes, traffic only to
//! healthy targets, fail open when none is, a stopped target leaving and rejoining, draining on
//! DeregisterTargets, RegisterTargets at run time, and slow start.
//!
//! Health checks run every 5 s (ALB's minimum) with thresholds of 2, so a target settles within
//! about 5-10 s; every wait polls DescribeTargetHealth with a deadline.

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Health checks on `/hc` every 5 s, 2 s timeout, thresholds 2 and 2, with `matcher`.
fn checks(matcher: &str) -> String {
    format!(
        r#"path = "/hc", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2, unhealthy_threshold_count = 2, matcher = "{matcher}""#
    )
}

/// How long a target may take to change state: two checks 5 s apart, and slack.
const SETTLE: Duration = Duration::from_secs(16);

/// An origin that answers `hc_status` on `/hc` and the default answer elsewhere.
fn target(name: &str, hc_status: u16) -> Origin {
    let n = name.to_string();
    Origin::start_with(name, move |req| {
        if req.path() == "/hc" {
            Response::text(hc_status, "hc").with_header("X-Origin-Name", n.as_str())
        } else {
            default_origin_response(&n, req)
        }
    })
}

/// `ferry up` with one load balancer node on 127.0.0.1 forwarding everything to group `g`.
fn start(label: &str, group: &str) -> (Alb, String) {
    let port = free_port();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "g" }]"#;
    let mut toml = format!("stack = \"e2e-{label}\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, listener)],
    ));
    toml.push_str(group);
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up(label, &toml, &[&node]);
    (alb, node)
}

/// Sends `n` GETs `prefix{i}` and returns who served each (all must be 200).
fn spray(alb: &Alb, node: &str, prefix: &str, n: usize) -> Vec<String> {
    let c = Client::new();
    (0..n)
        .map(|i| {
            let path = format!("{prefix}{i}");
            let r = c.get(node, &path, &[]);
            assert_eq!(
                r.status,
                200,
                "GET {path}: {r:?}\n{}",
                alb.ferry.output_report()
            );
            served_by(&r).to_string()
        })
        .collect()
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| n.as_str() == name).count()
}

#[test]
fn targets_start_initial_then_become_healthy_or_unhealthy_by_the_matcher() {
    let good = target("good", 200);
    let good202 = target("good202", 202);
    let bad = target("bad", 500);
    let group = target_group_block(
        "g",
        &[(good.port(), "a"), (good202.port(), "a"), (bad.port(), "a")],
        &checks("200,202"),
        "",
    );
    let (alb, node) = start("health-states", &group);

    // Right after start: one check at most has run, below both thresholds.
    let first = alb.target_health("g");
    assert_eq!(first.len(), 3, "{first:#?}");
    for t in &first {
        assert_eq!(t.state, "initial", "{first:#?}");
        assert_eq!(
            t.reason.as_deref(),
            Some("Elb.InitialHealthChecking"),
            "{first:#?}"
        );
        assert_eq!(t.id, "127.0.0.1");
        assert_eq!(t.zone.as_deref(), Some("a"));
    }

    let h = alb.wait_state("g", good.port(), "healthy", SETTLE);
    assert_eq!(h.reason, None, "a healthy target has no reason: {h:?}");
    alb.wait_state("g", good202.port(), "healthy", SETTLE);
    let u = alb.wait_state("g", bad.port(), "unhealthy", SETTLE);
    assert_eq!(
        u.reason.as_deref(),
        Some("Target.ResponseCodeMismatch"),
        "{u:?}"
    );
    assert!(
        u.description.as_deref().unwrap_or("").contains("500"),
        "the description names the code: {u:?}"
    );

    // The checks are GET /hc as ELB-HealthChecker/2.0.
    let probes = good.requests_matching(|r| r.path() == "/hc");
    assert!(probes.len() >= 2, "{probes:#?}");
    assert!(
        probes.iter().all(|r| r.method == "GET"
            && r.header("user-agent")
                .is_some_and(|v| v.starts_with("ELB-HealthChecker/2.0"))),
        "{probes:#?}"
    );

    // Traffic goes to the healthy targets only.
    let served = spray(&alb, &node, "/traffic/", 40);
    assert_eq!(
        count(&served, "bad"),
        0,
        "an unhealthy target gets no traffic while others are healthy: {served:?}"
    );
    assert!(
        count(&served, "good") > 0 && count(&served, "good202") > 0,
        "both healthy targets get traffic: {served:?}"
    );
    assert_eq!(bad.count_prefix("/traffic/"), 0);

    // DescribeTargetGroups shows the health check as configured.
    let r = alb.elbv2(&[("Action", "DescribeTargetGroups"), ("Names.member.1", "g")]);
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.body_text();
    for (tag, value) in [
        ("TargetGroupName", "g"),
        ("HealthCheckPath", "/hc"),
        ("HealthCheckIntervalSeconds", "5"),
        ("HealthCheckTimeoutSeconds", "2"),
        ("HealthyThresholdCount", "2"),
        ("UnhealthyThresholdCount", "2"),
        ("HttpCode", "200,202"),
    ] {
        assert_eq!(
            xml_tag(&body, tag).as_deref(),
            Some(value),
            "{tag} in {body}"
        );
    }
}

#[test]
fn a_stopped_target_goes_unhealthy_and_comes_back_after_it_restarts() {
    let mut a = target("a", 200);
    let b = target("b", 200);
    let a_port = a.port();
    let group = target_group_block("g", &[(a_port, "a"), (b.port(), "a")], &checks("200"), "");
    let (alb, node) = start("health-restart", &group);
    alb.wait_state("g", a_port, "healthy", SETTLE);
    alb.wait_state("g", b.port(), "healthy", SETTLE);
    let served = spray(&alb, &node, "/before/", 10);
    assert!(
        count(&served, "a") > 0 && count(&served, "b") > 0,
        "{served:?}"
    );

    a.stop();
    let u = alb.wait_state("g", a_port, "unhealthy", SETTLE);
    assert_eq!(
        u.reason.as_deref(),
        Some("Target.FailedHealthChecks"),
        "a closed port fails the checks: {u:?}"
    );
    let served = spray(&alb, &node, "/down/", 20);
    assert_eq!(
        count(&served, "b"),
        20,
        "while a is unhealthy everything goes to b: {served:?}"
    );

    let a2 = Origin::try_start_on("a", &format!("127.0.0.1:{a_port}"))
        .unwrap_or_else(|e| panic!("restart a on port {a_port}: {e}"));
    alb.wait_state("g", a_port, "healthy", SETTLE);
    let served = spray(&alb, &node, "/back/", 20);
    assert!(
        count(&served, "a") > 0,
        "a is back in rotation once healthy: {served:?}"
    );
    assert_eq!(a2.count_prefix("/back/"), count(&served, "a"));
}

#[test]
fn when_every_target_is_unhealthy_the_group_fails_open() {
    let f1 = target("f1", 500);
    let f2 = target("f2", 503);
    let group = target_group_block(
        "g",
        &[(f1.port(), "a"), (f2.port(), "a")],
        &checks("200"),
        "",
    );
    let (alb, node) = start("health-fail-open", &group);
    alb.wait_state("g", f1.port(), "unhealthy", SETTLE);
    alb.wait_state("g", f2.port(), "unhealthy", SETTLE);
    let served = spray(&alb, &node, "/open/", 20);
    assert!(
        count(&served, "f1") > 0 && count(&served, "f2") > 0,
        "with every target unhealthy, ALB routes to all of them: {served:?}"
    );
    let health = alb.target_health("g");
    assert!(
        health.iter().all(|t| t.state == "unhealthy"),
        "failing open does not change the reported state: {health:#?}"
    );
}

/// When the deregistration delay is over, ALB cuts the requests still in flight to the target: one
/// not yet answered gets a 502 (through either path: a GET, and a POST with a body), one whose
/// answer is under way loses its connection before the rest of its body.
#[test]
fn requests_still_in_flight_when_the_delay_is_over_are_cut() {
    use raw_target::{RawTarget, Reply};
    let target = RawTarget::start(|req| match req.path() {
        "/stream" => Reply::KeepThen(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello".to_vec(),
            Duration::from_secs(8),
            b"world".to_vec(),
        ),
        "/slow" | "/upload" => Reply::Silent,
        _ => Reply::Keep(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()),
    });
    let group = target_group_block(
        "g",
        &[(target.port, "a")],
        "enabled = false",
        r#""deregistration_delay.timeout_seconds" = 1"#,
    );
    let (alb, node) = start("health-drain-cut", &group);

    let started = std::time::Instant::now();
    let get = {
        let node = node.clone();
        thread::spawn(move || {
            Client::with_timeout(Duration::from_secs(10)).get(&node, "/slow", &[])
        })
    };
    let post = {
        let node = node.clone();
        thread::spawn(move || {
            Client::with_timeout(Duration::from_secs(10)).request(
                &node,
                "POST",
                "/upload",
                &[],
                b"a body",
            )
        })
    };
    let stream = {
        let node = node.clone();
        thread::spawn(move || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(&node).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            c.write_all(b"GET /stream HTTP/1.1\r\nHost: alb\r\n\r\n")
                .expect("write");
            let mut got = Vec::new();
            let ended = c.read_to_end(&mut got);
            (ended.is_ok(), String::from_utf8_lossy(&got).into_owned())
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let in_flight = || {
        ["/slow", "/upload", "/stream"]
            .iter()
            .all(|p| !target.seen_path(p).is_empty())
    };
    while !in_flight() {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            target.seen().len()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let r = alb.deregister("g", &[target.port]);
    assert_eq!(r.status, 200, "DeregisterTargets: {r:?}");

    for (what, h) in [("GET", get), ("POST", post)] {
        let r = h.join().expect("request thread");
        assert_eq!(
            r.status,
            502,
            "{what}: {r:?}\n{}",
            alb.ferry.output_report()
        );
    }
    let (closed, seen) = stream.join().expect("stream thread");
    assert!(closed, "the connection was closed, not timed out: {seen:?}");
    assert!(
        seen.starts_with("HTTP/1.1 200") && seen.ends_with("hello") && !seen.contains("world"),
        "{seen:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "cut at the end of the 1 s delay, not at the target's answer: {:?}",
        started.elapsed()
    );
}

#[test]
fn deregistered_target_drains_finishes_in_flight_requests_then_leaves() {
    let a = Origin::start_slow("a", Duration::from_secs(3));
    let b = Origin::start_slow("b", Duration::from_secs(3));
    let group = target_group_block(
        "g",
        &[(a.port(), "a"), (b.port(), "a")],
        &checks("200"),
        r#""deregistration_delay.timeout_seconds" = 60"#,
    );
    let (alb, node) = start("health-drain", &group);
    alb.wait_state("g", a.port(), "healthy", SETTLE);
    alb.wait_state("g", b.port(), "healthy", SETTLE);

    // Two slow requests: round robin puts one on each target.
    let in_flight: Vec<_> = (0..2)
        .map(|i| {
            let node = node.clone();
            let h = thread::spawn(move || Client::new().get(&node, &format!("/slow/{i}"), &[]));
            thread::sleep(Duration::from_millis(100));
            h
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while a.count_prefix("/slow/") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no slow request reached a: a {:#?}, b {:#?}",
            a.requests(),
            b.requests()
        );
        thread::sleep(Duration::from_millis(20));
    }

    let r = alb.deregister("g", &[a.port()]);
    assert_eq!(r.status, 200, "DeregisterTargets: {r:?}");
    let h = alb
        .health_of("g", a.port())
        .expect("a draining target is still listed");
    assert_eq!(h.state, "draining", "{h:?}");
    assert_eq!(
        h.reason.as_deref(),
        Some("Target.DeregistrationInProgress"),
        "{h:?}"
    );

    let served = spray(&alb, &node, "/fast/", 20);
    assert_eq!(
        count(&served, "b"),
        20,
        "a draining target gets no new requests: {served:?}"
    );
    assert_eq!(a.count_prefix("/fast/"), 0);

    // The request in flight on a when it was deregistered completes.
    let answers: Vec<Response> = in_flight
        .into_iter()
        .map(|h| h.join().expect("slow request thread"))
        .collect();
    for r in &answers {
        assert_eq!(
            r.status,
            200,
            "in-flight requests finish during draining: {r:?}\n{}",
            alb.ferry.output_report()
        );
    }
    assert!(answers.iter().any(|r| served_by(r) == "a"), "{answers:?}");

    // Once its last request in flight has ended the target is gone, as in ALB, without waiting
    // for the rest of the 60 s delay.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alb.health_of("g", a.port()).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a still listed 5 s after its last request ended (delay 60 s): {:#?}",
            alb.target_health("g")
        );
        thread::sleep(Duration::from_millis(200));
    }
    let port = a.port().to_string();
    let r = alb.elbv2(&[
        ("Action", "DescribeTargetHealth"),
        ("TargetGroupArn", "g"),
        ("Targets.member.1.Id", "127.0.0.1"),
        ("Targets.member.1.Port", &port),
    ]);
    let only = parse_target_health(&r.body_text());
    assert_eq!(only.len(), 1, "{r:?}");
    assert_eq!(only[0].state, "unused", "{r:?}");
    assert_eq!(
        only[0].reason.as_deref(),
        Some("Target.NotRegistered"),
        "{r:?}"
    );
    let served = spray(&alb, &node, "/after/", 10);
    assert_eq!(count(&served, "b"), 10, "{served:?}");
}

/// A target group that no listener forwards to: ALB neither checks its targets nor counts them,
/// and shows them `unused` (`Target.NotInUse`).
#[test]
fn a_group_no_listener_uses_is_not_checked_and_its_targets_are_unused() {
    let a = target("a", 200);
    let spare = target("spare", 200);
    let mut groups = target_group_block("g", &[(a.port(), "a")], &checks("200"), "");
    groups.push_str(&target_group_block(
        "spare",
        &[(spare.port(), "a")],
        &checks("200"),
        "",
    ));
    let (alb, _node) = start("health-unused", &groups);
    alb.wait_state("g", a.port(), "healthy", SETTLE);
    let h = alb
        .health_of("spare", spare.port())
        .expect("the spare group's target is registered");
    assert_eq!(h.state, "unused", "{h:?}");
    assert_eq!(h.reason.as_deref(), Some("Target.NotInUse"), "{h:?}");
    assert_eq!(
        spare.count_path("/hc"),
        0,
        "no health check reaches it: {:#?}",
        spare.requests()
    );
    assert!(a.count_path("/hc") >= 2, "{:#?}", a.requests());
}

#[test]
fn registered_target_gets_traffic_once_healthy() {
    let a = target("a", 200);
    let c = target("c", 200);
    let group = target_group_block("g", &[(a.port(), "a")], &checks("200"), "");
    let (alb, node) = start("health-register", &group);
    alb.wait_state("g", a.port(), "healthy", SETTLE);

    let r = alb.register("g", &[(c.port(), "a")]);
    assert_eq!(r.status, 200, "RegisterTargets: {r:?}");
    let h = alb.health_of("g", c.port()).expect("c is registered");
    assert_eq!(h.state, "initial", "{h:?}");
    assert_eq!(h.zone.as_deref(), Some("a"), "{h:?}");
    let served = spray(&alb, &node, "/early/", 10);
    assert_eq!(
        count(&served, "a"),
        10,
        "a target in `initial` gets no traffic while another is healthy: {served:?}"
    );

    alb.wait_state("g", c.port(), "healthy", SETTLE);
    let served = spray(&alb, &node, "/later/", 20);
    assert!(
        count(&served, "c") >= 5,
        "the new target shares the traffic once healthy: {served:?}"
    );
    assert_eq!(c.count_prefix("/later/"), count(&served, "c"));
}

#[test]
fn slow_start_ramps_a_newly_healthy_target_from_well_below_to_its_fair_share() {
    let a = target("a", 200);
    let b = target("b", 200);
    let group = target_group_block(
        "g",
        &[(a.port(), "a")],
        &checks("200"),
        r#""load_balancing.algorithm.type" = "round_robin", "slow_start.duration_seconds" = 30"#,
    );
    let (alb, node) = start("health-slow-start", &group);
    alb.wait_state("g", a.port(), "healthy", SETTLE);
    let r = alb.register("g", &[(b.port(), "a")]);
    assert_eq!(r.status, 200, "RegisterTargets: {r:?}");
    alb.wait_state("g", b.port(), "healthy", SETTLE);
    let healthy_at = std::time::Instant::now();

    // In its first seconds after becoming healthy, b ramps up from (near) nothing.
    let served = spray(&alb, &node, "/ramp/", 200);
    let nb = count(&served, "b");
    assert!(
        nb < 50,
        "slow start (30 s): a target healthy for under a few seconds should get well below its fair share (100 of 200); got {nb}\n{}",
        alb.ferry.output_report()
    );
    assert_eq!(count(&served, "a") + nb, 200, "{served:?}");

    // Once the 30 s are over, b has its fair share (round robin: every other request).
    let ramp_over = healthy_at + Duration::from_secs(31);
    std::thread::sleep(ramp_over.saturating_duration_since(std::time::Instant::now()));
    let served = spray(&alb, &node, "/fair/", 200);
    let nb = count(&served, "b");
    assert!(
        (90..=110).contains(&nb),
        "after its slow start b gets its fair share (100 of 200); got {nb}"
    );
}
