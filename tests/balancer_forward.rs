//! The balancer's forward action through a running `ferry up`: weighted target groups and
//! target-group stickiness (`AWSALBTG`), then the target groups' own algorithms (round robin,
//! least outstanding requests, weighted random with anomaly mitigation), target stickiness
//! (`lb_cookie`: `AWSALB`/`AWSALBCORS`; `app_cookie`: `AWSALBAPP-0`), and zones with cross-zone
//! load balancing off. Targets are recording [`Origin`]s; health checks are off (targets are
//! `unavailable`, which takes traffic) so that only the feature under test decides.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const NO_CHECKS: &str = "enabled = false";

/// `ferry up` with one load balancer on `nodes` (zone, IP), one listener with `listener` lines,
/// and `groups` (target group blocks). Returns the process and the listener port.
fn start(label: &str, nodes: &[(&str, &str)], listener: &str, groups: &[String]) -> (Alb, u16) {
    let ips: Vec<&str> = nodes.iter().map(|(_, ip)| *ip).collect();
    let port = free_port_on(&ips);
    let mut toml = format!("stack = \"e2e-{label}\"\n\n");
    toml.push_str(&lb_block("alb", nodes, "", &[(port, listener)]));
    for g in groups {
        toml.push_str(g);
    }
    let ready: Vec<String> = ips.iter().map(|ip| format!("{ip}:{port}")).collect();
    let ready: Vec<&str> = ready.iter().map(String::as_str).collect();
    (Alb::up(label, &toml, &ready), port)
}

/// Counts of `X-Origin-Name` over responses.
fn tally<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for n in names {
        *m.entry(n.to_string()).or_insert(0) += 1;
    }
    m
}

/// GETs `path` with `headers`, asserting 200, and returns who served it.
fn served(c: &Client, node: &str, path: &str, headers: &[(&str, &str)]) -> (String, Response) {
    let r = c.get(node, path, headers);
    assert_eq!(r.status, 200, "GET {path} {headers:?}: {r:?}");
    (served_by(&r).to_string(), r)
}

#[test]
fn weighted_target_groups_split_by_weight_and_weight_zero_gets_nothing() {
    let g1 = Origin::start("g1");
    let g3 = Origin::start("g3");
    let g0 = Origin::start("g0");
    let listener = r#"  default_actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "g1", weight = 1 }, { target_group = "g3", weight = 3 }, { target_group = "g0", weight = 0 }] } }]"#;
    let groups = [
        target_group_block("g1", &[(g1.port(), "a")], NO_CHECKS, ""),
        target_group_block("g3", &[(g3.port(), "a")], NO_CHECKS, ""),
        target_group_block("g0", &[(g0.port(), "a")], NO_CHECKS, ""),
    ];
    let (alb, port) = start("forward-weights", &[("a", "127.0.0.1")], listener, &groups);
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();
    for i in 0..400 {
        let (name, r) = served(&c, &node, &format!("/w/{i}"), &[]);
        assert!(
            ["g1", "g3"].contains(&name.as_str()),
            "request {i} went to {name:?}: {r:?}"
        );
        assert!(
            r.headers.get_all("set-cookie").is_empty(),
            "no group stickiness configured, yet: {r:?}"
        );
    }
    let (n1, n3, n0) = (
        g1.count_prefix("/w/"),
        g3.count_prefix("/w/"),
        g0.count_prefix("/w/"),
    );
    assert_eq!(n1 + n3 + n0, 400, "g1 {n1}, g3 {n3}, g0 {n0}");
    assert!(
        (90..=110).contains(&n1) && (270..=330).contains(&n3),
        "weights 1:3 over 400 requests should give about 100:300 (±10%), got g1 {n1}, g3 {n3}\n{}",
        alb.ferry.output_report()
    );
    assert_eq!(
        g0.count(),
        0,
        "a group of weight 0 never gets traffic: {:#?}",
        g0.requests()
    );
}

#[test]
fn target_group_stickiness_pins_a_client_to_one_group() {
    let ga = Origin::start("ga");
    let gb = Origin::start("gb");
    let listener = r#"  default_actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "ga", weight = 1 }, { target_group = "gb", weight = 1 }], target_group_stickiness_config = { enabled = true, duration_seconds = 300 } } }]"#;
    let groups = [
        target_group_block("ga", &[(ga.port(), "a")], NO_CHECKS, ""),
        target_group_block("gb", &[(gb.port(), "a")], NO_CHECKS, ""),
    ];
    let (alb, port) = start(
        "forward-tg-sticky",
        &[("a", "127.0.0.1")],
        listener,
        &groups,
    );
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();

    let (first, r0) = served(&c, &node, "/tg/first", &[]);
    let tg = set_cookies_named(&r0, "AWSALBTG");
    let cors = set_cookies_named(&r0, "AWSALBTGCORS");
    assert_eq!(tg.len(), 1, "one AWSALBTG cookie: {r0:?}");
    assert_eq!(cors.len(), 1, "one AWSALBTGCORS cookie: {r0:?}");
    assert!(
        tg[0].contains("Expires=") && tg[0].contains("Path=/"),
        "AWSALBTG has Expires and Path=/: {r0:?}"
    );
    assert!(
        cors[0].contains("SameSite=None") && cors[0].contains("Secure"),
        "AWSALBTGCORS is SameSite=None; Secure: {r0:?}"
    );
    let value = set_cookie_value(&r0, "AWSALBTG")
        .expect("value")
        .to_string();
    assert!(!value.is_empty(), "{r0:?}");
    assert_eq!(
        set_cookie_value(&r0, "AWSALBTGCORS"),
        Some(value.as_str()),
        "{r0:?}"
    );

    let cookie = format!("AWSALBTG={value}");
    let cors_only = format!("AWSALBTGCORS={value}");
    let mut names = Vec::new();
    for i in 0..20 {
        names.push(served(&c, &node, &format!("/tg/s{i}"), &[("Cookie", &cookie)]).0);
        names.push(served(&c, &node, &format!("/tg/c{i}"), &[("Cookie", &cors_only)]).0);
    }
    let t = tally(names.iter().map(String::as_str));
    assert_eq!(
        t.get(&first).copied(),
        Some(40),
        "with its cookie a client stays on group {first}: {t:?}\n{}",
        alb.ferry.output_report()
    );

    // Without the cookie, requests spread over both groups; the other group's cookie pins there.
    let mut seen = Vec::new();
    let mut other_cookie = None;
    for i in 0..20 {
        let (name, r) = served(&c, &node, &format!("/tg/n{i}"), &[]);
        if name != first && other_cookie.is_none() {
            other_cookie = set_cookie_value(&r, "AWSALBTG").map(str::to_string);
        }
        seen.push(name);
    }
    let t = tally(seen.iter().map(String::as_str));
    assert_eq!(t.len(), 2, "cookie-less clients reach both groups: {t:?}");
    let other = other_cookie.expect("the other group set a cookie");
    assert_ne!(other, value, "each group has its own cookie value");
    let cookie = format!("AWSALBTG={other}");
    for i in 0..10 {
        let (name, r) = served(&c, &node, &format!("/tg/o{i}"), &[("Cookie", &cookie)]);
        assert_ne!(name, first, "the other group's cookie pins there: {r:?}");
    }
}

#[test]
fn round_robin_spreads_evenly_over_four_targets() {
    let ts: Vec<Origin> = (1..=4).map(|i| Origin::start(&format!("t{i}"))).collect();
    let targets: Vec<(u16, &str)> = ts
        .iter()
        .enumerate()
        .map(|(i, o)| (o.port(), ["a", "b"][i % 2]))
        .collect();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "rr" }]"#;
    let groups = [target_group_block(
        "rr",
        &targets,
        NO_CHECKS,
        r#""load_balancing.algorithm.type" = "round_robin""#,
    )];
    let (alb, port) = start(
        "forward-round-robin",
        &[("a", "127.0.0.1"), ("b", "127.0.0.2")],
        listener,
        &groups,
    );
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();
    for i in 0..200 {
        served(&c, &node, &format!("/rr/{i}"), &[]);
    }
    let counts: Vec<usize> = ts.iter().map(|o| o.count_prefix("/rr/")).collect();
    assert_eq!(counts.iter().sum::<usize>(), 200, "{counts:?}");
    assert!(
        counts.iter().all(|n| (45..=55).contains(n)),
        "round robin over 4 targets, 200 requests: each should get 50 (±5), got {counts:?}\n{}",
        alb.ferry.output_report()
    );
}

#[test]
fn least_outstanding_requests_sends_fewer_to_a_slow_target() {
    let slow = Origin::start_with("slow", |req| {
        let r = default_origin_response("slow", req);
        if req.target.starts_with("/lor/") {
            r.with_delay(Duration::from_millis(300))
        } else {
            r
        }
    });
    let fast = Origin::start("fast");
    let listener = r#"  default_actions = [{ type = "forward", target_group = "lor" }]"#;
    let groups = [target_group_block(
        "lor",
        &[(slow.port(), "a"), (fast.port(), "a")],
        NO_CHECKS,
        r#""load_balancing.algorithm.type" = "least_outstanding_requests""#,
    )];
    let (alb, port) = start("forward-lor", &[("a", "127.0.0.1")], listener, &groups);
    let node = format!("127.0.0.1:{port}");

    let failures = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..40)
        .map(|w| {
            let node = node.clone();
            let failures = failures.clone();
            thread::spawn(move || {
                let c = Client::new();
                let mut i = 0;
                while Instant::now() < stop_at {
                    match c.try_get(&node, &format!("/lor/{w}/{i}"), &[]) {
                        Ok(r) if r.status == 200 => {}
                        _ => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let (ns, nf) = (slow.count_prefix("/lor/"), fast.count_prefix("/lor/"));
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "every request is answered 200\n{}",
        alb.ferry.output_report()
    );
    assert!(
        nf >= 100,
        "40 clients for 3 s should make many requests: fast {nf}, slow {ns}"
    );
    assert!(
        ns * 4 < nf,
        "least outstanding requests: the slow target (300 ms) should get clearly fewer than the fast one; slow {ns}, fast {nf}\n{}",
        alb.ferry.output_report()
    );
}

#[test]
fn weighted_random_with_anomaly_mitigation_down_weights_a_failing_target() {
    let good1 = Origin::start("good1");
    let good2 = Origin::start("good2");
    let bad = Origin::start_with("bad", |_| {
        Response::text(500, "broken").with_header("X-Origin-Name", "bad")
    });
    let listener = r#"  default_actions = [{ type = "forward", target_group = "wr" }]"#;
    let groups = [target_group_block(
        "wr",
        &[(good1.port(), "a"), (good2.port(), "a"), (bad.port(), "a")],
        NO_CHECKS,
        r#""load_balancing.algorithm.type" = "weighted_random", "load_balancing.algorithm.anomaly_mitigation" = "on""#,
    )];
    let (alb, port) = start("forward-atw", &[("a", "127.0.0.1")], listener, &groups);
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();
    let mut statuses = BTreeMap::new();
    for i in 0..600 {
        let r = c.get(&node, &format!("/wr/{i}"), &[]);
        *statuses.entry(r.status).or_insert(0usize) += 1;
        if served_by(&r) == "bad" {
            assert_eq!(r.status, 500, "the target's 500 is passed through: {r:?}");
        }
    }
    let (n1, n2, nb) = (
        good1.count_prefix("/wr/"),
        good2.count_prefix("/wr/"),
        bad.count_prefix("/wr/"),
    );
    assert_eq!(n1 + n2 + nb, 600, "{statuses:?}");
    assert!(
        nb < 120,
        "anomaly mitigation: a target answering 500 should get clearly fewer than its fair share (200 of 600); got bad {nb}, good1 {n1}, good2 {n2}\n{}",
        alb.ferry.output_report()
    );
    assert!(
        n1 > 150 && n2 > 150,
        "the healthy targets share the rest: good1 {n1}, good2 {n2}, bad {nb}"
    );
}

#[test]
fn lb_cookie_stickiness_keeps_a_client_on_one_target() {
    let ts: Vec<Origin> = (1..=3).map(|i| Origin::start(&format!("s{i}"))).collect();
    let targets: Vec<(u16, &str)> = ts.iter().map(|o| (o.port(), "a")).collect();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "sticky" }]"#;
    let groups = [target_group_block(
        "sticky",
        &targets,
        NO_CHECKS,
        r#""stickiness.enabled" = true, "stickiness.type" = "lb_cookie", "stickiness.lb_cookie.duration_seconds" = 120"#,
    )];
    let (alb, port) = start(
        "forward-lb-cookie",
        &[("a", "127.0.0.1")],
        listener,
        &groups,
    );
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();

    let (first, r0) = served(&c, &node, "/lb/first", &[]);
    let lb = set_cookies_named(&r0, "AWSALB");
    let cors = set_cookies_named(&r0, "AWSALBCORS");
    assert_eq!(lb.len(), 1, "one AWSALB cookie: {r0:?}");
    assert_eq!(cors.len(), 1, "one AWSALBCORS cookie: {r0:?}");
    assert!(
        lb[0].contains("Expires=") && lb[0].contains("Path=/"),
        "{r0:?}"
    );
    assert!(
        cors[0].contains("Expires=")
            && cors[0].contains("Path=/")
            && cors[0].contains("SameSite=None")
            && cors[0].contains("Secure"),
        "{r0:?}"
    );
    let value = set_cookie_value(&r0, "AWSALB").expect("AWSALB").to_string();
    assert_eq!(
        set_cookie_value(&r0, "AWSALBCORS"),
        Some(value.as_str()),
        "{r0:?}"
    );
    assert!(
        set_cookies_named(&r0, "AWSALBTG").is_empty(),
        "no group stickiness here: {r0:?}"
    );

    // The same client (its cookie, or only the CORS twin) stays on its target.
    let cookie = format!("AWSALB={value}; theme=dark");
    let cors_only = format!("AWSALBCORS={value}");
    for i in 0..20 {
        for (what, h) in [("AWSALB", &cookie), ("AWSALBCORS", &cors_only)] {
            let (name, r) = served(&c, &node, &format!("/lb/{what}/{i}"), &[("Cookie", h)]);
            assert_eq!(
                name,
                first,
                "with {what} the client stays on {first}: {r:?}\n{}",
                alb.ferry.output_report()
            );
            assert!(
                set_cookie_value(&r, "AWSALB").is_some(),
                "the cookie is refreshed on every response: {r:?}"
            );
        }
    }

    // Clients without the cookie are balanced; another target's cookie pins to it.
    let mut seen = Vec::new();
    let mut other = None;
    for i in 0..30 {
        let (name, r) = served(&c, &node, &format!("/lb/new/{i}"), &[]);
        if name != first && other.is_none() {
            other = set_cookie_value(&r, "AWSALB").map(|v| (name.clone(), v.to_string()));
        }
        seen.push(name);
    }
    let t = tally(seen.iter().map(String::as_str));
    assert!(t.len() >= 2, "new clients are balanced: {t:?}");
    let (other_name, other_value) = other.expect("a client on another target");
    let cookie = format!("AWSALB={other_value}");
    for i in 0..10 {
        let (name, _) = served(&c, &node, &format!("/lb/other/{i}"), &[("Cookie", &cookie)]);
        assert_eq!(name, other_name);
    }

    // A cookie that names nothing is ignored: the request is balanced and gets a fresh cookie.
    let (_, r) = served(
        &c,
        &node,
        "/lb/bogus",
        &[("Cookie", "AWSALB=not-a-real-value")],
    );
    let fresh = set_cookie_value(&r, "AWSALB").unwrap_or("");
    assert!(!fresh.is_empty() && fresh != "not-a-real-value", "{r:?}");
}

#[test]
fn app_cookie_stickiness_starts_when_the_target_sets_its_cookie() {
    let names = ["p1", "p2", "p3"];
    let ts: Vec<Origin> = names
        .iter()
        .map(|n| {
            let name = n.to_string();
            Origin::start_with(n, move |req| {
                let r = default_origin_response(&name, req);
                if req.path().starts_with("/login") {
                    r.with_header("Set-Cookie", format!("SESSIONID={name}-session; Path=/"))
                } else {
                    r
                }
            })
        })
        .collect();
    let targets: Vec<(u16, &str)> = ts.iter().map(|o| (o.port(), "a")).collect();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "app" }]"#;
    let groups = [target_group_block(
        "app",
        &targets,
        NO_CHECKS,
        r#""stickiness.enabled" = true, "stickiness.type" = "app_cookie", "stickiness.app_cookie.cookie_name" = "SESSIONID", "stickiness.app_cookie.duration_seconds" = 300"#,
    )];
    let (alb, port) = start(
        "forward-app-cookie",
        &[("a", "127.0.0.1")],
        listener,
        &groups,
    );
    let node = format!("127.0.0.1:{port}");
    let c = Client::new();

    // Until a target sets SESSIONID there is no AWSALBAPP cookie and requests are balanced.
    let mut seen = Vec::new();
    for i in 0..6 {
        let (name, r) = served(&c, &node, &format!("/app/before/{i}"), &[]);
        assert!(
            r.headers.get_all("set-cookie").is_empty(),
            "no cookie before the application sets one: {r:?}"
        );
        seen.push(name);
    }
    let t = tally(seen.iter().map(String::as_str));
    assert!(t.len() >= 2, "balanced before stickiness: {t:?}");

    let (owner, r) = served(&c, &node, "/login", &[]);
    let session = set_cookie_value(&r, "SESSIONID")
        .unwrap_or_else(|| panic!("the application's cookie passes through: {r:?}"))
        .to_string();
    assert_eq!(session, format!("{owner}-session"));
    let app = set_cookie_value(&r, "AWSALBAPP-0")
        .unwrap_or_else(|| {
            panic!(
                "AWSALBAPP-0 is set when the target sets SESSIONID: {r:?}\n{}",
                alb.ferry.output_report()
            )
        })
        .to_string();
    assert!(!app.is_empty(), "{r:?}");

    let cookie = format!("SESSIONID={session}; AWSALBAPP-0={app}");
    for i in 0..20 {
        let (name, r) = served(
            &c,
            &node,
            &format!("/app/after/{i}"),
            &[("Cookie", &cookie)],
        );
        assert_eq!(
            name,
            owner,
            "with the application cookie and AWSALBAPP-0 the client stays on {owner}: {r:?}\n{}",
            alb.ferry.output_report()
        );
    }
}

#[test]
fn cross_zone_off_keeps_each_node_to_its_own_zone() {
    let za1 = Origin::start("za1");
    let za2 = Origin::start("za2");
    let zb1 = Origin::start("zb1");
    let sa = Origin::start("sa");
    let sb = Origin::start("sb");
    let oa = Origin::start("oa");
    let listener = r#"  default_actions = [{ type = "forward", target_group = "spread" }]

    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{ field = "path-pattern", values = ["/zonal/*"] }]
    actions = [{ type = "forward", target_group = "zonal" }]

    [[load_balancers.listeners.rules]]
    priority = 2
    conditions = [{ field = "path-pattern", values = ["/onlya/*"] }]
    actions = [{ type = "forward", target_group = "onlya" }]
"#;
    let off = r#""load_balancing.cross_zone.enabled" = false"#;
    let groups = [
        target_group_block(
            "zonal",
            &[(za1.port(), "a"), (za2.port(), "a"), (zb1.port(), "b")],
            NO_CHECKS,
            off,
        ),
        target_group_block(
            "spread",
            &[(sa.port(), "a"), (sb.port(), "b")],
            NO_CHECKS,
            "",
        ),
        target_group_block("onlya", &[(oa.port(), "a")], NO_CHECKS, off),
    ];
    let (alb, port) = start(
        "forward-zones",
        &[("a", "127.0.0.1"), ("b", "127.0.0.2")],
        listener,
        &groups,
    );
    let node_a = format!("127.0.0.1:{port}");
    let node_b = format!("127.0.0.2:{port}");
    let c = Client::new();

    let mut from_a = Vec::new();
    for i in 0..40 {
        from_a.push(served(&c, &node_a, &format!("/zonal/a{i}"), &[]).0);
    }
    let mut from_b = Vec::new();
    for i in 0..20 {
        from_b.push(served(&c, &node_b, &format!("/zonal/b{i}"), &[]).0);
    }
    let ta = tally(from_a.iter().map(String::as_str));
    let tb = tally(from_b.iter().map(String::as_str));
    assert!(
        ta.keys().all(|k| k == "za1" || k == "za2") && ta.len() == 2,
        "zone a's node reaches only (both of) zone a's targets: {ta:?}\n{}",
        alb.ferry.output_report()
    );
    assert_eq!(
        tb.get("zb1").copied(),
        Some(20),
        "zone b's node reaches only zone b's target: {tb:?}"
    );

    // Cross-zone on (the default): each node reaches both zones.
    let mut spread = Vec::new();
    for i in 0..20 {
        spread.push(served(&c, &node_a, &format!("/spread/{i}"), &[]).0);
    }
    let ts = tally(spread.iter().map(String::as_str));
    assert_eq!(ts.len(), 2, "cross-zone on reaches every zone: {ts:?}");

    // Cross-zone off and no target in the node's zone: 503.
    let r = c.get(&node_b, "/onlya/x", &[]);
    assert_eq!(
        r.status, 503,
        "a zone without targets and cross-zone off answers 503: {r:?}"
    );
    assert_eq!(r.header("server"), Some("awselb/2.0"), "{r:?}");
    assert_eq!(oa.count_prefix("/onlya/"), 0);
    let r = c.get(&node_a, "/onlya/y", &[]);
    assert_eq!(served_by(&r), "oa", "{r:?}");

    // A target registered without an AvailabilityZone is ALB's `all`: every zone's node sends
    // to it, cross-zone off or not. A zone no node has is refused.
    let anywhere = Origin::start("anywhere");
    let port = anywhere.port().to_string();
    let register = |zone: Option<&str>| {
        let mut params = vec![
            ("Action", "RegisterTargets"),
            ("TargetGroupArn", "onlya"),
            ("Targets.member.1.Id", "127.0.0.1"),
            ("Targets.member.1.Port", port.as_str()),
        ];
        if let Some(zone) = zone {
            params.push(("Targets.member.1.AvailabilityZone", zone));
        }
        alb.elbv2(&params)
    };
    let r = register(Some("c"));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body_text().contains("availability zone `c`"), "{r:?}");
    assert!(
        alb.health_of("onlya", anywhere.port()).is_none(),
        "nothing registered"
    );
    let r = register(None);
    assert_eq!(r.status, 200, "RegisterTargets: {r:?}");
    let h = alb.health_of("onlya", anywhere.port()).expect("registered");
    assert_eq!(h.zone.as_deref(), Some("all"), "{h:?}");
    let r = c.get(&node_b, "/onlya/z", &[]);
    assert_eq!(
        served_by(&r),
        "anywhere",
        "zone b's node reaches the `all` target: {r:?}"
    );
}
