//! CloudFront standard log lines (the legacy access log format): the 33 fields in CloudFront's
//! documented order, tab separated, after `#Version: 1.0` and `#Fields: ...`.
//!
//! The destination is `FERRY_EDGE_ACCESS_LOG`: a file path (appended to), or `-` for stdout; unset
//! or empty, no access log. Lines go through a bounded channel to a writer thread; a request never
//! waits for the log: when the writer is behind, the line is dropped and counted in
//! `ferry_access_log_dropped_total{log="edge"}`.

use ferry_config::log_sink::LogSink;
use pingora::proxy::Session;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

pub const ENV: &str = "FERRY_EDGE_ACCESS_LOG";

pub const FIELDS: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// The header lines at the start of a log.
pub fn header() -> String {
    format!("#Version: 1.0\n#Fields: {}\n", FIELDS.join(" "))
}

/// One request, as the log sees it. `None` is written `-`.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub time: Option<SystemTime>,
    pub edge_location: String,
    pub sc_bytes: u64,
    pub client_ip: Option<String>,
    pub method: String,
    /// The distribution's domain name (`d111111abcdef8.cloudfront.net`).
    pub cs_host: Option<String>,
    pub uri_stem: String,
    /// `None`: no response was sent (the log says `000`, as CloudFront does).
    pub status: Option<u16>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub query: Option<String>,
    pub cookie: Option<String>,
    /// Hit, RefreshHit, Miss, Error or Redirect.
    pub result_type: &'static str,
    pub request_id: String,
    pub host_header: Option<String>,
    /// `http` or `https`.
    pub protocol: &'static str,
    pub cs_bytes: u64,
    pub time_taken: f64,
    pub forwarded_for: Option<String>,
    pub protocol_version: String,
    pub client_port: Option<u16>,
    pub time_to_first_byte: Option<f64>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// OpenSSL's names of the viewer connection's TLS version and cipher.
    pub ssl_protocol: Option<String>,
    pub ssl_cipher: Option<String>,
    /// A 206's `Content-Range` (first and last byte).
    pub range: Option<(u64, u64)>,
}

/// What a value becomes in the log: `-` when empty, and spaces, tabs, control characters, `%` and
/// non-ASCII bytes percent-encoded (so that a field never holds the separator).
pub fn encode(value: Option<&str>) -> String {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return "-".into();
    };
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_graphic() && b != b'%' && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// CloudFront's x-edge-result-type of an `X-Cache` value.
pub fn result_type(x_cache: Option<&str>) -> &'static str {
    match x_cache.and_then(|x| x.split(' ').next()) {
        Some("Hit") => "Hit",
        Some("RefreshHit") => "RefreshHit",
        Some("Miss") => "Miss",
        Some("Redirect") => "Redirect",
        _ => "Error",
    }
}

/// One log line, without its newline.
pub fn line(e: &Entry) -> String {
    let stamp = ferry_config::time::iso8601(e.time.unwrap_or_else(SystemTime::now));
    let date = stamp.get(..10).unwrap_or("-");
    let time = stamp.get(11..19).unwrap_or("-");
    let opt = |v: &Option<String>| encode(v.as_deref());
    let status = e
        .status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "000".into());
    let fields: [String; 33] = [
        date.into(),
        time.into(),
        encode(Some(&e.edge_location)),
        e.sc_bytes.to_string(),
        opt(&e.client_ip),
        encode(Some(&e.method)),
        opt(&e.cs_host),
        encode(Some(&e.uri_stem)),
        status,
        opt(&e.referer),
        opt(&e.user_agent),
        opt(&e.query),
        opt(&e.cookie),
        e.result_type.into(),
        encode(Some(&e.request_id)),
        opt(&e.host_header),
        e.protocol.into(),
        e.cs_bytes.to_string(),
        format!("{:.3}", e.time_taken),
        opt(&e.forwarded_for),
        opt(&e.ssl_protocol),
        opt(&e.ssl_cipher),
        e.result_type.into(),
        encode(Some(&e.protocol_version)),
        "-".into(),
        "-".into(),
        e.client_port
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into()),
        e.time_to_first_byte
            .map(|t| format!("{t:.3}"))
            .unwrap_or_else(|| "-".into()),
        e.result_type.into(),
        opt(&e.content_type),
        e.content_length
            .map(|l| l.to_string())
            .unwrap_or_else(|| "-".into()),
        e.range
            .map(|r| r.0.to_string())
            .unwrap_or_else(|| "-".into()),
        e.range
            .map(|r| r.1.to_string())
            .unwrap_or_else(|| "-".into()),
    ];
    fields.join("\t")
}

/// What the proxy knows of a finished request beyond its session.
pub struct Served<'a> {
    pub edge_location: &'a str,
    /// The distribution's id, once routed.
    pub distribution: Option<&'a str>,
    pub result_type: &'static str,
    pub request_id: &'a str,
    pub https: bool,
    pub time_taken: Duration,
    pub time_to_first_byte: Duration,
}

/// `bytes FIRST-LAST/LENGTH` → (FIRST, LAST).
fn content_range(value: &str) -> Option<(u64, u64)> {
    let (first, last) = value
        .strip_prefix("bytes ")?
        .split('/')
        .next()?
        .split_once('-')?;
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
}

/// The bytes of a header block: its first line plus each `name: value\r\n`, and the blank line.
fn head_bytes<'a>(first_line: usize, headers: impl Iterator<Item = (&'a str, usize)>) -> u64 {
    let total = first_line + 2 + headers.map(|(n, v)| n.len() + v + 4).sum::<usize>() + 2;
    u64::try_from(total).unwrap_or(u64::MAX)
}

/// What the hit fast path knows of a hit it answered (it has no pingora session).
pub struct FastHit<'a> {
    pub served: Served<'a>,
    pub client: Option<std::net::SocketAddr>,
    /// The TLS version and cipher, as rustls names them (`SslDigest`).
    pub tls: Option<(&'a str, &'a str)>,
    pub target: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The request's header fields (name, value), in order.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The response head's bytes as [`entry`] counts them, and the body's.
    pub response_head: u64,
    pub body: usize,
    pub content_type: Option<&'a str>,
    pub content_length: Option<u64>,
    pub range: Option<(u64, u64)>,
}

/// The first `name` field as text (`-` in the log when it is not).
fn text_of(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What the log takes of a response header: its content type, length and range.
pub fn response_fields(
    response: &pingora::http::ResponseHeader,
) -> (Option<String>, Option<u64>, Option<(u64, u64)>) {
    let text = |name: &str| text_of(&response.headers, name);
    (
        text("content-type"),
        text("content-length").and_then(|l| l.parse().ok()),
        text("content-range").and_then(|r| content_range(&r)),
    )
}

/// The log entry of a hit the fast path answered: what [`entry`] makes of the same request.
pub fn fast_hit_entry(hit: FastHit<'_>) -> Entry {
    let header = |name: &str| {
        hit.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| crate::caching::header_text(v))
            .map(str::to_string)
    };
    let request_head = head_bytes(
        "GET".len() + hit.target.len() + 10,
        hit.headers.iter().map(|(n, v)| (*n, v.len())),
    );
    let ssl = hit
        .tls
        .map(|(version, cipher)| ferry_config::tls::log_names(version, cipher));
    Entry {
        time: Some(SystemTime::now()),
        edge_location: hit.served.edge_location.to_string(),
        sc_bytes: hit.response_head + u64::try_from(hit.body).unwrap_or(u64::MAX),
        client_ip: hit.client.map(|a| a.ip().to_string()),
        method: "GET".into(),
        cs_host: hit.served.distribution.map(crate::admin::domain_name),
        uri_stem: hit.path.to_string(),
        status: Some(200),
        referer: header("referer"),
        user_agent: header("user-agent"),
        query: hit.query.map(str::to_string),
        cookie: header("cookie"),
        result_type: hit.served.result_type,
        request_id: hit.served.request_id.to_string(),
        host_header: header("host"),
        protocol: if hit.served.https { "https" } else { "http" },
        cs_bytes: request_head,
        time_taken: hit.served.time_taken.as_secs_f64(),
        forwarded_for: header("x-forwarded-for"),
        protocol_version: "HTTP/1.1".into(),
        client_port: hit.client.map(|a| a.port()),
        time_to_first_byte: Some(hit.served.time_to_first_byte.as_secs_f64()),
        content_type: hit.content_type.map(str::to_string),
        content_length: hit.content_length,
        ssl_protocol: ssl.as_ref().map(|s| s.0.clone()),
        ssl_cipher: ssl.map(|s| s.1),
        range: hit.range,
    }
}

/// The log entry of a finished request.
pub fn entry(session: &Session, served: Served<'_>) -> Entry {
    let request = session.req_header();
    let header = |name: &str| text_of(&request.headers, name);
    let response = session.response_written();
    let client = session.client_addr().and_then(|a| a.as_inet());
    let version = match request.version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let uri_len = request
        .uri
        .path_and_query()
        .map(|p| p.as_str().len())
        .unwrap_or(1);
    let request_head = head_bytes(
        request.method.as_str().len() + uri_len + 10,
        request.headers.iter().map(|(n, v)| (n.as_str(), v.len())),
    );
    let response_head = response
        .map(|r| head_bytes(12, r.headers.iter().map(|(n, v)| (n.as_str(), v.len()))))
        .unwrap_or(0);
    let sent = u64::try_from(session.body_bytes_sent()).unwrap_or(u64::MAX);
    let fields = response.map(response_fields).unwrap_or_default();
    let ssl = session
        .digest()
        .and_then(|d| d.ssl_digest.as_ref())
        .map(|s| ferry_config::tls::log_names(&s.version, &s.cipher));
    let read = u64::try_from(session.body_bytes_read()).unwrap_or(u64::MAX);
    Entry {
        time: Some(SystemTime::now()),
        edge_location: served.edge_location.to_string(),
        sc_bytes: response_head + sent,
        client_ip: client.map(|a| a.ip().to_string()),
        method: request.method.as_str().to_string(),
        cs_host: served.distribution.map(crate::admin::domain_name),
        uri_stem: request.uri.path().to_string(),
        status: response.map(|r| r.status.as_u16()),
        referer: header("referer"),
        user_agent: header("user-agent"),
        query: request.uri.query().map(str::to_string),
        cookie: header("cookie"),
        result_type: served.result_type,
        request_id: served.request_id.to_string(),
        host_header: header("host").or_else(|| request.uri.host().map(str::to_string)),
        protocol: if served.https { "https" } else { "http" },
        cs_bytes: request_head + read,
        time_taken: served.time_taken.as_secs_f64(),
        forwarded_for: header("x-forwarded-for"),
        protocol_version: version.to_string(),
        client_port: client.map(|a| a.port()),
        time_to_first_byte: Some(served.time_to_first_byte.as_secs_f64()),
        content_type: fields.0,
        content_length: fields.1,
        ssl_protocol: ssl.as_ref().map(|s| s.0.clone()),
        ssl_cipher: ssl.map(|s| s.1),
        range: fields.2,
    }
}

/// The writer's end of the channel; `None` when the access log is off or could not be opened.
/// The writer's end; `None` when the access log is off or could not be opened.
static SINK: LazyLock<Option<LogSink>> =
    LazyLock::new(|| LogSink::from_env(ENV, "edge access log", header()));

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
    use std::time::UNIX_EPOCH;

    #[test]
    fn header_lines() {
        let h = header();
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines[0], "#Version: 1.0");
        assert!(lines[1].starts_with("#Fields: date time x-edge-location sc-bytes c-ip "));
        assert!(lines[1].ends_with(" sc-range-start sc-range-end"));
        assert_eq!(lines[1].split(' ').count(), 34);
    }

    #[test]
    fn a_line() {
        let entry = Entry {
            time: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            edge_location: "LOC1-C1".into(),
            sc_bytes: 120,
            client_ip: Some("192.0.2.1".into()),
            method: "GET".into(),
            cs_host: Some("d1.cloudfront.net".into()),
            uri_stem: "/a b.html".into(),
            status: Some(200),
            user_agent: Some("curl/8.0 (x)".into()),
            query: None,
            result_type: "Miss",
            request_id: "abc==".into(),
            host_header: Some("www.example.com".into()),
            protocol: "http",
            cs_bytes: 80,
            time_taken: 0.0123,
            protocol_version: "HTTP/1.1".into(),
            client_port: Some(40000),
            content_type: Some("text/html".into()),
            content_length: Some(5),
            time_to_first_byte: Some(0.004),
            ssl_protocol: Some("TLSv1.3".into()),
            ssl_cipher: Some("TLS_AES_128_GCM_SHA256".into()),
            range: Some((0, 4)),
            ..Entry::default()
        };
        let line = line(&entry);
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 33);
        assert_eq!(f[0], "2023-11-14");
        assert_eq!(f[1], "22:13:20");
        assert_eq!(f[2], "LOC1-C1");
        assert_eq!(f[3], "120");
        assert_eq!(f[7], "/a%20b.html");
        assert_eq!(f[8], "200");
        assert_eq!(f[9], "-");
        assert_eq!(f[10], "curl/8.0%20(x)");
        assert_eq!(f[11], "-");
        assert_eq!(f[13], "Miss");
        assert_eq!(f[14], "abc==");
        assert_eq!(f[18], "0.012");
        assert_eq!(f[22], "Miss");
        assert_eq!((f[20], f[21]), ("TLSv1.3", "TLS_AES_128_GCM_SHA256"));
        assert_eq!(f[26], "40000");
        assert_eq!(f[27], "0.004");
        assert_eq!(f[28], "Miss");
        assert_eq!(f[30], "5");
        assert_eq!((f[31], f[32]), ("0", "4"));
        assert_eq!(content_range("bytes 10-19/100"), Some((10, 19)));
        assert_eq!(content_range("bytes */100"), None);
        let unanswered = line_of_status(None);
        assert_eq!(unanswered.split('\t').nth(8), Some("000"));
    }

    fn line_of_status(status: Option<u16>) -> String {
        line(&Entry {
            status,
            result_type: "Error",
            ..Entry::default()
        })
    }

    #[test]
    fn result_types() {
        assert_eq!(result_type(Some("Hit from cloudfront")), "Hit");
        assert_eq!(
            result_type(Some("RefreshHit from cloudfront")),
            "RefreshHit"
        );
        assert_eq!(result_type(Some("Miss from cloudfront")), "Miss");
        assert_eq!(result_type(Some("Redirect from cloudfront")), "Redirect");
        assert_eq!(result_type(Some("Error from cloudfront")), "Error");
        assert_eq!(result_type(None), "Error");
    }

    #[test]
    fn encoding() {
        assert_eq!(encode(None), "-");
        assert_eq!(encode(Some("")), "-");
        assert_eq!(encode(Some("a\tb")), "a%09b");
        assert_eq!(encode(Some("é")), "%C3%A9");
    }
}
