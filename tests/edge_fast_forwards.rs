//! The edge's HTTP/1 fast path for what it forwards without caching (`edge/src/fast_forward.rs`):
//! a `GET`, `HEAD` or `OPTIONS` without a body on a behavior whose cache policy stores nothing
//! goes to the origin over the fast path's own kept-alive connections, and what the origin and the
//! viewer see is what pingora's path gives them. Every test runs two `ferry up` processes on the
//! same topology, one as it is (fast path on) and one with `FERRY_FAST_FORWARDS=0` (pingora's
//! path only), sends both the same requests and compares; `ferry_edge_fast_forwards_total` says
//! which path served. The origins are scripted raw-socket servers (`common::raw_target`).
//!
//! Per-process values are blanked before comparing: `X-Amz-Cf-Id` (a request id), `Via` (its host
//! is drawn per process) and `Date`.

mod common;

use common::raw_target::*;
use common::*;
use std::time::{Duration, Instant};

const METRIC: &str = "ferry_edge_fast_forwards_total";
const HOST: &str = "api.example.test";

/// One edge: the process, its listener and its admin listener.
struct Edge {
    ferry: Ferry,
    node: String,
    admin: String,
    _topology: Topology,
}

/// The same topology run twice: `fast` as it is, `slow` with `FERRY_FAST_FORWARDS=0`.
struct Pair {
    fast: Edge,
    slow: Edge,
}

/// A topology with distribution `api` (alias [`HOST`]) and origin `o` at `origin_port`:
/// `top` (blocks before the distribution: policies), `distribution` (its own keys), `origin`
/// (keys of origin `o`), `config` (fields of its custom_origin_config), and `behaviors` (the
/// default behavior's lines, then cache behavior tables).
struct Spec<'a> {
    top: &'a str,
    distribution: &'a str,
    origin: &'a str,
    config: &'a str,
    behaviors: &'a str,
}

impl<'a> Spec<'a> {
    /// [`API_BEHAVIORS`] with the policies in `top` ([`api_policies`]), and nothing else.
    fn api(top: &'a str) -> Spec<'a> {
        Spec {
            top,
            distribution: "",
            origin: "",
            config: "",
            behaviors: API_BEHAVIORS,
        }
    }
}

fn spawn_edge(label: &str, origin_port: u16, spec: &Spec<'_>, env: &[(&str, &str)]) -> Edge {
    let ports = free_ports(2);
    let node = format!("127.0.0.1:{}", ports[0]);
    let admin = format!("127.0.0.1:{}", ports[1]);
    let Spec {
        top,
        distribution,
        origin,
        config,
        behaviors,
    } = spec;
    let toml = format!(
        "stack = \"e2e-eff-{label}\"\n\n[edge]\nhttp = \"{node}\"\nadmin = \"{admin}\"\n\n\
         [resolve]\n\"{ORIGIN_DOMAIN}\" = [\"127.0.0.1\"]\n\n{top}\n\
         [[distributions]]\nid = \"api\"\naliases = [\"{HOST}\"]\n{distribution}\n\
         \n  [[distributions.origins]]\n  id = \"o\"\n  domain_name = \"{ORIGIN_DOMAIN}\"\n  \
         custom_origin_config = {{ http_port = {origin_port}, origin_protocol_policy = \"http-only\"{config} }}\n{origin}\n\
         \n  [distributions.default_cache_behavior]\n  target_origin_id = \"o\"\n  viewer_protocol_policy = \"allow-all\"\n{behaviors}\n"
    );
    let topology = Topology::write(&format!("eff-{label}"), &toml);
    let mut ferry =
        Ferry::spawn_with_env(&["up", topology.path_str(), "--admin", admin.as_str()], env);
    ferry.wait_ready(&[node.as_str(), admin.as_str()], READY_TIMEOUT);
    Edge {
        ferry,
        node,
        admin,
        _topology: topology,
    }
}

impl Pair {
    fn start(label: &str, origin_port: u16, spec: &Spec<'_>) -> Pair {
        Pair {
            fast: spawn_edge(&format!("{label}-on"), origin_port, spec, &[]),
            slow: spawn_edge(
                &format!("{label}-off"),
                origin_port,
                spec,
                &[("FERRY_FAST_FORWARDS", "0")],
            ),
        }
    }

    /// (name, edge) of each: the fast one first.
    fn sides(&self) -> [(&'static str, &Edge); 2] {
        [("fast path", &self.fast), ("pingora's path", &self.slow)]
    }

    fn report(&self) -> String {
        format!(
            "=== fast path on ===\n{}\n=== FERRY_FAST_FORWARDS=0 ===\n{}",
            self.fast.ferry.output_report(),
            self.slow.ferry.output_report()
        )
    }
}

/// `METRIC` of `edge`, scraped until it reads `want` or 5 s have passed.
fn fast_forwards(edge: &Edge, want: u64) -> u64 {
    counter(&edge.admin, METRIC, want)
}

/// Asserts the fast process's counter reads `want` and the other's 0.
fn assert_counted(pair: &Pair, want: u64, what: &str) {
    let admins = (pair.fast.admin.as_str(), pair.slow.admin.as_str());
    assert_fast_count(METRIC, admins, want, what, &|| pair.report());
}

/// `fields` with the per-process values blanked (`X-Amz-Cf-Id`, `Via`), after checking that
/// they are there.
fn blanked(what: &str, fields: &[(String, String)]) -> Vec<(String, String)> {
    for name in ["x-amz-cf-id", "via"] {
        assert_eq!(
            fields.iter().filter(|(n, _)| n == name).count(),
            1,
            "{what}: one {name} in {fields:#?}"
        );
    }
    fields
        .iter()
        .map(|(n, v)| match n.as_str() {
            "x-amz-cf-id" | "via" => (n.clone(), "*".to_string()),
            _ => (n.clone(), v.clone()),
        })
        .collect()
}

/// The request line and fields of what an origin received, names lowercased and sorted by name
/// (same-name fields in their order), per-process values blanked.
fn normalized(what: &str, r: &Received) -> (String, Vec<(String, String)>) {
    let mut fields: Vec<(String, String)> = r
        .fields()
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    (r.line().to_string(), blanked(what, &fields))
}

/// A request: method, target and headers (Host is added).
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// Sends every case through each path, on one connection each (a new one after a close); the
/// responses, as [`Seen`] with per-process values blanked, fast path first.
fn run_both(pair: &Pair, cases: &[Case<'_>]) -> [Vec<(Seen, Response)>; 2] {
    let mut out: [Vec<(Seen, Response)>; 2] = [Vec::new(), Vec::new()];
    for (side, (name, edge)) in pair.sides().into_iter().enumerate() {
        let mut conn = connect(&edge.node);
        for (method, target, headers) in cases {
            let mut headers = headers.to_vec();
            headers.push(("Host", HOST));
            let (r, raw) = exchange(&mut conn, method, target, &headers);
            let mut seen = seen(&raw, &r);
            seen.fields = blanked(&format!("{name}: {method} {target}"), &seen.fields);
            if conn.closed_by_peer(Duration::ZERO) {
                conn = connect(&edge.node);
            }
            out[side].push((seen, r));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What the origin sees
// ---------------------------------------------------------------------------------------------

const ORP_SOME: &str = "[[origin_request_policies]]\nname = \"some\"\n\
    headers_config = { header_behavior = \"whitelist\", headers = [\"X-Api-Key\", \"Accept-Language\"] }\n\
    cookies_config = { cookie_behavior = \"whitelist\", cookies = [\"session\"] }\n\
    query_strings_config = { query_string_behavior = \"whitelist\", query_strings = [\"page\"] }\n";

const ORP_UA: &str = "[[origin_request_policies]]\nname = \"ua\"\n\
    headers_config = { header_behavior = \"whitelist\", headers = [\"User-Agent\"] }\n\
    query_strings_config = { query_string_behavior = \"all\" }\n";

const API_BEHAVIORS: &str = "  cache_policy = \"Managed-CachingDisabled\"\n  \
    origin_request_policy = \"Managed-AllViewerExceptHostHeader\"\n  \
    allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]\n\n  \
    [[distributions.cache_behaviors]]\n  path_pattern = \"/some/*\"\n  target_origin_id = \"o\"\n  \
    viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n  \
    origin_request_policy = \"some\"\n\n  \
    [[distributions.cache_behaviors]]\n  path_pattern = \"/bare/*\"\n  target_origin_id = \"o\"\n  \
    viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n\n  \
    [[distributions.cache_behaviors]]\n  path_pattern = \"/all/*\"\n  target_origin_id = \"o\"\n  \
    viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n  \
    origin_request_policy = \"Managed-AllViewer\"\n\n  \
    [[distributions.cache_behaviors]]\n  path_pattern = \"/ua/*\"\n  target_origin_id = \"o\"\n  \
    viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n  \
    origin_request_policy = \"ua\"\n";

/// The origin request policies [`API_BEHAVIORS`] names.
fn api_policies() -> String {
    format!("{ORP_SOME}\n{ORP_UA}")
}

#[test]
fn the_origin_gets_the_request_pingora_s_path_sends() {
    let origin = RawTarget::start(|r| Reply::Keep(ok(&format!("answer to {}", r.target()))));
    let top = api_policies();
    let spec = Spec {
        top: &top,
        distribution: "default_root_object = \"index.html\"",
        origin: "  origin_path = \"/base\"\n  custom_headers = { X-Origin-Verify = \"secret\", X-Api-Key = \"from-the-edge\" }",
        config: "",
        behaviors: API_BEHAVIORS,
    };
    let pair = Pair::start("origin-sees", origin.port, &spec);
    let viewer: &[(&str, &str)] = &[
        ("User-Agent", "curl/8.0"),
        ("Accept", "*/*"),
        ("Accept-Language", "de"),
        ("X-Api-Key", "from-the-viewer"),
        ("Cookie", "session=abc; other=1"),
        ("Cookie", "theme=dark"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Via", "1.1 a-proxy"),
        ("Authorization", "Bearer t"),
        ("Referer", "http://referer.test/"),
        ("Range", "bytes=0-3"),
        ("If-None-Match", "\"v1\""),
        ("X-Other", "x"),
        ("X-Amz-Cf-Id", "forged"),
        ("X-Real-IP", "198.51.100.1"),
        ("Connection", "keep-alive"),
    ];
    let cases: Vec<Case> = vec![
        ("GET", "/", viewer),
        ("GET", "/api/items?b=2&a=1", viewer),
        ("GET", "/api/items", &[]),
        ("GET", "/some/path?page=2&x=1&page=3", viewer),
        ("GET", "/some/none?x=1", &[("Cookie", "other=1")]),
        ("GET", "/bare/x?q=1", viewer),
        ("GET", "/all/y?a=b", viewer),
        ("GET", "/ua/z?k=v", viewer),
        ("HEAD", "/api/head", viewer),
        ("OPTIONS", "/api/options", viewer),
        ("GET", "/api/spaces%20and%2Fslashes/?x=%41", viewer),
    ];
    let answers = run_both(&pair, &cases);
    assert_counted(&pair, cases.len() as u64, "every case");
    let seen = origin.seen();
    assert_eq!(
        seen.len(),
        2 * cases.len(),
        "the origin got each request once from each edge: {seen:#?}"
    );
    let (fast, slow) = seen.split_at(cases.len());
    for (i, (method, target, _)) in cases.iter().enumerate() {
        let what = format!("{method} {target}");
        let (f, s) = (normalized(&what, &fast[i]), normalized(&what, &slow[i]));
        assert_eq!(
            f, s,
            "{what}: the origin got (left) from the fast path and (right) from pingora's path"
        );
        let (fr, sr) = (&answers[0][i], &answers[1][i]);
        assert_eq!(fr.0, sr.0, "{what}: what the viewer got from each path");
        assert_eq!(fr.1.status, 200, "{what}: {:?}", fr.1);
    }
    // What CloudFront sends, checked on the fast path (pingora's is the same, above).
    let root = &fast[0];
    assert_eq!(root.line(), "GET /base/index.html HTTP/1.1");
    assert_eq!(root.values("x-origin-verify"), ["secret"]);
    assert_eq!(
        root.values("x-api-key"),
        ["from-the-edge"],
        "a custom header replaces the viewer's"
    );
    assert_eq!(root.values("x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
    assert_eq!(root.values("host"), [ORIGIN_DOMAIN]);
    assert!(root.values("x-real-ip").is_empty() && root.values("x-amz-cf-id") != ["forged"]);
    let some = &fast[3];
    assert_eq!(some.line(), "GET /base/some/path?page=2&page=3 HTTP/1.1");
    assert_eq!(some.values("cookie"), ["session=abc"]);
    assert_eq!(some.values("user-agent"), ["Amazon CloudFront"]);
    assert!(some.values("authorization").is_empty());
    let ua = &fast[7];
    assert_eq!(ua.values("user-agent"), ["curl/8.0"]);
    assert_eq!(ua.line(), "GET /base/ua/z?k=v HTTP/1.1");
    assert_eq!(
        fast[8].method(),
        "HEAD",
        "a HEAD that is not cached stays a HEAD"
    );
}

// ---------------------------------------------------------------------------------------------
// What the viewer gets
// ---------------------------------------------------------------------------------------------

/// [`shapes`], with what the edge does to an origin's headers: Set-Cookie, Vary, the origin's
/// own X-Cache and Via, and errors.
fn edge_shapes(r: &Received) -> Reply {
    let head_only = r.method() == "HEAD";
    let body = |b: &[u8]| if head_only { Vec::new() } else { b.to_vec() };
    let path = ["/bare", "/cors", "/site"]
        .iter()
        .find_map(|p| r.path().strip_prefix(p))
        .unwrap_or(r.path());
    match path {
        "/headers" => Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "a=1; Path=/"),
                ("Vary", "Accept-Encoding, User-Agent"),
                ("vary", "Cookie, X-Api-Key"),
                ("X-Cache", "Hit from the origin's cache"),
                ("Via", "1.1 origin-proxy"),
                ("X-Amz-Cf-Pop", "FAKE"),
                ("Server", "origin/1.0"),
                ("X-Powered-By", "php"),
                ("X-Kept", "origin"),
                ("X-Replaced", "origin"),
                ("Content-Length", "5"),
            ],
            &body(b"hello"),
        )),
        "/early-hints" => Reply::KeepThen(
            wire(
                "HTTP/1.1 103 Early Hints",
                &[("Link", "</a.css>; rel=preload"), ("Set-Cookie", "early=1")],
                b"",
            ),
            Duration::from_millis(800),
            ok("after the hints"),
        ),
        "/vary-star" => Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[("Vary", "*"), ("Content-Length", "2")],
            &body(b"hi"),
        )),
        "/missing" => Reply::Keep(wire(
            "HTTP/1.1 404 Not Found",
            &[("Content-Type", "text/plain"), ("Content-Length", "9")],
            &body(b"not here\n"),
        )),
        "/unavailable" => Reply::Keep(wire(
            "HTTP/1.1 503 Service Unavailable",
            &[("Retry-After", "1"), ("Content-Length", "4")],
            &body(b"busy"),
        )),
        _ => {
            let mut shaped = r.clone();
            shaped.head = shaped.head.replacen(r.path(), path, 1);
            shapes(&shaped)
        }
    }
}

#[test]
fn the_viewer_gets_the_response_pingora_s_path_sends() {
    let origin = RawTarget::start(edge_shapes);
    let top = format!("{}\n{SITE_POLICY}", api_policies());
    let behaviors = format!("{API_BEHAVIORS}\n{POLICY_BEHAVIORS}");
    let spec = Spec {
        behaviors: &behaviors,
        ..Spec::api(&top)
    };
    let pair = Pair::start("viewer-sees", origin.port, &spec);
    let cases: Vec<Case> = vec![
        ("GET", "/length", &[]),
        ("GET", "/big", &[]),
        ("GET", "/chunked", &[]),
        ("HEAD", "/length", &[]),
        ("GET", "/no-content", &[]),
        ("GET", "/not-modified", &[("If-None-Match", "\"v1\"")]),
        ("GET", "/until-close", &[]),
        ("GET", "/interim", &[]),
        ("GET", "/length-and-chunked", &[]),
        ("GET", "/headers", &[]),
        ("GET", "/bare/headers", &[]),
        ("GET", "/vary-star", &[]),
        ("GET", "/missing", &[]),
        ("GET", "/unavailable", &[]),
        ("OPTIONS", "/length", &[]),
        ("GET", "/cors/headers", &[("Origin", "https://app.test")]),
        (
            "OPTIONS",
            "/cors/length",
            &[
                ("Origin", "https://app.test"),
                ("Access-Control-Request-Method", "PUT"),
            ],
        ),
        ("GET", "/site/headers", &[]),
        ("GET", "/site/chunked", &[]),
        ("GET", "/site/interim", &[]),
        ("GET", "/length", &[]),
    ];
    let answers = run_both(&pair, &cases);
    assert_counted(&pair, cases.len() as u64, "every case");
    for (i, (method, target, _)) in cases.iter().enumerate() {
        let what = format!("{method} {target}");
        let ((fast, fast_r), (slow, _)) = (&answers[0][i], &answers[1][i]);
        assert_eq!(
            (&fast.interim, &fast.line, &fast.fields),
            (&slow.interim, &slow.line, &slow.fields),
            "{what}: the viewer's response heads from the fast path (left) and pingora's path (right)"
        );
        assert!(
            fast.body == slow.body,
            "{what}: bodies of {} and {} bytes differ",
            fast.body.len(),
            slow.body.len()
        );
        let want_x_cache = if fast_r.status >= 400 {
            "Error from cloudfront"
        } else {
            "Miss from cloudfront"
        };
        assert_from_edge(fast_r, want_x_cache);
    }
    let body_of = |path: &str| {
        let i = cases
            .iter()
            .position(|c| c.0 == "GET" && c.1 == path)
            .unwrap_or_else(|| panic!("no case {path}"));
        answers[0][i].1.body.clone()
    };
    assert_eq!(body_of("/big"), numbered(150_000));
    assert_eq!(body_of("/chunked"), CHUNKS.concat().into_bytes());
    assert_eq!(body_of("/until-close"), numbered(3000));
    let headers = &answers[0][9].1;
    assert_eq!(headers.header("server"), Some("origin/1.0"));
    assert_eq!(headers.headers.get_all("set-cookie"), ["a=1; Path=/"]);
    let vary = headers.headers.get_all("vary").join(", ");
    assert!(
        vary.contains("Accept-Encoding") && vary.contains("X-Api-Key") && vary.contains("Cookie"),
        "Vary {vary:?}: the names an all-viewer policy forwards stay"
    );
    let bare = &answers[0][10].1;
    assert!(
        bare.headers.get_all("set-cookie").is_empty(),
        "no cookie is forwarded on /bare/*: Set-Cookie is dropped: {bare:?}"
    );
    assert_eq!(
        bare.headers.get_all("vary").join(", "),
        "Accept-Encoding",
        "{bare:?}"
    );
    assert_eq!(answers[0][12].1.body_text(), "not here\n");
    let cors = &answers[0][15].1;
    assert_eq!(
        cors.header("access-control-allow-origin"),
        Some("*"),
        "{cors:?}"
    );
    assert!(
        cors.header("strict-transport-security").is_some(),
        "{cors:?}"
    );
    let preflight = &answers[0][16].1;
    assert!(
        preflight.header("access-control-allow-methods").is_some(),
        "{preflight:?}"
    );
    let site = &answers[0][17].1;
    for (name, value) in [
        ("server", Some("CloudFront")),
        ("x-powered-by", None),
        ("x-kept", Some("origin")),
        ("x-replaced", Some("policy")),
        ("x-added", Some("policy")),
    ] {
        assert_eq!(site.header(name), value, "{name} in {site:?}");
    }
    assert_eq!(body_of("/site/chunked"), CHUNKS.concat().into_bytes());
}

/// A response headers policy of every kind but Server-Timing (which pingora's path serves).
const SITE_POLICY: &str = "[[response_headers_policies]]\nname = \"site-headers\"\n\
    custom_headers_config = [\
    { header = \"X-Kept\", value = \"policy\", override = false }, \
    { header = \"X-Replaced\", value = \"policy\", override = true }, \
    { header = \"X-Added\", value = \"policy\", override = false }]\n\
    remove_headers_config = [{ header = \"X-Powered-By\" }, { header = \"Server\" }]\n\
    security_headers_config = { \
    strict_transport_security = { access_control_max_age_sec = 63072000, include_subdomains = true, preload = true, override = true }, \
    frame_options = { frame_option = \"DENY\", override = false } }\n";

/// `/cors/*` with a managed CORS and security headers policy, `/site/*` with [`SITE_POLICY`].
const POLICY_BEHAVIORS: &str =
    "  [[distributions.cache_behaviors]]\n  path_pattern = \"/cors/*\"\n  \
    target_origin_id = \"o\"\n  viewer_protocol_policy = \"allow-all\"\n  \
    cache_policy = \"Managed-CachingDisabled\"\n  \
    allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\"]\n  \
    response_headers_policy = \"Managed-CORS-with-preflight-and-SecurityHeadersPolicy\"\n\n  \
    [[distributions.cache_behaviors]]\n  path_pattern = \"/site/*\"\n  target_origin_id = \"o\"\n  \
    viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n  \
    response_headers_policy = \"site-headers\"\n";

// ---------------------------------------------------------------------------------------------
// Connections to the origin, and failures
// ---------------------------------------------------------------------------------------------

#[test]
fn sequential_requests_share_one_connection_and_a_closed_one_is_replaced() {
    // Keeps each connection after its first response, and closes it without a byte when the
    // next request comes on it: a kept connection found closed, for sure.
    let origin = RawTarget::start(|r| {
        if r.path().starts_with("/hangup/") && r.nth > 1 {
            Reply::Hangup
        } else {
            Reply::Keep(ok(&format!("answer to {}", r.target())))
        }
    });
    let top = api_policies();
    let spec = Spec::api(&top);
    let pair = Pair::start("reuse", origin.port, &spec);
    let mut connections = Vec::new();
    for (name, edge) in pair.sides() {
        let before = origin.connections();
        let mut conn = connect(&edge.node);
        for i in 0..20 {
            let target = format!("/reuse/{i}");
            let (r, _) = exchange(&mut conn, "GET", &target, &[("Host", HOST)]);
            assert_eq!(r.status, 200, "{name}: {r:?}");
            assert_eq!(r.body_text(), format!("answer to {target}"), "{name}");
        }
        connections.push(origin.connections() - before);
    }
    assert!(
        (1..=2).contains(&connections[0]),
        "the fast path's 20 requests reached the origin over {} connections",
        connections[0]
    );
    assert!(
        (1..=2).contains(&connections[1]),
        "pingora's path's 20 requests reached the origin over {} connections",
        connections[1]
    );
    let mut conn = connect(&pair.fast.node);
    for i in 0..5 {
        let target = format!("/hangup/{i}");
        let (r, _) = exchange(&mut conn, "GET", &target, &[("Host", HOST)]);
        assert_eq!(
            (r.status, r.body_text()),
            (200, format!("answer to {target}")),
            "a kept connection the origin closed is replaced: {r:?}"
        );
    }
    assert_counted(&pair, 25, "the 25 requests");
}

#[test]
fn an_origin_that_fails_gets_cloudfront_s_error_page_on_both_paths() {
    let silent = RawTarget::start(|_| Reply::Silent);
    let top = api_policies();
    let spec = Spec {
        origin: "  connection_attempts = 2",
        config: ", origin_read_timeout = 1",
        ..Spec::api(&top)
    };
    let pair = Pair::start("fails", silent.port, &spec);
    for (name, edge) in pair.sides() {
        let before = silent.seen().len();
        let started = Instant::now();
        let mut conn = connect(&edge.node);
        let (r, _) = exchange(&mut conn, "GET", "/slow", &[("Host", HOST)]);
        assert_eq!(r.status, 504, "{name}: {r:?}");
        assert_from_edge(&r, "Error from cloudfront");
        assert_eq!(r.header("server"), Some("CloudFront"), "{name}");
        assert!(r.body_text().contains("504 ERROR"), "{name}: {r:?}");
        assert_eq!(
            silent.seen().len() - before,
            2,
            "{name}: a read timeout on GET is tried again up to connection_attempts"
        );
        assert!(started.elapsed() >= Duration::from_secs(2), "{name}");
    }
    assert_counted(&pair, 1, "the timed-out request");
    // An origin that refuses connections.
    let dead = dead_addr();
    let port: u16 = dead
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port of {dead}"));
    let pair = Pair::start("refused", port, &spec);
    let mut heads = Vec::new();
    for (name, edge) in pair.sides() {
        let mut conn = connect(&edge.node);
        let (r, raw) = exchange(&mut conn, "GET", "/refused", &[("Host", HOST)]);
        assert_eq!(r.status, 502, "{name}: {r:?}");
        assert_from_edge(&r, "Error from cloudfront");
        assert!(r.body_text().contains("502 ERROR"), "{name}: {r:?}");
        let mut seen = seen(&raw, &r);
        seen.fields = blanked(name, &seen.fields)
            .into_iter()
            .filter(|(n, _)| n != "content-length")
            .collect();
        heads.push((seen.line, seen.fields));
    }
    assert_eq!(
        heads[0], heads[1],
        "the 502 page's head (its length aside, the reason's words differ)"
    );
    assert_counted(&pair, 1, "the refused request");
}

// ---------------------------------------------------------------------------------------------
// What the fast path leaves to pingora
// ---------------------------------------------------------------------------------------------

#[test]
fn requests_the_fast_path_does_not_take_go_through_pingora() {
    let origin = RawTarget::start(|r| {
        Reply::Keep(wire(
            "HTTP/1.1 200 OK",
            &[("Content-Length", "2"), ("Cache-Control", "max-age=60")],
            if r.method() == "HEAD" { b"" } else { b"ok" },
        ))
    });
    let behaviors = format!(
        "{API_BEHAVIORS}\n  [[distributions.cache_behaviors]]\n  path_pattern = \"/cached/*\"\n  \
         target_origin_id = \"o\"\n  viewer_protocol_policy = \"allow-all\"\n  \
         cache_policy = \"Managed-CachingOptimized\"\n\n  \
         [[distributions.cache_behaviors]]\n  path_pattern = \"/policy/*\"\n  target_origin_id = \"o\"\n  \
         viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n  \
         response_headers_policy = \"timing\"\n\n  \
         [[distributions.cache_behaviors]]\n  path_pattern = \"/https/*\"\n  target_origin_id = \"o\"\n  \
         viewer_protocol_policy = \"redirect-to-https\"\n  cache_policy = \"Managed-CachingDisabled\"\n"
    );
    let top = format!(
        "{}\n[[response_headers_policies]]\nname = \"timing\"\n\
         server_timing_headers_config = {{ enabled = true, sampling_rate = 100 }}\n",
        api_policies()
    );
    let spec = Spec {
        behaviors: &behaviors,
        ..Spec::api(&top)
    };
    let pair = Pair::start("not-taken", origin.port, &spec);
    let mut conn = connect(&pair.fast.node);
    let host = [("Host", HOST)];
    let (r, _) = exchange(&mut conn, "GET", "/cached/a", &host);
    assert_from_edge(&r, "Miss from cloudfront");
    let (r, _) = exchange(&mut conn, "GET", "/policy/a", &host);
    assert!(
        r.header("server-timing").is_some(),
        "the response headers policy applies: {r:?}"
    );
    let (r, _) = exchange(&mut conn, "GET", "/https/a", &host);
    assert_eq!(r.status, 301, "{r:?}");
    let (r, _) = exchange(
        &mut conn,
        "GET",
        "/api/country",
        &[("Host", HOST), ("CloudFront-Viewer-Country", "ZZ")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    // (pingora closes this one after answering: the body is left unread.)
    let r = connect(&pair.fast.node)
        .request("POST", "/api/post", &[("Host", HOST)], b"a body")
        .unwrap_or_else(|e| panic!("POST: {e}"));
    assert_eq!(
        r.status, 403,
        "POST is not allowed on the API behavior: {r:?}"
    );
    let raw = Client::new().send_raw(
        &pair.fast.node,
        format!("GET /api/old HTTP/1.0\r\nHost: {HOST}\r\n\r\n").as_bytes(),
    );
    assert_eq!(raw.status(), Some(200), "{}", raw.text());
    assert_eq!(
        fast_forwards(&pair.fast, 0),
        0,
        "none of these is the fast path's\n{}",
        pair.report()
    );
    // And the next plain request on the same connection is.
    let (r, _) = exchange(&mut conn, "GET", "/api/plain", &host);
    assert_eq!((r.status, r.body_text()), (200, "ok".to_string()), "{r:?}");
    assert_eq!(fast_forwards(&pair.fast, 1), 1, "{}", pair.report());
}

// ---------------------------------------------------------------------------------------------
// Interim responses
// ---------------------------------------------------------------------------------------------

#[test]
fn an_interim_response_reaches_the_viewer_before_the_final_one_with_cloudfront_s_headers() {
    use std::io::{Read, Write};
    let origin = RawTarget::start(edge_shapes);
    let top = api_policies();
    let pair = Pair::start("early-hints", origin.port, &Spec::api(&top));
    let mut interims = Vec::new();
    for (name, edge) in pair.sides() {
        let mut stream = std::net::TcpStream::connect(&edge.node).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let request = format!("GET /bare/early-hints HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("write");
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while position(&got, b"\r\n\r\n").is_none() {
            let n = stream.read(&mut chunk).expect("read");
            assert!(n > 0, "{name}: closed after {:?}", text(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        let head = text(&got);
        assert!(
            head.starts_with("HTTP/1.1 103 Early Hints\r\n") && !head.contains("200 OK"),
            "{name}: the 103 comes alone, while the origin holds the final response back: {head:?}"
        );
        while !text(&got).ends_with("after the hints") {
            let n = stream.read(&mut chunk).expect("read");
            assert!(n > 0, "{name}: closed after {:?}", text(&got));
            got.extend_from_slice(&chunk[..n]);
        }
        let interim = head.split("\r\n\r\n").next().unwrap_or("").to_string();
        let mut fields: Vec<(String, String)> = fields_of(&interim)
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        fields.sort();
        interims.push(blanked(name, &fields));
    }
    assert_eq!(
        interims[0], interims[1],
        "the 103's fields on the fast path (left) and pingora's path (right)"
    );
    let fields = &interims[0];
    assert!(
        fields.contains(&("x-cache".to_string(), "Miss from cloudfront".to_string()))
            && !fields.iter().any(|(n, _)| n == "set-cookie"),
        "CloudFront's headers, and no Set-Cookie (no cookie is forwarded on /bare/*): {fields:?}"
    );
    assert_counted(&pair, 1, "the request with early hints");
}

/// An origin that sends an interim response and then hangs up: the viewer gets the interim head
/// and the connection closes (as pingora's path closes it), and the request is counted on both
/// paths all the same.
const REQUESTS: &str = "ferry_edge_requests_total";

#[test]
fn a_request_cut_short_after_an_interim_response_is_still_counted() {
    let cut = RawTarget::start(|_| {
        Reply::Close(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n".to_vec())
    });
    let top = api_policies();
    let pair = Pair::start("interim-cut", cut.port, &Spec::api(&top));
    for (name, edge) in pair.sides() {
        let before = metric_sum(&edge.admin, REQUESTS, None);
        let mut conn = connect(&edge.node);
        conn.send("GET", "/hints", &[("Host", HOST)], b"")
            .expect("send");
        assert!(
            conn.closed_by_peer(Duration::from_secs(5)),
            "{name}: the connection closes"
        );
        assert_eq!(
            metric_sum(&edge.admin, REQUESTS, Some(before + 1)),
            before + 1,
            "{name}: the request is counted\n{}",
            pair.report()
        );
    }
    assert_counted(&pair, 1, "the forward");
}
