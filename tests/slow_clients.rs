//! Slow and abusive clients against the edge and the balancer of one `ferry up`: slowloris
//! connections (a request head trickled a byte at a time) are closed once the head is overdue —
//! the edge's `client_header_timeout`, the load balancer's idle timeout — while a well-behaved
//! client measured during the attack is still served; the trickled requests never reach an origin;
//! and a kept-alive connection that idles longer than the head timeout between requests is not
//! cut by it.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Seconds a head may take, at both tiers.
const HEAD_TIMEOUT: u64 = 2;

fn topology(edge: &str, lb: u16, origin: &Origin, target: &Origin) -> String {
    two_tier_topology(
        "slow-clients",
        edge,
        &format!("client_header_timeout = {HEAD_TIMEOUT}"),
        origin,
        lb,
        &format!("\"idle_timeout.timeout_seconds\" = {HEAD_TIMEOUT}"),
        target,
    )
}

struct Stack {
    _ferry: Ferry,
    _file: Topology,
    edge: String,
    lb: String,
    origin: Origin,
    target: Origin,
}

fn start(label: &str) -> Stack {
    start_with_env(label, &[])
}

fn start_with_env(label: &str, env: &[(&str, &str)]) -> Stack {
    let origin = Origin::start("o");
    let target = Origin::start("t");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let lb = format!("127.0.0.1:{}", ports[1]);
    let file = Topology::write(label, &topology(&edge, ports[1], &origin, &target));
    let ferry = Ferry::start_with_env(&["up", file.path_str()], env, &[&edge, &lb]);
    Stack {
        _ferry: ferry,
        _file: file,
        edge,
        lb,
        origin,
        target,
    }
}

/// Opens a connection and trickles a request head that never ends, a byte every `every`; returns
/// how long the server took to close it (`None`: still open after `give_up`).
fn slowloris(address: &str, every: Duration, give_up: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(address).ok()?;
    trickle(&mut stream, "/slowloris", every, give_up)
}

/// Trickles a request head for `path` that never ends on `stream`, a byte every `every`; returns
/// how long the server took to close it (`None`: still open after `give_up`).
fn trickle(
    stream: &mut TcpStream,
    path: &str,
    every: Duration,
    give_up: Duration,
) -> Option<Duration> {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let head = format!("GET {path} HTTP/1.1\r\nHost: site.test\r\n").into_bytes();
    let filler = b"X-Slow: 1\r\n";
    let start = Instant::now();
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    while start.elapsed() < give_up {
        let byte = head
            .get(sent)
            .copied()
            .unwrap_or_else(|| filler[(sent - head.len()) % filler.len()]);
        if stream.write_all(&[byte]).is_err() {
            return Some(start.elapsed());
        }
        sent += 1;
        let until = Instant::now() + every;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => return Some(start.elapsed()),
                // An answer (a 408, say) before the close: keep reading to the close.
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return Some(start.elapsed()),
            }
        }
    }
    None
}

/// Whether a connection closed `after` its head began was closed for the head timeout.
fn on_time(after: Duration) -> bool {
    after >= Duration::from_millis(HEAD_TIMEOUT * 1000 - 300)
        && after < Duration::from_secs(HEAD_TIMEOUT + 4)
}

fn attack_and_measure(front: &str, host: &[(&str, &str)]) -> (Vec<Option<Duration>>, Vec<u16>) {
    std::thread::scope(|s| {
        let attackers: Vec<_> = (0..50)
            .map(|_| {
                s.spawn(|| slowloris(front, Duration::from_millis(250), Duration::from_secs(12)))
            })
            .collect();
        // A well-behaved client during the attack.
        let client = Client::with_timeout(Duration::from_secs(5));
        let mut served = Vec::new();
        for i in 0..10 {
            std::thread::sleep(Duration::from_millis(150));
            served.push(
                client
                    .try_get(front, &format!("/good/{i}"), host)
                    .map(|r| r.status)
                    .unwrap_or(0),
            );
        }
        let closed = attackers
            .into_iter()
            .map(|a| a.join().unwrap_or(None))
            .collect();
        (closed, served)
    })
}

fn check(tier: &str, closed: &[Option<Duration>], served: &[u16]) {
    assert!(
        served.iter().all(|s| *s == 200),
        "{tier}: the well-behaved client during the attack got {served:?}"
    );
    for (i, c) in closed.iter().enumerate() {
        let Some(after) = c else {
            panic!("{tier}: slowloris connection {i} was never closed");
        };
        assert!(
            on_time(*after),
            "{tier}: slowloris connection {i} closed after {after:?}, not about {HEAD_TIMEOUT} s"
        );
    }
}

#[test]
fn slowloris_connections_are_closed_when_their_head_is_overdue_and_others_are_served() {
    let stack = start("slowloris");
    let (closed, served) = attack_and_measure(&stack.edge, &[("Host", "site.test")]);
    check("edge", &closed, &served);
    let (closed, served) = attack_and_measure(&stack.lb, &[]);
    check("balancer", &closed, &served);
    assert_eq!(stack.origin.count_prefix("/slowloris"), 0);
    assert_eq!(stack.target.count_prefix("/slowloris"), 0);
    assert_eq!(stack.origin.count_prefix("/good/"), 10);
    assert_eq!(stack.target.count_prefix("/good/"), 10);
}

/// (At the edge: the balancer's head deadline is its idle timeout, after which ALB closes an idle
/// connection anyway.)
#[test]
fn a_kept_alive_connection_may_idle_longer_than_the_head_timeout_between_requests() {
    let stack = start("slow-keepalive");
    let host = [("Host", "site.test")];
    let mut conn = Conn::open(&stack.edge, IO_TIMEOUT).expect("connect");
    let r = conn.request("GET", "/first", &host, b"").expect("first");
    assert_eq!(r.status, 200, "{r:?}");
    std::thread::sleep(Duration::from_millis(HEAD_TIMEOUT * 1000 + 700));
    let r = conn
        .request("GET", "/second", &host, b"")
        .unwrap_or_else(|e| panic!("the idle kept-alive connection was cut: {e}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(stack.origin.count_prefix("/second"), 1);
}

/// ALB closes a connection that stays idle for its idle timeout, between requests too (pingora
/// alone would keep an HTTP/1.1 connection forever, and ferry's fast path kept it 60 s): on the
/// fast path and on pingora's (`FERRY_FAST_FORWARDS=0`).
#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_load_balancers_idle_timeout() {
    for env in [&[][..], &[("FERRY_FAST_FORWARDS", "0")][..]] {
        let stack = start_with_env("lb-idle", env);
        let mut conn = Conn::open(&stack.lb, IO_TIMEOUT).expect("connect");
        let r = conn.request("GET", "/first", &[], b"").expect("first");
        assert_eq!(r.status, 200, "{env:?}: {r:?}");
        let idle = Instant::now();
        let stream = conn.stream();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(HEAD_TIMEOUT + 6)));
        let mut buf = [0u8; 64];
        let read = stream.read(&mut buf);
        let after = idle.elapsed();
        assert!(
            matches!(read, Ok(0))
                || matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "{env:?}: the idle connection was not closed after {after:?}: {read:?}"
        );
        assert!(
            on_time(after),
            "{env:?}: closed after {after:?} idle, not about the {HEAD_TIMEOUT} s idle timeout"
        );
    }
}

/// A request head begun and not finished within the idle timeout gets ALB's 408 before the close
/// ("the client did not send data before the idle timeout"), on the fast path and on pingora's;
/// a connection that sent nothing is closed without a word, and the target sees neither.
#[test]
fn a_stalled_request_head_gets_a_408_from_the_load_balancer() {
    for env in [&[][..], &[("FERRY_FAST_FORWARDS", "0")][..]] {
        let stack = start_with_env("lb-408", env);
        let until_closed = |stream: &mut TcpStream| {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(HEAD_TIMEOUT + 6)));
            let started = Instant::now();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    Err(e) => panic!("{env:?}: not closed after {:?}: {e}", started.elapsed()),
                }
            }
            (
                started.elapsed(),
                String::from_utf8_lossy(&got).into_owned(),
            )
        };

        let mut stalled = TcpStream::connect(&stack.lb).expect("connect");
        stalled
            .write_all(b"GET /stalled HTTP/1.1\r\nHost: alb.test\r\nX-Half: ")
            .expect("send");
        let (after, answer) = until_closed(&mut stalled);
        assert!(on_time(after), "{env:?}: closed after {after:?}");
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{env:?}: {answer:?}"
        );
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("\r\nconnection: close\r\n"),
            "{env:?}: {answer:?}"
        );
        assert!(
            lower.contains("\r\nserver: awselb/2.0\r\n"),
            "{env:?}: {answer:?}"
        );

        let mut silent = TcpStream::connect(&stack.lb).expect("connect");
        let (after, answer) = until_closed(&mut silent);
        assert!(on_time(after), "{env:?}: closed after {after:?}");
        assert_eq!(
            answer, "",
            "{env:?}: a connection that sent nothing gets nothing"
        );
        assert_eq!(stack.target.count_prefix("/stalled"), 0, "{env:?}");
    }
}

/// ALB's `client_keep_alive.seconds` (60 at least): a connection kept busy past it gets
/// `Connection: close` on its next response, and is closed after it.
#[test]
fn a_busy_connection_is_closed_after_the_client_keepalive_duration() {
    let origin = Origin::start("o");
    let target = Origin::start("t");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let lb = format!("127.0.0.1:{}", ports[1]);
    let file = Topology::write(
        "client-keepalive",
        &two_tier_topology(
            "client-keepalive",
            &edge,
            "",
            &origin,
            ports[1],
            r#""idle_timeout.timeout_seconds" = 10, "client_keep_alive.seconds" = 60"#,
            &target,
        ),
    );
    let _ferry = Ferry::start_with_env(&["up", file.path_str()], &[], &[&edge, &lb]);
    let mut conn = Conn::open(&lb, IO_TIMEOUT).expect("connect");
    let opened = Instant::now();
    let mut i = 0;
    let closing = loop {
        let r = conn
            .request("GET", &format!("/busy/{i}"), &[], b"")
            .unwrap_or_else(|e| panic!("request {i} after {:?}: {e}", opened.elapsed()));
        assert_eq!(r.status, 200, "{r:?}");
        if r.header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            break opened.elapsed();
        }
        assert!(
            opened.elapsed() < Duration::from_secs(70),
            "still kept alive after {:?}",
            opened.elapsed()
        );
        i += 1;
        std::thread::sleep(Duration::from_secs(5));
    };
    assert!(
        closing >= Duration::from_secs(60),
        "closed after {closing:?}, before the client keepalive"
    );
    let stream = conn.stream();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 16];
    assert!(
        matches!(stream.read(&mut buf), Ok(0)),
        "the connection is closed after the response that says so"
    );
}

/// The second head of a kept-alive connection has the same deadline as the first.
#[test]
fn a_slow_second_head_on_a_kept_alive_connection_is_closed_too() {
    let stack = start("slow-second-head");
    let host = [("Host", "site.test")];
    let mut conn = Conn::open(&stack.edge, IO_TIMEOUT).expect("connect");
    let r = conn.request("GET", "/first", &host, b"").expect("first");
    assert_eq!(r.status, 200, "{r:?}");
    let closed = trickle(
        conn.stream(),
        "/slow-second",
        Duration::from_millis(250),
        Duration::from_secs(12),
    );
    let after = closed.expect("the slow second head was never cut off");
    assert!(
        on_time(after),
        "closed after {after:?}, not about {HEAD_TIMEOUT} s"
    );
    assert_eq!(stack.origin.count_prefix("/slow-second"), 0);
}

/// Empty lines before a request line are skipped (RFC 9112 §2.2), not taken for the end of a
/// head: a client that sends them first and then trickles its head is closed on time all the
/// same, on a new connection (both tiers) and before the second head of a kept-alive one.
#[test]
fn empty_lines_before_a_trickled_head_do_not_stop_its_clock() {
    let stack = start("slow-blank-lines");
    let host = [("Host", "site.test")];
    let every = Duration::from_millis(250);
    let give_up = Duration::from_secs(12);
    std::thread::scope(|s| {
        let fresh = |front: &'static str| {
            let address = if front == "edge" {
                &stack.edge
            } else {
                &stack.lb
            };
            s.spawn(move || {
                let mut stream = TcpStream::connect(address).expect("connect");
                stream.write_all(b"\r\n\r\n").expect("blank lines");
                (front, trickle(&mut stream, "/blank", every, give_up))
            })
        };
        let kept = s.spawn(|| {
            let mut conn = Conn::open(&stack.edge, IO_TIMEOUT).expect("connect");
            let r = conn.request("GET", "/first", &host, b"").expect("first");
            assert_eq!(r.status, 200, "{r:?}");
            conn.stream().write_all(b"\r\n\r\n").expect("blank lines");
            (
                "edge, second head",
                trickle(conn.stream(), "/blank", every, give_up),
            )
        });
        for handle in [fresh("edge"), fresh("balancer"), kept] {
            let (what, closed) = handle.join().expect("client thread");
            let after = closed.unwrap_or_else(|| panic!("{what}: never closed"));
            assert!(
                on_time(after),
                "{what}: closed after {after:?}, not about {HEAD_TIMEOUT} s"
            );
        }
    });
    assert_eq!(stack.origin.count_prefix("/blank"), 0);
    assert_eq!(stack.target.count_prefix("/blank"), 0);
}

/// Reads from `stream` until what came so far contains `want` (or `give_up` passes); returns
/// what came.
fn read_until(stream: &mut TcpStream, want: &str, give_up: Duration) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < give_up && !String::from_utf8_lossy(&got).contains(want) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A target that begins its answer to each request as soon as the head is in (a 200, chunked, its
/// first chunk "early"), reads the request's body (by its Content-Length) meanwhile, and ends the
/// answer once the body is in, as a server streaming progress on an upload does; returns its port
/// and the requests whose body it read whole.
fn early_answering_target() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = paths.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                let mut got: Vec<u8> = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match conn.read(&mut buf) {
                            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if conn
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n",
                        )
                        .is_err()
                    {
                        return;
                    }
                    got.drain(..end + 4);
                    while got.len() < length {
                        match conn.read(&mut buf) {
                            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    got.drain(..length);
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    seen.push(format!("{path}, {length} bytes"));
                    drop(seen);
                    if conn.write_all(b"0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, paths)
}

/// An upload whose answer begins before its body is in (a target streaming progress) goes on
/// arriving after the answer's head: those bytes are the body, not the next head, and are not
/// timed as one: the connection takes the whole body, however slowly (each byte sooner than the
/// idle timeout), and the answer ends. (pingora then closes the connection: it keeps none whose
/// answer began before the request's body was in.)
#[test]
fn a_body_still_arriving_after_an_early_answer_is_not_timed_as_a_head() {
    let origin = Origin::start("o");
    let unused = Origin::start("t");
    let (early, paths) = early_answering_target();
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let lb = format!("127.0.0.1:{}", ports[1]);
    let text = topology(&edge, ports[1], &origin, &unused).replace(
        &format!("port = {}, zone", unused.port()),
        &format!("port = {early}, zone"),
    );
    assert!(text.contains(&format!("port = {early}, zone")));
    let file = Topology::write("slow-early-answer", &text);
    let _ferry = Ferry::up(&file, &[&edge, &lb]);

    let mut stream = TcpStream::connect(&lb).expect("connect");
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: alb.internal\r\nContent-Length: 40\r\n\r\nxxxx")
        .expect("head");
    let answer = read_until(&mut stream, "early", Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The rest of the body, a byte every 100 ms: 3.6 s, longer than the 2 s head timeout.
    let start = Instant::now();
    for _ in 4..40 {
        stream
            .write_all(b"x")
            .unwrap_or_else(|e| panic!("cut during the body after {:?}: {e}", start.elapsed()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(start.elapsed() > Duration::from_secs(HEAD_TIMEOUT));
    let end = read_until(&mut stream, "0\r\n\r\n", Duration::from_secs(5));
    assert!(end.ends_with("0\r\n\r\n"), "the answer's end: {end:?}");
    let paths = paths.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let uploads: Vec<&String> = paths.iter().filter(|p| p.starts_with("/upload")).collect();
    assert_eq!(
        uploads,
        ["/upload, 40 bytes"],
        "the target's requests: {paths:?}"
    );
}
