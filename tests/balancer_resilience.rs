//! The balancer under a flood of connections, and lb_cookie stickiness across a target's health
//! flap (ALB moves the client to a healthy target and re-issues the cookie; the client stays there
//! when the first target recovers).

mod common;

use common::*;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn forward(port: u16) -> (u16, &'static str) {
    let _ = port;
    (
        port,
        "  default_actions = [{ type = \"forward\", target_group = \"web\" }]",
    )
}

#[test]
fn a_flood_of_idle_connections_does_not_stop_service() {
    let target = Origin::start("web");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let mut t = String::from("stack = \"flood\"\n\n");
    t.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[forward(port)],
    ));
    t.push_str(&target_group_block(
        "web",
        &[(target.port(), "a")],
        "enabled = false",
        "",
    ));
    let _alb = Alb::up("flood", &t, &[&node]);

    let mut idle = Vec::new();
    for _ in 0..800 {
        match TcpStream::connect(&node) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused while flooding: {e}", idle.len()),
        }
    }
    let client = Client::with_timeout(Duration::from_secs(5));
    for i in 0..20 {
        let r = client.get(&node, &format!("/during/{i}"), &[]);
        assert_eq!(
            r.status, 200,
            "a well-behaved client is served during the flood"
        );
    }
    drop(idle);
    assert_eq!(client.get(&node, "/after", &[]).status, 200);
    assert_eq!(target.count_prefix("/during/"), 20);
}

#[test]
fn lb_cookie_stickiness_survives_a_health_flap_as_alb_does() {
    let a_down = Arc::new(AtomicBool::new(false));
    let flag = a_down.clone();
    let a = Origin::start_with("a", move |req| {
        if req.path() == "/hc" && flag.load(Ordering::SeqCst) {
            Response::text(500, "sick")
        } else {
            default_origin_response("a", req)
        }
    });
    let b = Origin::start("b");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let mut t = String::from("stack = \"flap\"\n\n");
    t.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[forward(port)],
    ));
    t.push_str(&target_group_block(
        "web",
        &[(a.port(), "a"), (b.port(), "a")],
        "path = \"/hc\", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2, unhealthy_threshold_count = 2",
        "\"stickiness.enabled\" = true, \"stickiness.type\" = \"lb_cookie\"",
    ));
    let alb = Alb::up("flap", &t, &[&node]);
    alb.wait_state("web", a.port(), "healthy", Duration::from_secs(20));
    alb.wait_state("web", b.port(), "healthy", Duration::from_secs(20));

    // Find a cookie that pins this client to target a.
    let client = Client::new();
    let mut cookie = None;
    for _ in 0..10 {
        let r = client.get(&node, "/pin", &[]);
        if r.body_text().starts_with("origin a") {
            cookie = set_cookie_value(&r, "AWSALB").map(str::to_string);
            break;
        }
    }
    let cookie = cookie.expect("a request reached target a and got an AWSALB cookie");
    let header = format!("AWSALB={cookie}");
    for _ in 0..5 {
        let r = client.get(&node, "/sticky", &[("Cookie", &header)]);
        assert!(
            r.body_text().starts_with("origin a"),
            "pinned to a: {}",
            r.body_text()
        );
    }

    // a goes unhealthy: the client moves to b with a new cookie.
    a_down.store(true, Ordering::SeqCst);
    alb.wait_state("web", a.port(), "unhealthy", Duration::from_secs(20));
    let r = client.get(&node, "/moved", &[("Cookie", &header)]);
    assert!(
        r.body_text().starts_with("origin b"),
        "moved to the healthy target: {}",
        r.body_text()
    );
    let moved = set_cookie_value(&r, "AWSALB")
        .expect("a new AWSALB cookie")
        .to_string();
    assert_ne!(moved, cookie, "the cookie now names the new target");

    // a recovers: the client stays where its cookie says.
    a_down.store(false, Ordering::SeqCst);
    alb.wait_state("web", a.port(), "healthy", Duration::from_secs(20));
    let header = format!("AWSALB={moved}");
    for _ in 0..5 {
        let r = client.get(&node, "/after", &[("Cookie", &header)]);
        assert!(
            r.body_text().starts_with("origin b"),
            "stays on b: {}",
            r.body_text()
        );
    }
}
