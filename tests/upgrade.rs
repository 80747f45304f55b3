//! Zero-downtime restart, end to end: a client loop runs against `ferry up` while a second
//! `ferry up --upgrade` takes the listening sockets over (the first one gets SIGQUIT, hands them
//! over, finishes and exits). Every request of the loop gets its answer; none is refused.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn topology(edge: &str, admin: &str, origin: &Origin) -> String {
    format!(
        r#"stack = "upgrade"

[edge]
http = "{edge}"
admin = "{admin}"

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["site.test"]
  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = "http-only" }}
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
"#,
        port = origin.port()
    )
}

/// The edge and admin addresses on free ports and the topology file naming them and `origin`.
fn site(name: &str, origin: &Origin) -> (String, String, Topology) {
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let admin = format!("127.0.0.1:{}", ports[1]);
    let file = Topology::write(name, &topology(&edge, &admin, origin));
    (edge, admin, file)
}

#[test]
fn an_upgrade_hands_the_sockets_over_without_refusing_a_connection() {
    let origin = Origin::start("o");
    let (edge, admin, file) = site("upgrade", &origin);
    let socket = file.dir().path().join("upgrade.sock");
    let socket = socket.to_str().expect("a UTF-8 path");
    let mut old = Ferry::start(
        &["up", file.path_str(), "--upgrade-socket", socket],
        &[&edge],
    );

    // Failures carry their time from here, to place them against the signal and the exit.
    let began = std::time::Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (stop, served, failures, edge) =
            (stop.clone(), served.clone(), failures.clone(), edge.clone());
        std::thread::spawn(move || {
            let client = Client::with_timeout(Duration::from_secs(10));
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                match client.try_get(&edge, &format!("/n/{i}"), &[("Host", "site.test")]) {
                    Ok(r) if r.status == 200 => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("request {i}: {}", r.status)),
                    Err(e) => failures
                        .lock()
                        .unwrap()
                        .push(format!("request {i} at {:?}: {e}", began.elapsed())),
                }
            }
        })
    };

    std::thread::sleep(Duration::from_millis(300));
    let mut new = Ferry::spawn(&[
        "up",
        file.path_str(),
        "--upgrade",
        "--upgrade-socket",
        socket,
    ]);
    new.wait_for_output("the wait for sockets", READY_TIMEOUT, |out| {
        out.contains("waiting for the running ferry's listening sockets")
    });
    std::thread::sleep(Duration::from_millis(300));
    let quit_at = began.elapsed();
    old.signal("QUIT");
    new.wait_for_output("readiness", READY_TIMEOUT, |out| {
        out.contains("ferry: ready")
    });
    let exited = old.wait_exit(Duration::from_secs(30));
    assert!(
        exited.is_some(),
        "the old process never exited\n{}",
        old.output_report()
    );
    let at_exit = served.load(Ordering::Relaxed);
    let exit_seen_at = began.elapsed();
    // The new process alone now.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while served.load(Ordering::Relaxed) < at_exit + 50 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    client.join().expect("the client loop");

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} request(s) failed during the upgrade (SIGQUIT at {quit_at:?}, the old process's exit seen at {exit_seen_at:?}): {:?}\nold:\n{}\nnew:\n{}",
        failures.len(),
        &failures[..failures.len().min(10)],
        old.output_report(),
        new.output_report()
    );
    assert!(
        served.load(Ordering::Relaxed) >= at_exit + 50,
        "the new process served after the old one left"
    );
    assert!(new.is_running(), "{}", new.output_report());
    assert_eq!(
        Client::new().get(&admin, "/ferry/status", &[]).status,
        200,
        "the admin listener was handed over too"
    );
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_without_waiting_out_the_grace_period() {
    let origin = Origin::start_with("slow", |req| {
        if req.path() == "/slow" {
            std::thread::sleep(Duration::from_millis(1500));
        }
        default_origin_response("slow", req)
    });
    let (edge, _admin, file) = site("sigterm", &origin);
    let mut ferry = Ferry::start(&["up", file.path_str(), "--grace-period", "20"], &[&edge]);

    let in_flight = {
        let edge = edge.clone();
        std::thread::spawn(move || {
            Client::with_timeout(Duration::from_secs(10)).try_get(
                &edge,
                "/slow",
                &[("Host", "site.test")],
            )
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let stopped_at = std::time::Instant::now();
    ferry.signal("TERM");
    let answer = in_flight.join().expect("the client thread");
    let answer = answer.unwrap_or_else(|e| {
        panic!(
            "the request in flight failed: {e}\n{}",
            ferry.output_report()
        )
    });
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body_text(), "origin slow: GET /slow");
    let exit = ferry.wait_exit(Duration::from_secs(10));
    assert!(
        exit.is_some_and(|s| s.success()),
        "ferry exits (0) once nothing is in flight, well before the 20 s grace period: {exit:?}\n{}",
        ferry.output_report()
    );
    assert!(stopped_at.elapsed() < Duration::from_secs(10));
    assert!(
        Client::with_timeout(Duration::from_secs(2))
            .try_get(&edge, "/after", &[("Host", "site.test")])
            .is_err(),
        "nothing listens after the stop"
    );
}

#[test]
fn a_connection_accepted_before_a_stop_is_served_when_its_request_follows() {
    let origin = Origin::start("o");
    let (edge, _admin, file) = site("fresh", &origin);
    let mut ferry = Ferry::start(&["up", file.path_str()], &[&edge]);

    // Accepted (the kernel completes the handshake; ferry's task takes it at once), but its
    // request only comes after the stop has begun, as a client a little slow to write.
    let mut conn = Client::with_timeout(Duration::from_secs(10))
        .connect(&edge)
        .expect("a connection to the edge");
    std::thread::sleep(Duration::from_millis(200));
    ferry.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let answer = conn
        .request("GET", "/late", &[("Host", "site.test")], b"")
        .unwrap_or_else(|e| {
            panic!(
                "the request after the stop began failed: {e}\n{}",
                ferry.output_report()
            )
        });
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body_text(), "origin o: GET /late");
    assert!(
        ferry.wait_exit(Duration::from_secs(10)).is_some(),
        "ferry exits once the request is answered\n{}",
        ferry.output_report()
    );
}
