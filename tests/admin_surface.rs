//! The admin listener's attack surface, as a client on the network would meet it:
//!
//! - with an admin token (`[edge] admin_token` or `FERRY_ADMIN_TOKEN`), nothing is served without
//!   it: no `Authorization`, another token, a token one character off (or longer, or shorter) get
//!   401 with `WWW-Authenticate: Bearer`; an AWS SigV4 request whose access key id is not the
//!   token gets CloudFront's 403 `InvalidClientTokenId`; the right token in either form gets in;
//! - `ferry up` refuses to put an admin listener without a token on a non-loopback address, from
//!   the file or from `--admin`: it exits non-zero at once, says how to set a token, and leaves
//!   nothing listening;
//! - request bodies above 1 MiB are refused with 413 (CloudFront's XML `BatchTooLarge` on the
//!   CloudFront API), nothing is created or reloaded, and the listener keeps answering; a body of
//!   exactly 1 MiB is still accepted;
//! - a malformed invalidation batch gets a 400 in CloudFront's XML error shape and creates
//!   nothing.
//!
//! (The token comparison's constant time is a unit test in src/admin.rs; it is not timed here.)

mod common;

use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const TOKEN: &str = "e2e-Admin-Token-7f3a9c";
const CLOUDFRONT_XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";
const MIB: usize = 1 << 20;

/// An `Authorization` header as the AWS CLI signs it (SigV4) with access key id `key`.
fn sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/cloudfront/aws4_request, SignedHeaders=host;x-amz-date, Signature=9f4c3b2a1d0e9f8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
    )
}

/// A request to the admin listener of `site` with these headers.
fn admin(site: &Site, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    site.client
        .try_request(&site.admin, method, path, headers, body)
        .unwrap_or_else(|e| {
            panic!(
                "{method} {path} (headers {headers:?}) on the admin listener {}: {e}\n{}",
                site.admin,
                site.ferry.output_report()
            )
        })
}

/// Asserts the plain-text 401 of a request without the right bearer token.
fn assert_bearer_refusal(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{what}: a 401 names the Bearer scheme in WWW-Authenticate: {r:?}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{what}: {r:?}"
    );
    let body = r.body_text();
    assert!(
        body.contains("Bearer") && !body.contains(TOKEN),
        "{what}: the refusal says what to send, and does not tell the token: {r:?}"
    );
    assert!(
        !body.contains("distributions") && !body.contains("\"version\""),
        "{what}: nothing of the status document leaks: {r:?}"
    );
}

/// Asserts an error in CloudFront's XML shape, with `status` and `code`:
/// `<ErrorResponse xmlns=...><Error><Type>Sender</Type><Code>..</Code><Message>..</Message>
/// </Error><RequestId>..</RequestId></ErrorResponse>`.
fn assert_cloudfront_error(r: &Response, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert!(
        r.header("content-type").is_some_and(|v| v.contains("xml")),
        "{what}: an XML content type: {r:?}"
    );
    let body = r.body_text();
    assert!(
        body.contains(&format!("<ErrorResponse xmlns=\"{CLOUDFRONT_XMLNS}\">")),
        "{what}: CloudFront's ErrorResponse root: {r:?}"
    );
    let error = xml_tag(&body, "Error").unwrap_or_else(|| panic!("{what}: no <Error>: {r:?}"));
    assert_eq!(
        xml_tag(&error, "Type").as_deref(),
        Some("Sender"),
        "{what}: {r:?}"
    );
    assert_eq!(
        xml_tag(&error, "Code").as_deref(),
        Some(code),
        "{what}: {r:?}"
    );
    assert!(
        xml_tag(&error, "Message").is_some_and(|m| !m.is_empty()),
        "{what}: an error message: {r:?}"
    );
    assert!(
        xml_tag(&body, "RequestId").is_some_and(|m| !m.is_empty()),
        "{what}: a RequestId: {r:?}"
    );
}

/// ListInvalidations of `site`'s distribution `site`, with these headers: the `<Quantity>`.
fn invalidation_count(site: &Site, headers: &[(&str, &str)]) -> usize {
    let r = admin(
        site,
        "GET",
        "/2020-05-31/distribution/site/invalidation",
        headers,
        b"",
    );
    assert_eq!(r.status, 200, "ListInvalidations: {r:?}");
    let body = r.body_text();
    assert!(body.contains("<InvalidationList"), "{r:?}");
    xml_tag(&body, "Quantity")
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("ListInvalidations without a Quantity: {r:?}"))
}

/// Sends `method path` with `body` framed by Content-Length (the body written on a thread while
/// the answer is read, so that an early answer is heard) and returns the response.
fn send_large(
    site: &Site,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
        site.admin,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    let raw = Client::with_timeout(Duration::from_secs(15)).send_raw(&site.admin, &bytes);
    let received = shorten(&raw.text(), 500);
    raw.response.unwrap_or_else(|| {
        panic!(
            "{method} {path} with a {}-byte body: no complete response ({:?}); received {received:?}\n{}",
            body.len(),
            raw.error,
            site.ferry.output_report()
        )
    })
}

/// A valid invalidation batch for `paths`, padded with trailing whitespace (allowed after the
/// root element) to exactly `len` bytes.
fn padded_batch(paths: &[&str], len: usize) -> Vec<u8> {
    let mut body = invalidation_batch(paths, paths.len(), &unique_caller_reference()).into_bytes();
    assert!(
        body.len() < len,
        "the batch is already {} bytes",
        body.len()
    );
    body.resize(len, b' ');
    body
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .is_ok()
}

#[test]
fn with_an_admin_token_only_the_exact_token_gets_in() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("admin-token", &o)
        .edge(&format!("admin_token = \"{TOKEN}\""))
        .wait_admin()
        .start();

    let mut last_off = TOKEN.to_string();
    let last = last_off.pop().expect("a non-empty token");
    last_off.push(if last == 'c' { 'd' } else { 'c' });
    let longer = format!("{TOKEN}x");
    let shorter = &TOKEN[..TOKEN.len() - 1];
    let wrong: Vec<(String, String)> = vec![
        ("no Authorization".into(), String::new()),
        ("another token".into(), "Bearer not-the-token".into()),
        (
            "the last character changed".into(),
            format!("Bearer {last_off}"),
        ),
        (
            "the token and one more character".into(),
            format!("Bearer {longer}"),
        ),
        (
            "the token less its last character".into(),
            format!("Bearer {shorter}"),
        ),
        ("an empty bearer token".into(), "Bearer ".into()),
        (
            "the token as Basic credentials".into(),
            format!("Basic {TOKEN}"),
        ),
        ("the bare token".into(), TOKEN.into()),
    ];
    for (what, authorization) in &wrong {
        let headers: Vec<(&str, &str)> = if authorization.is_empty() {
            vec![]
        } else {
            vec![("Authorization", authorization.as_str())]
        };
        let r = admin(&site, "GET", "/ferry/status", &headers, b"");
        assert_bearer_refusal(&r, &format!("GET /ferry/status with {what}"));
        // The other resources are behind the same door.
        let r = admin(&site, "GET", "/cache/stats", &headers, b"");
        assert_eq!(r.status, 401, "GET /cache/stats with {what}: {r:?}");
        let r = admin(&site, "POST", "/ferry/reload", &headers, b"");
        assert_eq!(r.status, 401, "POST /ferry/reload with {what}: {r:?}");
    }
    assert!(
        !site.ferry.stderr().contains("topology reloaded"),
        "a refused reload reloaded:\n{}",
        site.ferry.output_report()
    );

    let bearer = format!("Bearer {TOKEN}");
    let r = admin(
        &site,
        "GET",
        "/ferry/status",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 200, "the right token: {r:?}");
    assert!(
        r.body_text().contains("site.cloudfront.net") || r.body_text().contains("\"site\""),
        "the status document names the distribution: {r:?}"
    );

    // AWS-shaped: the token is the SigV4 access key id.
    let list = "/2020-05-31/distribution";
    let date = [("X-Amz-Date", "20240101T000000Z")];
    for (what, key) in [
        ("another access key", "AKIAIOSFODNN7EXAMPLE".to_string()),
        ("the token one character off", last_off.clone()),
        ("the token and one more character", longer.clone()),
    ] {
        let auth = sigv4(&key);
        let r = admin(
            &site,
            "GET",
            list,
            &[("Authorization", auth.as_str()), date[0]],
            b"",
        );
        assert_cloudfront_error(
            &r,
            403,
            "InvalidClientTokenId",
            &format!("ListDistributions signed with {what}"),
        );
        assert!(!r.body_text().contains("<DistributionList"), "{r:?}");
    }
    let auth = sigv4(TOKEN);
    let r = admin(
        &site,
        "GET",
        list,
        &[("Authorization", auth.as_str()), date[0]],
        b"",
    );
    assert_eq!(
        r.status, 200,
        "ListDistributions signed with the token: {r:?}"
    );
    assert!(
        r.body_text().contains("<DistributionList") && r.body_text().contains("<Id>site</Id>"),
        "{r:?}"
    );
    // Without any credential, an AWS-shaped request is refused in CloudFront's shape too.
    let r = admin(&site, "GET", list, &[], b"");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{r:?}"
    );
    assert!(xml_tag(&r.body_text(), "Code").is_some(), "{r:?}");
}

#[test]
fn the_token_can_come_from_ferry_admin_token() {
    let o = Origin::start("o");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let admin_addr = format!("127.0.0.1:{}", ports[1]);
    let topology = Topology::write(
        "admin-token-env",
        &SiteBuilder::new("admin-token-env", &o).toml(&edge, &admin_addr),
    );
    let ferry = Ferry::start_with_env(
        &["up", topology.path_str()],
        &[("FERRY_ADMIN_TOKEN", TOKEN)],
        &[edge.as_str(), admin_addr.as_str()],
    );
    let client = Client::new();
    let get = |headers: &[(&str, &str)]| {
        client
            .try_request(&admin_addr, "GET", "/ferry/status", headers, b"")
            .unwrap_or_else(|e| panic!("GET /ferry/status: {e}\n{}", ferry.output_report()))
    };
    assert_bearer_refusal(&get(&[]), "no Authorization, token from FERRY_ADMIN_TOKEN");
    assert_bearer_refusal(
        &get(&[("Authorization", "Bearer wrong")]),
        "a wrong token, token from FERRY_ADMIN_TOKEN",
    );
    let bearer = format!("Bearer {TOKEN}");
    let r = get(&[("Authorization", bearer.as_str())]);
    assert_eq!(r.status, 200, "{r:?}");
}

/// Runs `ferry ARGS` without FERRY_ADMIN_TOKEN, expecting it to refuse to start: asserts a
/// non-zero exit within a few seconds, a message that says how to set a token, and nothing left
/// listening on `ports`.
fn assert_refuses_to_start(args: &[&str], address: &str, ports: &[u16]) {
    let started = Instant::now();
    let mut cmd = ferry_command(args);
    cmd.env_remove("FERRY_ADMIN_TOKEN");
    let out = run_with_timeout(&mut cmd, Duration::from_secs(10)).unwrap_or_else(|e| {
        panic!("ferry {args:?} with a non-loopback admin and no token kept running: {e}")
    });
    let took = started.elapsed();
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "ferry {args:?} started an admin listener on {address} without a token ({}):\n{all}",
        out.status
    );
    assert!(
        took < Duration::from_secs(5),
        "ferry {args:?} took {took:?} to refuse:\n{all}"
    );
    assert!(
        all.contains(address),
        "the message names the address {address}:\n{all}"
    );
    assert!(
        all.contains("admin_token") && all.contains("FERRY_ADMIN_TOKEN"),
        "the message says to set admin_token or FERRY_ADMIN_TOKEN:\n{all}"
    );
    for port in ports {
        assert!(
            !listening(*port),
            "something listens on port {port} after ferry {args:?} refused to start:\n{all}"
        );
    }
}

// The process checks the file's admin address when it starts (validation cannot: the token may
// come from FERRY_ADMIN_TOKEN), naming both ways to give a token.
#[test]
fn a_non_loopback_admin_from_the_file_without_a_token_is_refused() {
    let o = Origin::start("o");
    let ports = free_ports(2);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let address = format!("0.0.0.0:{}", ports[1]);
    let topology = Topology::write(
        "admin-non-loopback-file",
        &SiteBuilder::new("admin-non-loopback-file", &o).toml(&edge, &address),
    );
    assert_refuses_to_start(&["up", topology.path_str()], &address, &ports);
}

#[test]
fn a_non_loopback_admin_from_the_command_line_without_a_token_is_refused() {
    let o = Origin::start("o");
    let ports = free_ports(3);
    let edge = format!("127.0.0.1:{}", ports[0]);
    let file_admin = format!("127.0.0.1:{}", ports[1]);
    let address = format!("0.0.0.0:{}", ports[2]);
    let topology = Topology::write(
        "admin-non-loopback-flag",
        &SiteBuilder::new("admin-non-loopback-flag", &o).toml(&edge, &file_admin),
    );
    assert_refuses_to_start(
        &["up", topology.path_str(), "--admin", address.as_str()],
        &address,
        &ports,
    );
}

#[test]
fn bodies_above_one_mib_are_refused_and_change_nothing() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("admin-oversize", &o)
        .edge(&format!("admin_token = \"{TOKEN}\""))
        .wait_admin()
        .start();
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let xml = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "text/xml"),
    ];
    let create = "/2020-05-31/distribution/site/invalidation";

    // A cached object an invalidation would remove.
    let r = site.get("/big/a", &[]);
    assert_from_edge(&r, "Miss from cloudfront");

    // One byte over: a valid batch, padded, is refused whole.
    let r = send_large(
        &site,
        "POST",
        create,
        &xml,
        &padded_batch(&["/big/*"], MIB + 1),
    );
    assert_cloudfront_error(
        &r,
        413,
        "BatchTooLarge",
        "a 1 MiB + 1 byte invalidation batch",
    );
    // Two MiB to the reload endpoint.
    let r = send_large(&site, "POST", "/ferry/reload", &auth, &vec![b'x'; 2 * MIB]);
    assert_eq!(r.status, 413, "a 2 MiB reload request: {r:?}");
    // Without the token, an oversize body is refused as unauthorised, not processed.
    let r = send_large(
        &site,
        "POST",
        create,
        &[("Content-Type", "text/xml")],
        &padded_batch(&["/big/*"], MIB + 1),
    );
    assert_eq!(r.status, 401, "an oversize batch without the token: {r:?}");

    // The listener still answers, nothing was created or reloaded, and the object is still cached.
    let r = admin(&site, "GET", "/ferry/status", &auth, b"");
    assert_eq!(
        r.status, 200,
        "the admin listener after the oversize bodies: {r:?}"
    );
    assert_eq!(
        invalidation_count(&site, &auth),
        0,
        "an oversize batch created an invalidation"
    );
    assert!(
        !site.ferry.stderr().contains("topology reloaded"),
        "an oversize reload request reloaded:\n{}",
        site.ferry.output_report()
    );
    let r = site.get("/big/a", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/big/a"), 1, "{:#?}", o.requests());

    // Exactly 1 MiB is within the limit: the same padded batch is carried out.
    let r = send_large(&site, "POST", create, &xml, &padded_batch(&["/big/*"], MIB));
    assert_eq!(r.status, 201, "a batch of exactly 1 MiB: {r:?}");
    assert_eq!(invalidation_count(&site, &auth), 1);
    let r = site.get("/big/a", &[]);
    assert_from_edge(&r, "Miss from cloudfront");
    assert_eq!(o.count_path("/big/a"), 2, "{:#?}", o.requests());
}

#[test]
fn malformed_invalidation_batches_get_cloudfront_errors_and_create_nothing() {
    let o = Origin::start("o");
    let site = SiteBuilder::new("admin-malformed", &o).wait_admin().start();
    let create = "/2020-05-31/distribution/site/invalidation";
    let xml = [("Content-Type", "text/xml")];

    let r = site.get("/m/a", &[]);
    assert_from_edge(&r, "Miss from cloudfront");

    let no_slash = invalidation_batch(&["m/a"], 1, &unique_caller_reference());
    let one_bad = invalidation_batch(&["/m/a", "m/b"], 2, &unique_caller_reference());
    let quantities = invalidation_batch(&["/m/a"], 3, &unique_caller_reference());
    let truncated = invalidation_batch(&["/m/a"], 1, &unique_caller_reference());
    let truncated = &truncated[..truncated.len() / 2];
    let cases: Vec<(&str, &[u8], &[&str])> = vec![
        ("not XML at all", b"this is not xml", &["MalformedXML"]),
        ("a truncated batch", truncated.as_bytes(), &["MalformedXML"]),
        (
            "another root element",
            b"<?xml version=\"1.0\"?><Invalidation><Paths/></Invalidation>",
            &["MalformedXML", "InvalidArgument"],
        ),
        (
            "a path without a leading slash",
            no_slash.as_bytes(),
            &["InvalidArgument"],
        ),
        (
            "one bad path among good ones",
            one_bad.as_bytes(),
            &["InvalidArgument"],
        ),
        (
            "a Quantity that is not the number of paths",
            quantities.as_bytes(),
            &["InconsistentQuantities"],
        ),
    ];
    for (what, body, codes) in cases {
        let r = admin(&site, "POST", create, &xml, body);
        let code = xml_tag(&r.body_text(), "Code").unwrap_or_default();
        assert!(
            codes.contains(&code.as_str()),
            "{what}: want one of {codes:?}, got {r:?}"
        );
        assert_cloudfront_error(&r, 400, &code, what);
        assert!(r.header("location").is_none(), "{what}: {r:?}");
    }

    assert_eq!(
        invalidation_count(&site, &[]),
        0,
        "a refused batch created an invalidation"
    );
    let r = site.get("/m/a", &[]);
    assert_from_edge(&r, "Hit from cloudfront");
    assert_eq!(o.count_path("/m/a"), 1, "{:#?}", o.requests());
}
