//! What a topology reload can change in a running process and what only a restart can: the
//! listening sockets, the worker threads, the cache's size, the admin listener and the ALPN list
//! are fixed when the process starts; everything else (distributions,
//! behaviors, policies, rules, target groups, certificates) is swapped in by a reload.

use crate::model::{Edge, LoadBalancer, Topology};
use crate::tls;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The parts of a topology one process runs.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub edge: bool,
    /// The balancer nodes: `None` = none, `Some(None)` = every zone, `Some(Some(z))` = zone `z`.
    pub zone: Option<Option<&'a str>>,
    pub demo_targets: bool,
    /// The command line sets the process's threads (`--threads`): `[edge] threads` does not.
    pub threads_from_cli: bool,
    /// The command line pins the threads (`--pin-threads`): `[edge] pin_threads` adds nothing.
    pub pinned_by_cli: bool,
}

/// Why `new` cannot replace `old` in a running process of `scope`, one line per reason (empty:
/// it can). Each line names the field and both values.
pub fn needs_restart(old: &Topology, new: &Topology, scope: Scope<'_>) -> Vec<String> {
    let mut why = Vec::new();
    threads(old, new, scope, &mut why);
    if scope.edge {
        edge(old, new, &mut why);
    }
    if let Some(zone) = scope.zone {
        balancer(old, new, zone, &mut why);
    }
    if scope.demo_targets {
        let listed = |t: &Topology| -> Vec<(String, SocketAddr)> {
            t.demo_targets
                .iter()
                .map(|d| (d.name.clone(), d.listen))
                .collect()
        };
        if listed(old) != listed(new) {
            why.push("demo_targets: the demo targets' names or addresses changed".into());
        }
    }
    why
}

fn changed<T: PartialEq + std::fmt::Debug>(why: &mut Vec<String>, field: &str, old: T, new: T) {
    if old != new {
        why.push(format!("{field}: {old:?} -> {new:?}"));
    }
}

/// Whether the edge's HTTPS listener offers HTTP/2 by ALPN.
pub fn edge_offers_http2(topology: &Topology) -> bool {
    topology
        .distributions
        .iter()
        .any(|d| d.enabled && tls::allows_http2(d.http_version))
}

/// The worker threads, which every process (edge, balancer or both) takes from `[edge]` unless the
/// command line says otherwise.
fn threads(old: &Topology, new: &Topology, scope: Scope<'_>, why: &mut Vec<String>) {
    let edge = |t: &Topology| t.edge.as_ref().map(|e| (e.threads, e.pin_threads));
    let (a, b) = (edge(old), edge(new));
    if !scope.threads_from_cli {
        let count = |e: Option<(usize, bool)>| match e {
            Some((n, _)) => n.to_string(),
            None => "one per CPU (no [edge] section)".into(),
        };
        let (a, b) = (count(a), count(b));
        if a != b {
            why.push(format!("edge.threads: {a} -> {b}"));
        }
    }
    if !scope.pinned_by_cli {
        changed(
            why,
            "edge.pin_threads",
            a.is_some_and(|e| e.1),
            b.is_some_and(|e| e.1),
        );
    }
}

fn edge(old: &Topology, new: &Topology, why: &mut Vec<String>) {
    let field = |e: Option<&Edge>| {
        e.map(|e| {
            (
                e.http,
                e.https,
                e.admin,
                e.admin_token.is_some(),
                e.cache_size,
                e.cache_max_object_size,
            )
        })
    };
    let (a, b) = (field(old.edge.as_ref()), field(new.edge.as_ref()));
    match (a, b) {
        (None, None) => return,
        (Some(a), Some(b)) => {
            changed(why, "edge.http", a.0, b.0);
            changed(why, "edge.https", a.1, b.1);
            changed(why, "edge.admin", a.2, b.2);
            if a.3 != b.3 {
                why.push("edge.admin_token: set or unset".into());
            }
            changed(why, "edge.cache_size", a.4, b.4);
            changed(why, "edge.cache_max_object_size", a.5, b.5);
        }
        _ => why.push("edge: the [edge] section was added or removed".into()),
    }
    if old.edge.as_ref().and_then(|e| e.https).is_some() {
        let (a, b) = (edge_offers_http2(old), edge_offers_http2(new));
        if a != b {
            why.push(format!(
                "distributions.http_version: the HTTPS listener's ALPN would {} h2 (no enabled distribution {} HTTP/2)",
                if b { "add" } else { "drop" },
                if b { "allowed" } else { "allows" }
            ));
        }
    }
}

/// What a balancer listener was started with: (protocol, HTTP/2 by ALPN).
type Socket = (String, bool);

fn sockets(topology: &Topology, zone: Option<&str>) -> BTreeMap<(String, SocketAddr), Socket> {
    let mut out = BTreeMap::new();
    for lb in &topology.load_balancers {
        let lb: &LoadBalancer = lb;
        for node in lb.nodes.iter().filter(|n| zone.is_none_or(|z| z == n.zone)) {
            for l in &lb.listeners {
                let http2 = l.tls.as_ref().is_some_and(|t| t.http2);
                out.insert(
                    (lb.name.clone(), SocketAddr::new(node.address, l.port)),
                    (format!("{:?}", l.protocol), http2),
                );
            }
        }
    }
    out
}

fn balancer(old: &Topology, new: &Topology, zone: Option<&str>, why: &mut Vec<String>) {
    let (a, b) = (sockets(old, zone), sockets(new, zone));
    for key in a.keys().filter(|k| !b.contains_key(*k)) {
        why.push(format!(
            "load_balancers.listeners: load balancer {:?} would stop listening on {}",
            key.0, key.1
        ));
    }
    for key in b.keys().filter(|k| !a.contains_key(*k)) {
        why.push(format!(
            "load_balancers.listeners: load balancer {:?} would listen on {}",
            key.0, key.1
        ));
    }
    for (key, was) in &a {
        let Some(is) = b.get(key) else { continue };
        let at = format!("load balancer {:?} listener {}", key.0, key.1);
        if was.0 != is.0 {
            why.push(format!(
                "load_balancers.listeners.protocol: {at}: {} -> {}",
                was.0, is.0
            ));
        }
        if was.1 != is.1 {
            why.push(format!(
                "load_balancers.attributes: {at}: routing.http2.enabled {} -> {}",
                was.1, is.1
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"
stack = "t"
[edge]
http = "127.0.0.1:8080"
cache_size = "64MiB"

[[distributions]]
id = "d"
aliases = ["a.test"]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingOptimized" }
origins = [{ id = "o", domain_name = "127.0.0.1", custom_origin_config = { http_port = 9000, origin_protocol_policy = "http-only" } }]

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = { a = "127.0.0.1", b = "127.0.0.2" }
  [[load_balancers.listeners]]
  port = 8081
  protocol = "HTTP"
  default_actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200" } }]
"#;

    fn parse(text: &str) -> Topology {
        crate::parse("t.toml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    const ALL: Scope<'static> = Scope {
        edge: true,
        zone: Some(None),
        demo_targets: true,
        threads_from_cli: false,
        pinned_by_cli: false,
    };
    /// A process of zone b alone, its threads as the topology says.
    const ZONE_B: Scope<'static> = Scope {
        edge: false,
        zone: Some(Some("b")),
        demo_targets: false,
        threads_from_cli: false,
        pinned_by_cli: false,
    };
    /// Every part, started with `--threads N --pin-threads`.
    const ALL_FROM_CLI: Scope<'static> = Scope {
        threads_from_cli: true,
        pinned_by_cli: true,
        ..ALL
    };

    #[test]
    fn what_needs_a_restart() {
        let cases: &[(&str, &str, &str, Scope<'static>)] = &[
            // (what, replace, with, scope): an empty `what` means the reload is taken.
            ("", "aliases = [\"a.test\"]", "aliases = [\"b.test\"]", ALL),
            ("", "status_code = \"200\"", "status_code = \"404\"", ALL),
            ("edge.http", "127.0.0.1:8080", "127.0.0.1:8090", ALL),
            ("edge.cache_size", "64MiB", "32MiB", ALL),
            (
                "edge.pin_threads",
                "cache_size = \"64MiB\"",
                "cache_size = \"64MiB\"\npin_threads = true",
                ALL,
            ),
            (
                "edge.threads: ",
                "cache_size = \"64MiB\"",
                "cache_size = \"64MiB\"\nthreads = 97",
                ALL,
            ),
            // A balancer takes its threads from [edge] too.
            (
                "edge.threads: ",
                "cache_size = \"64MiB\"",
                "cache_size = \"64MiB\"\nthreads = 97",
                ZONE_B,
            ),
            // The command line's --threads and --pin-threads decide: [edge]'s do not count.
            (
                "",
                "cache_size = \"64MiB\"",
                "cache_size = \"64MiB\"\nthreads = 97",
                ALL_FROM_CLI,
            ),
            (
                "",
                "cache_size = \"64MiB\"",
                "cache_size = \"64MiB\"\npin_threads = true",
                ALL_FROM_CLI,
            ),
            (
                "would listen on 127.0.0.3:8081",
                "b = \"127.0.0.2\"",
                "b = \"127.0.0.2\", c = \"127.0.0.3\"",
                ALL,
            ),
            (
                "would stop listening on 127.0.0.1:8081",
                "port = 8081",
                "port = 8082",
                ALL,
            ),
            // A process of zone b does not mind zone a's node, nor the edge.
            ("", "a = \"127.0.0.1\"", "a = \"127.0.0.5\"", ZONE_B),
            ("", "127.0.0.1:8080", "127.0.0.1:8090", ZONE_B),
            (
                "would listen on 127.0.0.5:8081",
                "a = \"127.0.0.1\"",
                "a = \"127.0.0.5\"",
                Scope {
                    edge: false,
                    zone: Some(Some("a")),
                    demo_targets: false,
                    threads_from_cli: false,
                    pinned_by_cli: false,
                },
            ),
        ];
        let old = parse(BASE);
        for (what, from, to, scope) in cases {
            assert!(BASE.contains(from), "{from}");
            let new = parse(&BASE.replace(from, to));
            let why = needs_restart(&old, &new, *scope);
            if what.is_empty() {
                assert!(why.is_empty(), "{from} -> {to}: {why:?}");
            } else {
                assert!(
                    why.iter().any(|w| w.contains(what)),
                    "{from} -> {to}: expected {what:?}, got {why:?}"
                );
            }
        }
    }

    #[test]
    fn the_same_topology_needs_no_restart() {
        assert!(needs_restart(&parse(BASE), &parse(BASE), ALL).is_empty());
    }
}
