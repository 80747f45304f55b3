//! The headers an ALB adds to what it forwards: X-Forwarded-For (per the xff processing mode),
//! X-Forwarded-Proto, X-Forwarded-Port and X-Amzn-Trace-Id.

use ferry_config::model::XffMode;
use pingora::http::RequestHeader;
use pingora::Result;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The X-Forwarded-* headers and X-Amzn-Trace-Id of a request on its way to a target. `client_port`
/// is the client's source port when `routing.http.xff_client_port.enabled` asks for it.
pub fn apply(
    request: &mut RequestHeader,
    mode: XffMode,
    client: Option<IpAddr>,
    client_port: Option<u16>,
    proto: &str,
    port: u16,
    trace_id: &str,
) -> Result<()> {
    match mode {
        XffMode::Append => {
            if let Some(ip) = client {
                let existing = request
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok());
                request.insert_header("X-Forwarded-For", xff_value(existing, ip, client_port))?;
            }
        }
        XffMode::Preserve => {}
        XffMode::Remove => {
            request.remove_header("x-forwarded-for");
        }
    }
    request.insert_header("X-Forwarded-Proto", proto)?;
    request.insert_header("X-Forwarded-Port", port.to_string())?;
    let existing = request
        .headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok());
    request.insert_header("X-Amzn-Trace-Id", trace_value(existing, trace_id))?;
    Ok(())
}

/// X-Forwarded-For in append mode: the client after the addresses the request came with.
pub fn xff_value(existing: Option<&str>, client: IpAddr, client_port: Option<u16>) -> String {
    let mut value = String::with_capacity(64);
    if let Some(existing) = existing.filter(|v| !v.trim().is_empty()) {
        value.push_str(existing);
        value.push_str(", ");
    }
    push_client(&mut value, client, client_port);
    value
}

/// X-Amzn-Trace-Id on its way to a target: a new `Root`, or for an existing trace its `Self`
/// field updated (or added).
pub fn trace_value(existing: Option<&str>, trace_id: &str) -> String {
    match existing {
        Some(existing) if existing.contains("Root=") => {
            let mut fields: Vec<String> = existing
                .split(';')
                .filter(|f| !f.trim().is_empty() && !f.trim().starts_with("Self="))
                .map(|f| f.trim().to_string())
                .collect();
            fields.insert(0, format!("Self={trace_id}"));
            fields.join(";")
        }
        _ => {
            let mut value = String::with_capacity(5 + trace_id.len());
            value.push_str("Root=");
            value.push_str(trace_id);
            value
        }
    }
}

/// The trace ids of one listener socket's requests: each of its copies (one per thread) counts
/// its own, and id `n` is `count * copies + copy`, so that no two share a counter value.
pub struct TraceIds {
    count: std::sync::atomic::AtomicU64,
    copy: u64,
    copies: u64,
}

impl TraceIds {
    pub fn new(copy: usize, copies: usize) -> TraceIds {
        TraceIds {
            count: std::sync::atomic::AtomicU64::new(0),
            copy: copy as u64,
            copies: copies.max(1) as u64,
        }
    }

    pub fn next(&self) -> String {
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .wrapping_mul(self.copies)
            .wrapping_add(self.copy);
        new_trace_id(n)
    }
}

/// The Host a target sees when `routing.http.preserve_host_header.enabled` is false (ALB's default):
/// ALB appends the listener's port to a Host without one ("Host: www.amazon.com" reaches the
/// targets of an 8443 listener as "www.amazon.com:8443", from the attribute's launch
/// announcement), except the scheme's default port, which a Host never needs. `None`: unchanged.
pub fn target_host(host: &str, listener_port: u16, scheme: &str) -> Option<String> {
    let default = if scheme == "https" { 443 } else { 80 };
    let has_port = match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    };
    if host.is_empty() || has_port || listener_port == default {
        return None;
    }
    let mut with_port = String::with_capacity(host.len() + 6);
    with_port.push_str(host);
    with_port.push(':');
    push_decimal(&mut with_port, listener_port);
    Some(with_port)
}

/// `1-<8 hex seconds>-<24 hex>` as ALB writes trace ids. Written by hand: `format!` was a tenth
/// of the balancer's own instructions per request.
pub fn new_trace_id(counter: u64) -> String {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    static PID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(|| u64::from(std::process::id()));
    let mix = (counter.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        ^ u64::from(since_epoch.subsec_nanos())
        ^ (pid << 32);
    let mut id = String::with_capacity(35);
    id.push_str("1-");
    push_hex(&mut id, since_epoch.as_secs() & 0xffff_ffff, 8);
    id.push('-');
    push_hex(&mut id, mix, 16);
    push_hex(&mut id, counter & 0xffff_ffff, 8);
    id
}

/// The client as X-Forwarded-For lists it: the address, and with the port `ip:port` or
/// `[ip]:port` (IPv6), as ALB writes it.
fn push_client(out: &mut String, ip: IpAddr, port: Option<u16>) {
    match (ip, port) {
        (ip, None) => push_ip(out, ip),
        (IpAddr::V4(_), Some(port)) => {
            push_ip(out, ip);
            out.push(':');
            push_decimal(out, port);
        }
        (IpAddr::V6(_), Some(port)) => {
            out.push('[');
            push_ip(out, ip);
            out.push_str("]:");
            push_decimal(out, port);
        }
    }
}

/// Whether ALB counts a header name as valid (`routing.http.drop_invalid_header_fields.enabled`):
/// letters, digits and hyphens only.
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Removes the request headers whose names ALB counts as invalid.
pub fn drop_invalid_headers(request: &mut RequestHeader) {
    let invalid: Vec<http::HeaderName> = request
        .headers
        .keys()
        .filter(|name| !valid_header_name(name.as_str()))
        .cloned()
        .collect();
    for name in &invalid {
        request.remove_header(name);
    }
}

/// An address as `Display` writes it, without the formatting machinery for IPv4 (every request
/// writes one).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

/// A port in decimal, without the formatting machinery (every request writes one).
fn push_decimal(out: &mut String, n: u16) {
    for d in ferry_guard::front::decimal(u64::from(n), &mut [0; 20]) {
        out.push(char::from(*d));
    }
}

/// `value` as `digits` lowercase hex digits, zero-padded.
fn push_hex(out: &mut String, value: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(char::from(HEX[((value >> (i * 4)) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod trace_id_tests {
    use super::*;

    #[test]
    fn forwarded_clients_with_and_without_their_port() {
        let v4: IpAddr = [203, 0, 113, 7].into();
        let v6: IpAddr = "2001:db8::1".parse().expect("an address");
        let cases = [
            (v4, None, "203.0.113.7"),
            (v4, Some(52814), "203.0.113.7:52814"),
            (v6, None, "2001:db8::1"),
            (v6, Some(52814), "[2001:db8::1]:52814"),
        ];
        for (ip, port, want) in cases {
            let mut out = String::new();
            push_client(&mut out, ip, port);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn valid_header_names_are_letters_digits_and_hyphens() {
        for name in ["x-custom", "X-Custom-2", "host", "a"] {
            assert!(valid_header_name(name), "{name}");
        }
        for name in ["x_custom", "x.custom", "x~y", "x!", "", "x y"] {
            assert!(!valid_header_name(name), "{name:?}");
        }
    }

    #[test]
    fn the_listener_port_joins_a_host_without_one() {
        let cases = [
            ("www.amazon.com", 8443, "https", Some("www.amazon.com:8443")),
            ("www.amazon.com", 8080, "http", Some("www.amazon.com:8080")),
            ("www.amazon.com", 443, "https", None),
            ("www.amazon.com", 80, "http", None),
            ("www.amazon.com", 443, "http", Some("www.amazon.com:443")),
            ("www.amazon.com:9000", 8080, "http", None),
            ("[::1]", 8080, "http", Some("[::1]:8080")),
            ("[::1]:9000", 8080, "http", None),
            ("", 8080, "http", None),
        ];
        for (host, port, scheme, want) in cases {
            assert_eq!(
                target_host(host, port, scheme).as_deref(),
                want,
                "{host} {port} {scheme}"
            );
        }
    }

    #[test]
    fn trace_ids_have_albs_shape() {
        for counter in [0u64, 1, 0xdead_beef, u64::MAX] {
            let id = new_trace_id(counter);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.len(), 3, "{id}");
            assert_eq!(parts[0], "1");
            assert_eq!(parts[1].len(), 8, "{id}");
            assert_eq!(parts[2].len(), 24, "{id}");
            assert!(parts[1..].iter().all(|p| p
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
            assert!(
                parts[2].ends_with(&format!("{:08x}", counter as u32)),
                "{id}"
            );
        }
        for ip in [
            "0.0.0.0",
            "10.0.1.9",
            "127.100.20.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
        let mut s = String::new();
        push_hex(&mut s, 0x1234_abcd, 8);
        push_hex(&mut s, 0xf, 4);
        assert_eq!(s, "1234abcd000f");
        assert_ne!(new_trace_id(7), new_trace_id(8));
    }
}
