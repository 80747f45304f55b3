//! Faults under load: 20,000 requests over 32 kept-alive connections against a balancer node of
//! `ferry up`, while a target is killed and restarted on its port, another stalls past the idle
//! timeout, the topology is reloaded and a third target is deregistered. Every request gets an
//! HTTP answer (200, or ALB's 502/503/504) within the timeouts; every POST reaches a target at most
//! once; every answer that came from a target was recorded by that target; nothing reaches the
//! deregistered target once its deregistration is done; and the reloaded rule answers.

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const REQUESTS: usize = 20_000;
const CONNECTIONS: usize = 32;
/// The load balancer's idle timeout: a stalled target's requests end in 504 after it.
const IDLE: u64 = 2;

fn topology(lb: u16, targets: &[&Origin], fixed: &str) -> String {
    let targets: Vec<String> = targets
        .iter()
        .map(|t| {
            format!(
                "{{ id = \"127.0.0.1\", port = {}, zone = \"a\" }}",
                t.port()
            )
        })
        .collect();
    format!(
        r#"stack = "faults"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
attributes = {{ "idle_timeout.timeout_seconds" = {IDLE} }}
  [[load_balancers.listeners]]
  port = {lb}
  protocol = "HTTP"
  default_actions = [{{ type = "forward", target_group = "web" }}]
    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{{ field = "path-pattern", values = ["/fixed"] }}]
    actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "{fixed}" }} }}]

[[target_groups]]
name = "web"
protocol = "HTTP"
port = 80
health_check = {{ enabled = false }}
targets = [{targets}]
"#,
        targets = targets.join(", "),
    )
}

/// What one request got.
struct Outcome {
    id: usize,
    post: bool,
    status: u16,
    /// The target that answered (`X-Origin-Name`), when one did.
    target: Option<String>,
    took: Duration,
}

/// One client connection's share of the load; reconnects when the balancer closed the connection,
/// and sends a request again only when a kept-alive connection was found closed before any byte
/// of its answer (the race every HTTP client retries).
fn client_loop(
    lb: &str,
    next: &AtomicUsize,
    out: &Mutex<Vec<Outcome>>,
    failures: &Mutex<Vec<String>>,
) {
    let mut conn: Option<Conn> = None;
    loop {
        let id = next.fetch_add(1, Ordering::Relaxed);
        if id >= REQUESTS {
            return;
        }
        let post = id.is_multiple_of(4);
        let (method, path, body) = if post {
            ("POST", format!("/p/{id}"), format!("id={id}").into_bytes())
        } else {
            ("GET", format!("/g/{id}"), Vec::new())
        };
        let id_header = id.to_string();
        let headers = [("X-Req-Id", id_header.as_str())];
        let start = Instant::now();
        let mut answer = None;
        for attempt in 0..2 {
            let reused = conn.is_some();
            let c = match conn.take() {
                Some(c) => c,
                None => match Conn::open(lb, Duration::from_secs(15)) {
                    Ok(c) => c,
                    Err(e) => {
                        failures.lock().unwrap().push(format!("{id}: connect: {e}"));
                        break;
                    }
                },
            };
            let mut c = c;
            match c.request(method, &path, &headers, &body) {
                Ok(r) => {
                    let closes = r
                        .header("connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                    if !closes {
                        conn = Some(c);
                    }
                    answer = Some(r);
                    break;
                }
                Err(e) if reused && attempt == 0 => {
                    // The connection was closed under us: once more on a new one.
                    let _ = e;
                    continue;
                }
                Err(e) => {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{id} {method}: no answer: {e}"));
                    break;
                }
            }
        }
        let Some(r) = answer else { continue };
        out.lock().unwrap().push(Outcome {
            id,
            post,
            status: r.status,
            target: r.header("X-Origin-Name").map(str::to_string),
            took: start.elapsed(),
        });
    }
}

#[test]
fn twenty_thousand_requests_through_kills_stalls_a_reload_and_a_deregistration() {
    let stalled = Arc::new(AtomicBool::new(false));
    let t1 = Origin::start("t1");
    let mut t2 = Origin::start("t2");
    let t3 = {
        let stalled = stalled.clone();
        Origin::start_with("t3", move |req| {
            let r = default_origin_response("t3", req);
            if stalled.load(Ordering::Relaxed) {
                r.with_delay(Duration::from_secs(IDLE + 1))
            } else {
                r
            }
        })
    };
    let lb_port = free_port();
    let lb = format!("127.0.0.1:{lb_port}");
    let admin = format!("127.0.0.1:{}", free_port());
    let file = Topology::write("faults", &topology(lb_port, &[&t1, &t2, &t3], "v1"));
    let ferry = Ferry::start(&["up", file.path_str(), "--admin", &admin], &[&lb, &admin]);

    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::with_capacity(REQUESTS));
    let failures = Mutex::new(Vec::new());
    let t2_address = t2.address();
    let mut deregistered_at = usize::MAX;
    let mut restarted: Option<Origin> = None;
    std::thread::scope(|s| {
        for _ in 0..CONNECTIONS {
            s.spawn(|| client_loop(&lb, &next, &outcomes, &failures));
        }
        // The faults, as the load goes by.
        let wait_for = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while next.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait_for(2_000);
        t2.stop();
        wait_for(5_000);
        restarted = Some(Origin::try_start_on("t2", &t2_address).expect("t2 again on its port"));
        wait_for(8_000);
        stalled.store(true, Ordering::Relaxed);
        wait_for(9_500);
        stalled.store(false, Ordering::Relaxed);
        wait_for(11_000);
        std::fs::write(file.path(), topology(lb_port, &[&t1, &t2, &t3], "v2"))
            .expect("rewrite the topology");
        let reload = Client::new().request(&admin, "POST", "/ferry/reload", &[], b"");
        assert_eq!(reload.status, 200, "{}", reload.body_text());
        wait_for(14_000);
        let out = ferry_cmd(&[
            "targets",
            "deregister",
            "--admin",
            &admin,
            "--target-group",
            "web",
            &t1.address(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        deregistered_at = next.load(Ordering::Relaxed);
    });
    let restarted = restarted.expect("t2 restarted");

    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} request(s) got no answer: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(10)],
        ferry.output_report()
    );
    let outcomes = outcomes.into_inner().unwrap();
    assert_eq!(outcomes.len(), REQUESTS, "every request answered");
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for o in &outcomes {
        *by_status.entry(o.status).or_default() += 1;
        assert!(
            matches!(o.status, 200 | 502 | 503 | 504),
            "request {}: {} is not an answer ALB gives here",
            o.id,
            o.status
        );
        assert!(
            o.took < Duration::from_secs(IDLE + 10),
            "request {} took {:?}, past every timeout",
            o.id,
            o.took
        );
    }
    assert!(
        by_status.get(&200).copied().unwrap_or(0) > REQUESTS / 2,
        "{by_status:?}"
    );

    // What each target recorded, by request id.
    let targets = [("t1", &t1), ("t2", &t2), ("t2", &restarted), ("t3", &t3)];
    let mut seen: HashMap<usize, Vec<&str>> = HashMap::new();
    for (name, t) in targets {
        for r in t.requests() {
            if let Some(id) = r.header("x-req-id").and_then(|v| v.parse::<usize>().ok()) {
                seen.entry(id).or_default().push(name);
            }
        }
    }
    for o in &outcomes {
        let at = seen.get(&o.id).cloned().unwrap_or_default();
        if o.post {
            assert!(at.len() <= 1, "POST {} reached targets {at:?}", o.id);
        }
        if let Some(target) = &o.target {
            assert!(
                at.contains(&target.as_str()),
                "request {} was answered by {target}, which never recorded it ({at:?})",
                o.id
            );
        }
    }
    // Once the deregistration is done (and the requests then in flight are over), t1 gets none.
    let late: Vec<usize> = t1
        .requests()
        .iter()
        .filter_map(|r| r.header("x-req-id").and_then(|v| v.parse().ok()))
        .filter(|id: &usize| *id > deregistered_at + CONNECTIONS)
        .collect();
    assert!(
        late.is_empty(),
        "t1 got {} requests after its deregistration",
        late.len()
    );
    assert_eq!(Client::new().get(&lb, "/fixed", &[]).body_text(), "v2");
    eprintln!("statuses: {by_status:?}");
}
