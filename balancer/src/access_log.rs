//! ALB access log lines: ALB's documented fields in its order, space separated, the quoted fields
//! in double quotes.
//!
//! The destination is `FERRY_BALANCER_ACCESS_LOG`: a file path (appended to), or `-` for stdout;
//! unset or empty, no access log. Lines go through a bounded channel to a writer thread; a request
//! never waits for the log: when the writer is behind, the line is dropped and counted in
//! `ferry_access_log_dropped_total{log="balancer"}`.

use ferry_config::log_sink::LogSink;
use pingora::proxy::Session;
use std::net::SocketAddr;
use std::sync::{LazyLock, OnceLock};
use std::time::{Instant, SystemTime};

pub const ENV: &str = "FERRY_BALANCER_ACCESS_LOG";

/// The region of the ARNs in the log (set once, from the topology).
pub static REGION: OnceLock<String> = OnceLock::new();

pub const FIELDS: [&str; 30] = [
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
];

/// What a request went through, recorded by the proxy's hooks as it goes.
#[derive(Debug, Default)]
pub struct Progress {
    /// `request_filter`: the request head was read.
    pub started: Option<Instant>,
    pub created: Option<SystemTime>,
    /// `upstream_peer`: the request is being sent to its target.
    pub forwarded: Option<Instant>,
    /// `response_filter` on a target's response: its header arrived.
    pub answered: Option<Instant>,
    /// The status code the target answered with.
    pub target_status: Option<u16>,
    pub trace_id: Option<String>,
    /// The matched rule's priority, 0 for the default action (`None`: rules not evaluated).
    pub rule_priority: Option<u32>,
    /// The action taken: `forward`, `redirect` or `fixed-response`.
    pub action: Option<&'static str>,
    pub redirect_url: Option<String>,
    /// A request that is not compliant: its desync classification and reason.
    pub classification: Option<(&'static str, &'static str)>,
}

/// One request, as the log sees it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// `http`, `https` or `h2`.
    pub kind: &'static str,
    pub time: Option<SystemTime>,
    /// `app/<name>/<id>`.
    pub elb: String,
    pub client: Option<String>,
    pub target: Option<String>,
    /// Seconds; `None` is written -1, as ALB does.
    pub request_processing: Option<f64>,
    pub target_processing: Option<f64>,
    pub response_processing: Option<f64>,
    /// `None`: no response was sent (`-`).
    pub elb_status: Option<u16>,
    /// `None`: no target answered (`-`).
    pub target_status: Option<u16>,
    pub received_bytes: u64,
    pub sent_bytes: u64,
    /// `GET http://host:80/path?query HTTP/1.1`
    pub request: String,
    pub user_agent: Option<String>,
    pub target_group_arn: Option<String>,
    pub trace_id: Option<String>,
    pub created: Option<SystemTime>,
    pub actions: Option<String>,
    /// OpenSSL's names of the client connection's cipher and TLS version.
    pub ssl_cipher: Option<String>,
    pub ssl_protocol: Option<String>,
    /// `None`: rules were not evaluated (written -1).
    pub rule_priority: Option<u32>,
    pub redirect_url: Option<String>,
    pub classification: Option<(&'static str, &'static str)>,
}

/// A quoted field: `"..."` with `"`, `\` and control characters escaped; `"-"` when empty.
pub fn quoted(value: Option<&str>) -> String {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return "\"-\"".into();
    };
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An unquoted field: `-` when empty, spaces and control characters escaped.
fn bare(value: Option<&str>) -> String {
    match value.filter(|v| !v.is_empty()) {
        None => "-".into(),
        Some(v) => v
            .chars()
            .map(|c| {
                if c == ' ' || c.is_control() {
                    format!("\\x{:02x}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    }
}

fn seconds(value: Option<f64>) -> String {
    value
        .map(|s| format!("{s:.3}"))
        .unwrap_or_else(|| "-1".into())
}

fn code(value: Option<u16>) -> String {
    value.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
}

/// One log line, without its newline.
pub fn line(e: &Entry) -> String {
    let time = ferry_config::time::iso8601(e.time.unwrap_or_else(SystemTime::now));
    let created = e.created.map(ferry_config::time::iso8601);
    let fields: [String; 30] = [
        e.kind.into(),
        time,
        bare(Some(&e.elb)),
        bare(e.client.as_deref()),
        bare(e.target.as_deref()),
        seconds(e.request_processing),
        seconds(e.target_processing),
        seconds(e.response_processing),
        code(e.elb_status),
        code(e.target_status),
        e.received_bytes.to_string(),
        e.sent_bytes.to_string(),
        quoted(Some(&e.request)),
        quoted(e.user_agent.as_deref()),
        bare(e.ssl_cipher.as_deref()),
        bare(e.ssl_protocol.as_deref()),
        bare(e.target_group_arn.as_deref()),
        quoted(e.trace_id.as_deref()),
        quoted(None),
        quoted(None),
        e.rule_priority
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-1".into()),
        bare(created.as_deref()),
        quoted(e.actions.as_deref()),
        quoted(e.redirect_url.as_deref()),
        quoted(None),
        quoted(e.target.as_deref()),
        quoted(e.target_status.map(|s| s.to_string()).as_deref()),
        quoted(e.classification.map(|c| c.0)),
        quoted(e.classification.map(|c| c.1)),
        "-".into(),
    ];
    fields.join(" ")
}

/// Splits a log line back into its fields (quoted fields unquoted), for tests and tools.
pub fn split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while chars.peek().is_some() {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => field.extend(chars.next()),
                    '"' => break,
                    c => field.push(c),
                }
            }
            chars.next_if_eq(&' ');
        } else {
            for c in chars.by_ref() {
                if c == ' ' {
                    break;
                }
                field.push(c);
            }
        }
        fields.push(field);
    }
    fields
}

/// What the listener knows of a finished request beyond its session and progress.
pub struct Node<'a> {
    /// `http` or `https`.
    pub kind: &'static str,
    pub load_balancer: &'a str,
    pub port: u16,
    pub target: Option<SocketAddr>,
    pub target_group: Option<&'a str>,
}

/// The log entry of a finished request.
pub fn entry(session: &Session, progress: &Progress, node: Node<'_>) -> Entry {
    let now = Instant::now();
    let request = session.req_header();
    let response = session.response_written();
    let region = REGION.get().map(String::as_str).unwrap_or("us-east-1");
    let elb = crate::admin::load_balancer_arn(region, node.load_balancer);
    let elb = elb
        .split_once(":loadbalancer/")
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| format!("app/{}", node.load_balancer));
    let host = request
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_string())
        .or_else(|| request.uri.host().map(str::to_string))
        .unwrap_or_else(|| "-".into());
    let version = match request.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let path = request
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let head = |headers: &http::HeaderMap| {
        headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
    };
    let received = request.method.as_str().len() + path.len() + 12 + head(&request.headers) + 2;
    let sent = response.map(|r| 12 + 2 + head(&r.headers) + 2).unwrap_or(0);
    let bytes = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let secs = |from: Option<Instant>, to: Option<Instant>| {
        from.zip(to)
            .map(|(a, b)| b.saturating_duration_since(a).as_secs_f64())
    };
    let forwarded_and_answered = progress.answered.is_some();
    let ssl = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .map(|s| ferry_config::tls::log_names(&s.version, &s.cipher));
    Entry {
        kind: match (node.kind, request.version == http::Version::HTTP_2) {
            ("https", true) => {
                let grpc = ferry_config::grpc::is_grpc(ferry_config::grpc::Request {
                    http2: true,
                    content_type: request
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .map(|v| v.as_bytes()),
                });
                if grpc {
                    "grpcs"
                } else {
                    "h2"
                }
            }
            (kind, _) => kind,
        },
        time: Some(SystemTime::now()),
        elb,
        client: session.client_addr().map(|a| a.to_string()),
        target: node.target.map(|t| t.to_string()),
        request_processing: secs(progress.started, progress.forwarded),
        target_processing: secs(progress.forwarded, progress.answered),
        response_processing: if forwarded_and_answered {
            secs(progress.answered, Some(now))
        } else {
            None
        },
        elb_status: response.map(|r| r.status.as_u16()),
        target_status: progress.target_status,
        received_bytes: bytes(received + session.body_bytes_read()),
        sent_bytes: bytes(sent + session.body_bytes_sent()),
        request: format!(
            "{} {}://{host}:{}{path} {version}",
            request.method, node.kind, node.port
        ),
        user_agent: request
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        target_group_arn: node
            .target_group
            .map(|g| crate::admin::target_group_arn(region, g)),
        trace_id: progress.trace_id.clone(),
        created: progress.created,
        actions: progress.action.map(str::to_string),
        ssl_cipher: ssl.as_ref().map(|s| s.1.clone()),
        ssl_protocol: ssl.map(|s| s.0),
        rule_priority: progress.rule_priority,
        redirect_url: progress.redirect_url.clone(),
        classification: progress.classification,
    }
}

/// The writer's end; `None` when the access log is off or could not be opened.
static SINK: LazyLock<Option<LogSink>> =
    LazyLock::new(|| LogSink::from_env(ENV, "balancer access log", String::new()));

/// Whether an access log is being written (opens it on first use).
pub fn enabled() -> bool {
    SINK.is_some()
}

/// Queues one line; never waits.
pub fn log(entry: &Entry) {
    if let Some(sink) = SINK.as_ref() {
        if !sink.send(line(entry)) {
            crate::metrics::access_log_dropped();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn sample() -> Entry {
        Entry {
            kind: "http",
            time: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            elb: "app/web/0123456789abcdef".into(),
            client: Some("192.0.2.1:40000".into()),
            target: Some("10.0.0.1:8080".into()),
            request_processing: Some(0.001),
            target_processing: Some(0.0205),
            response_processing: Some(0.0),
            elb_status: Some(200),
            target_status: Some(200),
            received_bytes: 90,
            sent_bytes: 300,
            request: "GET http://www.example.com:80/a?b=1 HTTP/1.1".into(),
            user_agent: Some("curl/8.0 \"quoted\"".into()),
            target_group_arn: Some(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1".into(),
            ),
            trace_id: Some("Root=1-2-3".into()),
            created: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            actions: Some("forward".into()),
            ssl_cipher: Some("ECDHE-RSA-AES128-GCM-SHA256".into()),
            ssl_protocol: Some("TLSv1.2".into()),
            rule_priority: Some(10),
            redirect_url: None,
            classification: Some(("Ambiguous", "DuplicateContentLength")),
        }
    }

    #[test]
    fn a_line_parses_back() {
        let line = line(&sample());
        let f = split(&line);
        assert_eq!(f.len(), FIELDS.len());
        assert_eq!(f[0], "http");
        assert_eq!(f[1], "2023-11-14T22:13:20.000Z");
        assert_eq!(f[4], "10.0.0.1:8080");
        assert_eq!(f[6], "0.021");
        assert_eq!(f[8], "200");
        assert_eq!(f[9], "200");
        assert_eq!(f[12], "GET http://www.example.com:80/a?b=1 HTTP/1.1");
        assert_eq!(f[13], "curl/8.0 \"quoted\"");
        assert_eq!(f[17], "Root=1-2-3");
        assert_eq!(
            (f[14].as_str(), f[15].as_str()),
            ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2")
        );
        assert_eq!(f[20], "10");
        assert_eq!(f[22], "forward");
        assert_eq!(f[23], "-");
        assert_eq!(
            (f[27].as_str(), f[28].as_str()),
            ("Ambiguous", "DuplicateContentLength")
        );
        let unevaluated = super::line(&Entry {
            rule_priority: None,
            ..sample()
        });
        assert_eq!(split(&unevaluated)[20], "-1");
        assert!(line.contains(" \"GET http://www.example.com:80/a?b=1 HTTP/1.1\" "));
    }

    #[test]
    fn no_target() {
        let entry = Entry {
            target: None,
            target_status: None,
            elb_status: Some(503),
            target_processing: None,
            ..sample()
        };
        let f = split(&line(&entry));
        assert_eq!(f.len(), FIELDS.len());
        assert_eq!(f[4], "-");
        assert_eq!(f[6], "-1");
        assert_eq!(f[8], "503");
        assert_eq!(f[9], "-");
        assert_eq!(f[25], "-");
    }

    #[test]
    fn quoting() {
        assert_eq!(quoted(None), "\"-\"");
        assert_eq!(quoted(Some("a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(bare(Some("a b")), "a\\x20b");
    }
}
