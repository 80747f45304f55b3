//! The topology format's contract: design.md's example and the embedded default both load, and
//! their fields land where the data planes and the provisioner expect them.

use ferry_config::model::{Action, Algorithm, OriginTarget};
use std::path::Path;

fn design() -> ferry_config::Topology {
    let dir = std::env::temp_dir().join(format!("ferry-config-design-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("certs")).expect("temp dir");
    // Validation loads the certificates: real ones, made now.
    for (label, name) in [
        ("default", "default.example.test"),
        ("site", "www.example.test"),
    ] {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let certs = dir.join("certs");
        std::fs::write(certs.join(format!("{label}.pem")), cert.pem()).expect("write");
        std::fs::write(certs.join(format!("{label}.key")), key.serialize_pem()).expect("write");
    }
    let text = include_str!("fixtures/design.toml");
    match ferry_config::parse("design.toml", text, &dir) {
        Ok(t) => t,
        Err(e) => panic!("design.md's example must load:\n{e}"),
    }
}

#[test]
fn design_example_loads_with_its_semantics() {
    let t = design();
    assert_eq!(t.spec.stack, "demo");
    let edge = t.edge.as_ref().expect("edge");
    assert_eq!(edge.http.map(|a| a.port()), Some(8080));
    assert_eq!(edge.cache_size, 512 << 20);
    let d = &t.distributions[0];
    assert_eq!(d.behaviors.len(), 3);
    assert_eq!(d.behavior_for("/api/users").cache_policy.name, "api-short");
    assert_eq!(
        d.behavior_for("/static/a.css").target,
        OriginTarget::Group(0)
    );
    assert_eq!(
        d.behavior_for("/other").cache_policy.managed_id,
        Some("658327ea-f89d-4fab-a63d-7e88639e58f6")
    );
    assert_eq!(d.origin_groups[0].members, [1, 0]);
    assert_eq!(t.resolve.get("alb.internal").map(Vec::len), Some(2));
    let lb = &t.load_balancers[0];
    let rules = &lb.listeners[0].rules;
    assert_eq!(
        rules.iter().map(|r| r.priority).collect::<Vec<_>>(),
        [10, 20, 30, 40]
    );
    match &rules[1].action {
        Action::Forward(f) => {
            assert_eq!(f.target_groups, [(0, 1), (1, 3)]);
            assert!(f.stickiness.is_some());
        }
        other => panic!("rule 20 forwards: {other:?}"),
    }
    assert!(matches!(rules[2].action, Action::Redirect(_)));
    assert!(matches!(rules[3].action, Action::FixedResponse(_)));
    let web = &t.target_groups[0];
    assert_eq!(web.algorithm, Algorithm::LeastOutstandingRequests);
    assert_eq!(web.cross_zone, Some(false));
    assert_eq!(
        web.attributes.get("stickiness.enabled").map(String::as_str),
        Some("true")
    );
    assert_eq!(t.target_groups[1].targets[0].port, 9003);
    assert_eq!(
        lb.attributes
            .get("idle_timeout.timeout_seconds")
            .map(String::as_str),
        Some("60")
    );
}

#[test]
fn embedded_default_loads() {
    let t = ferry_config::parse(
        "default.toml",
        ferry_config::DEFAULT_TOPOLOGY,
        Path::new("."),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.demo_targets.len(), 2);
    assert_eq!(t.zones(), ["a", "b"]);
}

#[test]
fn errors_are_located_and_all_reported() {
    let text = "stack = \"x\"\n\n[[target_groups]]\nname = \"web\"\nport = 80\nhealth_check = { interval_seconds = 301 }\n\n[[target_groups]]\nname = \"web\"\nport = 81\n";
    let err = ferry_config::parse("t.toml", text, Path::new(".")).expect_err("invalid");
    let d = err.diagnostics();
    assert_eq!(d.len(), 2, "{err}");
    assert_eq!(
        (d[0].line, d[0].path.as_str()),
        (6, "target_groups[0].health_check.interval_seconds")
    );
    assert_eq!(
        (d[1].line, d[1].column, d[1].path.as_str()),
        (9, 1, "target_groups[1].name")
    );
}

#[test]
fn unknown_field_suggests() {
    let text = "stack = \"x\"\n[[distributions]]\nid = \"d\"\n  [distributions.default_cache_behavior]\n  target_orgin_id = \"a\"\n";
    let err = ferry_config::parse("t.toml", text, Path::new(".")).expect_err("invalid");
    let d = &err.diagnostics()[0];
    assert_eq!((d.line, d.column), (5, 3), "{err}");
    assert_eq!(
        d.path,
        "distributions[0].default_cache_behavior.target_orgin_id"
    );
    assert!(
        d.message.contains("did you mean `target_origin_id`"),
        "{}",
        d.message
    );
}
