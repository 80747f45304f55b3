//! Self-checks of the end-to-end harness (tests/common): the Origin and the Client against each
//! other, ports, temporary files and the command runner. They do not need the ferry binary.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn origin_records_requests_and_answers_by_default() {
    let origin = Origin::start("o1");
    let client = Client::new();
    let resp = client.get(
        &origin.address(),
        "/a/b?x=1",
        &[("Host", "www.example.test"), ("X-Mixed-Case", "v1")],
    );
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.body_text(), "origin o1: GET /a/b?x=1");
    assert_eq!(resp.header("x-origin-name"), Some("o1"));
    assert_eq!(resp.header("CONTENT-LENGTH"), Some("23"));

    assert_eq!(origin.count(), 1);
    let req = &origin.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/a/b?x=1");
    assert_eq!(req.path(), "/a/b");
    assert_eq!(req.query(), Some("x=1"));
    assert_eq!(req.version, "HTTP/1.1");
    assert_eq!(req.header("host"), Some("www.example.test"));
    assert_eq!(req.header("x-mixed-case"), Some("v1"));
    assert_eq!(req.headers.get_all("X-MIXED-CASE"), vec!["v1"]);
    assert!(req.body.is_empty());
    assert_eq!(req.peer.ip().to_string(), "127.0.0.1");
}

#[test]
fn client_sends_the_address_as_host_when_none_is_given() {
    let origin = Origin::start("o");
    let url = format!("http://{}/", origin.address());
    Client::new().get(&url, "/h", &[]);
    let req = &origin.requests()[0];
    assert_eq!(req.header("host"), Some(origin.address().as_str()));
}

#[test]
fn keep_alive_carries_several_requests_on_one_connection() {
    let origin = Origin::start("ka");
    let mut conn = Client::new().connect(&origin.address()).expect("connect");
    for i in 0..3 {
        let resp = conn
            .request("GET", &format!("/k/{i}"), &[], b"")
            .expect("request on the kept-alive connection");
        assert_eq!(resp.body_text(), format!("origin ka: GET /k/{i}"));
    }
    let reqs = origin.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.connection == reqs[0].connection));
    assert_eq!(origin.connections(), 1);
}

#[test]
fn request_bodies_by_length_and_chunked() {
    let origin = Origin::start_with("echo", |req| {
        Response::text(
            201,
            format!("{} bytes: {}", req.body.len(), req.body_text()),
        )
    });
    let client = Client::new();
    let resp = client.request(&origin.address(), "POST", "/p", &[], b"hello");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body_text(), "5 bytes: hello");

    let raw = client.send_raw(
        &origin.address(),
        b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(raw.status(), Some(201), "{raw:?}");
    assert_eq!(raw.response.expect("parsed").body_text(), "5 bytes: abcde");
    let reqs = origin.requests();
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(reqs[1].body, b"abcde");
}

#[test]
fn expect_100_continue_is_honoured() {
    let origin = Origin::start_with("e", |req| Response::text(200, req.body_text()));
    let mut conn = Client::new().connect(&origin.address()).expect("connect");
    conn.write_raw(
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("write head");
    // The interim 100 arrives first; read_response skips it once the final one is there.
    conn.write_raw(b"xyz").expect("write body");
    let resp = conn.read_response(false).expect("response");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_text(), "xyz");
}

#[test]
fn client_decodes_every_response_framing() {
    let origin = Origin::start_with("f", |req| match req.path() {
        "/chunked" => Response::new(200)
            .with_header("Transfer-Encoding", "chunked")
            .with_body("chunked body"),
        "/204" => Response::new(204).with_header("X-Nothing", "here"),
        "/304" => Response::new(304).with_header("ETag", "\"v1\""),
        "/close" => Response::raw("HTTP/1.1 200 OK\r\nX-Framing: close\r\n\r\nuntil the end"),
        "/http10" => Response::raw("HTTP/1.0 200 OK\r\n\r\nold style"),
        _ => Response::text(200, "sized body"),
    });
    let c = Client::new();
    let a = origin.address();

    let r = c.get(&a, "/chunked", &[]);
    assert_eq!(r.body_text(), "chunked body");
    assert!(r.header("content-length").is_none(), "{r:?}");

    let r = c.get(&a, "/204", &[]);
    assert_eq!((r.status, r.body.len()), (204, 0));
    assert_eq!(r.header("x-nothing"), Some("here"));

    let r = c.get(&a, "/304", &[]);
    assert_eq!((r.status, r.body.len()), (304, 0));

    let r = c.head(&a, "/sized", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());

    let r = c.get(&a, "/close", &[]);
    assert_eq!(r.body_text(), "until the end");
    let r = c.get(&a, "/http10", &[]);
    assert_eq!(
        (r.version.as_str(), r.body_text().as_str()),
        ("HTTP/1.0", "old style")
    );

    // Several framings in a row on one connection.
    let mut conn = c.connect(&a).expect("connect");
    for path in ["/chunked", "/204", "/sized", "/304", "/chunked"] {
        let r = conn.request("GET", path, &[], b"").expect(path);
        assert!(
            r.status == 200 || r.status == 204 || r.status == 304,
            "{r:?}"
        );
    }
    assert_eq!(origin.connections(), 7);
}

#[test]
fn respond_with_and_set_handler_change_the_answer() {
    let origin = Origin::start("r");
    let c = Client::new();
    origin.respond_with(Response::text(503, "down").with_header("Retry-After", "1"));
    let r = c.get(&origin.address(), "/x", &[]);
    assert_eq!((r.status, r.body_text().as_str()), (503, "down"));
    assert_eq!(r.header("retry-after"), Some("1"));
    origin.set_handler(|req| Response::text(200, format!("handled {}", req.target)));
    assert_eq!(
        c.get(&origin.address(), "/y", &[]).body_text(),
        "handled /y"
    );
    assert_eq!(origin.count(), 2);
    assert_eq!(origin.count_prefix("/y"), 1);
    origin.clear();
    assert_eq!(origin.count(), 0);
}

#[test]
fn send_raw_reports_malformed_input_and_large_heads() {
    let origin = Origin::start("raw");
    let c = Client::new();
    let r = c.send_raw(&origin.address(), b"NONSENSE\r\n\r\n");
    assert_eq!(r.status(), Some(400), "{r:?}");

    let long = "a".repeat(70 * 1024);
    let req = format!("GET /long HTTP/1.1\r\nHost: x\r\nX-Long: {long}\r\n\r\n");
    let r = c.send_raw(&origin.address(), req.as_bytes());
    assert_eq!(r.status(), Some(200), "{:?}", r.error);
    assert_eq!(
        origin.requests_containing("/long")[0]
            .header("x-long")
            .map(str::len),
        Some(70 * 1024)
    );

    let huge = format!(
        "GET /huge HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
        "b".repeat(2 << 20)
    );
    let r = c.send_raw(&origin.address(), huge.as_bytes());
    assert_eq!(r.status(), Some(431), "{:?}", r.error);
}

#[test]
fn a_stopped_origin_refuses_connections() {
    let mut origin = Origin::start("s");
    let addr = origin.address();
    assert_eq!(Client::new().get(&addr, "/", &[]).status, 200);
    origin.stop();
    assert!(Client::new().try_get(&addr, "/", &[]).is_err());
    assert_eq!(origin.count(), 1, "the record survives the stop");

    let r = Client::new().send_raw(&dead_addr(), b"GET / HTTP/1.1\r\n\r\n");
    assert!(r.response.is_none() && r.error.is_some(), "{r:?}");
}

#[test]
fn an_origin_can_listen_on_another_loopback_address() {
    let port = free_port_on(&["127.0.0.1", "127.0.0.2"]);
    let origin = Origin::try_start_on("two", &format!("127.0.0.2:{port}")).expect("127.0.0.2");
    let r = Client::new().get(&format!("127.0.0.2:{port}"), "/", &[]);
    assert_eq!(r.body_text(), "origin two: GET /");
    assert_eq!(origin.requests()[0].peer.ip().to_string(), "127.0.0.1");
}

#[test]
fn a_silent_server_times_out_instead_of_hanging() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let err = Client::with_timeout(Duration::from_millis(300))
        .try_get(&addr, "/", &[])
        .expect_err("nobody answers");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
}

#[test]
fn wait_http_polls_until_an_answer_or_the_deadline() {
    let origin = Origin::start("ready");
    wait_http(&origin.address(), Duration::from_secs(5)).expect("origin answers");
    assert!(wait_http(&dead_addr(), Duration::from_millis(200)).is_err());
}

#[test]
fn free_ports_are_distinct() {
    let ports = free_ports(20);
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 20, "{ports:?}");
}

#[test]
fn topology_files_are_written_in_unique_directories() {
    let a = Topology::write("t", "stack = \"a\"\n");
    let b = Topology::write("t", "stack = \"b\"\n");
    assert_ne!(a.path(), b.path());
    assert_eq!(
        std::fs::read_to_string(a.path()).expect("read"),
        "stack = \"a\"\n"
    );
    let dir = a.dir().path().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "removed on drop");
}

#[test]
fn run_with_timeout_kills_what_outlives_it() {
    let err = run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(200))
        .expect_err("sleep 30 outlives 200 ms");
    assert!(err.contains("did not finish"), "{err}");
    let out = run_with_timeout(
        Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        Duration::from_secs(10),
    )
    .expect("sh finishes");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
}
