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
        };
        if !ok {
            let allowed = match *kind {
                Kind::Bool => "true or false".to_string(),
                Kind::Int(lo, hi) => format!("an integer from {lo} to {hi}"),
                Kind::IntOrZero(lo, hi) => format!("0 (off) or an integer from {lo} to {hi}"),
                Kind::IntOrOff(lo, hi) => format!("`off` or an integer from {lo} to {hi}"),
                Kind::OneOf(values) => values.join(", "),
                Kind::Text => String::new(),
            };
            ctx.error(&p, format!("`{text}` is not allowed: {allowed}"));
        }
        out.insert(key.clone(), text);
    }
    out
}
