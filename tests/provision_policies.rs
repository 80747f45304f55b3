//! Custom cache and origin request policies, which moto does not implement: `ferry plan` and
//! `ferry apply` against a loopback server that gives CloudFront's recorded answers (the XML of
//! the 2020-05-31 API) and records what ferry sends, so the test sees the exact requests: the
//! update with If-Match and the new TTL, the create with the stack's owner marker.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

fn cache_policy_config(default_ttl: u32) -> String {
    format!(
        "<Comment>[ferry:stack=rec]</Comment><Name>api-short</Name><DefaultTTL>{default_ttl}</DefaultTTL>\
         <MaxTTL>300</MaxTTL><MinTTL>0</MinTTL><ParametersInCacheKeyAndForwardedToOrigin>\
         <EnableAcceptEncodingGzip>true</EnableAcceptEncodingGzip><EnableAcceptEncodingBrotli>true</EnableAcceptEncodingBrotli>\
         <HeadersConfig><HeaderBehavior>whitelist</HeaderBehavior><Headers><Quantity>1</Quantity><Items><Name>Accept-Language</Name></Items></Headers></HeadersConfig>\
         <CookiesConfig><CookieBehavior>none</CookieBehavior></CookiesConfig>\
         <QueryStringsConfig><QueryStringBehavior>allExcept</QueryStringBehavior><QueryStrings><Quantity>1</Quantity><Items><Name>utm_source</Name></Items></QueryStrings></QueryStringsConfig>\
         </ParametersInCacheKeyAndForwardedToOrigin>"
    )
}

/// The recorded answer for one request: status, extra headers, body.
fn answer(method: &str, target: &str, body: &str) -> (u16, Vec<(&'static str, String)>, String) {
    let xml = |s: String| format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{s}");
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/2020-05-31/distribution") => (200, vec![], xml(format!(
            "<DistributionList xmlns=\"{NS}\"><Marker></Marker><MaxItems>100</MaxItems><IsTruncated>false</IsTruncated><Quantity>0</Quantity></DistributionList>"
        ))),
        ("GET", "/2020-05-31/cache-policy") => (200, vec![], xml(format!(
            "<CachePolicyList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>1</Quantity><Items><CachePolicySummary>\
             <Type>custom</Type><CachePolicy><Id>cp-1</Id><LastModifiedTime>2026-01-01T00:00:00Z</LastModifiedTime>\
             <CachePolicyConfig>{}</CachePolicyConfig></CachePolicy></CachePolicySummary></Items></CachePolicyList>",
            cache_policy_config(120)
        ))),
        ("GET", "/2020-05-31/origin-request-policy") => (200, vec![], xml(format!(
            "<OriginRequestPolicyList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>0</Quantity></OriginRequestPolicyList>"
        ))),
        ("GET", "/2020-05-31/cache-policy/cp-1/config") => (
            200,
            vec![("ETag", "E1".to_string())],
            xml(format!("<CachePolicyConfig xmlns=\"{NS}\">{}</CachePolicyConfig>", cache_policy_config(120))),
        ),
        ("PUT", "/2020-05-31/cache-policy/cp-1") => (
            200,
            vec![("ETag", "E2".to_string())],
            xml(format!(
                "<CachePolicy xmlns=\"{NS}\"><Id>cp-1</Id><LastModifiedTime>2026-01-02T00:00:00Z</LastModifiedTime>\
                 <CachePolicyConfig>{}</CachePolicyConfig></CachePolicy>",
                cache_policy_config(60)
            )),
        ),
        ("POST", "/2020-05-31/origin-request-policy") => {
            let start = body.find("<Comment>").unwrap_or(0);
            let config = &body[start..body.rfind("</OriginRequestPolicyConfig>").unwrap_or(body.len())];
            (
                201,
                vec![("ETag", "E3".to_string()), ("Location", "https://cloudfront.amazonaws.com/2020-05-31/origin-request-policy/orp-1".to_string())],
                xml(format!(
                    "<OriginRequestPolicy xmlns=\"{NS}\"><Id>orp-1</Id><LastModifiedTime>2026-01-02T00:00:00Z</LastModifiedTime>\
                     <OriginRequestPolicyConfig>{config}</OriginRequestPolicyConfig></OriginRequestPolicy>"
                )),
            )
        }
        ("GET", "/2020-05-31/response-headers-policy") => (200, vec![], xml(format!(
            "<ResponseHeadersPolicyList xmlns=\"{NS}\"><MaxItems>100</MaxItems><Quantity>0</Quantity></ResponseHeadersPolicyList>"
        ))),
        ("POST", "/2020-05-31/response-headers-policy") => {
            let start = body.find("<Comment>").unwrap_or(0);
            let config = &body[start..body.rfind("</ResponseHeadersPolicyConfig>").unwrap_or(body.len())];
            (
                201,
                vec![("ETag", "E4".to_string())],
                xml(format!(
                    "<ResponseHeadersPolicy xmlns=\"{NS}\"><Id>rhp-1</Id><LastModifiedTime>2026-01-02T00:00:00Z</LastModifiedTime>\
                     <ResponseHeadersPolicyConfig>{config}</ResponseHeadersPolicyConfig></ResponseHeadersPolicy>"
                )),
            )
        }
        ("POST", "/") if body.contains("Action=DescribeTargetGroups") => (200, vec![], xml(
            "<DescribeTargetGroupsResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><DescribeTargetGroupsResult><TargetGroups/></DescribeTargetGroupsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>".to_string()
        )),
        ("POST", "/") if body.contains("Action=DescribeLoadBalancers") => (200, vec![], xml(
            "<DescribeLoadBalancersResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><DescribeLoadBalancersResult><LoadBalancers/></DescribeLoadBalancersResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DescribeLoadBalancersResponse>".to_string()
        )),
        _ => (404, vec![], format!("no recorded answer for {method} {target}")),
    }
}

/// A recorded request: method, target, headers (lowercase names), body.
type Seen = Arc<Mutex<Vec<(String, String, Vec<(String, String)>, String)>>>;

fn serve(conn: TcpStream, seen: Seen) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, extra, text) = answer(&method, &target, &body);
        if let Ok(mut s) = seen.lock() {
            s.push((method, target, headers, body));
        }
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nx-amz-request-id: rec\r\n",
            text.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if conn
            .write_all(head.as_bytes())
            .and_then(|_| conn.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn recorded_cloudfront() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    let seen: Seen = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || serve(conn, s));
        }
    });
    (format!("http://{addr}"), seen)
}

const TOPOLOGY: &str = r#"stack = "rec"

[[cache_policies]]
name = "api-short"
min_ttl = 0
default_ttl = 60
max_ttl = 300
enable_accept_encoding_gzip = true
enable_accept_encoding_brotli = true
headers_config = { header_behavior = "whitelist", headers = ["Accept-Language"] }
cookies_config = { cookie_behavior = "none" }
query_strings_config = { query_string_behavior = "allExcept", query_strings = ["utm_source"] }

[[origin_request_policies]]
name = "forward-api"
comment = "api key to the origin"
headers_config = { header_behavior = "whitelist", headers = ["X-Api-Key"] }
cookies_config = { cookie_behavior = "all" }
query_strings_config = { query_string_behavior = "all" }

[[response_headers_policies]]
name = "site-headers"
custom_headers_config = [{ header = "X-Served-By", value = "ferry", override = true }]
security_headers_config = { strict_transport_security = { access_control_max_age_sec = 31536000, include_subdomains = true, override = true } }

[aws]
region = "us-east-1"
"#;

fn ferry(endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = ferry_command(args);
    cmd.args(["--endpoint-url", endpoint])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    run_with_timeout(&mut cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn custom_policies_plan_and_apply_with_cloudfronts_own_shapes() {
    let (endpoint, seen) = recorded_cloudfront();
    let dir = TempDir::new("provision-policies");
    let file = dir.write("t.toml", TOPOLOGY);
    let file = file.to_str().unwrap_or_default();

    let plan = ferry(&endpoint, &["plan", file]);
    let text = String::from_utf8_lossy(&plan.stdout).into_owned();
    assert_eq!(
        plan.status.code(),
        Some(2),
        "{text}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        text.contains("+ create origin request policy forward-api"),
        "{text}"
    );
    assert!(
        text.contains("~ update cache policy api-short\n    default_ttl: 120 → 60"),
        "{text}"
    );
    assert!(
        text.contains("+ create response headers policy site-headers"),
        "{text}"
    );
    assert!(text.contains("Plan: 2 to create, 1 to update"), "{text}");

    let apply = ferry(&endpoint, &["apply", file, "--auto-approve"]);
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let put = seen
        .iter()
        .find(|(m, t, _, _)| m == "PUT" && t == "/2020-05-31/cache-policy/cp-1")
        .unwrap_or_else(|| {
            panic!(
                "no UpdateCachePolicy among {:?}",
                seen.iter().map(|s| (&s.0, &s.1)).collect::<Vec<_>>()
            )
        });
    assert!(
        put.2.iter().any(|(k, v)| k == "if-match" && v == "E1"),
        "UpdateCachePolicy carries the current ETag: {:?}",
        put.2
    );
    for part in [
        "<Name>api-short</Name>",
        "<DefaultTTL>60</DefaultTTL>",
        "<Comment>[ferry:stack=rec]</Comment>",
        "<HeaderBehavior>whitelist</HeaderBehavior>",
    ] {
        assert!(put.3.contains(part), "{part} in {}", put.3);
    }
    let post = seen
        .iter()
        .find(|(m, t, _, _)| m == "POST" && t == "/2020-05-31/origin-request-policy")
        .unwrap_or_else(|| panic!("no CreateOriginRequestPolicy"));
    for part in [
        "<Name>forward-api</Name>",
        "<Comment>api key to the origin [ferry:stack=rec]</Comment>",
        "<CookieBehavior>all</CookieBehavior>",
        "<Name>X-Api-Key</Name>",
    ] {
        assert!(post.3.contains(part), "{part} in {}", post.3);
    }
}

/// The design's `forward-auth` (Authorization among an origin request policy's headers, which
/// CloudFront refuses with a 400) is refused by the plan, which names the policy and the way out;
/// nothing is created, so no apply stops half-way.
#[test]
fn an_origin_request_policy_forwarding_authorization_is_refused_before_anything_changes() {
    let (endpoint, seen) = recorded_cloudfront();
    let dir = TempDir::new("provision-policies-auth");
    let text = TOPOLOGY.replace("\"X-Api-Key\"", "\"Authorization\"");
    let file = dir.write("t.toml", &text);
    let file = file.to_str().unwrap_or_default();
    for args in [&["plan", file][..], &["apply", file, "--auto-approve"][..]] {
        let out = ferry(&endpoint, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("origin request policy forward-api: CloudFront refuses Authorization"),
            "{args:?}: {stderr}"
        );
    }
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let writes: Vec<_> = seen
        .iter()
        // (POST / is a query-protocol read: tags, load balancers.)
        .filter(|(m, t, _, _)| m != "GET" && t.starts_with("/2020-05-31"))
        .map(|(m, t, _, _)| (m, t))
        .collect();
    assert!(writes.is_empty(), "nothing is changed: {writes:?}");
}
