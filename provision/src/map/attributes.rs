//! AWS's default value for every ELBv2 attribute ferry knows. The canonical form of an attribute
//! set leaves out what equals its default, so "not written" and "written as the default" compare
//! equal, and removing an attribute from the topology puts its default back.

use ferry_config::spec::AttrValue;
use std::collections::BTreeMap;

pub const LOAD_BALANCER: &[(&str, &str)] = &[
    ("access_logs.s3.enabled", "false"),
    ("access_logs.s3.bucket", ""),
    ("access_logs.s3.prefix", ""),
    ("connection_logs.s3.enabled", "false"),
    ("connection_logs.s3.bucket", ""),
    ("connection_logs.s3.prefix", ""),
    ("health_check_logs.s3.enabled", "false"),
    ("health_check_logs.s3.bucket", ""),
    ("health_check_logs.s3.prefix", ""),
    ("client_keep_alive.seconds", "3600"),
    ("deletion_protection.enabled", "false"),
    ("idle_timeout.timeout_seconds", "60"),
    ("ipv6.deny_all_igw_traffic", "false"),
    ("routing.http.desync_mitigation_mode", "defensive"),
    ("routing.http.drop_invalid_header_fields.enabled", "false"),
    ("routing.http.preserve_host_header.enabled", "false"),
    (
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
    ),
    ("routing.http.xff_client_port.enabled", "false"),
    ("routing.http.xff_header_processing.mode", "append"),
    ("routing.http2.enabled", "true"),
    ("waf.fail_open.enabled", "false"),
    ("zonal_shift.config.enabled", "false"),
];

pub const TARGET_GROUP: &[(&str, &str)] = &[
    ("deregistration_delay.timeout_seconds", "300"),
    ("lambda.multi_value_headers.enabled", "false"),
    ("load_balancing.algorithm.anomaly_mitigation", "off"),
    ("load_balancing.algorithm.type", "round_robin"),
    (
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
    ),
    ("slow_start.duration_seconds", "0"),
    ("stickiness.app_cookie.cookie_name", ""),
    ("stickiness.app_cookie.duration_seconds", "86400"),
    ("stickiness.enabled", "false"),
    ("stickiness.lb_cookie.duration_seconds", "86400"),
    ("stickiness.type", "lb_cookie"),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.count",
        "1",
    ),
    (
        "target_group_health.dns_failover.minimum_healthy_targets.percentage",
        "off",
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count",
        "1",
    ),
    (
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        "off",
    ),
];

/// Listener attributes (header modification): off, empty or the standard header name by default.
pub const LISTENER: &[(&str, &str)] = &[
    ("routing.http.response.server.enabled", "true"),
    (
        "routing.http.response.strict_transport_security.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_allow_origin.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_allow_methods.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_allow_headers.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_allow_credentials.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_expose_headers.header_value",
        "",
    ),
    (
        "routing.http.response.access_control_max_age.header_value",
        "",
    ),
    (
        "routing.http.response.content_security_policy.header_value",
        "",
    ),
    (
        "routing.http.response.x_content_type_options.header_value",
        "",
    ),
    ("routing.http.response.x_frame_options.header_value", ""),
    (
        "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
        "X-Amzn-Mtls-Clientcert-Serial-Number",
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_issuer.header_name",
        "X-Amzn-Mtls-Clientcert-Issuer",
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_subject.header_name",
        "X-Amzn-Mtls-Clientcert-Subject",
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_validity.header_name",
        "X-Amzn-Mtls-Clientcert-Validity",
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name",
        "X-Amzn-Mtls-Clientcert-Leaf",
    ),
    (
        "routing.http.request.x_amzn_mtls_clientcert.header_name",
        "X-Amzn-Mtls-Clientcert",
    ),
    (
        "routing.http.request.x_amzn_tls_version.header_name",
        "X-Amzn-Tls-Version",
    ),
    (
        "routing.http.request.x_amzn_tls_cipher_suite.header_name",
        "X-Amzn-Tls-Cipher-Suite",
    ),
];

fn default_of(defaults: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    defaults.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The canonical form: the API's strings, keys ferry knows, values that differ from the default.
pub fn canonical<'a>(
    defaults: &[(&str, &'static str)],
    attrs: impl IntoIterator<Item = (&'a str, String)>,
) -> BTreeMap<String, AttrValue> {
    attrs
        .into_iter()
        .filter_map(|(k, v)| match default_of(defaults, k) {
            Some(d) if d != v => Some((k.to_string(), AttrValue::Str(v))),
            _ => None,
        })
        .collect()
}

/// The attribute writes that take `live` (canonical) to `desired` (canonical): desired values, and
/// the default for each key the topology no longer sets.
pub fn changes(
    defaults: &[(&str, &'static str)],
    live: &BTreeMap<String, AttrValue>,
    desired: &BTreeMap<String, AttrValue>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.as_api_string()))
        .collect();
    for key in live.keys().filter(|k| !desired.contains_key(*k)) {
        if let Some(d) = default_of(defaults, key) {
            out.push((key.clone(), d.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_drop_out_and_removed_keys_get_their_default_back() {
        let live = canonical(
            TARGET_GROUP,
            [
                ("stickiness.enabled", "true".to_string()),
                ("deregistration_delay.timeout_seconds", "300".to_string()),
                ("some.future.key", "x".to_string()),
            ],
        );
        assert_eq!(live.len(), 1, "{live:?}");
        let desired = canonical(
            TARGET_GROUP,
            [("slow_start.duration_seconds", "30".to_string())],
        );
        let writes = changes(TARGET_GROUP, &live, &desired);
        assert_eq!(
            writes,
            vec![
                ("slow_start.duration_seconds".to_string(), "30".to_string()),
                ("stickiness.enabled".to_string(), "false".to_string()),
            ]
        );
    }
}
