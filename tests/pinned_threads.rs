//! `[edge] pin_threads`: each of the edge's threads runs on a CPU of its own, and a connection is
//! served by the thread on the CPU that received it (on loopback, the client's CPU).

mod common;

use common::*;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Connections opened from each CPU: with connections hashed over the threads instead, all of
/// them land on their CPU's thread once in 2^(2 * CONNECTIONS).
const CONNECTIONS: usize = 4;
const REQUESTS: usize = 50;

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    assert_eq!(unsafe { libc::sched_getaffinity(0, size, &mut set) }, 0);
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

fn pin_to(cpu: usize) {
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    assert_eq!(unsafe { libc::sched_setaffinity(0, size, &set) }, 0);
}

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

#[test]
fn each_thread_has_its_cpu_and_serves_the_connections_that_arrive_there() {
    let cpus = allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("skipped: this test needs 2 CPUs, this process may run on {cpus:?}");
        return;
    }
    let cpus = [cpus[0], cpus[1]];
    let origin = Origin::start("o");
    let site = SiteBuilder::new("pinned", &origin)
        .edge("threads = 2")
        .edge("pin_threads = true")
        .start();
    let pid = site.ferry.pid();

    // Pinned: one thread per CPU, in the order the CPUs are allowed.
    let threads = threads_named(pid, "edge");
    let pinned: Vec<&str> = threads.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        pinned,
        cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "the HTTP threads' CPUs"
    );
    let https = threads_named(pid, "edge https");
    assert!(
        https.is_empty(),
        "no HTTPS listener, no HTTPS threads: {https:?}"
    );

    // Steered: connections opened on a CPU are served by that CPU's thread alone.
    let edge = site.edge.clone();
    let warm = site.client.get(&edge, "/warm", &[("Host", SITE_HOST)]);
    assert_eq!(warm.status, 200);
    for (i, &cpu) in cpus.iter().enumerate() {
        let (mine, other) = (&threads[i].0, &threads[1 - i].0);
        let before = (switches(pid, mine), switches(pid, other));
        let edge = edge.clone();
        std::thread::spawn(move || {
            pin_to(cpu);
            for _ in 0..CONNECTIONS {
                let mut conn = Conn::open(&edge, TIMEOUT).unwrap();
                for _ in 0..REQUESTS {
                    let resp = conn
                        .request("GET", "/warm", &[("Host", SITE_HOST)], b"")
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
            "CPU {cpu}'s thread left its CPU {} times over {requests} requests from CPU {cpu} (the other {})",
            after.0 - before.0,
            after.1 - before.1
        );
        assert!(
            after.1 - before.1 < requests / 4,
            "the other CPU's thread left its CPU {} times over {requests} requests from CPU {cpu}: it served some",
            after.1 - before.1
        );
    }
}
