//! ALB rule evaluation with no I/O: a listener's rules by priority, conditions ANDed, values ORed,
//! the default action last.

use crate::model::{Action, Condition, Listener};
use std::borrow::Cow;
use std::net::IpAddr;

/// What a rule can look at in a request.
pub trait RequestView {
    /// The Host header (port included or not; it is ignored).
    fn host(&self) -> Option<&str>;
    /// The path, without the query.
    fn path(&self) -> &str;
    fn method(&self) -> &str;
    /// The raw query string, without `?`.
    fn query(&self) -> Option<&str>;
    /// The TCP peer (never X-Forwarded-For, as ALB).
    fn source_ip(&self) -> IpAddr;
    /// True when any value of the header `name` (lowercase) satisfies `pred`.
    fn any_header(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool;
}

/// A raw header value as `HeaderValue::to_str` takes it (and so as rules see it): visible ASCII
/// (and tabs) only.
pub fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// The action for a request: the first rule by priority whose conditions all hold, or the default.
pub fn evaluate<'l>(listener: &'l Listener, request: &dyn RequestView) -> &'l Action {
    matched(listener, request).1
}

/// The priority of the rule that matched (0 for the default action, as ALB's access log says)
/// and its action.
pub fn matched<'l>(listener: &'l Listener, request: &dyn RequestView) -> (u32, &'l Action) {
    listener
        .rules
        .iter()
        .find(|rule| rule.conditions.iter().all(|c| holds(c, request)))
        .map(|rule| (rule.priority, &rule.action))
        .unwrap_or((0, &listener.default_action))
}

/// Host without its port, for matching.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

pub fn holds(condition: &Condition, request: &dyn RequestView) -> bool {
    match condition {
        Condition::HostHeader(patterns) => {
            let Some(host) = request.host() else {
                return false;
            };
            let host = host_without_port(host);
            patterns.iter().any(|p| p.matches(host))
        }
        Condition::PathPattern(patterns) => patterns.iter().any(|p| p.matches(request.path())),
        Condition::HttpHeader(name, patterns) => {
            request.any_header(name, &mut |value| patterns.iter().any(|p| p.matches(value)))
        }
        Condition::HttpRequestMethod(methods) => methods.iter().any(|m| m == request.method()),
        Condition::QueryString(pairs) => {
            let Some(query) = request.query() else {
                return false;
            };
            query_pairs(query).any(|(key, value)| {
                pairs
                    .iter()
                    .any(|(k, v)| k.as_ref().is_none_or(|k| k.matches(&key)) && v.matches(&value))
            })
        }
        Condition::SourceIp(cidrs) => cidrs.iter().any(|c| c.contains(request.source_ip())),
    }
}

/// `a=1&b&c=%20` as decoded (key, value) pairs; a key without `=` has an empty value.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

pub fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FixedResponse, Rule};
    use crate::net::Cidr;
    use crate::pattern::{
        alb_header_value_pattern, alb_host_pattern, alb_path_pattern, alb_query_pattern,
    };

    struct Req {
        host: Option<&'static str>,
        path: &'static str,
        method: &'static str,
        query: Option<&'static str>,
        ip: &'static str,
        headers: Vec<(&'static str, &'static str)>,
    }

    fn req() -> Req {
        Req {
            host: Some("www.example.test"),
            path: "/",
            method: "GET",
            query: None,
            ip: "10.0.0.1",
            headers: vec![],
        }
    }

    impl RequestView for Req {
        fn host(&self) -> Option<&str> {
            self.host
        }
        fn path(&self) -> &str {
            self.path
        }
        fn method(&self) -> &str {
            self.method
        }
        fn query(&self) -> Option<&str> {
            self.query
        }
        fn source_ip(&self) -> IpAddr {
            self.ip.parse().expect("test ip")
        }
        fn any_header(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
            self.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && pred(v))
        }
    }

    fn fixed(status: u16) -> Action {
        Action::FixedResponse(FixedResponse {
            status,
            content_type: None,
            body: String::new(),
        })
    }

    fn status(a: &Action) -> u16 {
        match a {
            Action::FixedResponse(f) => f.status,
            _ => 0,
        }
    }

    #[test]
    fn each_condition_type() {
        let host = Condition::HostHeader(vec![alb_host_pattern("*.example.test")]);
        let path =
            Condition::PathPattern(vec![alb_path_pattern("/api/*"), alb_path_pattern("/v?/x")]);
        let header = Condition::HttpHeader("x-beta".into(), vec![alb_header_value_pattern("on")]);
        let method = Condition::HttpRequestMethod(vec!["GET".into(), "HEAD".into()]);
        let query = Condition::QueryString(vec![(
            Some(alb_query_pattern("version")),
            alb_query_pattern("v1"),
        )]);
        let any_key = Condition::QueryString(vec![(None, alb_query_pattern("x*"))]);
        let ip = Condition::SourceIp(vec![Cidr::parse("10.0.0.0/8").expect("cidr")]);
        let cases: Vec<(&Condition, Req, bool)> = vec![
            (
                &host,
                Req {
                    host: Some("WWW.Example.TEST:8080"),
                    ..req()
                },
                true,
            ),
            (
                &host,
                Req {
                    host: Some("example.test"),
                    ..req()
                },
                false,
            ),
            (
                &host,
                Req {
                    host: None,
                    ..req()
                },
                false,
            ),
            (
                &path,
                Req {
                    path: "/api/users",
                    ..req()
                },
                true,
            ),
            (
                &path,
                Req {
                    path: "/API/users",
                    ..req()
                },
                false,
            ),
            (
                &path,
                Req {
                    path: "/v2/x",
                    ..req()
                },
                true,
            ),
            (
                &path,
                Req {
                    path: "/v22/x",
                    ..req()
                },
                false,
            ),
            (
                &header,
                Req {
                    headers: vec![("X-Beta", "ON")],
                    ..req()
                },
                true,
            ),
            (
                &header,
                Req {
                    headers: vec![("X-Beta", "off"), ("x-beta", "on")],
                    ..req()
                },
                true,
            ),
            (
                &header,
                Req {
                    headers: vec![("X-Other", "on")],
                    ..req()
                },
                false,
            ),
            (
                &method,
                Req {
                    method: "HEAD",
                    ..req()
                },
                true,
            ),
            (
                &method,
                Req {
                    method: "get",
                    ..req()
                },
                false,
            ),
            (
                &method,
                Req {
                    method: "POST",
                    ..req()
                },
                false,
            ),
            (
                &query,
                Req {
                    query: Some("a=1&Version=V1"),
                    ..req()
                },
                true,
            ),
            (
                &query,
                Req {
                    query: Some("version=v2"),
                    ..req()
                },
                false,
            ),
            (
                &query,
                Req {
                    query: Some("version=%76%31"),
                    ..req()
                },
                true,
            ),
            (
                &query,
                Req {
                    query: None,
                    ..req()
                },
                false,
            ),
            (
                &any_key,
                Req {
                    query: Some("k=xyz"),
                    ..req()
                },
                true,
            ),
            (
                &any_key,
                Req {
                    query: Some("xk=y"),
                    ..req()
                },
                false,
            ),
            (
                &ip,
                Req {
                    ip: "10.9.8.7",
                    ..req()
                },
                true,
            ),
            (
                &ip,
                Req {
                    ip: "11.0.0.1",
                    ..req()
                },
                false,
            ),
        ];
        for (i, (condition, request, expected)) in cases.iter().enumerate() {
            assert_eq!(holds(condition, request), *expected, "case {i}");
        }
    }

    #[test]
    fn priority_order_and_default() {
        let listener = Listener {
            port: 80,
            protocol: crate::spec::ListenerProtocol::HTTP,
            rules: vec![
                Rule {
                    priority: 5,
                    conditions: vec![Condition::PathPattern(vec![alb_path_pattern("/a/*")])],
                    action: fixed(201),
                },
                Rule {
                    priority: 10,
                    conditions: vec![
                        Condition::PathPattern(vec![alb_path_pattern("/*")]),
                        Condition::HttpRequestMethod(vec!["POST".into()]),
                    ],
                    action: fixed(202),
                },
            ],
            default_action: fixed(404),
            tls: None,
            response_headers: Default::default(),
            tls_headers: None,
        };
        for (path, method, expected) in [
            ("/a/b", "POST", 201),
            ("/b", "POST", 202),
            ("/b", "GET", 404),
            ("/a/b", "GET", 201),
        ] {
            assert_eq!(
                status(evaluate(
                    &listener,
                    &Req {
                        path,
                        method,
                        ..req()
                    }
                )),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn decoding_and_ports() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
        assert_eq!(host_without_port("a.test:80"), "a.test");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port("a.test"), "a.test");
        let pairs: Vec<(String, String)> = query_pairs("a=1&b&&c=x=y")
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a".into(), "1".into()),
                ("b".into(), "".into()),
                ("c".into(), "x=y".into())
            ]
        );
    }
}
