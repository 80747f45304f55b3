//! Request smuggling and desync, end to end through raw TCP sockets, against the edge and the
//! balancer of one `ferry up`. The corpus (`tests/fixtures/smuggling.json`): CL.TE, TE.CL, TE.TE
//! with obfuscated `Transfer-Encoding`, duplicate and malformed `Content-Length`, chunk sizes with
//! extensions or overflow, obs-fold, bare CR/LF, NUL bytes, absolute-form URIs, HTTP/1.0 and 0.9,
//! pipelining. For every case and both tiers: the status ferry answers, that the origin never sees
//! a request the client hid in a body (`/smuggled`) nor one request twice, and that the next
//! client, whose request goes over the same pooled origin connection, gets its own answer.
//!
//! `FERRY_SMUGGLING_REPORT=1` prints the table of answers instead of failing on a status.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The first status ferry answers for each case: (name, edge, balancer).
const EXPECTED: &[(&str, u16, u16)] = &[
    ("compliant GET", 200, 200),
    ("compliant chunked POST", 200, 200),
    ("chunk extension (legal)", 200, 200),
    // The first is answered, then the connection is closed and the second dropped: RFC 9112
    // §9.3.2 lets a server close, and the client retries on a new connection.
    ("pipelined GETs", 200, 200),
    // Transfer-Encoding wins and Content-Length is dropped (RFC 9112 §6.3); the connection is
    // closed after the answer, so the bytes hidden after the chunked body are never read.
    ("CL.TE", 200, 200),
    ("TE.CL", 200, 200),
    ("TE.TE: second Transfer-Encoding x", 400, 400),
    ("TE.TE: space before colon", 400, 400),
    ("TE.TE: xchunked", 400, 400),
    ("TE.TE: tab before value", 200, 200),
    ("TE.TE: chunked, identity", 400, 400),
    ("TE.TE: obs-fold value", 400, 400),
    ("TE.TE: Chunked upper case", 200, 200),
    ("duplicate Content-Length, different", 400, 400),
    ("duplicate Content-Length, same", 200, 200),
    // `4, 4`: the edge reads identical values as one (RFC 9110 §8.6); ALB's desync
    // mitigation classifies the list as severe.
    ("Content-Length list", 200, 400),
    ("Content-Length with plus sign", 400, 400),
    ("Content-Length negative", 400, 400),
    ("Content-Length with inner space", 400, 400),
    ("Content-Length hex", 400, 400),
    ("Content-Length overflow", 400, 400),
    ("chunk size overflow", 400, 400),
    ("chunk size with 0x", 400, 400),
    ("chunk size with leading space", 400, 400),
    ("chunk with bare LF", 400, 400),
    ("obs-fold header", 400, 400),
    ("bare CR in a header value", 400, 400),
    ("bare LF line endings", 200, 200),
    ("NUL in a header value", 400, 400),
    // pingora percent-encodes the NUL before either tier sees the request: the origin gets the
    // valid, unambiguous `/c/nul%00path`.
    ("NUL in the path", 200, 200),
    ("space in a header name", 400, 400),
    ("absolute-form URI, other host", 400, 400),
    ("two Host headers", 400, 400),
    ("no Host on HTTP/1.1", 400, 400),
    // CloudFront refuses a GET with a body (403); ALB forwards it (ambiguous: then it closes).
    ("HTTP/1.0 keep-alive with a body on GET", 403, 200),
    ("HTTP/1.0 with Transfer-Encoding", 400, 400),
    ("HTTP/0.9 request line", 400, 400),
    ("unknown HTTP version", 400, 400),
    // `get` is not `GET`: not an allowed method at the edge; an extension method to ALB.
    ("lowercase method", 403, 200),
    ("two spaces in the request line", 400, 400),
];

fn topology(edge: &str, lb: u16, edge_origin: &Origin, target: &Origin) -> String {
    two_tier_topology("smuggling", edge, "", edge_origin, lb, "", target)
}

struct Case {
    name: String,
    raw: Vec<u8>,
}

fn corpus() -> Vec<Case> {
    let path = project_dir().join("tests/fixtures/smuggling.json");
    let text = std::fs::read_to_string(&path).expect("the corpus");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("the corpus is JSON");
    cases
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            // The raw bytes are Latin-1: each char one byte.
            raw: c["raw"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .map(|ch| ch as u32 as u8)
                .collect(),
        })
        .collect()
}

/// Sends `raw` on a fresh connection and reads what comes back until the connection closes or
/// stays silent: every status line in it.
fn exchange(address: &str, raw: &[u8]) -> Vec<u16> {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return Vec::new();
    };
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.write_all(raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let start = Instant::now();
    loop {
        // Up to 3 s for a first answer, then 300 ms of silence ends the exchange.
        let wait = if got.is_empty() {
            Duration::from_secs(3).saturating_sub(start.elapsed())
        } else {
            Duration::from_millis(300)
        };
        if wait.is_zero() {
            break;
        }
        let _ = stream.set_read_timeout(Some(wait));
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.match_indices("HTTP/1.")
        .filter_map(|(i, _)| text.get(i + 9..i + 12))
        .filter_map(|s| s.parse().ok())
        .collect()
}

struct Outcome {
    statuses: Vec<u16>,
    /// What the origin saw of this case: the request targets.
    seen: Vec<String>,
    smuggled: bool,
    next_ok: Result<(), String>,
}

fn run_case(front: &str, origin: &Origin, case: &Case, n: usize) -> Outcome {
    let statuses = exchange(front, &case.raw);
    // Give the origin side a moment to finish what it was sent.
    std::thread::sleep(Duration::from_millis(50));
    let seen: Vec<String> = origin
        .requests_matching(|r| r.target.contains("/c/") || r.target.contains("smuggled"))
        .iter()
        .map(|r| r.target.clone())
        .collect();
    let smuggled = seen.iter().any(|t| t.starts_with("/smuggled"));
    let next = format!("/next/{n}");
    let next_ok = match Client::with_timeout(Duration::from_secs(5)).try_get(
        front,
        &next,
        &[("Host", "site.test")],
    ) {
        Ok(r)
            if r.status == 200
                && r.body_text() == format!("origin {}: GET {next}", origin.name()) =>
        {
            Ok(())
        }
        Ok(r) => Err(format!("{} {:?}", r.status, r.body_text())),
        Err(e) => Err(e.to_string()),
    };
    origin.clear();
    Outcome {
        statuses,
        seen,
        smuggled,
        next_ok,
    }
}

#[test]
fn the_corpus_is_never_smuggled_through_the_edge_or_the_balancer() {
    let edge_origin = Origin::start("edge-origin");
    let target = Origin::start("target");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let lb = format!("127.0.0.1:{}", ports[1]);
    let file = Topology::write(
        "smuggling",
        &topology(&edge, ports[1], &edge_origin, &target),
    );
    let _ferry = Ferry::up(&file, &[&edge, &lb]);
    edge_origin.clear();
    target.clear();

    let cases = corpus();
    let report = std::env::var("FERRY_SMUGGLING_REPORT").is_ok();
    let mut failures = Vec::new();
    let mut table = String::from("| case | edge | balancer |\n|---|---|---|\n");
    // The two tiers in parallel: each case's exchange mostly waits.
    let (edge_outcomes, lb_outcomes) = std::thread::scope(|s| {
        let e = s.spawn(|| {
            cases
                .iter()
                .enumerate()
                .map(|(i, c)| run_case(&edge, &edge_origin, c, i))
                .collect::<Vec<_>>()
        });
        let b = s.spawn(|| {
            cases
                .iter()
                .enumerate()
                .map(|(i, c)| run_case(&lb, &target, c, i))
                .collect::<Vec<_>>()
        });
        (
            e.join().expect("edge cases"),
            b.join().expect("balancer cases"),
        )
    });
    for ((case, at_edge), at_lb) in cases.iter().zip(&edge_outcomes).zip(&lb_outcomes) {
        let show = |o: &Outcome| format!("{:?} origin saw {:?}", o.statuses, o.seen);
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            case.name,
            show(at_edge),
            show(at_lb)
        ));
        let expected = EXPECTED.iter().find(|(n, _, _)| *n == case.name);
        for (tier, o, want) in [
            ("edge", at_edge, expected.map(|e| e.1)),
            ("balancer", at_lb, expected.map(|e| e.2)),
        ] {
            let first = o.statuses.first().copied().unwrap_or(0);
            if o.smuggled {
                failures.push(format!(
                    "{tier}: {}: /smuggled reached the origin: {:?}",
                    case.name, o.seen
                ));
            }
            let mut targets = o.seen.clone();
            targets.sort();
            targets.dedup();
            if targets.len() != o.seen.len() {
                failures.push(format!(
                    "{tier}: {}: the origin saw a request twice: {:?}",
                    case.name, o.seen
                ));
            }
            if let Err(e) = &o.next_ok {
                failures.push(format!("{tier}: {}: the next client got {e}", case.name));
            }
            if !o.seen.is_empty() && !(200..300).contains(&first) {
                failures.push(format!(
                    "{tier}: {}: answered {first} but the origin saw {:?}",
                    case.name, o.seen
                ));
            }
            match want {
                Some(want) if want != first && !report => failures.push(format!(
                    "{tier}: {}: answered {:?}, expected {want}",
                    case.name, o.statuses
                )),
                None if !report => failures.push(format!("{tier}: {}: no expectation", case.name)),
                _ => {}
            }
        }
    }
    if report {
        println!("{table}");
    }
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
}

/// RFC 9112 §6.1: a server that reads a request with both Content-Length and Transfer-Encoding
/// must close the connection after answering it, so that nothing a front end and a back end could
/// read differently stays on it.
#[test]
fn a_request_with_content_length_and_transfer_encoding_closes_its_connection() {
    let edge_origin = Origin::start("edge-origin");
    let target = Origin::start("target");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let lb = format!("127.0.0.1:{}", ports[1]);
    let file = Topology::write(
        "smuggling-close",
        &topology(&edge, ports[1], &edge_origin, &target),
    );
    let _ferry = Ferry::up(&file, &[&edge, &lb]);
    let raw = b"POST /c/both HTTP/1.1\r\nHost: site.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    for front in [&edge, &lb] {
        let mut conn = Conn::open(front, IO_TIMEOUT).expect("connect");
        conn.write_raw(raw).expect("send");
        let r = conn.read_response(false).expect("an answer");
        assert_eq!(r.status, 200, "{front}: {r:?}");
        let says_close = r
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"));
        assert!(
            says_close || conn.closed_by_peer(Duration::from_secs(2)),
            "{front}: the connection stayed open after an ambiguous request: {r:?}"
        );
    }
    assert_eq!(edge_origin.count_path("/c/both"), 1);
    assert_eq!(target.count_path("/c/both"), 1);
}
