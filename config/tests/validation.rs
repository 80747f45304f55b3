//! Every validation rule of the topology file, one table row each.
//!
//! Each rejecting row takes `BASE` (a small valid topology), makes one mistake in it with text edits,
//! and says where the error must be reported: the dotted path, the line (found from a marker
//! substring of the edited text, never hard-coded) and a phrase the message must contain. Each
//! accepting row makes an edge case that AWS allows and asserts it still loads. The last tests put
//! several independent mistakes in one file and expect one diagnostic each, sorted by line.
//!
//! A row's edits are `(anchor, replacement)` pairs applied in order: the anchor must occur exactly
//! once in the text at that point (so that a row cannot silently edit the wrong place); an empty
//! anchor appends the replacement at the end of the file.

use ferry_config::model::{Action, Algorithm, Alias};
use ferry_config::Topology;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

const FILE: &str = "validation.toml";

/// The valid topology every row starts from: one of each kind of object the validator checks.
const BASE: &str = r#"stack = "validation"

[edge]
http = "127.0.0.1:8080"
pop = "LOC1"

[resolve]
"static.internal" = ["127.0.0.1"]

[[cache_policies]]
name = "short"
min_ttl = 0
default_ttl = 60
max_ttl = 300
enable_accept_encoding_gzip = true
headers_config = { header_behavior = "whitelist", headers = ["Accept-Language"] }
cookies_config = { cookie_behavior = "none" }
query_strings_config = { query_string_behavior = "allExcept", query_strings = ["utm_source"] }

[[origin_request_policies]]
name = "forward-auth"
headers_config = { header_behavior = "whitelist", headers = ["Authorization"] }
cookies_config = { cookie_behavior = "all" }
query_strings_config = { query_string_behavior = "all" }

[[response_headers_policies]]
name = "site-headers"
custom_headers_config = [{ header = "X-Served-By", value = "ferry", override = true }]

[[distributions]]
id = "site"
aliases = ["www.example.test"]

  [[distributions.origins]]
  id = "alb"
  domain_name = "alb.internal"
  custom_origin_config = { http_port = 8081, origin_protocol_policy = "http-only" }

  [[distributions.origins]] # the second origin
  id = "static"
  domain_name = "static.internal"
  custom_origin_config = { http_port = 9100, origin_protocol_policy = "http-only" }

  [[distributions.origin_groups]]
  id = "static-failover"
  members = ["static", "alb"]
  failover_criteria = { status_codes = [500, 502] }

  [distributions.default_cache_behavior]
  target_origin_id = "alb"
  viewer_protocol_policy = "redirect-to-https"
  cache_policy = "Managed-CachingOptimized"

  [[distributions.cache_behaviors]]
  path_pattern = "/api/*"
  target_origin_id = "alb"
  viewer_protocol_policy = "https-only"
  allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
  cache_policy = "short"
  origin_request_policy = "forward-auth"
  response_headers_policy = "site-headers"

  [[distributions.cache_behaviors]] # the second behavior
  path_pattern = "/static/*"
  target_origin_id = "static-failover"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"

  [[distributions.custom_error_responses]]
  error_code = 404
  response_page_path = "/static/404.html"
  response_code = 404

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = { a = "127.0.0.1", b = "127.0.0.2" }
attributes = { "idle_timeout.timeout_seconds" = 60 }

  [[load_balancers.listeners]]
  port = 8081
  protocol = "HTTP"
  default_actions = [{ type = "forward", target_group = "web" }]

    [[load_balancers.listeners.rules]]
    priority = 10
    conditions = [{ field = "path-pattern", values = ["/api/*"] }]
    actions = [{ type = "forward", target_group = "api" }]

    [[load_balancers.listeners.rules]]
    priority = 20
    conditions = [{ field = "host-header", values = ["status.example.test"] }]
    actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200", content_type = "text/plain", message_body = "ok" } }]

[[target_groups]]
name = "web"
port = 9001
health_check = { path = "/health", interval_seconds = 10, timeout_seconds = 5 }
attributes = { "deregistration_delay.timeout_seconds" = 10 }
targets = [{ id = "127.0.0.1", port = 9001, zone = "a" }, { id = "127.0.0.1", port = 9002, zone = "b" }]

[[target_groups]]
name = "api"
port = 9003
targets = [{ id = "127.0.0.1", zone = "a" }]

[[demo_targets]]
name = "demo-a"
listen = "127.0.0.1:9001"
"#;

/// Appended by the rows about a second distribution.
const OTHER_DISTRIBUTION: &str = r#"
[[distributions]] # the other distribution
id = "other"
aliases = ["api.example.test"]

  [[distributions.origins]]
  id = "o"
  domain_name = "o.internal"
  custom_origin_config = { origin_protocol_policy = "http-only" }

  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
"#;

/// Appended by the rows about the `[aws]` section.
const AWS: &str = r#"
[aws]
region = "us-east-1"
vpc_id = "vpc-0123"
subnets = { a = "subnet-aaaa", b = "subnet-bbbb" }
security_groups = ["sg-0123"]
viewer_certificate = { acm_certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/abc", ssl_support_method = "sni-only" }
listener_certificates = { 8444 = "arn:aws:acm:us-east-1:111122223333:certificate/def" }
"#;

/// The edge's HTTPS listener with a certificate that exists (see `base_dir`).
const EDGE_TLS: &str = r#"https = "127.0.0.1:8443"
default_certificate = { cert = "certs/edge.pem", key = "certs/edge.key" }"#;

/// A directory with the certificate files that rows may reference.
fn base_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("ferry-config-validation-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("certs")).expect("create the temp dir");
        // Validation loads certificates: real ones, made now. `other.key` matches no certificate,
        // `nameless.pem` has no DNS name, `notes.txt` is not PEM at all.
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join("certs").join(name), text).expect("write a cert")
        };
        for (label, names) in [
            ("edge", vec!["www.example.test".to_string()]),
            ("nameless", vec![]),
        ] {
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = rcgen::CertificateParams::new(names)
                .expect("params")
                .self_signed(&key)
                .expect("certificate");
            write(&format!("{label}.pem"), &cert.pem());
            write(&format!("{label}.key"), &key.serialize_pem());
        }
        write(
            "other.key",
            &rcgen::KeyPair::generate().expect("key").serialize_pem(),
        );
        write("notes.txt", "renew the certificate in March\n");
        dir
    })
    .clone()
}

fn apply(edits: &[(String, String)]) -> Result<String, String> {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        if from.is_empty() {
            text.push_str(to);
            continue;
        }
        let n = text.matches(from.as_str()).count();
        if n != 1 {
            return Err(format!(
                "the anchor {from:?} occurs {n} times; it must occur exactly once"
            ));
        }
        text = text.replacen(from.as_str(), to, 1);
    }
    Ok(text)
}

/// 1-based line of the only occurrence of `marker` in `text`.
fn line_of(text: &str, marker: &str) -> Result<usize, String> {
    let n = text.matches(marker).count();
    match text.find(marker) {
        Some(at) if n == 1 => Ok(text[..at].matches('\n').count() + 1),
        _ => Err(format!(
            "the marker {marker:?} occurs {n} times in the edited text; it must occur once"
        )),
    }
}

fn parse(text: &str) -> Result<Topology, ferry_config::ConfigError> {
    ferry_config::parse(FILE, text, &base_dir())
}

fn owned(edits: &[(&str, &str)]) -> Vec<(String, String)> {
    edits
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------- rejecting rows

struct Reject {
    name: &'static str,
    edits: Vec<(String, String)>,
    /// A substring of the edited text on the line the error must be reported at.
    marker: String,
    path: &'static str,
    phrase: &'static str,
    /// Further diagnostics the mistake rightly causes (besides the one this row is about).
    others: usize,
}

impl Reject {
    fn others(mut self, n: usize) -> Reject {
        self.others = n;
        self
    }
}

fn no(
    name: &'static str,
    edits: &[(&str, &str)],
    marker: &str,
    path: &'static str,
    phrase: &'static str,
) -> Reject {
    Reject {
        name,
        edits: owned(edits),
        marker: marker.to_string(),
        path,
        phrase,
        others: 0,
    }
}

/// An edit that inserts `line` after `anchor` (which must end its line).
fn after(anchor: &'static str, line: &str) -> (&'static str, &'static str) {
    (anchor, leak(format!("{anchor}\n{line}")))
}

/// Rows are built once per test run; leaking their few computed strings keeps the rows `&str`.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn rejects() -> Vec<Reject> {
    let long_body = "x".repeat(1025);
    let long_path = format!("/{}", "p".repeat(128));
    let eleven_headers = (1..=11)
        .map(|i| format!("\"X-H{i}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = vec![
        // ------------------------------------------------ serde and TOML (config/src/parse.rs)
        no(
            "TOML syntax error",
            &[("port = 9003", "port = = 9003")],
            "= = 9003",
            "(syntax)",
            "expected",
        ),
        no(
            "TOML duplicate key",
            &[("port = 9003", "port = 9003\nport = 9004")],
            "port = 9004",
            "(syntax)",
            "duplicate key",
        ),
        no(
            "unknown field with a close name",
            &[(
                r#"target_origin_id = "static-failover""#,
                r#"target_orgin_id = "static-failover""#,
            )],
            "target_orgin_id",
            "distributions[0].cache_behaviors[1].target_orgin_id",
            "unknown field `target_orgin_id`; did you mean `target_origin_id`?",
        ),
        no(
            "unknown field without a close name lists the allowed ones",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\nflavour = \"vanilla\"")],
            "flavour",
            "edge.flavour",
            "unknown field `flavour` (allowed: `http`, `https`",
        ),
        no(
            "unknown enum value with a close name",
            &[(r#""redirect-to-https""#, r#""redirect-to-http""#)],
            "redirect-to-http",
            "distributions[0].default_cache_behavior.viewer_protocol_policy",
            "unknown value `redirect-to-http`; did you mean `redirect-to-https`?",
        ),
        no(
            "unknown enum value without a close name lists the allowed ones",
            &[(r#"protocol = "HTTP""#, r#"protocol = "TCP""#)],
            "\"TCP\"",
            "load_balancers[0].listeners[0].protocol",
            "unknown value `TCP` (allowed: `HTTP`, `HTTPS`)",
        ),
        no(
            "unknown HTTP method in allowed_methods",
            &[(r#""PATCH", "DELETE"]"#, r#""PATCH", "TRACE"]"#)],
            "TRACE",
            "distributions[0].cache_behaviors[0].allowed_methods[6]",
            "unknown value `TRACE`",
        ),
        no(
            "wrong type: a string for an integer",
            &[("port = 9003", r#"port = "9003""#)],
            r#"port = "9003""#,
            "target_groups[1].port",
            "invalid type: string \"9003\", expected u16",
        ),
        no(
            "wrong type: an integer too large for a port",
            &[("port = 8081\n  protocol", "port = 80810\n  protocol")],
            "80810",
            "load_balancers[0].listeners[0].port",
            "invalid value: integer `80810`, expected u16",
        ),
        no(
            "missing required field in a table",
            &[("dns_name = \"alb.internal\"\n", "")],
            "[[load_balancers]]",
            "load_balancers[0].dns_name",
            "missing required field `dns_name`",
        ),
        no(
            "missing required field in an inline table",
            &[(
                r#"{ http_port = 9100, origin_protocol_policy = "http-only" }"#,
                "{ http_port = 9100 }",
            )],
            "http_port = 9100",
            "distributions[0].origins[1].custom_origin_config.origin_protocol_policy",
            "missing required field `origin_protocol_policy`",
        ),
        no(
            "a size with an unknown unit",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\ncache_size = \"512 parsecs\"")],
            "parsecs",
            "edge.cache_size",
            "a size such as",
        ),
        no(
            "a negative size",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\ncache_size = -1")],
            "cache_size = -1",
            "edge.cache_size",
            "a size cannot be negative",
        ),
        no(
            "an attribute value that is a float",
            &[(
                r#""idle_timeout.timeout_seconds" = 60"#,
                r#""idle_timeout.timeout_seconds" = 60.5"#,
            )],
            "60.5",
            "load_balancers[0].attributes.\"idle_timeout.timeout_seconds\"",
            "a string, an integer or a boolean",
        ),
        no(
            "a condition value that is a number",
            &[(r#"values = ["/api/*"]"#, "values = [7]")],
            "values = [7]",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "a string, or { key",
        ),
        // ------------------------------------------------ top level (validate/mod.rs)
        no(
            "empty stack name",
            &[(r#"stack = "validation""#, r#"stack = """#)],
            "stack = ",
            "stack",
            "1 to 128 letters",
        ),
        no(
            "stack name with a character AWS tags refuse",
            &[(r#"stack = "validation""#, r#"stack = "a|b""#)],
            "stack = ",
            "stack",
            "`ferry:stack` tag",
        ),
        no(
            "resolve name without addresses",
            &[(r#"= ["127.0.0.1"]"#, "= []")],
            "\"static.internal\" = []",
            "resolve.\"static.internal\"",
            "give at least one address",
        ),
        no(
            "resolve address that is not an IP",
            &[(r#"= ["127.0.0.1"]"#, r#"= ["127.0.0.256"]"#)],
            "127.0.0.256",
            "resolve.\"static.internal\"[0]",
            "`127.0.0.256` is not an IP address",
        ),
        no(
            "demo target listen address without a port",
            &[(r#"listen = "127.0.0.1:9001""#, r#"listen = "127.0.0.1""#)],
            "listen = ",
            "demo_targets[0].listen",
            "is not an address:port",
        ),
        no(
            "duplicate demo target name",
            &[(
                "",
                "\n[[demo_targets]]\nname = \"demo-a\" # again 01\nlisten = \"127.0.0.1:9002\"\n",
            )],
            "# again 01",
            "demo_targets[1].name",
            "duplicate demo target name `demo-a`",
        ),
        // ------------------------------------------------ [aws] (validate/mod.rs)
        no(
            "aws: a zone with a balancer node but no subnet",
            &[
                ("", AWS),
                (r#", b = "subnet-bbbb" }"#, " }"),
            ],
            "subnets = ",
            "aws.subnets",
            "zone `b` has a balancer node but no subnet",
        ),
        no(
            "aws: a listener certificate keyed by something that is not a port",
            &[("", AWS), ("{ 8444 =", "{ https =")],
            "{ https =",
            "aws.listener_certificates.https",
            "`https` is not a listener port",
        ),
        no(
            "aws: a listener certificate that is not an ARN",
            &[
                ("", AWS),
                (
                    r#""arn:aws:acm:us-east-1:111122223333:certificate/def""#,
                    r#""certificate/def""#,
                ),
            ],
            "listener_certificates",
            "aws.listener_certificates.8444",
            "expected an ACM certificate ARN",
        ),
        no(
            "aws: two certificate sources for CloudFront",
            &[
                ("", AWS),
                (
                    "viewer_certificate = { ",
                    "viewer_certificate = { cloudfront_default_certificate = true, ",
                ),
            ],
            "viewer_certificate",
            "aws.viewer_certificate",
            "set exactly one of acm_certificate_arn, iam_certificate_id, cloudfront_default_certificate",
        ),
        no(
            "aws: no certificate source for CloudFront",
            &[
                ("", AWS),
                (
                    r#"{ acm_certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/abc", ssl_support_method = "sni-only" }"#,
                    "{ ssl_support_method = \"sni-only\" }",
                ),
            ],
            "viewer_certificate",
            "aws.viewer_certificate",
            "set exactly one of",
        ),
        no(
            "aws: a CloudFront ACM certificate outside us-east-1",
            &[
                ("", AWS),
                (
                    "us-east-1:111122223333:certificate/abc",
                    "eu-west-1:111122223333:certificate/abc",
                ),
            ],
            "eu-west-1",
            "aws.viewer_certificate.acm_certificate_arn",
            "CloudFront needs an ACM certificate in us-east-1",
        ),
        no(
            "aws: an ACM certificate without ssl_support_method",
            &[("", AWS), (r#", ssl_support_method = "sni-only""#, "")],
            "viewer_certificate",
            "aws.viewer_certificate.ssl_support_method",
            "required with acm_certificate_arn or iam_certificate_id",
        ),
        no(
            "aws: an IAM certificate without ssl_support_method",
            &[
                ("", AWS),
                (
                    r#"{ acm_certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/abc", ssl_support_method = "sni-only" }"#,
                    r#"{ iam_certificate_id = "ASCAEXAMPLE" }"#,
                ),
            ],
            "viewer_certificate",
            "aws.viewer_certificate.ssl_support_method",
            "required with acm_certificate_arn or iam_certificate_id",
        ),
        no(
            "aws: a load balancer in one zone",
            &[
                ("", AWS),
                (
                    r#"nodes = { a = "127.0.0.1", b = "127.0.0.2" }"#,
                    r#"nodes = { a = "127.0.0.1" }"#,
                ),
                ("port = 9002, zone = \"b\"", "port = 9002, zone = \"a\""),
            ],
            "nodes = ",
            "load_balancers[0].nodes",
            "an ALB spans at least two availability zones",
        ),
        // ------------------------------------------------ [edge] (validate/edge.rs)
        no(
            "edge http address without a port",
            &[(r#"http = "127.0.0.1:8080""#, r#"http = "127.0.0.1""#)],
            "http = ",
            "edge.http",
            "`127.0.0.1` is not an address:port",
        ),
        no(
            "edge https address that is a name",
            &[
                (r#"pop = "LOC1""#, &format!("pop = \"LOC1\"\n{EDGE_TLS}")),
                (r#""127.0.0.1:8443""#, r#""localhost:8443""#),
            ],
            "localhost:8443",
            "edge.https",
            "`localhost:8443` is not an address:port",
        ),
        no(
            "edge without http or https",
            &[("http = \"127.0.0.1:8080\"\n", "")],
            "[edge]",
            "edge",
            "the edge needs `http` or `https`",
        ),
        no(
            "edge admin address without a port",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\nadmin = \"127.0.0.1\"")],
            "admin = ",
            "edge.admin",
            "`127.0.0.1` is not an address:port",
        ),
        no(
            "edge cache smaller than 1MiB",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\ncache_size = \"512KiB\"")],
            "cache_size",
            "edge.cache_size",
            "the cache needs at least 1MiB",
        ),
        no(
            "edge object size limit larger than the cache",
            &[(
                r#"pop = "LOC1""#,
                "pop = \"LOC1\"\ncache_size = \"64MiB\"\ncache_max_object_size = \"128MiB\"",
            )],
            "cache_max_object_size",
            "edge.cache_max_object_size",
            "larger than cache_size",
        ),
        no(
            "edge PoP name with a dash",
            &[(r#"pop = "LOC1""#, r#"pop = "LOC-1""#)],
            "pop = ",
            "edge.pop",
            "a PoP name is 1 to 16 letters and digits",
        ),
        no(
            "edge default distribution that does not exist",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\ndefault_distribution = \"sit\"")],
            "default_distribution",
            "edge.default_distribution",
            "no distribution named `sit`; did you mean `site`?",
        ),
        no(
            "edge certificate file that cannot be read",
            &[
                (r#"pop = "LOC1""#, &format!("pop = \"LOC1\"\n{EDGE_TLS}")),
                ("certs/edge.pem", "certs/missing.pem"),
            ],
            "certs/missing.pem",
            "edge.default_certificate.cert",
            "cannot read",
        ),
        no(
            "edge SNI certificate key that cannot be read",
            &[(
                r#"pop = "LOC1""#,
                "pop = \"LOC1\"\ncertificates = [{ cert = \"certs/edge.pem\", key = \"certs/missing.key\" }]",
            )],
            "certs/missing.key",
            "edge.certificates[0].key",
            "cannot read",
        ),
        no(
            "edge certificate file that is not a certificate",
            &[
                (r#"pop = "LOC1""#, &format!("pop = \"LOC1\"\n{EDGE_TLS}")),
                ("certs/edge.pem", "certs/notes.txt"),
            ],
            "certs/notes.txt",
            "edge.default_certificate.cert",
            "notes.txt is not valid PEM",
        ),
        no(
            "edge certificate key that does not match its certificate",
            &[(
                r#"pop = "LOC1""#,
                "pop = \"LOC1\"\ncertificates = [{ cert = \"certs/edge.pem\", key = \"certs/other.key\" }]",
            )],
            "certs/other.key",
            "edge.certificates[0].key",
            "does not match the certificate in",
        ),
        no(
            "edge certificate given as its own key",
            &[(
                r#"pop = "LOC1""#,
                "pop = \"LOC1\"\ncertificates = [{ cert = \"certs/edge.key\", key = \"certs/edge.key\" }]",
            )],
            "{ cert = \"certs/edge.key\"",
            "edge.certificates[0].cert",
            "are `cert` and `key` swapped?",
        ),
        no(
            "edge SNI certificate without a DNS name",
            &[(
                r#"pop = "LOC1""#,
                "pop = \"LOC1\"\ncertificates = [{ cert = \"certs/nameless.pem\", key = \"certs/nameless.key\" }]",
            )],
            "certs/nameless.pem",
            "edge.certificates[0].cert",
            "no DNS name in its subjectAltName",
        ),
        no(
            "edge https without a default certificate",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\nhttps = \"127.0.0.1:8443\"")],
            "https = ",
            "edge.https",
            "an https listener needs `default_certificate",
        ),
        no(
            "edge with 0 threads",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\nthreads = 0")],
            "threads",
            "edge.threads",
            "0 is out of range: allowed 1 to 256",
        ),
        no(
            "edge send timeout of 0 seconds",
            &[(r#"pop = "LOC1""#, "pop = \"LOC1\"\nsend_timeout = 0")],
            "send_timeout",
            "edge.send_timeout",
            "0 is out of range: allowed 1 to 3600",
        ),
        // ------------------------------------------------ distributions
        no(
            "duplicate distribution id",
            &[("", OTHER_DISTRIBUTION), (r#"id = "other""#, r#"id = "site" # again 02"#)],
            "# again 02",
            "distributions[1].id",
            "duplicate distribution id `site`",
        ),
        no(
            "alias used by another distribution, in another case",
            &[
                ("", OTHER_DISTRIBUTION),
                (r#"["api.example.test"]"#, r#"["WWW.example.test"]"#),
            ],
            "WWW.example.test",
            "distributions[1].aliases[0]",
            "alias `WWW.example.test` is already used by another distribution (CNAMEAlreadyExists)",
        ),
        no(
            "alias listed twice in one distribution",
            &[(
                r#"aliases = ["www.example.test"]"#,
                r#"aliases = ["www.example.test", "www.example.test"]"#,
            )],
            "aliases = ",
            "distributions[0].aliases[1]",
            "alias `www.example.test` is listed twice in this distribution",
        ),
        no(
            "distribution id with a space",
            &[(r#"id = "site""#, r#"id = "my site""#)],
            "my site",
            "distributions[0].id",
            "a distribution id is letters, digits, `-` and `_`",
        ),
        no(
            "alias with a wildcard that is not leading",
            &[(r#"["www.example.test"]"#, r#"["www.*.test"]"#)],
            "www.*.test",
            "distributions[0].aliases[0]",
            "`www.*.test` is not a domain name (a wildcard is allowed only as a leading `*.`)",
        ),
        no(
            "default root object with a leading slash",
            &[after(
                r#"aliases = ["www.example.test"]"#,
                r#"default_root_object = "/index.html""#,
            )],
            "default_root_object",
            "distributions[0].default_root_object",
            "without a leading `/`",
        ),
        no(
            "distribution without origins",
            &[
                ("", OTHER_DISTRIBUTION),
                (
                    "  [[distributions.origins]]\n  id = \"o\"\n  domain_name = \"o.internal\"\n  custom_origin_config = { origin_protocol_policy = \"http-only\" }\n",
                    "",
                ),
            ],
            "# the other distribution",
            "distributions[1].origins",
            "a distribution needs at least one origin",
        )
        // ... and its default behavior's target_origin_id then names nothing.
        .others(1),
        no(
            "duplicate origin id",
            &[after(
                r#"custom_origin_config = { http_port = 9100, origin_protocol_policy = "http-only" }"#,
                "\n  [[distributions.origins]]\n  id = \"alb\" # again 03\n  domain_name = \"alb2.internal\"\n  custom_origin_config = { origin_protocol_policy = \"http-only\" }",
            )],
            "# again 03",
            "distributions[0].origins[2].id",
            "duplicate origin id `alb`",
        ),
        no(
            "origin group id that is an origin's id",
            &[
                ("  id = \"static-failover\"", "  id = \"static\" # group"),
                (
                    r#"target_origin_id = "static-failover""#,
                    r#"target_origin_id = "static""#,
                ),
            ],
            "# group",
            "distributions[0].origin_groups[0].id",
            "`static` is already an origin id",
        ),
        no(
            "origin group with one member",
            &[(r#"members = ["static", "alb"]"#, r#"members = ["static"]"#)],
            "members = ",
            "distributions[0].origin_groups[0].members",
            "an origin group has exactly two members",
        ),
        no(
            "origin group member that does not exist",
            &[(r#"members = ["static", "alb"]"#, r#"members = ["static", "alp"]"#)],
            "members = ",
            "distributions[0].origin_groups[0].members[1]",
            "no origin named `alp`; did you mean `alb`?",
        ),
        no(
            "origin group with the same origin twice",
            &[(r#"members = ["static", "alb"]"#, r#"members = ["alb", "alb"]"#)],
            "members = ",
            "distributions[0].origin_groups[0].members",
            "the two members must be different origins",
        ),
        no(
            "origin group without failover status codes",
            &[("status_codes = [500, 502]", "status_codes = []")],
            "status_codes",
            "distributions[0].origin_groups[0].failover_criteria.status_codes",
            "give at least one status code",
        ),
        no(
            "origin group failover on a status CloudFront does not fail over on",
            &[("status_codes = [500, 502]", "status_codes = [500, 501]")],
            "status_codes",
            "distributions[0].origin_groups[0].failover_criteria.status_codes[1]",
            "501 cannot trigger failover",
        ),
        no(
            "duplicate origin group id",
            &[after(
                "failover_criteria = { status_codes = [500, 502] }",
                "\n  [[distributions.origin_groups]]\n  id = \"static-failover\" # again 04\n  members = [\"alb\", \"static\"]\n  failover_criteria = { status_codes = [503] }",
            )],
            "# again 04",
            "distributions[0].origin_groups[1].id",
            "duplicate origin group id `static-failover`",
        ),
        no(
            "cache behavior without path_pattern",
            &[("  path_pattern = \"/static/*\"\n", "")],
            "# the second behavior",
            "distributions[0].cache_behaviors[1]",
            "missing required field `path_pattern`",
        ),
        no(
            "duplicate cache behavior path pattern",
            &[(r#"path_pattern = "/static/*""#, r#"path_pattern = "/api/*" # again 05"#)],
            "# again 05",
            "distributions[0].cache_behaviors[1].path_pattern",
            "duplicate path pattern `/api/*`: the later behavior could never match",
        ),
        no(
            "default cache behavior with a path pattern",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  path_pattern = "*""#,
            )],
            r#"path_pattern = "*""#,
            "distributions[0].default_cache_behavior.path_pattern",
            "the default behavior matches every path",
        ),
        no(
            "custom error response for a code CloudFront does not customise",
            &[("error_code = 404", "error_code = 402")],
            "error_code",
            "distributions[0].custom_error_responses[0].error_code",
            "402 is not an error code CloudFront customises",
        ),
        no(
            "duplicate custom error response",
            &[after(
                "response_code = 404",
                "\n  [[distributions.custom_error_responses]]\n  error_code = 404 # again 06",
            )],
            "# again 06",
            "distributions[0].custom_error_responses[1].error_code",
            "duplicate error_code 404",
        ),
        no(
            "error response page path without a leading slash",
            &[(r#""/static/404.html""#, r#""static/404.html""#)],
            "response_page_path",
            "distributions[0].custom_error_responses[0].response_page_path",
            "a path starting with `/`",
        ),
        no(
            "error response code CloudFront does not send",
            &[("response_code = 404", "response_code = 302")],
            "response_code",
            "distributions[0].custom_error_responses[0].response_code",
            "302 is not allowed",
        ),
        no(
            "error response page path without a response code",
            &[("  response_code = 404\n", "")],
            "[[distributions.custom_error_responses]]",
            "distributions[0].custom_error_responses[0].response_code",
            "required with response_page_path",
        ),
        no(
            "error response code without a page path",
            &[("  response_page_path = \"/static/404.html\"\n", "")],
            "[[distributions.custom_error_responses]]",
            "distributions[0].custom_error_responses[0].response_page_path",
            "required with response_code",
        ),
        no(
            "error caching minimum TTL above a year",
            &[after("response_code = 404", "  error_caching_min_ttl = 31536001")],
            "error_caching_min_ttl",
            "distributions[0].custom_error_responses[0].error_caching_min_ttl",
            "31536001 is out of range: allowed 0 to 31536000",
        ),
        no(
            "geo restriction none with locations",
            &[after(
                r#"aliases = ["www.example.test"]"#,
                r#"restrictions = { geo_restriction = { restriction_type = "none", locations = ["US"] } }"#,
            )],
            "restrictions",
            "distributions[0].restrictions.geo_restriction.locations",
            "locations are required with whitelist/blacklist and not allowed with none",
        ),
        no(
            "geo restriction whitelist without locations",
            &[after(
                r#"aliases = ["www.example.test"]"#,
                r#"restrictions = { geo_restriction = { restriction_type = "whitelist" } }"#,
            )],
            "restrictions",
            "distributions[0].restrictions.geo_restriction.locations",
            "locations are required with whitelist/blacklist",
        ),
        no(
            "geo restriction location that is not an ISO code",
            &[after(
                r#"aliases = ["www.example.test"]"#,
                r#"restrictions = { geo_restriction = { restriction_type = "blacklist", locations = ["us"] } }"#,
            )],
            "restrictions",
            "distributions[0].restrictions.geo_restriction.locations[0]",
            "`us` is not an ISO 3166-1 alpha-2 country code",
        ),
        no(
            "logging bucket that is not a bucket domain name",
            &[after(
                r#"aliases = ["www.example.test"]"#,
                r#"logging_config = { bucket = "logs" }"#,
            )],
            "logging_config",
            "distributions[0].logging_config.bucket",
            "the bucket's domain name",
        ),
        // ------------------------------------------------ origins
        no(
            "origin domain name that is a URL",
            &[(r#"domain_name = "alb.internal""#, r#"domain_name = "http://alb.internal""#)],
            "http://alb.internal",
            "distributions[0].origins[0].domain_name",
            "`http://alb.internal` is not a domain name",
        ),
        no(
            "origin path with a trailing slash",
            &[after(r#"domain_name = "alb.internal""#, r#"  origin_path = "/v1/""#)],
            "origin_path",
            "distributions[0].origins[0].origin_path",
            "starts with `/` and does not end with `/`",
        ),
        no(
            "origin custom header CloudFront reserves",
            &[after(r#"domain_name = "alb.internal""#, r#"  custom_headers = { Host = "x" }"#)],
            "{ Host = ",
            "distributions[0].origins[0].custom_headers.Host",
            "CloudFront does not allow `Host` as a custom origin header",
        ),
        no(
            "origin custom header with an X-Amz- prefix",
            &[after(
                r#"domain_name = "alb.internal""#,
                r#"  custom_headers = { X-Amz-Date = "x" }"#,
            )],
            "X-Amz-Date",
            "distributions[0].origins[0].custom_headers.X-Amz-Date",
            "does not allow `X-Amz-Date`",
        ),
        no(
            "origin connection attempts above 3",
            &[after(r#"domain_name = "alb.internal""#, "  connection_attempts = 4")],
            "connection_attempts",
            "distributions[0].origins[0].connection_attempts",
            "4 is out of range: allowed 1 to 3",
        ),
        no(
            "origin connection timeout above 10",
            &[after(r#"domain_name = "alb.internal""#, "  connection_timeout = 11")],
            "connection_timeout",
            "distributions[0].origins[0].connection_timeout",
            "11 is out of range: allowed 1 to 10",
        ),
        no(
            "origin with both a custom and an S3 config",
            &[after(
                r#"domain_name = "static.internal""#,
                "  s3_origin_config = { origin_access_identity = \"\" }",
            )],
            "# the second origin",
            "distributions[0].origins[1]",
            "either custom_origin_config or s3_origin_config, not both",
        ),
        no(
            "origin with neither a custom nor an S3 config",
            &[(
                "  custom_origin_config = { http_port = 9100, origin_protocol_policy = \"http-only\" }\n",
                "",
            )],
            "# the second origin",
            "distributions[0].origins[1]",
            "missing `custom_origin_config",
        ),
        no(
            "origin HTTP port CloudFront refuses",
            &[("http_port = 9100", "http_port = 81")],
            "http_port = 81",
            "distributions[0].origins[1].custom_origin_config.http_port",
            "81: CloudFront allows 80, 443 and 1024-65535",
        ),
        no(
            "origin HTTPS port CloudFront refuses",
            &[("http_port = 9100", "http_port = 9100, https_port = 1023")],
            "https_port",
            "distributions[0].origins[1].custom_origin_config.https_port",
            "1023: CloudFront allows 80, 443 and 1024-65535",
        ),
        no(
            "origin read timeout above 120",
            &[("http_port = 9100", "http_port = 9100, origin_read_timeout = 121")],
            "origin_read_timeout",
            "distributions[0].origins[1].custom_origin_config.origin_read_timeout",
            "121 is out of range: allowed 1 to 120",
        ),
        no(
            "origin keepalive timeout of 0",
            &[("http_port = 9100", "http_port = 9100, origin_keepalive_timeout = 0")],
            "origin_keepalive_timeout",
            "distributions[0].origins[1].custom_origin_config.origin_keepalive_timeout",
            "0 is out of range: allowed 1 to 120",
        ),
        no(
            "origin response completion timeout below the read timeout",
            &[after(
                r#"domain_name = "alb.internal""#,
                "  response_completion_timeout = 10",
            )],
            "response_completion_timeout",
            "distributions[0].origins[0].response_completion_timeout",
            "must be at least origin_read_timeout (30)",
        ),
        // ------------------------------------------------ cache behaviors
        no(
            "cache behavior path pattern with a character CloudFront refuses",
            &[(r#""/static/*""#, r#""/static/<x>/*""#)],
            "<x>",
            "distributions[0].cache_behaviors[1].path_pattern",
            "is not a path pattern CloudFront accepts",
        ),
        no(
            "cache behavior path pattern longer than 255",
            &[(r#""/static/*""#, &format!("\"/{}\"", "s".repeat(255)))],
            "path_pattern = \"/s",
            "distributions[0].cache_behaviors[1].path_pattern",
            "up to 255",
        ),
        no(
            "cache behavior target that names nothing",
            &[(
                "target_origin_id = \"alb\"\n  viewer_protocol_policy = \"redirect-to-https\"",
                "target_origin_id = \"albb\"\n  viewer_protocol_policy = \"redirect-to-https\"",
            )],
            "albb",
            "distributions[0].default_cache_behavior.target_origin_id",
            "no origin or origin group named `albb`; did you mean `alb`?",
        ),
        no(
            "allowed methods that are not one of CloudFront's three sets",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  allowed_methods = ["GET", "POST"]"#,
            )],
            r#"["GET", "POST"]"#,
            "distributions[0].default_cache_behavior.allowed_methods",
            "CloudFront allows exactly [GET, HEAD], [GET, HEAD, OPTIONS] or all seven methods",
        ),
        no(
            "allowed methods with a duplicate",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  allowed_methods = ["GET", "HEAD", "HEAD"]"#,
            )],
            r#""HEAD", "HEAD"]"#,
            "distributions[0].default_cache_behavior.allowed_methods",
            "CloudFront allows exactly",
        ),
        no(
            "cached methods that are not one of CloudFront's two sets",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  cached_methods = ["GET"]"#,
            )],
            "cached_methods",
            "distributions[0].default_cache_behavior.cached_methods",
            "CloudFront caches exactly [GET, HEAD] or [GET, HEAD, OPTIONS]",
        ),
        no(
            "cached methods that are not allowed",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  cached_methods = ["GET", "HEAD", "OPTIONS"]"#,
            )],
            "cached_methods",
            "distributions[0].default_cache_behavior.cached_methods",
            "cached methods must also be allowed methods",
        ),
        no(
            "cache policy and legacy forwarded values together",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  forwarded_values = { query_string = false, cookies = { forward = "none" } }"#,
            )],
            "forwarded_values",
            "distributions[0].default_cache_behavior.forwarded_values",
            "either cache_policy or the legacy forwarded_values, not both",
        ),
        no(
            "behavior TTLs with a cache policy",
            &[after(r#"viewer_protocol_policy = "redirect-to-https""#, "  max_ttl = 60")],
            "max_ttl = 60",
            "distributions[0].default_cache_behavior.max_ttl",
            "TTLs belong to the cache policy",
        ),
        no(
            "cache policy that does not exist",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimised\"",
            )],
            "Managed-CachingOptimised",
            "distributions[0].default_cache_behavior.cache_policy",
            "no cache policy named `Managed-CachingOptimised`; did you mean `Managed-CachingOptimized`?",
        ),
        no(
            "behavior with neither a cache policy nor forwarded values",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"",
            )],
            "[distributions.default_cache_behavior]",
            "distributions[0].default_cache_behavior",
            "missing `cache_policy`",
        ),
        no(
            "origin request policy that does not exist",
            &[(
                r#"origin_request_policy = "forward-auth""#,
                r#"origin_request_policy = "forward-all""#,
            )],
            "forward-all",
            "distributions[0].cache_behaviors[0].origin_request_policy",
            "no origin request policy named `forward-all`",
        ),
        no(
            "response headers policy that does not exist",
            &[(
                r#"response_headers_policy = "site-headers""#,
                r#"response_headers_policy = "Managed-Nope""#,
            )],
            "Managed-Nope",
            "distributions[0].cache_behaviors[0].response_headers_policy",
            "no response headers policy named `Managed-Nope`",
        ),
        no(
            "CloudFront function on an origin event",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  function_associations = [{ event_type = "origin-request", function_arn = "arn:aws:cloudfront::111122223333:function/f" }]"#,
            )],
            "function_associations",
            "distributions[0].default_cache_behavior.function_associations[0].event_type",
            "CloudFront Functions run on viewer-request or viewer-response only",
        ),
        no(
            "two CloudFront functions on one event",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  function_associations = [{ event_type = "viewer-request", function_arn = "arn:aws:cloudfront::111122223333:function/f" }, { event_type = "viewer-request", function_arn = "arn:aws:cloudfront::111122223333:function/g" }]"#,
            )],
            "function_associations",
            "distributions[0].default_cache_behavior.function_associations[1].event_type",
            "one function per event type",
        ),
        // ------------------------------------------------ legacy forwarded_values
        no(
            "legacy default TTL below the minimum TTL",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  forwarded_values = { query_string = false, cookies = { forward = \"none\" } }\n  min_ttl = 100\n  default_ttl = 50",
            )],
            "default_ttl = 50",
            "distributions[0].default_cache_behavior.default_ttl",
            "default_ttl (50) must be at least min_ttl (100)",
        ),
        no(
            "legacy maximum TTL below the default TTL",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  forwarded_values = { query_string = false, cookies = { forward = \"none\" } }\n  max_ttl = 50",
            )],
            "max_ttl = 50",
            "distributions[0].default_cache_behavior.max_ttl",
            "max_ttl (50) must be at least default_ttl (86400)",
        ),
        no(
            "legacy forward-all headers with a minimum TTL",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  forwarded_values = { query_string = false, cookies = { forward = \"none\" }, headers = [\"*\"] }\n  min_ttl = 1",
            )],
            "min_ttl = 1",
            "distributions[0].default_cache_behavior.min_ttl",
            "with all headers forwarded (`*`) min_ttl must be 0",
        ),
        // ------------------------------------------------ policies
        no(
            "policy name with the Managed- prefix",
            &[
                (r#"name = "short""#, r#"name = "Managed-Short""#),
                (r#"cache_policy = "short""#, r#"cache_policy = "Managed-Short""#),
            ],
            r#"name = "Managed-Short""#,
            "cache_policies[0].name",
            "names starting with `Managed-` are AWS's managed policies",
        ),
        no(
            "policy name with a space",
            &[(r#"name = "forward-auth""#, r#"name = "forward auth""#), (
                r#"origin_request_policy = "forward-auth""#,
                r#"origin_request_policy = "forward auth""#,
            )],
            r#"name = "forward auth""#,
            "origin_request_policies[0].name",
            "a policy name is 1 to 128 letters, digits, `-` and `_`",
        ),
        no(
            "duplicate cache policy name",
            &[after(
                r#"query_strings = ["utm_source"] }"#,
                "\n[[cache_policies]]\nname = \"short\" # again 07",
            )],
            "# again 07",
            "cache_policies[1].name",
            "duplicate cache policy name `short`",
        ),
        no(
            "duplicate origin request policy name",
            &[after(
                r#"query_strings_config = { query_string_behavior = "all" }"#,
                "\n[[origin_request_policies]]\nname = \"forward-auth\" # again 08",
            )],
            "# again 08",
            "origin_request_policies[1].name",
            "duplicate origin request policy name `forward-auth`",
        ),
        no(
            "duplicate response headers policy name",
            &[after(
                r#"custom_headers_config = [{ header = "X-Served-By", value = "ferry", override = true }]"#,
                "\n[[response_headers_policies]]\nname = \"site-headers\" # again 09",
            )],
            "# again 09",
            "response_headers_policies[1].name",
            "duplicate response headers policy name `site-headers`",
        ),
        no(
            "cache policy default TTL below the minimum TTL",
            &[("min_ttl = 0", "min_ttl = 100")],
            "default_ttl = 60",
            "cache_policies[0].default_ttl",
            "default_ttl (60) must be at least min_ttl (100)",
        ),
        no(
            "cache policy maximum TTL below the default TTL",
            &[("max_ttl = 300", "max_ttl = 30")],
            "max_ttl = 30",
            "cache_policies[0].max_ttl",
            "max_ttl (30) must be at least default_ttl (60)",
        ),
        no(
            "cache policy whitelist without headers",
            &[(r#"headers = ["Accept-Language"]"#, "headers = []")],
            "headers = []",
            "cache_policies[0].headers_config.headers",
            "`header_behavior` needs at least one name in this list",
        ),
        no(
            "cache policy cookie behavior none with cookies",
            &[(
                r#"cookies_config = { cookie_behavior = "none" }"#,
                r#"cookies_config = { cookie_behavior = "none", cookies = ["session"] }"#,
            )],
            "session",
            "cache_policies[0].cookies_config.cookies",
            "`cookie_behavior` takes no names",
        ),
        no(
            "cache policy allExcept query strings without names",
            &[(r#", query_strings = ["utm_source"] }"#, " }")],
            "allExcept",
            "cache_policies[0].query_strings_config.query_strings",
            "`query_string_behavior` needs at least one name",
        ),
        no(
            "cache policy with 11 headers",
            &[(
                r#"headers = ["Accept-Language"]"#,
                &format!("headers = [{eleven_headers}]"),
            )],
            "X-H11",
            "cache_policies[0].headers_config",
            "11 names; a cache policy takes at most 10",
        ),
        no(
            "cache policy with caching disabled and a cache key",
            &[("default_ttl = 60", "default_ttl = 0"), ("max_ttl = 300", "max_ttl = 0")],
            "max_ttl = 0",
            "cache_policies[0].max_ttl",
            "with caching disabled (all TTLs 0) CloudFront allows nothing in the cache key",
        ),
        no(
            "cache policy listing Accept-Encoding",
            &[(r#"headers = ["Accept-Language"]"#, r#"headers = ["accept-encoding"]"#)],
            "accept-encoding",
            "cache_policies[0].headers_config.headers",
            "Accept-Encoding is not a header to list",
        ),
        no(
            "origin request policy allViewerAndWhitelistCloudFront with a viewer header",
            &[(
                r#"{ header_behavior = "whitelist", headers = ["Authorization"] }"#,
                r#"{ header_behavior = "allViewerAndWhitelistCloudFront", headers = ["Authorization"] }"#,
            )],
            "allViewerAndWhitelistCloudFront",
            "origin_request_policies[0].headers_config.headers[0]",
            "allViewerAndWhitelistCloudFront lists only CloudFront-* headers",
        ),
        no(
            "origin request policy allViewer with header names",
            &[(
                r#"{ header_behavior = "whitelist", headers = ["Authorization"] }"#,
                r#"{ header_behavior = "allViewer", headers = ["Authorization"] }"#,
            )],
            "allViewer",
            "origin_request_policies[0].headers_config.headers",
            "`header_behavior` takes no names",
        ),
        no(
            "origin request policy allExcept without header names",
            &[(
                r#"{ header_behavior = "whitelist", headers = ["Authorization"] }"#,
                r#"{ header_behavior = "allExcept" }"#,
            )],
            "allExcept\" }",
            "origin_request_policies[0].headers_config.headers",
            "`header_behavior` needs at least one name",
        ),
        no(
            "origin request policy cookie whitelist without names",
            &[(r#"{ cookie_behavior = "all" }"#, r#"{ cookie_behavior = "whitelist" }"#)],
            r#"{ cookie_behavior = "whitelist" }"#,
            "origin_request_policies[0].cookies_config.cookies",
            "`cookie_behavior` needs at least one name",
        ),
        no(
            "origin request policy query string all with names",
            &[(
                r#"{ query_string_behavior = "all" }"#,
                r#"{ query_string_behavior = "all", query_strings = ["v"] }"#,
            )],
            r#"query_strings = ["v"]"#,
            "origin_request_policies[0].query_strings_config.query_strings",
            "`query_string_behavior` takes no names",
        ),
        no(
            "CORS method CloudFront does not know",
            &[after(
                r#"name = "site-headers""#,
                r#"cors_config = { access_control_allow_credentials = false, access_control_allow_headers = ["*"], access_control_allow_methods = ["GET", "FETCH"], access_control_allow_origins = ["https://www.example.test"], origin_override = true }"#,
            )],
            "cors_config",
            "response_headers_policies[0].cors_config.access_control_allow_methods[1]",
            "`FETCH` is not one of GET, POST, OPTIONS, PUT, DELETE, PATCH, HEAD, ALL",
        ),
        no(
            "CORS without allowed origins",
            &[after(
                r#"name = "site-headers""#,
                r#"cors_config = { access_control_allow_credentials = false, access_control_allow_headers = ["*"], access_control_allow_methods = ["GET"], access_control_allow_origins = [], origin_override = true }"#,
            )],
            "cors_config",
            "response_headers_policies[0].cors_config.access_control_allow_origins",
            "give at least one value",
        ),
        no(
            "CORS credentials with any origin",
            &[after(
                r#"name = "site-headers""#,
                r#"cors_config = { access_control_allow_credentials = true, access_control_allow_headers = ["*"], access_control_allow_methods = ["GET"], access_control_allow_origins = ["*"], origin_override = true }"#,
            )],
            "cors_config",
            "response_headers_policies[0].cors_config.access_control_allow_credentials",
            "browsers refuse credentials with `Access-Control-Allow-Origin: *`",
        ),
        no(
            "response headers policy setting a header CloudFront owns",
            &[(r#"header = "X-Served-By""#, r#"header = "Via""#)],
            "custom_headers_config",
            "response_headers_policies[0].custom_headers_config[0].header",
            "`Via` cannot be set by a response headers policy",
        ),
        no(
            "response headers policy value with a line break",
            &[(r#"value = "ferry""#, r#"value = "ferry\r\nSet-Cookie: a=1""#)],
            "custom_headers_config",
            "response_headers_policies[0].custom_headers_config[0].value",
            "a header value has visible ASCII characters, spaces and tabs only",
        ),
        no(
            "content security policy with a control character",
            &[after(
                r#"name = "site-headers""#,
                r#"security_headers_config = { content_security_policy = { content_security_policy = "default-src 'self'\u0000", override = true } }"#,
            )],
            "security_headers_config",
            "response_headers_policies[0].security_headers_config.content_security_policy.content_security_policy",
            "a header value has visible ASCII characters, spaces and tabs only",
        ),
        no(
            "X-XSS-Protection with mode_block and report_uri",
            &[after(
                r#"name = "site-headers""#,
                r#"security_headers_config = { xss_protection = { protection = true, mode_block = true, report_uri = "https://r.example.test/xss", override = true } }"#,
            )],
            "security_headers_config",
            "response_headers_policies[0].security_headers_config.xss_protection.report_uri",
            "report_uri cannot be given with mode_block = true",
        ),
        no(
            "response headers policy setting a header twice",
            &[(
                r#"override = true }]"#,
                r#"override = true }, { header = "X-Served-By", value = "again", override = false }]"#,
            )],
            "custom_headers_config",
            "response_headers_policies[0].custom_headers_config[1].header",
            "duplicate custom header `X-Served-By`",
        ),
        no(
            "response headers policy removing a header CloudFront owns",
            &[after(
                r#"name = "site-headers""#,
                r#"remove_headers_config = [{ header = "Content-Length" }]"#,
            )],
            "remove_headers_config",
            "response_headers_policies[0].remove_headers_config[0].header",
            "`Content-Length` cannot be removed by a response headers policy",
        ),
        no(
            "server timing sampling rate above 100",
            &[after(
                r#"name = "site-headers""#,
                "server_timing_headers_config = { enabled = true, sampling_rate = 100.5 }",
            )],
            "server_timing_headers_config",
            "response_headers_policies[0].server_timing_headers_config.sampling_rate",
            "a percentage from 0 to 100",
        ),
        // ------------------------------------------------ target groups (validate/balancer.rs)
        no(
            "duplicate target group name",
            &[("", "\n[[target_groups]]\nname = \"web\" # again 10\nport = 9005\n")],
            "# again 10",
            "target_groups[2].name",
            "duplicate target group name `web`",
        ),
        no(
            "target group name with an underscore",
            &[("", "\n[[target_groups]]\nname = \"api_v2\"\nport = 9005\n")],
            "api_v2",
            "target_groups[2].name",
            "a target group name is 1 to 32 letters, digits and `-`",
        ),
        no(
            "target group name longer than 32",
            &[(
                "",
                "\n[[target_groups]]\nname = \"a-target-group-name-of-33-letters\"\nport = 9005\n",
            )],
            "of-33-letters",
            "target_groups[2].name",
            "a target group name is 1 to 32 letters",
        ),
        no(
            "target group port 0",
            &[("name = \"web\"\nport = 9001", "name = \"web\"\nport = 0")],
            "port = 0",
            "target_groups[0].port",
            "0 is out of range: allowed 1 to 65535",
        ),
        no(
            "lambda target group",
            &[after("name = \"web\"\nport = 9001", r#"target_type = "lambda""#)],
            "target_type",
            "target_groups[0].target_type",
            "Lambda targets are not served by ferry's balancer",
        ),
        no(
            "anomaly mitigation without weighted_random",
            &[(
                r#"attributes = { "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"attributes = { "load_balancing.algorithm.anomaly_mitigation" = "on" }"#,
            )],
            "anomaly_mitigation",
            "target_groups[0].attributes.\"load_balancing.algorithm.anomaly_mitigation\"",
            "anomaly mitigation needs load_balancing.algorithm.type = \"weighted_random\"",
        ),
        no(
            "slow start with least outstanding requests",
            &[(
                r#"attributes = { "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"attributes = { "load_balancing.algorithm.type" = "least_outstanding_requests", "slow_start.duration_seconds" = 30 }"#,
            )],
            "slow_start",
            "target_groups[0].attributes.\"slow_start.duration_seconds\"",
            "slow start is not compatible with least_outstanding_requests",
        ),
        no(
            "slow start with anomaly mitigation",
            &[(
                r#"attributes = { "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"attributes = { "load_balancing.algorithm.type" = "weighted_random", "load_balancing.algorithm.anomaly_mitigation" = "on", "slow_start.duration_seconds" = 30 }"#,
            )],
            "slow_start",
            "target_groups[0].attributes.\"slow_start.duration_seconds\"",
            "slow start is not compatible with anomaly mitigation",
        ),
        no(
            "app cookie stickiness without a cookie name",
            &[(
                r#"attributes = { "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"attributes = { "stickiness.enabled" = true, "stickiness.type" = "app_cookie" }"#,
            )],
            "app_cookie",
            "target_groups[0].attributes.\"stickiness.type\"",
            "app_cookie stickiness needs stickiness.app_cookie.cookie_name",
        ),
        no(
            "app cookie stickiness with a reserved cookie name",
            &[(
                r#"attributes = { "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"attributes = { "stickiness.enabled" = true, "stickiness.type" = "app_cookie", "stickiness.app_cookie.cookie_name" = "AWSALBAPP-1" }"#,
            )],
            "AWSALBAPP-1",
            "target_groups[0].attributes.\"stickiness.app_cookie.cookie_name\"",
            "cookie names starting with AWSALB are reserved",
        ),
        no(
            "target id that is not an IP",
            &[(
                r#"targets = [{ id = "127.0.0.1", zone = "a" }]"#,
                r#"targets = [{ id = "api.internal", zone = "a" }]"#,
            )],
            "api.internal",
            "target_groups[1].targets[0].id",
            "`api.internal` is not an IP address",
        ),
        no(
            "target port 0",
            &[("port = 9002, zone", "port = 0, zone")],
            "port = 0",
            "target_groups[0].targets[1].port",
            "0 is out of range: allowed 1 to 65535",
        ),
        no(
            "target in a zone no load balancer has",
            &[("port = 9002, zone = \"b\"", "port = 9002, zone = \"c\"")],
            "zone = \"c\"",
            "target_groups[0].targets[1].zone",
            "no load balancer has a node in zone `c` (zones: a, b)",
        ),
        no(
            "target registered twice",
            &[("port = 9002, zone = \"b\"", "port = 9001, zone = \"b\"")],
            "zone = \"b\"",
            "target_groups[0].targets[1]",
            "target 127.0.0.1:9001 is registered twice",
        ),
        // ------------------------------------------------ health checks
        no(
            "health check interval below 5",
            &[(
                "interval_seconds = 10, timeout_seconds = 5",
                "interval_seconds = 4, timeout_seconds = 2",
            )],
            "interval_seconds = 4",
            "target_groups[0].health_check.interval_seconds",
            "4 is out of range: allowed 5 to 300",
        ),
        no(
            "health check interval above 300",
            &[("interval_seconds = 10", "interval_seconds = 301")],
            "interval_seconds = 301",
            "target_groups[0].health_check.interval_seconds",
            "301 is out of range: allowed 5 to 300",
        ),
        no(
            "health check timeout below 2",
            &[("timeout_seconds = 5", "timeout_seconds = 1")],
            "timeout_seconds = 1",
            "target_groups[0].health_check.timeout_seconds",
            "1 is out of range: allowed 2 to 120",
        ),
        no(
            "health check timeout above 120",
            &[(
                "interval_seconds = 10, timeout_seconds = 5",
                "interval_seconds = 300, timeout_seconds = 121",
            )],
            "timeout_seconds = 121",
            "target_groups[0].health_check.timeout_seconds",
            "121 is out of range: allowed 2 to 120",
        ),
        no(
            "health check timeout not shorter than the interval",
            &[("timeout_seconds = 5", "timeout_seconds = 10")],
            "timeout_seconds = 10",
            "target_groups[0].health_check.timeout_seconds",
            "the timeout (10s) must be shorter than the interval (10s)",
        ),
        no(
            "health check default timeout not shorter than the interval",
            &[(
                "interval_seconds = 10, timeout_seconds = 5",
                "interval_seconds = 5",
            )],
            "interval_seconds = 5",
            "target_groups[0].health_check.timeout_seconds",
            "the timeout (5s) must be shorter than the interval (5s)",
        ),
        no(
            "healthy threshold above 10",
            &[("timeout_seconds = 5 }", "timeout_seconds = 5, healthy_threshold_count = 11 }")],
            "healthy_threshold_count",
            "target_groups[0].health_check.healthy_threshold_count",
            "11 is out of range: allowed 2 to 10",
        ),
        no(
            "unhealthy threshold below 2",
            &[("timeout_seconds = 5 }", "timeout_seconds = 5, unhealthy_threshold_count = 1 }")],
            "unhealthy_threshold_count",
            "target_groups[0].health_check.unhealthy_threshold_count",
            "1 is out of range: allowed 2 to 10",
        ),
        no(
            "health check path without a leading slash",
            &[(r#"path = "/health""#, r#"path = "health""#)],
            "health_check",
            "target_groups[0].health_check.path",
            "a path starting with `/`",
        ),
        no(
            "health check port that is neither a port nor traffic-port",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, port = "main" }"#)],
            "health_check",
            "target_groups[0].health_check.port",
            "a port from 1 to 65535 or \"traffic-port\"",
        ),
        no(
            "health check matcher with a code above 499",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, matcher = "200,500" }"#)],
            "health_check",
            "target_groups[0].health_check.matcher",
            "`200,500` is not a matcher: codes from 200 to 499",
        ),
        no(
            "health check matcher with a reversed range",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, matcher = "299-200" }"#)],
            "health_check",
            "target_groups[0].health_check.matcher",
            "`299-200` is not a matcher",
        ),
        no(
            "health check matcher with an empty part",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, matcher = "200," }"#)],
            "health_check",
            "target_groups[0].health_check.matcher",
            "`200,` is not a matcher",
        ),
        // ------------------------------------------------ attributes (validate/attributes.rs)
        no(
            "unknown load balancer attribute with a close name",
            &[(
                r#""idle_timeout.timeout_seconds" = 60"#,
                r#""idle_timeout.timeout_second" = 60"#,
            )],
            "timeout_second\"",
            "load_balancers[0].attributes.\"idle_timeout.timeout_second\"",
            "unknown attribute `idle_timeout.timeout_second`; did you mean `idle_timeout.timeout_seconds`?",
        ),
        no(
            "target group attribute that belongs to load balancers",
            &[(
                r#""deregistration_delay.timeout_seconds" = 10"#,
                r#""idle_timeout.timeout_seconds" = 10"#,
            )],
            r#""idle_timeout.timeout_seconds" = 10"#,
            "target_groups[0].attributes.\"idle_timeout.timeout_seconds\"",
            "unknown attribute `idle_timeout.timeout_seconds`",
        ),
        no(
            "listener attribute with a close name",
            &[(
                "  protocol = \"HTTP\"\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
                "  protocol = \"HTTP\"\n  attributes = { \"routing.http.response.server.enable\" = false }\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
            )],
            "server.enable\"",
            "load_balancers[0].listeners[0].attributes.\"routing.http.response.server.enable\"",
            "unknown attribute `routing.http.response.server.enable`; did you mean `routing.http.response.server.enabled`?",
        ),
        no(
            "listener header value with a line break",
            &[(
                "  protocol = \"HTTP\"\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
                "  protocol = \"HTTP\"\n  attributes = { \"routing.http.response.x_frame_options.header_value\" = \"DENY\\r\\nSet-Cookie: a=b\" }\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
            )],
            "x_frame_options",
            "load_balancers[0].listeners[0].attributes.\"routing.http.response.x_frame_options.header_value\"",
            "is not allowed: a header value (no control characters)",
        ),
        no(
            "listener header name that is not a token",
            &[(
                "  protocol = \"HTTP\"\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
                "  protocol = \"HTTP\"\n  attributes = { \"routing.http.request.x_amzn_tls_version.header_name\" = \"TLS version\" }\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n",
            )],
            "x_amzn_tls_version",
            "load_balancers[0].listeners[0].attributes.\"routing.http.request.x_amzn_tls_version.header_name\"",
            "a header name",
        ),
        no(
            "boolean attribute with another word",
            &[(
                r#"{ "idle_timeout.timeout_seconds" = 60 }"#,
                r#"{ "routing.http2.enabled" = "yes" }"#,
            )],
            "http2",
            "load_balancers[0].attributes.\"routing.http2.enabled\"",
            "`yes` is not allowed: true or false",
        ),
        no(
            "integer attribute out of range",
            &[(
                r#""idle_timeout.timeout_seconds" = 60"#,
                r#""idle_timeout.timeout_seconds" = 4001"#,
            )],
            "4001",
            "load_balancers[0].attributes.\"idle_timeout.timeout_seconds\"",
            "`4001` is not allowed: an integer from 1 to 4000",
        ),
        no(
            "integer attribute that is not a number",
            &[(
                r#""deregistration_delay.timeout_seconds" = 10"#,
                r#""deregistration_delay.timeout_seconds" = "10s""#,
            )],
            "10s",
            "target_groups[0].attributes.\"deregistration_delay.timeout_seconds\"",
            "`10s` is not allowed: an integer from 0 to 3600",
        ),
        no(
            "slow start below 30 seconds",
            &[(
                r#""deregistration_delay.timeout_seconds" = 10"#,
                r#""slow_start.duration_seconds" = 10"#,
            )],
            "slow_start",
            "target_groups[0].attributes.\"slow_start.duration_seconds\"",
            "`10` is not allowed: 0 (off) or an integer from 30 to 900",
        ),
        no(
            "percentage attribute above 100",
            &[(
                r#""deregistration_delay.timeout_seconds" = 10"#,
                r#""target_group_health.dns_failover.minimum_healthy_targets.percentage" = 101"#,
            )],
            "percentage",
            "target_groups[0].attributes.\"target_group_health.dns_failover.minimum_healthy_targets.percentage\"",
            "`101` is not allowed: `off` or an integer from 1 to 100",
        ),
        no(
            "attribute value outside its list",
            &[(
                r#"{ "idle_timeout.timeout_seconds" = 60 }"#,
                r#"{ "routing.http.xff_header_processing.mode" = "replace" }"#,
            )],
            "xff_header_processing",
            "load_balancers[0].attributes.\"routing.http.xff_header_processing.mode\"",
            "`replace` is not allowed: append, preserve, remove",
        ),
        // ------------------------------------------------ load balancers
        no(
            "duplicate load balancer name",
            &[(
                "",
                "\n[[load_balancers]]\nname = \"alb\" # again 11\ndns_name = \"alb2.internal\"\nnodes = { a = \"127.0.0.3\" }\n",
            )],
            "# again 11",
            "load_balancers[1].name",
            "duplicate load balancer name `alb`",
        ),
        no(
            "load balancer name starting with internal-",
            &[(r#"name = "alb""#, r#"name = "internal-alb""#)],
            "internal-alb",
            "load_balancers[0].name",
            "nor with `internal-`",
        ),
        no(
            "load balancer DNS name that is already a resolve name",
            &[(r#"dns_name = "alb.internal""#, r#"dns_name = "Static.internal""#)],
            "Static.internal",
            "load_balancers[0].dns_name",
            "`Static.internal` is already a name in [resolve] or of another load balancer",
        ),
        no(
            "load balancer DNS name of another load balancer",
            &[(
                "",
                "\n[[load_balancers]]\nname = \"alb2\"\ndns_name = \"alb.internal\" # again 12\nnodes = { a = \"127.0.0.3\" }\n",
            )],
            "# again 12",
            "load_balancers[1].dns_name",
            "is already a name in [resolve] or of another load balancer",
        ),
        no(
            "load balancer without nodes",
            &[(r#"nodes = { a = "127.0.0.1", b = "127.0.0.2" }"#, "nodes = {}")],
            "nodes = {}",
            "load_balancers[0].nodes",
            "a load balancer needs at least one node",
        ),
        no(
            "load balancer node address that is a name",
            &[(r#"b = "127.0.0.2""#, r#"b = "node-b""#)],
            "node-b",
            "load_balancers[0].nodes.b",
            "`node-b` is not an IP address",
        ),
        no(
            "duplicate listener port",
            &[(
                "\n[[target_groups]]\nname = \"web\"",
                "\n  [[load_balancers.listeners]]\n  port = 8081 # again 13\n  protocol = \"HTTP\"\n  default_actions = [{ type = \"forward\", target_group = \"web\" }]\n\n[[target_groups]]\nname = \"web\"",
            )],
            "# again 13",
            "load_balancers[0].listeners[1].port",
            "duplicate listener port 8081",
        ),
        // ------------------------------------------------ listeners
        no(
            "listener port 0",
            &[("port = 8081\n  protocol", "port = 0\n  protocol")],
            "port = 0",
            "load_balancers[0].listeners[0].port",
            "0 is out of range: allowed 1 to 65535",
        ),
        no(
            "HTTPS listener without a certificate",
            &[(r#"protocol = "HTTP""#, r#"protocol = "HTTPS""#)],
            "[[load_balancers.listeners]]",
            "load_balancers[0].listeners[0].default_certificate",
            "an HTTPS listener needs default_certificate",
        ),
        no(
            "alpn_policy on an ALB listener",
            &[after(r#"protocol = "HTTP""#, r#"  alpn_policy = "HTTP2Preferred""#)],
            "alpn_policy",
            "load_balancers[0].listeners[0].alpn_policy",
            "alpn_policy applies to TLS listeners of Network Load Balancers",
        ),
        no(
            "load balancer ip_address_type outside AWS's values",
            &[after(r#"dns_name = "alb.internal""#, r#"ip_address_type = "dual-stack""#)],
            "ip_address_type",
            "load_balancers[0].ip_address_type",
            "`dual-stack` is not one of ipv4, dualstack, dualstack-without-public-ipv4: did you mean `dualstack`?",
        ),
        no(
            "gRPC target group forwarded from an HTTP listener",
            &[after("port = 9003", r#"protocol_version = "GRPC""#)],
            r#"protocol = "HTTP""#,
            "load_balancers[0].listeners[0].protocol",
            "target group api has protocol_version GRPC, which ALB forwards to from HTTPS listeners only",
        ),
        no(
            "gRPC target group with an HTTP matcher",
            &[(
                "",
                "\n[[target_groups]]\nname = \"rpc\"\nport = 9005\nprotocol_version = \"GRPC\"\nhealth_check = { matcher = \"200\" }\n",
            )],
            "matcher = \"200\"",
            "target_groups[2].health_check.matcher",
            "`200` is not a matcher: codes from 0 to 99",
        ),
        no(
            "target group ip_address_type outside AWS's values",
            &[after("port = 9003", r#"ip_address_type = "dualstack""#)],
            "ip_address_type",
            "target_groups[1].ip_address_type",
            "`dualstack` is not one of ipv4, ipv6",
        ),
        no(
            "IPv6 target in an ipv4 target group",
            &[(
                r#"targets = [{ id = "127.0.0.1", zone = "a" }]"#,
                r#"targets = [{ id = "::1", zone = "a" }]"#,
            )],
            "\"::1\"",
            "target_groups[1].targets[0].id",
            "::1: a target group with ip_address_type = \"ipv4\" (the default) registers IPv4 addresses only",
        ),
        no(
            "IPv4 target in an ipv6 target group",
            &[after("port = 9003", r#"ip_address_type = "ipv6""#)],
            "\"127.0.0.1\", zone = \"a\" }]\n\n[[demo",
            "target_groups[1].targets[0].id",
            "127.0.0.1: a target group with ip_address_type = \"ipv6\" registers IPv6 addresses only",
        ),
        no(
            "ssl_policy on an HTTP listener",
            &[after(
                r#"protocol = "HTTP""#,
                r#"  ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06""#,
            )],
            "ssl_policy",
            "load_balancers[0].listeners[0].ssl_policy",
            "ssl_policy applies to HTTPS listeners only",
        ),
        no(
            "ssl_policy that is not an ELB security policy",
            &[(
                r#"protocol = "HTTP""#,
                "protocol = \"HTTPS\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/edge.key\" }\n  ssl_policy = \"TLSv1.2\"",
            )],
            "ssl_policy",
            "load_balancers[0].listeners[0].ssl_policy",
            "`TLSv1.2` is not an ELB security policy",
        ),
        no(
            "ssl_policy with a typo",
            &[(
                r#"protocol = "HTTP""#,
                "protocol = \"HTTPS\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/edge.key\" }\n  ssl_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-6\"",
            )],
            "ssl_policy",
            "load_balancers[0].listeners[0].ssl_policy",
            "did you mean `ELBSecurityPolicy-TLS13-1-2-2021-06`?",
        ),
        no(
            "certificates on an HTTP listener",
            &[(
                r#"protocol = "HTTP""#,
                "protocol = \"HTTP\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/edge.key\" }",
            )],
            "default_certificate",
            "load_balancers[0].listeners[0].default_certificate",
            "certificates apply to HTTPS listeners only",
        ),
        no(
            "HTTPS listener key that does not match its certificate",
            &[(
                r#"protocol = "HTTP""#,
                "protocol = \"HTTPS\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/other.key\" }",
            )],
            "certs/other.key",
            "load_balancers[0].listeners[0].default_certificate.key",
            "does not match the certificate in",
        ),
        no(
            "listener without default actions",
            &[(
                r#"default_actions = [{ type = "forward", target_group = "web" }]"#,
                "default_actions = []",
            )],
            "default_actions",
            "load_balancers[0].listeners[0].default_actions",
            "give one action: forward, redirect or fixed-response",
        ),
        // ------------------------------------------------ rules
        no(
            "rule priority 0",
            &[("priority = 10", "priority = 0")],
            "priority = 0",
            "load_balancers[0].listeners[0].rules[0].priority",
            "0 is out of range: allowed 1 to 50000",
        ),
        no(
            "rule priority above 50000",
            &[("priority = 20", "priority = 50001")],
            "priority = 50001",
            "load_balancers[0].listeners[0].rules[1].priority",
            "50001 is out of range: allowed 1 to 50000",
        ),
        no(
            "duplicate rule priority",
            &[("priority = 20", "priority = 10 # again 14")],
            "# again 14",
            "load_balancers[0].listeners[0].rules[1].priority",
            "duplicate priority 10: priorities are unique per listener",
        ),
        no(
            "rule without conditions",
            &[(
                r#"conditions = [{ field = "path-pattern", values = ["/api/*"] }]"#,
                "conditions = []",
            )],
            "conditions = []",
            "load_balancers[0].listeners[0].rules[0].conditions",
            "a rule needs at least one condition",
        ),
        no(
            "path-pattern twice in one rule",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "path-pattern", values = ["/api/*"] }, { field = "path-pattern", values = ["/v2/*"] }"#,
            )],
            "/v2/*",
            "load_balancers[0].listeners[0].rules[0].conditions[1].field",
            "`path-pattern` may appear once per rule",
        ),
        no(
            "source-ip twice in one rule",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "source-ip", values = ["10.0.0.0/8"] }, { field = "source-ip", values = ["192.168.0.0/16"] }"#,
            )],
            "192.168.0.0/16",
            "load_balancers[0].listeners[0].rules[0].conditions[1].field",
            "`source-ip` may appear once per rule",
        ),
        no(
            "condition without values",
            &[(r#"values = ["/api/*"]"#, "values = []")],
            "values = []",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values",
            "give at least one value",
        ),
        no(
            "condition with six values",
            &[(
                r#"values = ["/api/*"]"#,
                r#"values = ["/a", "/b", "/c", "/d", "/e", "/f"]"#,
            )],
            "\"/f\"",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values",
            "6 values; ALB allows at most 5 per condition",
        )
        // ... which is also six match evaluations in the rule.
        .others(1),
        no(
            "rule with six match evaluations",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "path-pattern", values = ["/a", "/b", "/c"] }, { field = "host-header", values = ["a.example.test", "b.example.test", "c.example.test"] }"#,
            )],
            "c.example.test",
            "load_balancers[0].listeners[0].rules[0].conditions",
            "6 condition values in this rule; ALB allows at most 5 match evaluations per rule",
        ),
        no(
            "rule with six wildcards",
            &[(r#"values = ["/api/*"]"#, r#"values = ["/a*b*c*", "/d*e?f*"]"#)],
            "/a*b*c*",
            "load_balancers[0].listeners[0].rules[0].conditions",
            "6 wildcards in this rule; ALB allows at most 5 per rule",
        ),
        no(
            "http-header condition with a header name that has a space",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-header", http_header_name = "X Beta", values = ["on"] }"#,
            )],
            "X Beta",
            "load_balancers[0].listeners[0].rules[0].conditions[0].http_header_name",
            "`X Beta` is not a header name (up to 40 token characters)",
        ),
        no(
            "http-header condition with a header name longer than 40",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-header", http_header_name = "X-A-Header-Name-That-Is-Longer-Than-Forty", values = ["on"] }"#,
            )],
            "Longer-Than-Forty",
            "load_balancers[0].listeners[0].rules[0].conditions[0].http_header_name",
            "is not a header name (up to 40 token characters)",
        ),
        no(
            "http-header condition on the Host header",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-header", http_header_name = "host", values = ["api.example.test"] }"#,
            )],
            "\"host\"",
            "load_balancers[0].listeners[0].rules[0].conditions[0].http_header_name",
            "an http-header condition cannot name Host (ALB refuses it): use a host-header condition",
        ),
        no(
            "http-header condition without a header name",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-header", values = ["on"] }"#,
            )],
            "http-header",
            "load_balancers[0].listeners[0].rules[0].conditions[0]",
            "http-header needs http_header_name",
        ),
        no(
            "header name on a path-pattern condition",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "path-pattern", http_header_name = "X-Beta", values = ["/api/*"] }"#,
            )],
            "X-Beta",
            "load_balancers[0].listeners[0].rules[0].conditions[0].http_header_name",
            "only http-header conditions take http_header_name",
        ),
        no(
            "query-string condition with an empty value",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "query-string", values = [{ key = "version", value = "" }] }"#,
            )],
            "query-string",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "query-string keys and values are 1 to 128 characters",
        ),
        no(
            "query-string condition with a plain string value",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "query-string", values = ["version=v1"] }"#,
            )],
            "query-string",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "query-string values are tables",
        ),
        no(
            "path-pattern condition with a table value",
            &[(r#"values = ["/api/*"]"#, r#"values = [{ value = "/api/*" }]"#)],
            r#"{ value = "/api/*" }"#,
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "path-pattern values are strings",
        ),
        no(
            "source-ip condition without a prefix length",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "source-ip", values = ["10.0.0.1"] }"#,
            )],
            "10.0.0.1",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "`10.0.0.1` is not in CIDR notation",
        ),
        no(
            "source-ip condition with a prefix length above 32",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "source-ip", values = ["10.0.0.0/33"] }"#,
            )],
            "10.0.0.0/33",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "`33` is not a prefix length from 0 to 32",
        ),
        no(
            "source-ip condition with the broadcast address",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "source-ip", values = ["255.255.255.255/32"] }"#,
            )],
            "255.255.255.255/32",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "255.255.255.255/32 is not allowed as a source-ip value",
        ),
        no(
            "host-header condition with an underscore",
            &[(r#""status.example.test""#, r#""status_page.example.test""#)],
            "status_page",
            "load_balancers[0].listeners[0].rules[1].conditions[0].values[0]",
            "`status_page.example.test` is not a valid host-header value: 1 to 128 of A-Z a-z 0-9 - . * ?",
        ),
        no(
            "host-header condition without a dot",
            &[(r#""status.example.test""#, r#""localhost""#)],
            "localhost",
            "load_balancers[0].listeners[0].rules[1].conditions[0].values[0]",
            "`localhost` is not a valid host-header value: it needs at least one `.`",
        ),
        no(
            "host-header condition with a wildcard after the last dot",
            &[(r#""status.example.test""#, r#""status.example.*""#)],
            "status.example.*",
            "load_balancers[0].listeners[0].rules[1].conditions[0].values[0]",
            "only letters after the last `.`",
        ),
        no(
            "host-header condition that is an IP address",
            &[(r#""status.example.test""#, r#""10.0.0.1""#)],
            "10.0.0.1",
            "load_balancers[0].listeners[0].rules[1].conditions[0].values[0]",
            "only letters after the last `.`",
        ),
        no(
            "path-pattern condition with a space",
            &[(r#"values = ["/api/*"]"#, r#"values = ["/api v1/*"]"#)],
            "/api v1/*",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "`/api v1/*` is not a valid path-pattern value",
        ),
        no(
            "path-pattern condition longer than 128",
            &[(r#"values = ["/api/*"]"#, &format!("values = [\"{long_path}\"]"))],
            "values = [\"/pp",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "is not a valid path-pattern value: 1 to 128",
        ),
        no(
            "http-request-method condition in lower case",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-request-method", values = ["get"] }"#,
            )],
            "http-request-method",
            "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            "`get` is not a valid http-request-method value",
        ),
        // ------------------------------------------------ actions
        no(
            "rule without actions",
            &[(r#"actions = [{ type = "forward", target_group = "api" }]"#, "actions = []")],
            "actions = []",
            "load_balancers[0].listeners[0].rules[0].actions",
            "give one action",
        ),
        no(
            "action order 0",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", target_group = "api", order = 0 }]"#,
            )],
            "order = 0",
            "load_balancers[0].listeners[0].rules[0].actions[0].order",
            "0 is out of range: allowed 1 to 50000",
        ),
        no(
            "terminal action before another action",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "fixed-response", order = 1, fixed_response_config = { status_code = "503" } }, { type = "forward", target_group = "api", order = 2 }]"#,
            )],
            "fixed-response\", order = 1",
            "load_balancers[0].listeners[0].rules[0].actions[0].type",
            "`fixed-response` ends the request: it must be the last action",
        ),
        no(
            "authentication as the last action",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "authenticate-cognito", authenticate_cognito_config = { user_pool_arn = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/p", user_pool_client_id = "c", user_pool_domain = "d" } }]"#,
            )],
            "authenticate-cognito",
            "load_balancers[0].listeners[0].rules[0].actions[0].type",
            "the last action must be forward, redirect or fixed-response",
        )
        // ... and ferry does not serve authentication actions.
        .others(1),
        no(
            "authentication action ferry does not serve",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "authenticate-oidc", order = 1, authenticate_oidc_config = { issuer = "https://idp.example.test", authorization_endpoint = "https://idp.example.test/auth", token_endpoint = "https://idp.example.test/token", user_info_endpoint = "https://idp.example.test/me", client_id = "c" } }, { type = "forward", target_group = "api", order = 2 }]"#,
            )],
            "authenticate-oidc",
            "load_balancers[0].listeners[0].rules[0].actions[0].type",
            "`authenticate-oidc` is not served by ferry's balancer yet",
        ),
        no(
            "action with another type's config",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", target_group = "api", fixed_response_config = { status_code = "503" } }]"#,
            )],
            "503",
            "load_balancers[0].listeners[0].rules[0].actions[0].fixed_response_config",
            "`fixed_response_config` does not go with type = \"forward\"",
        ),
        no(
            "forward action without a target",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward" }]"#,
            )],
            r#"{ type = "forward" }"#,
            "load_balancers[0].listeners[0].rules[0].actions[0]",
            "a forward action needs `target_group = \"...\"` or `forward_config`",
        ),
        no(
            "redirect action without its config",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "redirect" }]"#,
            )],
            r#"{ type = "redirect" }"#,
            "load_balancers[0].listeners[0].rules[0].actions[0]",
            "a redirect action needs `redirect_config`",
        ),
        no(
            "forward action with a target group and a forward config",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", target_group = "api", forward_config = { target_groups = [{ target_group = "web" }] } }]"#,
            )],
            "forward_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config",
            "give either target_group or forward_config, not both",
        ),
        no(
            "forward to a target group that does not exist",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", target_group = "apj" }]"#,
            )],
            "apj",
            "load_balancers[0].listeners[0].rules[0].actions[0].target_group",
            "no target group named `apj`; did you mean `api`?",
        ),
        no(
            "forward config without target groups",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [] } }]"#,
            )],
            "forward_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_groups",
            "from 1 to 5 target groups",
        ),
        no(
            "forward config with six target groups",
            &[
                (
                    r#"actions = [{ type = "forward", target_group = "api" }]"#,
                    r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "web" }, { target_group = "api" }, { target_group = "t3" }, { target_group = "t4" }, { target_group = "t5" }, { target_group = "t6" }] } }]"#,
                ),
                (
                    "",
                    "\n[[target_groups]]\nname = \"t3\"\nport = 9103\n\n[[target_groups]]\nname = \"t4\"\nport = 9104\n\n[[target_groups]]\nname = \"t5\"\nport = 9105\n\n[[target_groups]]\nname = \"t6\"\nport = 9106\n",
                ),
            ],
            "forward_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_groups",
            "from 1 to 5 target groups",
        ),
        no(
            "forward config listing a target group twice",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api" }, { target_group = "api" }] } }]"#,
            )],
            "forward_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_groups[1].target_group",
            "target group `api` is listed twice",
        ),
        no(
            "forward config weight above 999",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api", weight = 1000 }] } }]"#,
            )],
            "weight = 1000",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_groups[0].weight",
            "1000 is out of range: allowed 0 to 999",
        ),
        no(
            "forward config with every weight 0",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api", weight = 0 }, { target_group = "web", weight = 0 }] } }]"#,
            )],
            "forward_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_groups",
            "every weight is 0: no request could be forwarded",
        ),
        no(
            "target group stickiness of 0 seconds",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api" }], target_group_stickiness_config = { enabled = true, duration_seconds = 0 } } }]"#,
            )],
            "duration_seconds = 0",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_group_stickiness_config.duration_seconds",
            "0 is out of range: allowed 1 to 604800",
        ),
        no(
            "target group stickiness without a duration",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api" }], target_group_stickiness_config = { enabled = true } } }]"#,
            )],
            "target_group_stickiness_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].forward_config.target_group_stickiness_config",
            "duration_seconds (1 to 604800) is required when stickiness is enabled",
        ),
        // ------------------------------------------------ redirects and fixed responses
        no(
            "redirect to a protocol ALB does not redirect to",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "redirect", redirect_config = { protocol = "FTP", status_code = "HTTP_301" } }]"#,
            )],
            "FTP",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.protocol",
            "HTTP, HTTPS or #{protocol}",
        ),
        no(
            "redirect to port 0",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "redirect", redirect_config = { port = "0", status_code = "HTTP_301" } }]"#,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.port",
            "a port from 1 to 65535 or #{port}",
        ),
        no(
            "redirect path without a leading slash",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r##"actions = [{ type = "redirect", redirect_config = { path = "v1/#{path}", status_code = "HTTP_302" } }]"##,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.path",
            "the path must start with `/`",
        ),
        no(
            "redirect query with its question mark",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r##"actions = [{ type = "redirect", redirect_config = { path = "/v1/#{path}", query = "?v=1", status_code = "HTTP_301" } }]"##,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.query",
            "the query goes without its leading `?`",
        ),
        no(
            "redirect path with the query placeholder",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r##"actions = [{ type = "redirect", redirect_config = { path = "/#{path}/#{query}", status_code = "HTTP_301" } }]"##,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.path",
            "#{query} cannot be used in path; allowed: #{host} #{path} #{port}",
        ),
        no(
            "redirect host with the path placeholder",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r##"actions = [{ type = "redirect", redirect_config = { host = "#{path}.example.test", status_code = "HTTP_301" } }]"##,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.host",
            "#{path} cannot be used in host; allowed: #{host}",
        ),
        no(
            "redirect to the same URL",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "redirect", redirect_config = { status_code = "HTTP_301" } }]"#,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config",
            "this redirect points at the same URL it came from",
        ),
        no(
            "HTTPS listener redirecting to HTTP",
            &[
                (
                    r#"protocol = "HTTP""#,
                    "protocol = \"HTTPS\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/edge.key\" }",
                ),
                (
                    r#"actions = [{ type = "forward", target_group = "api" }]"#,
                    r#"actions = [{ type = "redirect", redirect_config = { protocol = "HTTP", port = "80", status_code = "HTTP_301" } }]"#,
                ),
            ],
            r#"redirect_config = { protocol = "HTTP", port"#,
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config.protocol",
            "an HTTPS listener cannot redirect to HTTP",
        ),
        no(
            "redirect that changes only the query",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "redirect", redirect_config = { query = "v=2", status_code = "HTTP_301" } }]"#,
            )],
            "redirect_config",
            "load_balancers[0].listeners[0].rules[0].actions[0].redirect_config",
            "ALB does not count the query",
        ),
        no(
            "fixed response with a 3XX status",
            &[(r#"status_code = "200""#, r#"status_code = "302""#)],
            "\"302\"",
            "load_balancers[0].listeners[0].rules[1].actions[0].fixed_response_config.status_code",
            "`302` is not a 2XX, 4XX or 5XX status code",
        ),
        no(
            "fixed response with a status that is not three digits",
            &[(r#"status_code = "200""#, r#"status_code = "2000""#)],
            "\"2000\"",
            "load_balancers[0].listeners[0].rules[1].actions[0].fixed_response_config.status_code",
            "`2000` is not a 2XX, 4XX or 5XX status code",
        ),
        no(
            "fixed response with a content type ALB does not send",
            &[(r#""text/plain""#, r#""text/xml""#)],
            "text/xml",
            "load_balancers[0].listeners[0].rules[1].actions[0].fixed_response_config.content_type",
            "`text/xml` is not one of text/plain, text/css, text/html, application/javascript, application/json",
        ),
    ];
    rows.push(no(
        "fixed response body above 1024 bytes",
        &[(
            r#"message_body = "ok""#,
            &format!("message_body = \"{long_body}\""),
        )],
        "message_body = \"xx",
        "load_balancers[0].listeners[0].rules[1].actions[0].fixed_response_config.message_body",
        "1025 bytes; ALB allows at most 1024",
    ));
    rows
}

/// Checks one rejecting row; returns what is wrong, if anything.
fn check_reject(row: &Reject) -> Result<(), String> {
    let text = apply(&row.edits)?;
    let line = line_of(&text, &row.marker)?;
    let diagnostics = match parse(&text) {
        Ok(_) => return Err("the topology was accepted".to_string()),
        Err(e) => e.diagnostics().to_vec(),
    };
    let listing = || {
        diagnostics
            .iter()
            .map(|d| format!("    {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let Some(found) = diagnostics.iter().find(|d| d.path == row.path) else {
        return Err(format!(
            "no diagnostic at path `{}`; got:\n{}",
            row.path,
            listing()
        ));
    };
    let mut problems = Vec::new();
    if found.line != line {
        problems.push(format!(
            "reported at line {}, expected line {line} (the line of {:?})",
            found.line, row.marker
        ));
    }
    if !found.message.contains(row.phrase) {
        problems.push(format!("the message does not contain {:?}", row.phrase));
    }
    if found.file != FILE {
        problems.push(format!("the file is {:?}, not {FILE:?}", found.file));
    }
    if diagnostics.len() != 1 + row.others {
        problems.push(format!(
            "{} diagnostics, expected {}",
            diagnostics.len(),
            1 + row.others
        ));
    }
    let positions: Vec<(usize, usize)> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
    if !positions.windows(2).all(|w| w[0] <= w[1]) {
        problems.push("the diagnostics are not sorted by line and column".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; got:\n{}", problems.join("; "), listing()))
    }
}

#[test]
fn the_base_topology_is_valid() {
    if let Err(e) = parse(BASE) {
        panic!("BASE must load:\n{e}");
    }
}

#[test]
fn every_rule_rejects_its_mistake_at_the_right_place() {
    let rows = rejects();
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.name), "two rows are named `{}`", row.name);
        assert!(!row.edits.is_empty(), "row `{}` makes no mistake", row.name);
        if let Err(why) = check_reject(row) {
            failures.push(format!("row `{}`: {why}", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------- accepting rows

struct Accept {
    name: &'static str,
    edits: Vec<(String, String)>,
    /// What the edge case must have become in the model.
    check: fn(&Topology),
}

fn yes(name: &'static str, edits: &[(&str, &str)], check: fn(&Topology)) -> Accept {
    Accept {
        name,
        edits: owned(edits),
        check,
    }
}

fn loads(_: &Topology) {}

fn rule(t: &Topology, i: usize) -> &ferry_config::model::Rule {
    &t.load_balancers[0].listeners[0].rules[i]
}

fn accepts() -> Vec<Accept> {
    vec![
        yes("the base topology", &[], loads),
        yes(
            "weight 0 for one of two target groups",
            &[(
                r#"actions = [{ type = "forward", target_group = "api" }]"#,
                r#"actions = [{ type = "forward", forward_config = { target_groups = [{ target_group = "api", weight = 0 }, { target_group = "web", weight = 999 }], target_group_stickiness_config = { enabled = true, duration_seconds = 604800 } } }]"#,
            )],
            |t| match &rule(t, 0).action {
                Action::Forward(f) => {
                    assert_eq!(f.target_groups, [(1, 0), (0, 999)]);
                    assert_eq!(f.stickiness, Some(Duration::from_secs(604_800)));
                }
                other => panic!("expected a forward: {other:?}"),
            },
        ),
        yes(
            "priorities 1 and 50000",
            &[("priority = 10", "priority = 50000"), ("priority = 20", "priority = 1")],
            |t| {
                assert_eq!(rule(t, 0).priority, 1);
                assert_eq!(rule(t, 1).priority, 50_000);
            },
        ),
        yes(
            "exactly 5 values in a condition, with 5 wildcards",
            &[(
                r#"values = ["/api/*"]"#,
                r#"values = ["/a/*", "/b/*", "/c/*", "/d/*", "/e/?"]"#,
            )],
            loads,
        ),
        yes(
            "5 match evaluations over several conditions, http-header and query-string repeated",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "http-header", http_header_name = "X-Beta", values = ["on"] }, { field = "http-header", http_header_name = "X-Gamma", values = ["on"] }, { field = "query-string", values = [{ key = "v", value = "1" }] }, { field = "query-string", values = [{ value = "debug" }] }, { field = "source-ip", values = ["10.0.0.0/8"] }"#,
            )],
            |t| assert_eq!(rule(t, 0).conditions.len(), 5),
        ),
        yes(
            "one condition of each kind that may appear once",
            &[(
                r#"{ field = "path-pattern", values = ["/api/*"] }"#,
                r#"{ field = "path-pattern", values = ["/api/*"] }, { field = "host-header", values = ["*.example.test"] }, { field = "http-request-method", values = ["GET"] }, { field = "source-ip", values = ["2001:db8::/32"] }"#,
            )],
            |t| assert_eq!(rule(t, 0).conditions.len(), 4),
        ),
        yes(
            "a wildcard alias next to an exact one",
            &[(
                r#"aliases = ["www.example.test"]"#,
                r#"aliases = ["www.example.test", "*.example.test"]"#,
            )],
            |t| {
                let aliases = &t.distributions[0].aliases;
                assert_eq!(aliases.len(), 2);
                assert!(aliases[1].matches("api.example.test"));
                assert!(matches!(aliases[0], Alias::Exact(_)), "{aliases:?}");
            },
        ),
        yes(
            "a behavior with legacy forwarded_values and TTLs",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  forwarded_values = { query_string = true, query_string_cache_keys = [\"v\"], cookies = { forward = \"whitelist\", whitelisted_names = [\"session\"] }, headers = [\"Accept-Language\"] }\n  min_ttl = 0\n  default_ttl = 60\n  max_ttl = 600",
            )],
            |t| {
                let policy = &t.distributions[0].behavior_for("/").cache_policy;
                assert_eq!(policy.managed_id, None);
                assert_eq!(
                    (policy.ttl.min_ttl, policy.ttl.default_ttl, policy.ttl.max_ttl),
                    (0, 60, 600)
                );
            },
        ),
        yes(
            "legacy forward-all headers with min_ttl 0 and default TTLs",
            &[(
                "\"redirect-to-https\"\n  cache_policy = \"Managed-CachingOptimized\"",
                "\"redirect-to-https\"\n  forwarded_values = { query_string = false, cookies = { forward = \"all\" }, headers = [\"*\"] }",
            )],
            |t| {
                // "CloudFront doesn't cache the objects that are associated with this cache
                // behavior. Instead, CloudFront sends every request to the origin", with every
                // header.
                let behavior = t.distributions[0].behavior_for("/");
                let ttl = behavior.cache_policy.ttl;
                assert_eq!((ttl.min_ttl, ttl.default_ttl, ttl.max_ttl), (0, 0, 0));
                assert!(!behavior.cache_policy.gzip && !behavior.cache_policy.keys_header("*"));
                assert!(behavior.origin_request_policy.as_ref().is_some_and(|p| {
                    p.policy.headers_config.header_behavior
                        == ferry_config::spec::OriginHeaderBehavior::AllViewer
                }));
            },
        ),
        yes(
            "health check interval 5 with timeout 4",
            &[(
                "interval_seconds = 10, timeout_seconds = 5",
                "interval_seconds = 5, timeout_seconds = 4",
            )],
            |t| {
                assert_eq!(t.target_groups[0].health_check.interval, Duration::from_secs(5));
            },
        ),
        yes(
            "health check interval 300, timeout 120, thresholds 2 and 10",
            &[(
                "interval_seconds = 10, timeout_seconds = 5",
                "interval_seconds = 300, timeout_seconds = 120, healthy_threshold_count = 10, unhealthy_threshold_count = 2",
            )],
            |t| {
                let h = &t.target_groups[0].health_check;
                assert_eq!(h.interval, Duration::from_secs(300));
                assert_eq!(h.timeout, Duration::from_secs(120));
            },
        ),
        yes(
            "a matcher that mixes a range and a code",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, matcher = "200-299,302" }"#)],
            |t| {
                let h = &t.target_groups[0].health_check;
                assert_eq!(h.matcher, [(200, 299), (302, 302)]);
                assert!(h.accepts(302) && !h.accepts(301));
            },
        ),
        yes(
            "a matcher at both ends of the allowed codes",
            &[("timeout_seconds = 5 }", r#"timeout_seconds = 5, matcher = "200,499", port = "traffic-port" }"#)],
            |t| {
                let h = &t.target_groups[0].health_check;
                assert_eq!(h.matcher, [(200, 200), (499, 499)]);
                assert_eq!(h.port, None);
            },
        ),
        yes(
            "a health check on a port number",
            &[("timeout_seconds = 5 }", "timeout_seconds = 5, port = 8080 }")],
            |t| assert_eq!(t.target_groups[0].health_check.port, Some(8080)),
        ),
        yes(
            "attribute values as strings, integers and booleans at their bounds",
            &[
                (
                    r#"{ "idle_timeout.timeout_seconds" = 60 }"#,
                    r#"{ "idle_timeout.timeout_seconds" = "4000", "client_keep_alive.seconds" = 604800, "routing.http2.enabled" = false, "routing.http.desync_mitigation_mode" = "strictest" }"#,
                ),
                (
                    r#"{ "deregistration_delay.timeout_seconds" = 10 }"#,
                    r#"{ "deregistration_delay.timeout_seconds" = 0, "slow_start.duration_seconds" = 900, "stickiness.enabled" = "true", "stickiness.type" = "lb_cookie", "stickiness.lb_cookie.duration_seconds" = 604800, "load_balancing.cross_zone.enabled" = "use_load_balancer_configuration", "target_group_health.dns_failover.minimum_healthy_targets.count" = "off" }"#,
                ),
            ],
            |t| {
                let lb = &t.load_balancers[0];
                assert_eq!(lb.idle_timeout, Duration::from_secs(4000));
                let tg = &t.target_groups[0];
                assert_eq!(tg.slow_start, Duration::from_secs(900));
                assert_eq!(tg.deregistration_delay, Duration::ZERO);
                assert_eq!(tg.cross_zone, None);
                assert_eq!(
                    tg.attributes.get("stickiness.enabled").map(String::as_str),
                    Some("true")
                );
            },
        ),
        yes(
            "slow start 0 (off) with least outstanding requests",
            &[(
                r#"{ "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"{ "load_balancing.algorithm.type" = "least_outstanding_requests", "slow_start.duration_seconds" = 0 }"#,
            )],
            |t| {
                assert_eq!(t.target_groups[0].algorithm, Algorithm::LeastOutstandingRequests);
            },
        ),
        yes(
            "weighted random with anomaly mitigation",
            &[(
                r#"{ "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"{ "load_balancing.algorithm.type" = "weighted_random", "load_balancing.algorithm.anomaly_mitigation" = "on" }"#,
            )],
            |t| {
                assert_eq!(
                    t.target_groups[0].algorithm,
                    Algorithm::WeightedRandom {
                        anomaly_mitigation: true
                    }
                );
            },
        ),
        yes(
            "app cookie stickiness with a cookie name",
            &[(
                r#"{ "deregistration_delay.timeout_seconds" = 10 }"#,
                r#"{ "stickiness.enabled" = true, "stickiness.type" = "app_cookie", "stickiness.app_cookie.cookie_name" = "SESSION", "stickiness.app_cookie.duration_seconds" = 1 }"#,
            )],
            |t| assert!(t.target_groups[0].stickiness.is_some()),
        ),
        yes(
            "a redirect that changes only the protocol, and one that uses every placeholder",
            &[
                (
                    r#"actions = [{ type = "forward", target_group = "api" }]"#,
                    r#"actions = [{ type = "redirect", redirect_config = { protocol = "HTTPS", port = "443", status_code = "HTTP_301" } }]"#,
                ),
                (
                    r#"actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200", content_type = "text/plain", message_body = "ok" } }]"#,
                    r##"actions = [{ type = "redirect", redirect_config = { host = "www.#{host}", path = "/#{host}/#{port}/#{path}", query = "p=#{protocol}&h=#{host}&o=#{port}&a=#{path}&#{query}", status_code = "HTTP_302" } }]"##,
                ),
            ],
            |t| match (&rule(t, 0).action, &rule(t, 1).action) {
                (Action::Redirect(a), Action::Redirect(b)) => {
                    assert_eq!((a.protocol.as_str(), a.status), ("HTTPS", 301));
                    assert_eq!((b.host.as_str(), b.status), ("www.#{host}", 302));
                }
                other => panic!("expected two redirects: {other:?}"),
            },
        ),
        yes(
            "a fixed response with a 5XX, no content type and a 1024-byte body",
            &[(
                r#"fixed_response_config = { status_code = "200", content_type = "text/plain", message_body = "ok" }"#,
                &format!(
                    "fixed_response_config = {{ status_code = \"503\", message_body = \"{}\" }}",
                    "x".repeat(1024)
                ),
            )],
            |t| match &rule(t, 1).action {
                Action::FixedResponse(f) => assert_eq!((f.status, f.body.len()), (503, 1024)),
                other => panic!("expected a fixed response: {other:?}"),
            },
        ),
        yes(
            "origin limits at their bounds",
            &[(
                r#"custom_origin_config = { http_port = 8081, origin_protocol_policy = "http-only" }"#,
                "connection_attempts = 1\n  connection_timeout = 10\n  response_completion_timeout = 120\n  origin_path = \"/v1\"\n  custom_headers = { X-Origin-Verify = \"secret\" }\n  custom_origin_config = { http_port = 1024, https_port = 443, origin_protocol_policy = \"match-viewer\", origin_read_timeout = 120, origin_keepalive_timeout = 120 }",
            )],
            |t| {
                let o = &t.distributions[0].origins[0];
                assert_eq!(o.connection_attempts, 1);
                assert_eq!(o.read_timeout, Duration::from_secs(120));
                assert_eq!(o.http_port, 1024);
            },
        ),
        yes(
            "every failover status code and every customisable error code",
            &[
                (
                    "status_codes = [500, 502]",
                    "status_codes = [400, 403, 404, 416, 500, 502, 503, 504]",
                ),
                (
                    "  response_code = 404\n",
                    "  response_code = 200\n  error_caching_min_ttl = 0\n\n  [[distributions.custom_error_responses]]\n  error_code = 416\n\n  [[distributions.custom_error_responses]]\n  error_code = 501\n  error_caching_min_ttl = 31536000\n",
                ),
            ],
            |t| {
                assert_eq!(t.distributions[0].origin_groups[0].failover_status_codes.len(), 8);
                assert_eq!(t.distributions[0].custom_error_responses.len(), 3);
            },
        ),
        yes(
            "a cache policy with a minimum TTL above a day and 10 headers",
            &[
                ("min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 300\n", "min_ttl = 100000\n"),
                (
                    r#"headers = ["Accept-Language"]"#,
                    r#"headers = ["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10"]"#,
                ),
            ],
            |t| {
                let ttl = t.distributions[0].behavior_for("/api/x").cache_policy.ttl;
                // CloudFront: DefaultTTL defaults to MinTTL when MinTTL is above a day.
                assert_eq!(
                    (ttl.min_ttl, ttl.default_ttl, ttl.max_ttl),
                    (100_000, 100_000, 31_536_000)
                );
            },
        ),
        yes(
            "a cache policy with caching disabled and an empty cache key",
            &[(
                "min_ttl = 0\ndefault_ttl = 60\nmax_ttl = 300\nenable_accept_encoding_gzip = true\nheaders_config = { header_behavior = \"whitelist\", headers = [\"Accept-Language\"] }\ncookies_config = { cookie_behavior = \"none\" }\nquery_strings_config = { query_string_behavior = \"allExcept\", query_strings = [\"utm_source\"] }\n",
                "min_ttl = 0\ndefault_ttl = 0\nmax_ttl = 0\n",
            )],
            |t| {
                let ttl = t.distributions[0].behavior_for("/api/x").cache_policy.ttl;
                assert_eq!((ttl.min_ttl, ttl.default_ttl, ttl.max_ttl), (0, 0, 0));
            },
        ),
        yes(
            "an origin request policy with CloudFront headers and allExcept lists",
            &[
                (
                    r#"{ header_behavior = "whitelist", headers = ["Authorization"] }"#,
                    r#"{ header_behavior = "allViewerAndWhitelistCloudFront", headers = ["CloudFront-Viewer-Country"] }"#,
                ),
                (
                    r#"{ cookie_behavior = "all" }"#,
                    r#"{ cookie_behavior = "allExcept", cookies = ["tracking"] }"#,
                ),
            ],
            loads,
        ),
        yes(
            "a response headers policy with CORS, security headers and header removal",
            &[after(
                r#"name = "site-headers""#,
                "cors_config = { access_control_allow_credentials = true, access_control_allow_headers = [\"*\"], access_control_allow_methods = [\"ALL\"], access_control_allow_origins = [\"https://www.example.test\"], origin_override = false }\nsecurity_headers_config = { frame_options = { frame_option = \"DENY\", override = true }, referrer_policy = { referrer_policy = \"strict-origin-when-cross-origin\", override = true } }\nremove_headers_config = [{ header = \"Server\" }]\nserver_timing_headers_config = { enabled = true, sampling_rate = 100.0 }",
            )],
            loads,
        ),
        yes(
            "CloudFront functions on both viewer events",
            &[after(
                r#"viewer_protocol_policy = "redirect-to-https""#,
                r#"  function_associations = [{ event_type = "viewer-request", function_arn = "arn:aws:cloudfront::111122223333:function/f" }, { event_type = "viewer-response", function_arn = "arn:aws:cloudfront::111122223333:function/g" }]"#,
            )],
            loads,
        ),
        yes(
            "a second distribution with its own alias",
            &[("", OTHER_DISTRIBUTION)],
            |t| assert_eq!(t.distributions.len(), 2),
        ),
        yes(
            "an [aws] section with two zones and an ACM certificate",
            &[("", AWS)],
            loads,
        ),
        yes(
            "an [aws] section with the CloudFront default certificate",
            &[
                ("", AWS),
                (
                    r#"{ acm_certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/abc", ssl_support_method = "sni-only" }"#,
                    "{ cloudfront_default_certificate = true }",
                ),
            ],
            loads,
        ),
        yes(
            "an edge with https, SNI certificates and a token-protected public admin",
            &[(
                r#"pop = "LOC1""#,
                &format!(
                    "pop = \"FRA56\"\n{EDGE_TLS}\ncertificates = [{{ cert = \"certs/edge.pem\", key = \"certs/edge.key\" }}]\nadmin = \"0.0.0.0:9900\"\nadmin_token = \"t\"\ncache_size = \"1MiB\"\ncache_max_object_size = \"1MiB\"\ndefault_distribution = \"site\"\nthreads = 256"
                ),
            )],
            |t| {
                let edge = t.edge.as_ref().expect("an edge");
                assert_eq!(edge.cache_size, 1 << 20);
                assert_eq!(edge.default_distribution, Some(0));
            },
        ),
        yes(
            "an HTTPS listener with a certificate and an ELB security policy",
            &[(
                r#"protocol = "HTTP""#,
                "protocol = \"HTTPS\"\n  default_certificate = { cert = \"certs/edge.pem\", key = \"certs/edge.key\" }\n  ssl_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"",
            )],
            loads,
        ),
        yes(
            "a 32-character target group name and a target in an IPv6 address in an ipv6 group",
            &[(
                "",
                "\n[[target_groups]]\nname = \"a-target-group-name-of-32-chars\"\nport = 9005\nip_address_type = \"ipv6\"\ntargets = [{ id = \"::1\", zone = \"b\" }]\n",
            )],
            |t| assert_eq!(t.target_groups[2].targets[0].port, 9005),
        ),
        yes(
            "a gRPC target group with ALB's defaults and a gRPC code range",
            &[(
                "",
                "\n[[target_groups]]\nname = \"rpc\"\nport = 9005\nprotocol_version = \"GRPC\"\n\n[[target_groups]]\nname = \"rpc-any\"\nport = 9006\nprotocol_version = \"GRPC\"\nhealth_check = { matcher = \"0-99\" }\n",
            )],
            |t| {
                let hc = &t.target_groups[2].health_check;
                assert_eq!(hc.path, "/AWS.ALB/healthcheck");
                assert_eq!(hc.matcher, [(12, 12)]);
                assert_eq!(t.target_groups[3].health_check.matcher, [(0, 99)]);
            },
        ),
        yes(
            "a dualstack load balancer and an explicit ipv4 target group",
            &[
                after(
                    r#"dns_name = "alb.internal""#,
                    r#"ip_address_type = "dualstack-without-public-ipv4""#,
                ),
                after("port = 9003", r#"ip_address_type = "ipv4""#),
            ],
            |t| assert_eq!(t.target_groups[1].targets.len(), 1),
        ),
    ]
}

#[test]
fn every_edge_case_aws_allows_is_accepted() {
    let mut failures = Vec::new();
    for row in accepts() {
        let text = match apply(&row.edits) {
            Ok(text) => text,
            Err(why) => {
                failures.push(format!("row `{}`: {why}", row.name));
                continue;
            }
        };
        match parse(&text) {
            Ok(t) => {
                let check = row.check;
                let run = std::panic::AssertUnwindSafe(|| check(&t));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let why = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("row `{}`: loaded, but {why}", row.name));
                }
            }
            Err(e) => failures.push(format!("row `{}`: rejected:\n{e}", row.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------- several mistakes at once

/// Applies the edits of the named rows together and checks that each one's diagnostic is reported,
/// and nothing else, sorted by line.
fn check_together(names: &[&str]) {
    let all = rejects();
    let rows: Vec<&Reject> = names
        .iter()
        .map(|n| {
            all.iter()
                .find(|r| r.name == *n)
                .unwrap_or_else(|| panic!("no row named `{n}`"))
        })
        .collect();
    let edits: Vec<(String, String)> = rows.iter().flat_map(|r| r.edits.clone()).collect();
    let text = apply(&edits).unwrap_or_else(|why| panic!("{why}"));
    let err = match parse(&text) {
        Ok(_) => panic!(
            "{} mistakes, and the topology was accepted:\n{text}",
            rows.len()
        ),
        Err(e) => e,
    };
    let diagnostics = err.diagnostics();
    let expected: usize = rows.iter().map(|r| 1 + r.others).sum();
    assert_eq!(
        diagnostics.len(),
        expected,
        "{} independent mistakes; got:\n{err}",
        rows.len()
    );
    let lines: Vec<usize> = diagnostics.iter().map(|d| d.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        lines, sorted,
        "the diagnostics are not sorted by line:\n{err}"
    );
    for row in rows {
        let line =
            line_of(&text, &row.marker).unwrap_or_else(|why| panic!("row `{}`: {why}", row.name));
        assert!(
            diagnostics
                .iter()
                .any(|d| d.path == row.path && d.line == line && d.message.contains(row.phrase)),
            "the mistake of row `{}` ({} at line {line}) is not reported:\n{err}",
            row.name,
            row.path
        );
    }
}

#[test]
fn n_independent_mistakes_give_n_diagnostics_sorted_by_line() {
    // Listed out of file order on purpose: the report must come back sorted by line.
    check_together(&[
        "target registered twice",
        "duplicate rule priority",
        "edge PoP name with a dash",
        "cache policy maximum TTL below the default TTL",
        "origin connection attempts above 3",
        "duplicate demo target name",
        "health check interval above 300",
        "unknown load balancer attribute with a close name",
        "cache behavior target that names nothing",
        "stack name with a character AWS tags refuse",
        "origin group member that does not exist",
        "fixed response with a 3XX status",
    ]);
}

#[test]
fn mistakes_on_one_line_and_in_both_halves_are_all_reported() {
    check_together(&[
        "condition with six values",
        "action order 0",
        "aws: a CloudFront ACM certificate outside us-east-1",
        "alias listed twice in one distribution",
        "edge certificate file that cannot be read",
        "CORS credentials with any origin",
    ]);
}

#[test]
fn a_parse_error_is_the_only_diagnostic() {
    // serde stops at the first error: a syntax or type error hides the validation errors after it.
    let text = apply(&owned(&[
        ("priority = 10", "priority = 0"),
        ("port = 9003", r#"port = "9003""#),
    ]))
    .expect("the edits apply");
    let Err(err) = parse(&text) else {
        panic!("two mistakes, and the topology was accepted");
    };
    assert_eq!(err.diagnostics().len(), 1, "{err}");
    assert_eq!(err.diagnostics()[0].path, "target_groups[1].port", "{err}");
}
