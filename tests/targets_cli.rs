//! `ferry targets` against a running balancer: health, register, deregister, and its errors.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn targets_cli_reads_and_changes_a_running_balancer() {
    let a = Origin::start("a");
    let b = Origin::start("b");
    let port = free_port();
    let node = format!("127.0.0.1:{port}");
    let mut t = String::from("stack = \"targets\"\n\n");
    t.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, "forward-web")],
    ));
    t.push_str(&target_group_block(
        "web",
        &[(a.port(), "a")],
        "enabled = false",
        "\"deregistration_delay.timeout_seconds\" = 0",
    ));
    let toml = t.replace(
        "forward-web",
        "  default_actions = [{ type = \"forward\", target_group = \"web\" }]",
    );
    let alb = Alb::up("targets-cli", &toml, &[&node]);
    let admin = alb.admin.as_str();

    let out = ferry_cmd_timeout(
        &[
            "targets",
            "--admin",
            admin,
            "health",
            "--target-group",
            "web",
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains(&format!("127.0.0.1:{}\ta\tunavailable", a.port())),
        "{listing}"
    );

    let b_target = format!("127.0.0.1:{}@a", b.port());
    let out = ferry_cmd_timeout(
        &[
            "targets",
            "--admin",
            admin,
            "register",
            "--target-group",
            "web",
            &b_target,
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let a_target = format!("127.0.0.1:{}", a.port());
    let out = ferry_cmd_timeout(
        &[
            "targets",
            "--admin",
            admin,
            "deregister",
            "--target-group",
            "web",
            &a_target,
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let client = Client::new();
    for _ in 0..6 {
        assert_eq!(client.get(&node, "/x", &[]).status, 200);
    }
    assert_eq!(
        b.count_prefix("/x"),
        6,
        "every request goes to the registered target"
    );
    assert_eq!(a.count_prefix("/x"), 0, "none to the deregistered one");

    let out = ferry_cmd_timeout(
        &[
            "targets",
            "--admin",
            admin,
            "health",
            "--target-group",
            "nope",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
    let out = ferry_cmd_timeout(
        &[
            "targets",
            "--admin",
            admin,
            "register",
            "--target-group",
            "web",
            "not-an-ip",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("IP[:PORT][@ZONE]"),
        "{}",
        text(&out.stderr)
    );
}
