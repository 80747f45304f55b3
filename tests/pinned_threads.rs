//! `[edge] pin_threads`: each of the edge's threads runs on a CPU of its own, and a connection is
//! served by the thread on the CPU that received it (on loopback, the client's CPU).

mod common;

use common::*;
use ferry_guard::pin::{allowed_cpus, pin_current_thread};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Connections opened from each CPU: with connections hashed over the threads instead, all of
/// them land on their CPU's thread once in 2^(2 * CONNECTIONS).
const CONNECTIONS: usize = 4;
const REQUESTS: usize = 50;

/// Ferry's threads named `name`: (thread id, `Cpus_allowed_list`).
fn threads_named(pid: u32, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let tid = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((tid, cpus));
    }
    // By CPU number (a thread allowed several sorts after them, by text).
    out.sort_by_key(|(_, cpus)| (cpus.parse::<usize>().unwrap_or(usize::MAX), cpus.clone()));
    out
}

/// How many times thread `tid` of `pid` has left its CPU, asleep or preempted: at least once per
/// request it serves to a client on its CPU (the two take turns), and not at all while it serves
/// none.
fn switches(pid: u32, tid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap();
    status
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let counted = ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"];
            counted
                .contains(&name)
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

/// The first two CPUs this process may run on, or None (the test is skipped) with fewer.
fn two_cpus() -> Option<[usize; 2]> {
    let cpus = allowed_cpus().unwrap();
    if cpus.len() < 2 {
        eprintln!("skipped: this test needs 2 CPUs, this process may run on {cpus:?}");
        return None;
    }
    Some([cpus[0], cpus[1]])
}

/// The threads of ferry (`pid`) named `name` are pinned one to each of `cpus`, and connections to
/// `address` opened from a CPU are served by that CPU's thread alone.
fn pinned_and_steered(pid: u32, name: &str, cpus: [usize; 2], address: &str, host: &str) {
    // Pinned: one thread per CPU, in the order the CPUs are allowed.
    let threads = threads_named(pid, name);
    let pinned: Vec<&str> = threads.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        pinned,
        cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "the CPUs of the threads named {name:?}"
    );

    // Steered.
    for (i, &cpu) in cpus.iter().enumerate() {
        let (mine, other) = (&threads[i].0, &threads[1 - i].0);
        let before = (switches(pid, mine), switches(pid, other));
        let (address, host) = (address.to_string(), host.to_string());
        std::thread::spawn(move || {
            pin_current_thread(cpu).unwrap();
            for _ in 0..CONNECTIONS {
                let mut conn = Conn::open(&address, TIMEOUT).unwrap();
                for _ in 0..REQUESTS {
                    let resp = conn
                        .request("GET", "/warm", &[("Host", &host)], b"")
                        .unwrap();
                    assert_eq!(resp.status, 200);
                }
            }
        })
        .join()
        .unwrap();
        let after = (switches(pid, mine), switches(pid, other));
        let requests = (CONNECTIONS * REQUESTS) as u64;
        assert!(
            after.0 - before.0 >= requests,
            "{name}: CPU {cpu}'s thread left its CPU {} times over {requests} requests from CPU {cpu} (the other {})",
            after.0 - before.0,
            after.1 - before.1
        );
        assert!(
            after.1 - before.1 < requests / 4,
            "{name}: the other CPU's thread left its CPU {} times over {requests} requests from CPU {cpu}: it served some",
            after.1 - before.1
        );
    }
}

#[test]
fn each_edge_thread_has_its_cpu_and_serves_the_connections_that_arrive_there() {
    let Some(cpus) = two_cpus() else { return };
    let origin = Origin::start("o");
    let site = SiteBuilder::new("pinned", &origin)
        .edge("threads = 2")
        .edge("pin_threads = true")
        .start();
    let pid = site.ferry.pid();
    let https = threads_named(pid, "edge https");
    assert!(
        https.is_empty(),
        "no HTTPS listener, no HTTPS threads: {https:?}"
    );
    let warm = site.client.get(&site.edge, "/warm", &[("Host", SITE_HOST)]);
    assert_eq!(warm.status, 200);
    pinned_and_steered(pid, "edge", cpus, &site.edge, SITE_HOST);
}

/// A load balancer `alb` with one node (zone `a`, 127.0.0.1) and a listener on `port` that
/// answers 200 itself.
fn load_balancer(port: u16) -> String {
    format!(
        r#"[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTP"
  default_actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "ok" }} }}]
"#
    )
}

/// `[edge] threads` and `pin_threads` are the whole process's: a load balancer's listener in the
/// same process gets them too.
#[test]
fn each_balancer_thread_has_its_cpu_and_serves_the_connections_that_arrive_there() {
    let Some(cpus) = two_cpus() else { return };
    let ports = free_ports(2);
    let (edge, listener) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    );
    let topology = Topology::write(
        "pinned-balancer",
        &format!(
            r#"stack = "pinned"

[edge]
http = "{edge}"
threads = 2
pin_threads = true

{balancer}"#,
            balancer = load_balancer(ports[1])
        ),
    );
    let ferry = Ferry::up(&topology, &[&edge, &listener]);
    pinned_and_steered(
        ferry.pid(),
        "balancer alb zo",
        cpus,
        &listener,
        "alb.internal",
    );
}

/// A topology of load balancers alone (no `[edge]`, so no `[edge] threads`): the command line's
/// `--threads` and `--pin-threads` set them; without them, one thread per CPU; `--threads 0` is
/// refused, naming the flag.
#[test]
fn a_balancer_alone_takes_its_threads_from_the_command_line() {
    let port = free_ports(1)[0];
    let listener = format!("127.0.0.1:{port}");
    let topology = Topology::write(
        "threads-balancer",
        &format!("stack = \"threads\"\n\n{}", load_balancer(port)),
    );
    let file = topology.path_str();
    let balancer = |extra: &[&str]| {
        let mut args = vec!["balancer", "--zone", "a"];
        args.extend_from_slice(extra);
        args.push(file);
        Ferry::start(&args, &[&listener])
    };
    let serving = |ferry: &Ferry| threads_named(ferry.pid(), "balancer alb zo").len();

    let cpus = allowed_cpus().unwrap().len();
    assert_eq!(
        serving(&balancer(&[])),
        cpus,
        "one thread per CPU by default"
    );
    assert_eq!(serving(&balancer(&["--threads", "3"])), 3, "--threads 3");

    let refused = ferry_command(&["balancer", "--zone", "a", "--threads", "0", file])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--threads"), "{stderr}");

    let Some(cpus) = two_cpus() else { return };
    let ferry = balancer(&["--threads", "2", "--pin-threads"]);
    pinned_and_steered(
        ferry.pid(),
        "balancer alb zo",
        cpus,
        &listener,
        "alb.internal",
    );
}
