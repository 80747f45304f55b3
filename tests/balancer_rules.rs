//! The balancer's listener rules through a running `ferry up` node: one table per condition type
//! (host-header, path-pattern, http-header, http-request-method, query-string, source-ip) with
//! each one's case rules and wildcards, values ORed, conditions ANDed, priorities, the default
//! action; then the redirect action with every placeholder and the fixed-response action.
//!
//! In the tables every rule forwards to a target group of its own whose one target is a recording
//! [`Origin`] named after the rule, so which rule matched is read from `X-Origin-Name`.

mod common;

use common::*;
use std::net::IpAddr;

/// A listener on 127.0.0.1 whose rules each forward to a group named after the rule (one Origin
/// each) and whose default action forwards to group `default`.
struct Routed {
    alb: Alb,
    node: String,
    origins: Vec<Origin>,
}

/// `rules`: (priority, the TOML array of conditions, the rule's target name), in file order.
fn start_routed(label: &str, rules: &[(u32, &str, &str)]) -> Routed {
    let mut names: Vec<&str> = vec!["default"];
    for (_, _, target) in rules {
        if !names.contains(target) {
            names.push(target);
        }
    }
    let origins: Vec<Origin> = names.iter().map(|n| Origin::start(n)).collect();
    let port = free_port();
    let mut listener =
        String::from("  default_actions = [{ type = \"forward\", target_group = \"default\" }]\n");
    for (priority, conditions, target) in rules {
        listener.push_str(&format!(
            "\n    [[load_balancers.listeners.rules]]\n    priority = {priority}\n    conditions = {conditions}\n    actions = [{{ type = \"forward\", target_group = \"{target}\" }}]\n"
        ));
    }
    let mut toml = format!("stack = \"e2e-{label}\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, &listener)],
    ));
    for (name, origin) in names.iter().zip(&origins) {
        toml.push_str(&target_group_block(
            name,
            &[(origin.port(), "a")],
            "enabled = false",
            "",
        ));
    }
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up(label, &toml, &[&node]);
    Routed { alb, node, origins }
}

/// One request of a table and the rule target it must reach.
struct Case {
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect: &'static str,
}

const fn case(
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    expect: &'static str,
) -> Case {
    Case {
        method,
        target,
        headers,
        expect,
    }
}

impl Routed {
    /// Sends every case and asserts, listing every wrong one at once, that each was answered 200
    /// by the expected rule's target, which recorded it.
    fn check(&self, cases: &[Case]) {
        let c = Client::new();
        let mut wrong = Vec::new();
        for (i, k) in cases.iter().enumerate() {
            match c.try_request(&self.node, k.method, k.target, k.headers, b"") {
                Ok(r) if r.status == 200 && served_by(&r) == k.expect => {
                    let origin = self
                        .origins
                        .iter()
                        .find(|o| o.name() == k.expect)
                        .expect("an origin per target");
                    let seen = origin
                        .requests_matching(|q| q.method == k.method && q.target == k.target)
                        .len();
                    if seen == 0 {
                        wrong.push(format!(
                            "case {i}: {} {} {:?}: answered by {} but it has no record of it",
                            k.method, k.target, k.headers, k.expect
                        ));
                    }
                }
                Ok(r) => wrong.push(format!(
                    "case {i}: {} {} {:?}: expected {}, got status {} from {:?} ({:?})",
                    k.method,
                    k.target,
                    k.headers,
                    k.expect,
                    r.status,
                    served_by(&r),
                    shorten(&r.body_text(), 200)
                )),
                Err(e) => wrong.push(format!(
                    "case {i}: {} {} {:?}: expected {}, transport error {e}",
                    k.method, k.target, k.headers, k.expect
                )),
            }
        }
        assert!(
            wrong.is_empty(),
            "{} of {} requests went to the wrong place:\n{}\n{}",
            wrong.len(),
            cases.len(),
            wrong.join("\n"),
            self.alb.ferry.output_report()
        );
    }
}

#[test]
fn host_header_is_case_insensitive_with_wildcards_and_ignores_the_port() {
    let r = start_routed(
        "rules-host",
        &[
            (
                10,
                r#"[{ field = "host-header", values = ["api.example.test"] }]"#,
                "host-exact",
            ),
            (
                20,
                r#"[{ field = "host-header", values = ["*.shop.test"] }]"#,
                "host-star",
            ),
            (
                30,
                r#"[{ field = "host-header", values = ["img?.cdn.test", "static.cdn.test"] }]"#,
                "host-one",
            ),
        ],
    );
    r.check(&[
        case("GET", "/h", &[("Host", "api.example.test")], "host-exact"),
        case("GET", "/h", &[("Host", "API.Example.TEST")], "host-exact"),
        case(
            "GET",
            "/h",
            &[("Host", "api.example.test:8080")],
            "host-exact",
        ),
        case("GET", "/h", &[("Host", "www.api.example.test")], "default"),
        case("GET", "/h", &[("Host", "api.example.testx")], "default"),
        case("GET", "/h", &[("Host", "a.shop.test")], "host-star"),
        case("GET", "/h", &[("Host", "A.B.SHOP.TEST")], "host-star"),
        case("GET", "/h", &[("Host", "shop.test")], "default"),
        case("GET", "/h", &[("Host", "ashop.test")], "default"),
        case("GET", "/h", &[("Host", "img1.cdn.test")], "host-one"),
        case("GET", "/h", &[("Host", "IMGx.CDN.test:99")], "host-one"),
        case("GET", "/h", &[("Host", "img.cdn.test")], "default"),
        case("GET", "/h", &[("Host", "img12.cdn.test")], "default"),
        case("GET", "/h", &[("Host", "static.cdn.test")], "host-one"),
        case("GET", "/h", &[("Host", "127.0.0.1")], "default"),
    ]);
}

#[test]
fn path_pattern_is_case_sensitive_with_star_and_question_mark_and_ignores_the_query() {
    let r = start_routed(
        "rules-path",
        &[
            (
                10,
                r#"[{ field = "path-pattern", values = ["/api/*"] }]"#,
                "path-api",
            ),
            (
                20,
                r#"[{ field = "path-pattern", values = ["/v?/items", "/exact"] }]"#,
                "path-one",
            ),
            (
                30,
                r#"[{ field = "path-pattern", values = ["/img/*.jpg"] }]"#,
                "path-jpg",
            ),
        ],
    );
    r.check(&[
        case("GET", "/api/users", &[], "path-api"),
        case("GET", "/api/", &[], "path-api"),
        case("GET", "/api/a/b/c?x=1", &[], "path-api"),
        case("GET", "/api", &[], "default"),
        case("GET", "/API/users", &[], "default"),
        case("GET", "/Api/users", &[], "default"),
        case("GET", "/v1/items", &[], "path-one"),
        case("GET", "/vX/items", &[], "path-one"),
        case("GET", "/v12/items", &[], "default"),
        case("GET", "/v/items", &[], "default"),
        case("GET", "/v1/Items", &[], "default"),
        case("GET", "/exact", &[], "path-one"),
        case("GET", "/exact?q=1", &[], "path-one"),
        case("GET", "/exact/", &[], "default"),
        case("GET", "/EXACT", &[], "default"),
        case("GET", "/img/a/b.jpg", &[], "path-jpg"),
        case("GET", "/img/.jpg", &[], "path-jpg"),
        case("GET", "/img/a.JPG", &[], "default"),
        case("GET", "/img/a.jpg.png", &[], "default"),
        case("GET", "/x?p=/api/y", &[], "default"),
    ]);
}

#[test]
fn http_header_name_and_value_are_case_insensitive_with_wildcards() {
    let r = start_routed(
        "rules-header",
        &[
            (
                10,
                r#"[{ field = "http-header", http_header_name = "X-Beta", values = ["on", "yes*"] }]"#,
                "hdr-beta",
            ),
            (
                20,
                r#"[{ field = "http-header", http_header_name = "User-Agent", values = ["*Mobile*"] }]"#,
                "hdr-mobile",
            ),
            (
                30,
                r#"[{ field = "http-header", http_header_name = "x-version", values = ["v?"] }]"#,
                "hdr-ver",
            ),
        ],
    );
    r.check(&[
        case("GET", "/hd", &[("X-Beta", "on")], "hdr-beta"),
        case("GET", "/hd", &[("x-beta", "ON")], "hdr-beta"),
        case("GET", "/hd", &[("X-BETA", "Yes-please")], "hdr-beta"),
        case("GET", "/hd", &[("X-Beta", "YES")], "hdr-beta"),
        case("GET", "/hd", &[("X-Beta", "off")], "default"),
        case("GET", "/hd", &[("X-Beta", "onx")], "default"),
        case("GET", "/hd", &[("X-Beta-Extra", "on")], "default"),
        case(
            "GET",
            "/hd",
            &[("User-Agent", "Foo/1.0 (iPhone; Mobile) Bar")],
            "hdr-mobile",
        ),
        case("GET", "/hd", &[("user-agent", "foo mobile")], "hdr-mobile"),
        case("GET", "/hd", &[("User-Agent", "Desktop")], "default"),
        case("GET", "/hd", &[("X-Version", "v2")], "hdr-ver"),
        case("GET", "/hd", &[("X-VERSION", "V9")], "hdr-ver"),
        case("GET", "/hd", &[("x-version", "v10")], "default"),
        case("GET", "/hd", &[], "default"),
    ]);
}

#[test]
fn http_request_method_is_exact_and_case_sensitive() {
    let r = start_routed(
        "rules-method",
        &[
            (
                10,
                r#"[{ field = "http-request-method", values = ["GET", "HEAD"] }]"#,
                "m-read",
            ),
            (
                20,
                r#"[{ field = "http-request-method", values = ["POST", "PUT"] }]"#,
                "m-write",
            ),
            (
                30,
                r#"[{ field = "http-request-method", values = ["PURGE"] }]"#,
                "m-purge",
            ),
        ],
    );
    r.check(&[
        case("GET", "/m", &[], "m-read"),
        case("HEAD", "/m", &[], "m-read"),
        case("POST", "/m", &[], "m-write"),
        case("PUT", "/m", &[], "m-write"),
        case("PURGE", "/m", &[], "m-purge"),
        case("DELETE", "/m", &[], "default"),
        case("PATCH", "/m", &[], "default"),
        case("OPTIONS", "/m", &[], "default"),
        case("get", "/m", &[], "default"),
        case("Post", "/m", &[], "default"),
        case("PURGEX", "/m", &[], "default"),
    ]);
}

#[test]
fn query_string_pairs_are_case_insensitive_with_wildcards_and_optional_keys() {
    let r = start_routed(
        "rules-query",
        &[
            (
                10,
                r#"[{ field = "query-string", values = [{ key = "version", value = "v1" }] }]"#,
                "q-version",
            ),
            (
                20,
                r#"[{ field = "query-string", values = [{ key = "lang", value = "en*" }, { key = "l?", value = "fr" }] }]"#,
                "q-lang",
            ),
            (
                30,
                r#"[{ field = "query-string", values = [{ value = "debug" }] }]"#,
                "q-any",
            ),
        ],
    );
    r.check(&[
        case("GET", "/q?version=v1", &[], "q-version"),
        case("GET", "/q?Version=V1", &[], "q-version"),
        case("GET", "/q?a=1&version=v1&b=2", &[], "q-version"),
        case("GET", "/q?version=%76%31", &[], "q-version"),
        case("GET", "/q?version=v2", &[], "default"),
        case("GET", "/q?version=v1x", &[], "default"),
        case("GET", "/q?xversion=v1", &[], "default"),
        case("GET", "/q?version", &[], "default"),
        case("GET", "/q", &[], "default"),
        case("GET", "/q?lang=en", &[], "q-lang"),
        case("GET", "/q?lang=en-GB", &[], "q-lang"),
        case("GET", "/q?LANG=EN-us", &[], "q-lang"),
        case("GET", "/q?lang=fr", &[], "default"),
        case("GET", "/q?lg=fr", &[], "q-lang"),
        case("GET", "/q?lg=FR", &[], "q-lang"),
        case("GET", "/q?lg=de", &[], "default"),
        case("GET", "/q?lang=en&version=v1", &[], "q-version"),
        case("GET", "/q?mode=debug", &[], "q-any"),
        case("GET", "/q?x=DEBUG", &[], "q-any"),
        case("GET", "/q?debug=1", &[], "default"),
        case("GET", "/debug", &[], "default"),
    ]);
}

#[test]
fn source_ip_matches_the_tcp_peer_by_cidr_not_x_forwarded_for() {
    let r = start_routed(
        "rules-source-ip",
        &[
            (
                10,
                r#"[{ field = "source-ip", values = ["10.0.0.0/8"] }]"#,
                "ip-ten",
            ),
            (
                20,
                r#"[{ field = "source-ip", values = ["127.0.0.2/32", "192.168.0.0/16"] }]"#,
                "ip-two",
            ),
            (
                30,
                r#"[{ field = "source-ip", values = ["127.0.0.0/30"] }]"#,
                "ip-low",
            ),
        ],
    );
    // (client source address, X-Forwarded-For sent, expected target)
    let cases: [(&str, Option<&str>, &str); 8] = [
        ("127.0.0.1", None, "ip-low"),
        ("127.0.0.2", None, "ip-two"),
        ("127.0.0.3", None, "ip-low"),
        ("127.0.0.5", None, "default"),
        ("127.0.0.9", Some("10.1.2.3"), "default"),
        ("127.0.0.1", Some("10.1.2.3"), "ip-low"),
        ("127.0.0.5", Some("127.0.0.2"), "default"),
        ("127.0.0.2", Some("192.168.1.1"), "ip-two"),
    ];
    let mut wrong = Vec::new();
    for (i, (source, xff, expect)) in cases.iter().enumerate() {
        let ip: IpAddr = source.parse().expect("ip");
        let path = format!("/ip/{i}");
        let mut headers = vec![];
        if let Some(x) = xff {
            headers.push(("X-Forwarded-For", *x));
        }
        let got = Conn::open_from(&r.node, ip, IO_TIMEOUT)
            .and_then(|mut c| c.request("GET", &path, &headers, b""));
        match got {
            Ok(resp) if resp.status == 200 && served_by(&resp) == *expect => {
                // The target sees the real peer at the end of X-Forwarded-For.
                let origin = r
                    .origins
                    .iter()
                    .find(|o| o.name() == *expect)
                    .expect("origin");
                let q = origin.last_for_path(&path);
                let last = q
                    .header("x-forwarded-for")
                    .and_then(|v| v.rsplit(',').next())
                    .map(str::trim)
                    .unwrap_or("");
                if last != *source {
                    wrong.push(format!(
                        "case {i}: from {source}: X-Forwarded-For at the target is {:?}",
                        q.header("x-forwarded-for")
                    ));
                }
            }
            Ok(resp) => wrong.push(format!(
                "case {i}: from {source} with X-Forwarded-For {xff:?}: expected {expect}, got {} from {:?}",
                resp.status,
                served_by(&resp)
            )),
            Err(e) => wrong.push(format!("case {i}: from {source}: {e}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "source-ip routing:\n{}\n{}",
        wrong.join("\n"),
        r.alb.ferry.output_report()
    );
}

#[test]
fn conditions_are_anded_rules_go_by_priority_not_file_order_and_the_default_is_last() {
    let r = start_routed(
        "rules-combined",
        &[
            (
                300,
                r#"[{ field = "host-header", values = ["combo.example.test"] }]"#,
                "c-host",
            ),
            (
                5,
                r#"[{ field = "path-pattern", values = ["/combo/*"] }, { field = "http-request-method", values = ["POST"] }]"#,
                "c-and-post",
            ),
            (
                50000,
                r#"[{ field = "path-pattern", values = ["/last/*"] }]"#,
                "c-last",
            ),
            (
                10,
                r#"[{ field = "path-pattern", values = ["/combo/*"] }, { field = "http-header", http_header_name = "X-Flag", values = ["1"] }]"#,
                "c-and-flag",
            ),
            (
                20,
                r#"[{ field = "path-pattern", values = ["/combo/*"] }]"#,
                "c-path",
            ),
            (
                1,
                r#"[{ field = "query-string", values = [{ key = "x", value = "1" }] }, { field = "query-string", values = [{ key = "y", value = "2" }] }]"#,
                "c-two-qs",
            ),
        ],
    );
    const COMBO: (&str, &str) = ("Host", "combo.example.test");
    r.check(&[
        case("POST", "/combo/a", &[("X-Flag", "1")], "c-and-post"),
        case("GET", "/combo/a", &[("X-Flag", "1")], "c-and-flag"),
        case("GET", "/combo/a", &[("X-Flag", "0")], "c-path"),
        case("GET", "/combo/a", &[], "c-path"),
        case("POST", "/other", &[], "default"),
        case("POST", "/other", &[("X-Flag", "1")], "default"),
        case("GET", "/combo/a", &[COMBO], "c-path"),
        case("GET", "/other", &[COMBO], "c-host"),
        case("GET", "/last/x", &[], "c-last"),
        case("GET", "/last/x", &[COMBO], "c-host"),
        case("GET", "/combo/a?x=1&y=2", &[], "c-two-qs"),
        case("GET", "/combo/a?x=1", &[], "c-path"),
        case("GET", "/other?y=2&x=1", &[], "c-two-qs"),
        case("GET", "/other?y=2", &[], "default"),
    ]);
}

#[test]
fn redirect_expands_every_placeholder_with_301_and_302() {
    let target = Origin::start("default");
    let port = free_port();
    let listener = r##"  default_actions = [{ type = "forward", target_group = "default" }]

    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{ field = "path-pattern", values = ["/r1/*"] }]
    actions = [{ type = "redirect", redirect_config = { protocol = "HTTPS", port = "443", host = "#{host}", path = "/#{path}", query = "#{query}", status_code = "HTTP_301" } }]

    [[load_balancers.listeners.rules]]
    priority = 2
    conditions = [{ field = "path-pattern", values = ["/r2/*"] }]
    actions = [{ type = "redirect", redirect_config = { host = "new.#{host}", path = "/v2/#{path}", query = "from=#{host}:#{port}&#{query}", status_code = "HTTP_302" } }]

    [[load_balancers.listeners.rules]]
    priority = 3
    conditions = [{ field = "path-pattern", values = ["/r3/*"] }]
    actions = [{ type = "redirect", redirect_config = { protocol = "#{protocol}", port = "8443", host = "#{host}", path = "/#{host}/#{port}/#{path}", query = "p=#{path}", status_code = "HTTP_302" } }]

    [[load_balancers.listeners.rules]]
    priority = 4
    conditions = [{ field = "path-pattern", values = ["/r4/*"] }]
    actions = [{ type = "redirect", redirect_config = { protocol = "HTTPS", status_code = "HTTP_301" } }]

    [[load_balancers.listeners.rules]]
    priority = 5
    conditions = [{ field = "path-pattern", values = ["/r5"] }]
    actions = [{ type = "redirect", redirect_config = { host = "other.example.test", path = "/fixed", query = "", status_code = "HTTP_301" } }]
"##;
    let mut toml = String::from("stack = \"e2e-rules-redirect\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, listener)],
    ));
    toml.push_str(&target_group_block(
        "default",
        &[(target.port(), "a")],
        "enabled = false",
        "",
    ));
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up("rules-redirect", &toml, &[&node]);
    let c = Client::new();
    let p = port.to_string();
    let www_port = format!("www.example.test:{p}");
    // (path and query, Host, status, Location)
    let cases: Vec<(&str, &str, u16, String)> = vec![
        (
            "/r1/a/b?x=1&y=2",
            "www.example.test",
            301,
            // ALB writes the port, the default one too.
            "https://www.example.test:443/r1/a/b?x=1&y=2".into(),
        ),
        (
            "/r1/a",
            &www_port,
            301,
            "https://www.example.test:443/r1/a".into(),
        ),
        (
            "/r2/p?k=v",
            "shop.example.test",
            302,
            format!("http://new.shop.example.test:{p}/v2/r2/p?from=shop.example.test:{p}&k=v"),
        ),
        (
            "/r3/z?k=v",
            "a.example.test",
            302,
            format!("http://a.example.test:8443/a.example.test/{p}/r3/z?p=r3/z"),
        ),
        (
            "/r4/x?q=1",
            &www_port,
            301,
            format!("https://www.example.test:{p}/r4/x?q=1"),
        ),
        (
            "/r5?drop=me",
            "www.example.test",
            301,
            format!("http://other.example.test:{p}/fixed"),
        ),
    ];
    let mut wrong = Vec::new();
    for (target_path, host, status, location) in &cases {
        let r = c.get(&node, target_path, &[("Host", host)]);
        if r.status != *status || r.header("location") != Some(location.as_str()) {
            wrong.push(format!(
                "GET {target_path} Host {host}: expected {status} Location {location}, got {} Location {:?}",
                r.status,
                r.header("location")
            ));
        }
        if r.header("server") != Some("awselb/2.0") {
            wrong.push(format!(
                "GET {target_path}: Server should be awselb/2.0: {r:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "redirects:\n{}\n{}",
        wrong.join("\n"),
        alb.ferry.output_report()
    );
    assert_eq!(
        target.count_prefix("/r"),
        0,
        "a redirect never reaches a target: {:#?}",
        target.requests()
    );
    // What matches no redirect rule is forwarded.
    let r = c.get(&node, "/r6/x", &[("Host", "www.example.test")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(served_by(&r), "default", "{r:?}");
}

#[test]
fn fixed_response_has_its_status_content_type_and_body() {
    let target = Origin::start("default");
    let port = free_port();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "default" }]

    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{ field = "path-pattern", values = ["/fixed/json"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "503", content_type = "application/json", message_body = '{"ok":false}' } }]

    [[load_balancers.listeners.rules]]
    priority = 2
    conditions = [{ field = "path-pattern", values = ["/fixed/html"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200", content_type = "text/html", message_body = "<h1>hello</h1>" } }]

    [[load_balancers.listeners.rules]]
    priority = 3
    conditions = [{ field = "path-pattern", values = ["/fixed/css"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "404", content_type = "text/css", message_body = "body{}" } }]

    [[load_balancers.listeners.rules]]
    priority = 4
    conditions = [{ field = "path-pattern", values = ["/fixed/js"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "202", content_type = "application/javascript", message_body = "go();" } }]

    [[load_balancers.listeners.rules]]
    priority = 5
    conditions = [{ field = "path-pattern", values = ["/fixed/empty"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "410", content_type = "text/plain" } }]
"#;
    let mut toml = String::from("stack = \"e2e-rules-fixed\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, listener)],
    ));
    toml.push_str(&target_group_block(
        "default",
        &[(target.port(), "a")],
        "enabled = false",
        "",
    ));
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up("rules-fixed", &toml, &[&node]);
    let c = Client::new();
    let cases = [
        ("/fixed/json", 503, "application/json", r#"{"ok":false}"#),
        ("/fixed/html", 200, "text/html", "<h1>hello</h1>"),
        ("/fixed/css", 404, "text/css", "body{}"),
        ("/fixed/js", 202, "application/javascript", "go();"),
        ("/fixed/empty", 410, "text/plain", ""),
    ];
    let mut wrong = Vec::new();
    for (path, status, content_type, body) in cases {
        let r = c.get(&node, path, &[("Host", "www.example.test")]);
        let ct_ok = r
            .header("content-type")
            .is_some_and(|v| v.starts_with(content_type));
        if r.status != status || !ct_ok || r.body_text() != body {
            wrong.push(format!(
                "GET {path}: expected {status} {content_type} {body:?}, got {r:?}"
            ));
        }
        if r.header("server") != Some("awselb/2.0") {
            wrong.push(format!("GET {path}: no Server: awselb/2.0 in {r:?}"));
        }
        if r.header("content-length") != Some(body.len().to_string().as_str()) {
            wrong.push(format!(
                "GET {path}: Content-Length should be {}: {r:?}",
                body.len()
            ));
        }
    }
    // HEAD: the same status and headers, no body.
    let r = c.head(&node, "/fixed/html", &[("Host", "www.example.test")]);
    if r.status != 200 || !r.body.is_empty() {
        wrong.push(format!("HEAD /fixed/html: {r:?}"));
    }
    assert!(
        wrong.is_empty(),
        "fixed responses:\n{}\n{}",
        wrong.join("\n"),
        alb.ferry.output_report()
    );
    assert_eq!(
        target.count_prefix("/fixed/"),
        0,
        "a fixed response never reaches a target"
    );
    let r = c.get(&node, "/fixed/other", &[("Host", "www.example.test")]);
    assert_eq!(served_by(&r), "default", "{r:?}");
}
