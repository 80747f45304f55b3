//! Signed URLs and signed cookies through a running edge, with keys made at run time by openssl:
//! `ferry sign-url` signs bit-exactly as AWS documents (the same signature as `openssl sha1 -sign`
//! over the canned policy); a behavior with `trusted_key_groups` serves a valid canned URL, a
//! custom policy (resource wildcard, source address) and signed cookies, refuses a missing,
//! expired, tampered or unknown-key request with CloudFront's 403 XML, never lets a refused request
//! reach the origin, and keys its cache without the signing parameters.

mod common;

use common::*;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

const KEY_ID: &str = "K2JCJMDEHXQW5F";

fn openssl(dir: &Path, args: &[&str]) {
    let out = run_with_timeout(
        Command::new("openssl").args(args).current_dir(dir),
        CMD_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// `keys/private.pem` and `keys/public.pem` under `dir`.
fn make_keys(dir: &Path) {
    std::fs::create_dir_all(dir.join("keys")).expect("keys dir");
    openssl(dir, &["genrsa", "-out", "keys/private.pem", "2048"]);
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "keys/private.pem",
            "-pubout",
            "-out",
            "keys/public.pem",
        ],
    );
}

fn topology(edge: &str, origin: &Origin) -> String {
    format!(
        r#"stack = "signed"

[edge]
http = "{edge}"

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

[[public_keys]]
name = "signer"
id = "{KEY_ID}"
encoded_key = "keys/public.pem"

[[key_groups]]
name = "signers"
items = ["signer"]

[[distributions]]
id = "site"
aliases = ["site.test"]
  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = "http-only" }}
  [[distributions.cache_behaviors]]
  path_pattern = "/private/*"
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"
  trusted_key_groups = ["signers"]
  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"
"#,
        port = origin.port()
    )
}

fn sign(dir: &Path, url: &str, extra: &[&str]) -> String {
    let key = dir.join("keys/private.pem");
    let mut args = vec!["sign-url", url, "--key-pair-id", KEY_ID, "--private-key"];
    let key = key.to_str().expect("a UTF-8 path");
    args.push(key);
    args.extend_from_slice(extra);
    let out = ferry_cmd(&args);
    assert!(out.status.success(), "sign-url: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// The path and query of a signed `http://site.test...` URL.
fn target_of(url: &str) -> &str {
    url.strip_prefix("http://site.test").unwrap_or(url)
}

fn error_code(r: &Response) -> String {
    let body = r.body_text();
    body.split("<Code>")
        .nth(1)
        .and_then(|b| b.split("</Code>").next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn signed_urls_and_cookies_are_checked_as_cloudfront_checks_them() {
    let origin = Origin::start_with("o", |req| {
        default_origin_response("o", req).with_header("Cache-Control", "max-age=300")
    });
    let edge = format!("127.0.0.1:{}", free_port());
    let file = Topology::write("signed", &topology(&edge, &origin));
    let dir = file.dir().path().to_path_buf();
    make_keys(&dir);
    let _ferry = Ferry::up(&file, &[&edge]);
    let client = Client::new();
    let host = [("Host", "site.test")];

    // Not a signed behavior: served as it is.
    assert_eq!(client.get(&edge, "/public/x", &host).status, 200);

    // Unsigned: CloudFront's MissingKey, and the origin never asked.
    let r = client.get(&edge, "/private/a.txt", &host);
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (403, "MissingKey"),
        "{r:?}"
    );
    assert_eq!(r.header("X-Cache"), Some("Error from cloudfront"));
    assert_eq!(origin.count_prefix("/private/"), 0);

    // A canned URL: ferry sign-url's signature is openssl's, bit for bit.
    let url = sign(
        &dir,
        "http://site.test/private/a.txt",
        &["--expires", "2000000000"],
    );
    let policy = r#"{"Statement":[{"Resource":"http://site.test/private/a.txt","Condition":{"DateLessThan":{"AWS:EpochTime":2000000000}}}]}"#;
    std::fs::write(dir.join("policy.txt"), policy).expect("policy");
    let out = run_with_timeout(
        Command::new("sh").current_dir(&dir).args([
            "-c",
            "openssl sha1 -sign keys/private.pem policy.txt | base64 -w0 | tr '+=/' '-_~'",
        ]),
        CMD_TIMEOUT,
    )
    .expect("openssl sign");
    let reference = text(&out.stdout).trim().to_string();
    assert!(!reference.is_empty(), "{}", text(&out.stderr));
    assert!(
        url.contains(&format!("&Signature={reference}&")),
        "ferry: {url}\nopenssl: {reference}"
    );
    let r = client.get(&edge, target_of(&url), &host);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body_text(),
        "origin o: GET /private/a.txt",
        "the signing parameters never reach the origin"
    );

    // Signed with the edge's port in the URL (a local edge): the port is not part of what is
    // checked, as CloudFront never sees one.
    let with_port = sign(
        &dir,
        &format!(
            "http://site.test:{}/private/port.txt",
            edge.rsplit(':').next().unwrap_or("")
        ),
        &["--expires", "2000000000"],
    );
    let path = with_port
        .split_once("/private/")
        .map(|(_, rest)| format!("/private/{rest}"))
        .unwrap_or_default();
    let r = client.get(
        &edge,
        &path,
        &[(
            "Host",
            &format!("site.test:{}", edge.rsplit(':').next().unwrap_or("")),
        )],
    );
    assert_eq!(r.status, 200, "{with_port}: {r:?}");

    // Another signature of the same object is a hit: they are not in the cache key.
    let again = sign(
        &dir,
        "http://site.test/private/a.txt",
        &["--expires", "+600"],
    );
    let r = client.get(&edge, target_of(&again), &host);
    assert_eq!(
        (r.status, r.header("X-Cache")),
        (200, Some("Hit from cloudfront")),
        "{r:?}"
    );
    assert_eq!(origin.count_path("/private/a.txt"), 1);

    // Expired, tampered, for another path, unknown key: refused.
    let expired = sign(
        &dir,
        "http://site.test/private/a.txt",
        &["--expires", "1000000000"],
    );
    let tampered = url.replacen("&Signature=", "&Signature=A", 1);
    let other_path = url.replace("/private/a.txt", "/private/b.txt");
    let unknown_key = url.replace(KEY_ID, "KUNKNOWN");
    for (what, u, code) in [
        ("expired", expired.as_str(), "AccessDenied"),
        ("tampered", tampered.as_str(), "AccessDenied"),
        ("another path", other_path.as_str(), "AccessDenied"),
        ("an unknown key", unknown_key.as_str(), "InvalidKey"),
    ] {
        let r = client.get(&edge, target_of(u), &host);
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (403, code),
            "{what}: {r:?}"
        );
    }
    assert_eq!(origin.count_prefix("/private/b.txt"), 0);

    // A custom policy: every object under /private/, from 127.0.0.1 only.
    let custom = r#"{"Statement":[{"Resource":"http://site.test/private/*","Condition":{"DateLessThan":{"AWS:EpochTime":2000000000},"IpAddress":{"AWS:SourceIp":"127.0.0.1/32"}}}]}"#;
    std::fs::write(dir.join("custom.json"), custom).expect("policy");
    let policy_file = dir.join("custom.json");
    let policy_arg = policy_file.to_str().expect("a UTF-8 path");
    let url = sign(
        &dir,
        "http://site.test/private/c.txt?v=1",
        &["--policy", policy_arg],
    );
    assert!(url.contains("?v=1&Policy="), "{url}");
    let r = client.get(&edge, target_of(&url), &host);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin o: GET /private/c.txt");
    let from_elsewhere = Conn::open_from(
        &edge,
        "127.0.0.2".parse::<IpAddr>().expect("ip"),
        IO_TIMEOUT,
    )
    .and_then(|mut c| c.request("GET", target_of(&url), &host, b""))
    .expect("a request from 127.0.0.2");
    assert_eq!(
        (from_elsewhere.status, error_code(&from_elsewhere).as_str()),
        (403, "AccessDenied")
    );

    // Signed cookies with the same policy.
    let out = ferry_cmd(&[
        "sign-url",
        "http://site.test/private/*",
        "--key-pair-id",
        KEY_ID,
        "--private-key",
        dir.join("keys/private.pem").to_str().expect("path"),
        "--policy",
        policy_arg,
        "--cookies",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cookie: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Set-Cookie: "))
        .filter_map(|c| c.split(';').next())
        .map(str::to_string)
        .collect();
    assert_eq!(cookie.len(), 3, "{cookie:?}");
    let cookie = cookie.join("; ");
    let r = client.get(
        &edge,
        "/private/d.txt",
        &[("Host", "site.test"), ("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn key_groups_are_validated_where_they_are_written() {
    let origin = Origin::start("o");
    let text_ok = topology("127.0.0.1:8080", &origin);
    let file = Topology::write(
        "signed-bad",
        &text_ok.replace("items = [\"signer\"]", "items = [\"singer\"]"),
    );
    std::fs::create_dir_all(file.dir().path().join("keys")).expect("keys dir");
    std::fs::write(file.dir().path().join("keys/public.pem"), "not a key").expect("key");
    let out = ferry_cmd(&["validate", file.path_str()]);
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("public_keys[0].encoded_key"), "{err}");
    assert!(
        err.contains("key_groups[0].items[0]") && err.contains("singer"),
        "{err}"
    );
}

/// A refused signed URL gets the distribution's custom error response for 403, as from
/// CloudFront (the single-page-application setup: 403 → `/index.html`, 200); a valid one is served.
#[test]
fn a_refused_signature_gets_the_custom_error_page_for_403() {
    let origin = Origin::start_with("o", |req| {
        if req.path() == "/index.html" {
            Response::text(200, "the app").with_header("Content-Type", "text/html")
        } else {
            default_origin_response("o", req)
        }
    });
    let edge = format!("127.0.0.1:{}", free_port());
    let text = topology(&edge, &origin).replace(
        "  [[distributions.origins]]",
        "  [[distributions.custom_error_responses]]\n  error_code = 403\n  response_page_path = \"/index.html\"\n  response_code = 200\n  [[distributions.origins]]",
    );
    let file = Topology::write("signed-page", &text);
    let dir = file.dir().path().to_path_buf();
    make_keys(&dir);
    let _ferry = Ferry::up(&file, &[&edge]);
    let client = Client::new();
    let host = [("Host", "site.test")];

    let r = client.get(&edge, "/private/a.txt", &host);
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (200, "the app"),
        "{r:?}"
    );
    assert_eq!(r.header("X-Cache"), Some("Error from cloudfront"));
    assert_eq!(origin.count_prefix("/private/"), 0);

    let url = sign(
        &dir,
        "http://site.test/private/a.txt",
        &["--expires", "2000000000"],
    );
    let r = client.get(&edge, target_of(&url), &host);
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(r.body_text(), "the app");
    assert_eq!(origin.count_prefix("/private/"), 1);
}
