//! ELBv2 attributes: the keys AWS knows for load balancers and target groups, their allowed values,
//! and their normalisation to the API's strings.

use super::Ctx;
use crate::error::FieldPath;
use crate::spec::AttrValue;
use crate::suggest;
use std::collections::BTreeMap;

/// What values an attribute takes.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Bool,
    Int(i64, i64),
    /// 0 (off) or a range.
    IntOrZero(i64, i64),
    /// An integer range, or the word `off`.
    IntOrOff(i64, i64),
    OneOf(&'static [&'static str]),
    Text,
    /// A header value: visible ASCII and spaces (no CR, LF or other control bytes).
    HeaderValue,
    /// A header field name (an RFC 9110 token).
    HeaderName,
}

pub(super) const LOAD_BALANCER: &[(&str, Kind)] = &[
    ("access_logs.s3.enabled", Kind::Bool),
    ("access_logs.s3.bucket", Kind::Text),
    ("access_logs.s3.prefix", Kind::Text),
    ("connection_logs.s3.enabled", Kind::Bool),
    ("connection_logs.s3.bucket", Kind::Text),
    ("connection_logs.s3.prefix", Kind::Text),
    ("health_check_logs.s3.enabled", Kind::Bool),
    ("health_check_logs.s3.bucket", Kind::Text),
    ("health_check_logs.s3.prefix", Kind::Text),
    ("client_keep_alive.seconds", Kind::Int(60, 604_800)),
    ("deletion_protection.enabled", Kind::Bool),
    ("idle_timeout.timeout_seconds", Kind::Int(1, 4000)),
    ("ipv6.deny_all_igw_traffic", Kind::Bool),
    (
        "routing.http.desync_mitigation_mode",
        Kind::OneOf(&["monitor", "defensive", "strictest"]),
    ),
    (
        "routing.http.drop_invalid_header_fields.enabled",
        Kind::Bool,
    ),
    ("routing.http.preserve_host_header.enabled", Kind::Bool),
    (
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        Kind::Bool,
    ),
    ("routing.http.xff_client_port.enabled", Kind::Bool),
    (
        "routing.http.xff_header_processing.mode",
        Kind::OneOf(&["append", "preserve", "remove"]),
    ),
    ("routing.http2.enabled", Kind::Bool),
    ("waf.fail_open.enabled", Kind::Bool),
    ("zonal_shift.config.enabled", Kind::Bool),
];

pub(super) const TARGET_GROUP: &[(&str, Kind)] = &[
    ("deregistration_delay.timeout_seconds", Kind::Int(0, 3600)),
    ("lambda.multi_value_headers.enabled", Kind::Bool),
    (
        "load_balancing.algorithm.anomaly_mitigation",
        Kind::OneOf(&["on", "off"]),
    ),
    (
        "load_balancing.algorithm.type",
        Kind::OneOf(&[
            "round_robin",
            "least_outstanding_requests",
            "weighted_random",
        ]),
    ),
    (
        "load_balancing.cross_zone.enabled",
        Kind::OneOf(&["true", "false", "use_load_balancer_configuration"]),
    ),
    ("slow_start.duration_seconds", Kind::IntOrZero(30, 900)),
    ("stickiness.app_cookie.cookie_name", Kind::Text),
    (
        "stickiness.app_cookie.duration_seconds",
        Kind::Int(1, 604_800),
    ),
    ("stickiness.enabled", Kind::Bool),
    (
        "stickiness.lb_cookie.duration_seconds",
        Kind::Int(1, 604_800),
    ),
    ("stickiness.type", Kind::OneOf(&["lb_cookie", "app_cookie"])),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        Kind::IntOrOff(1, 1_000_000),
    ),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        Kind::IntOrOff(1, 100),
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        Kind::Int(1, 1_000_000),
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        Kind::IntOrOff(1, 100),
    ),
];

/// Listener attributes (ALB's HTTP header modification). The response `header_value`s are set on
/// every response of the listener; the request `header_name`s rename the headers ALB adds.
pub(super) const LISTENER: &[(&str, Kind)] = &[
    ("routing.http.response.server.enabled", Kind::Bool),
    (
        "routing.http.response.strict_transport_security.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.access_control_allow_origin.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.access_control_allow_methods.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.access_control_allow_headers.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.access_control_allow_credentials.header_value",
        Kind::OneOf(&["true"]),
    ),
    (
        "routing.http.response.access_control_expose_headers.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.access_control_max_age.header_value",
        Kind::Int(0, 2_147_483_647),
    ),
    (
        "routing.http.response.content_security_policy.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.response.x_content_type_options.header_value",
        Kind::OneOf(&["nosniff"]),
    ),
    (
        "routing.http.response.x_frame_options.header_value",
        Kind::HeaderValue,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_issuer.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_subject.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_validity.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_tls_version.header_name",
        Kind::HeaderName,
    ),
    (
        "routing.http.request.x_amzn_tls_cipher_suite.header_name",
        Kind::HeaderName,
    ),
];

/// The response header each `routing.http.response.*.header_value` attribute sets.
pub(super) fn response_header_of(key: &str) -> Option<&'static str> {
    let name = key
        .strip_prefix("routing.http.response.")?
        .strip_suffix(".header_value")?;
    Some(match name {
        "strict_transport_security" => "Strict-Transport-Security",
        "access_control_allow_origin" => "Access-Control-Allow-Origin",
        "access_control_allow_methods" => "Access-Control-Allow-Methods",
        "access_control_allow_headers" => "Access-Control-Allow-Headers",
        "access_control_allow_credentials" => "Access-Control-Allow-Credentials",
        "access_control_expose_headers" => "Access-Control-Expose-Headers",
        "access_control_max_age" => "Access-Control-Max-Age",
        "content_security_policy" => "Content-Security-Policy",
        "x_content_type_options" => "X-Content-Type-Options",
        "x_frame_options" => "X-Frame-Options",
        _ => return None,
    })
}

/// Checks every key and value against `known` and returns them as the API's strings.
pub(super) fn normalise(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    attributes: &BTreeMap<String, AttrValue>,
    known: &[(&str, Kind)],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in attributes {
        let p = path.key(key);
        let Some((_, kind)) = known.iter().find(|(k, _)| k == key) else {
            let mut message = format!("unknown attribute `{key}`");
            if let Some(best) = suggest::closest(key, known.iter().map(|(k, _)| *k)) {
                message.push_str(&format!("; did you mean `{best}`?"));
            }
            ctx.error(&p, message);
            continue;
        };
        let text = value.as_api_string();
        let int = text.parse::<i64>().ok();
        let ok = match *kind {
            Kind::Bool => text == "true" || text == "false",
            Kind::Int(lo, hi) => int.is_some_and(|v| (lo..=hi).contains(&v)),
            Kind::IntOrZero(lo, hi) => int.is_some_and(|v| v == 0 || (lo..=hi).contains(&v)),
            Kind::IntOrOff(lo, hi) => text == "off" || int.is_some_and(|v| (lo..=hi).contains(&v)),
            Kind::OneOf(values) => values.contains(&text.as_str()),
            Kind::Text => true,
            Kind::HeaderValue => text
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)),
            Kind::HeaderName => {
                !text.is_empty()
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            }
        };
        if !ok {
            let allowed = match *kind {
                Kind::Bool => "true or false".to_string(),
                Kind::Int(lo, hi) => format!("an integer from {lo} to {hi}"),
                Kind::IntOrZero(lo, hi) => format!("0 (off) or an integer from {lo} to {hi}"),
                Kind::IntOrOff(lo, hi) => format!("`off` or an integer from {lo} to {hi}"),
                Kind::OneOf(values) => values.join(", "),
                Kind::Text => String::new(),
                Kind::HeaderValue => "a header value (no control characters)".to_string(),
                Kind::HeaderName => {
                    "a header name (letters, digits and !#$%&'*+-.^_`|~)".to_string()
                }
            };
            ctx.error(&p, format!("`{text}` is not allowed: {allowed}"));
        }
        out.insert(key.clone(), text);
    }
    out
}
