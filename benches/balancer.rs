//! Criterion benches of the balancer's hot pure paths: evaluating a listener with 100 rules, and
//! choosing a target among 100 with each algorithm.

use criterion::{criterion_group, criterion_main, Criterion};
use ferry_balancer::select::{pick_target, Groups};
use ferry_config::health::State;
use ferry_config::rules::{evaluate, RequestView};
use std::hint::black_box;
use std::net::IpAddr;
use std::path::Path;

struct Request;

impl RequestView for Request {
    fn host(&self) -> Option<&str> {
        Some("api.example.test")
    }
    fn path(&self) -> &str {
        "/service-99/users/42"
    }
    fn method(&self) -> &str {
        "GET"
    }
    fn query(&self) -> Option<&str> {
        Some("version=v2&debug=0")
    }
    fn source_ip(&self) -> IpAddr {
        IpAddr::from([10, 1, 2, 3])
    }
    fn any_header(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        name == "x-tenant" && pred("blue")
    }
}

/// A topology with one listener of 100 rules (the last one matches the request) and one target
/// group of 100 targets per algorithm.
fn topology() -> ferry_config::Topology {
    let mut text = String::from("stack = \"bench\"\n[[load_balancers]]\nname = \"alb\"\ndns_name = \"alb.internal\"\nnodes = { a = \"127.0.0.1\" }\n[[load_balancers.listeners]]\nport = 8081\nprotocol = \"HTTP\"\ndefault_actions = [{ type = \"forward\", target_group = \"rr\" }]\n");
    for i in 0..100 {
        text.push_str(&format!(
            "[[load_balancers.listeners.rules]]\npriority = {}\nconditions = [{{ field = \"host-header\", values = [\"*.example.test\"] }}, {{ field = \"path-pattern\", values = [\"/service-{i}/*\"] }}, {{ field = \"http-header\", http_header_name = \"X-Tenant\", values = [\"bl?e\"] }}]\nactions = [{{ type = \"forward\", target_group = \"rr\" }}]\n",
            i + 1
        ));
    }
    for (name, algorithm) in [
        ("rr", "round_robin"),
        ("lor", "least_outstanding_requests"),
        ("wr", "weighted_random"),
    ] {
        let targets: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "{{ id = \"127.0.0.1\", port = {}, zone = \"a\" }}",
                    10_000 + i
                )
            })
            .collect();
        text.push_str(&format!(
            "[[target_groups]]\nname = \"{name}\"\nport = 80\nattributes = {{ \"load_balancing.algorithm.type\" = \"{algorithm}\" }}\ntargets = [{}]\n",
            targets.join(", ")
        ));
    }
    match ferry_config::parse("bench.toml", &text, Path::new(".")) {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

fn rules(c: &mut Criterion) {
    let t = topology();
    let listener = &t.load_balancers[0].listeners[0];
    c.bench_function("rules_100_last_matches", |b| {
        b.iter(|| black_box(evaluate(listener, &Request)))
    });
}

fn selection(c: &mut Criterion) {
    let t = topology();
    let groups = Groups::new(&t.target_groups);
    let mut bench = c.benchmark_group("pick_target_100");
    for group in &groups.groups {
        for target in group.targets().iter() {
            target.set_state(State::Healthy);
        }
        bench.bench_function(group.config.name.as_str(), |b| {
            b.iter(|| black_box(pick_target(group, "a", None).ok()))
        });
    }
    bench.finish();
}

criterion_group!(benches, rules, selection);
criterion_main!(benches);
