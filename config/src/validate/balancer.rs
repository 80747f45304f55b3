//! Validation of the ALB side: target groups, load balancers, listeners, rules, conditions, actions.

use super::attributes::{self, normalise};
use super::edge::{certificate_pair, certificate_store, reference_error};
use super::Ctx;
use crate::error::FieldPath;
use crate::model::{self, Algorithm, Condition, Stickiness};
use crate::net::Cidr;
use crate::pattern::{self, wildcard_count};
use crate::spec::{self, ActionType, ConditionField, ConditionValue, Spec};
use crate::suggest;
use crate::tls;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn is_aws_lb_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

pub(super) fn target_groups(ctx: &mut Ctx<'_, '_>, spec: &Spec) -> Vec<Arc<model::TargetGroup>> {
    let root = FieldPath::root();
    ctx.unique(
        "target group name",
        spec.target_groups.iter().enumerate().map(|(i, t)| {
            (
                root.key("target_groups").index(i).key("name"),
                t.name.as_str(),
            )
        }),
    );
    let zones: HashSet<&str> = spec
        .load_balancers
        .iter()
        .flat_map(|lb| lb.nodes.keys().map(String::as_str))
        .collect();
    let used = used_target_groups(spec);
    spec.target_groups
        .iter()
        .enumerate()
        .map(|(i, tg)| {
            let mut group = target_group(ctx, &root.key("target_groups").index(i), tg, &zones);
            group.in_use = used.contains(tg.name.as_str());
            Arc::new(group)
        })
        .collect()
}

/// The target groups some listener's default actions or rules forward to.
fn used_target_groups(spec: &Spec) -> HashSet<&str> {
    let mut used = HashSet::new();
    for listener in spec.load_balancers.iter().flat_map(|lb| &lb.listeners) {
        let actions = listener
            .default_actions
            .iter()
            .chain(listener.rules.iter().flat_map(|r| &r.actions));
        for a in actions {
            used.extend(a.target_group.as_deref());
            if let Some(f) = &a.forward_config {
                used.extend(f.target_groups.iter().map(|t| t.target_group.as_str()));
            }
        }
    }
    used
}

fn target_group(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    tg: &spec::TargetGroup,
    zones: &HashSet<&str>,
) -> model::TargetGroup {
    if !is_aws_lb_name(&tg.name) {
        ctx.error(&path.key("name"), "a target group name is 1 to 32 letters, digits and `-`, not starting or ending with `-`");
    }
    ctx.range(&path.key("port"), tg.port, 1, 65535);
    if let Some(t @ (spec::TargetType::Lambda | spec::TargetType::Alb)) = tg.target_type {
        ctx.error(
            &path.key("target_type"),
            format!("{t:?} targets are not served by ferry's balancer; use ip or instance targets"),
        );
    }
    let ipv6 = match tg.ip_address_type.as_deref() {
        Some(t) => {
            ctx.one_of(&path.key("ip_address_type"), t, &["ipv4", "ipv6"]);
            t == "ipv6"
        }
        None => false,
    };
    let protocol = tg.protocol.unwrap_or(spec::TargetProtocol::HTTP);
    let version = tg.protocol_version.unwrap_or(spec::ProtocolVersion::HTTP1);
    let health_check = health_check(
        ctx,
        &path.key("health_check"),
        &tg.health_check,
        protocol,
        version,
    );
    let attrs = normalise(
        ctx,
        &path.key("attributes"),
        &tg.attributes,
        attributes::TARGET_GROUP,
    );
    let get = |k: &str| attrs.get(k).map(String::as_str);
    let ap = path.key("attributes");
    let algorithm = match get("load_balancing.algorithm.type") {
        Some("least_outstanding_requests") => Algorithm::LeastOutstandingRequests,
        Some("weighted_random") => Algorithm::WeightedRandom {
            anomaly_mitigation: get("load_balancing.algorithm.anomaly_mitigation") == Some("on"),
        },
        _ => Algorithm::RoundRobin,
    };
    if get("load_balancing.algorithm.anomaly_mitigation") == Some("on")
        && !matches!(algorithm, Algorithm::WeightedRandom { .. })
    {
        ctx.error(
            &ap.key("load_balancing.algorithm.anomaly_mitigation"),
            "anomaly mitigation needs load_balancing.algorithm.type = \"weighted_random\"",
        );
    }
    let min_healthy = model::MinHealthy {
        count: get("target_group_health.unhealthy_state_routing.minimum_healthy_targets.count")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
        percent: get(
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage",
        )
        .and_then(|v| v.parse().ok()),
    };
    let slow_start: u64 = get("slow_start.duration_seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if slow_start > 0 {
        match algorithm {
            Algorithm::LeastOutstandingRequests => ctx.error(
                &ap.key("slow_start.duration_seconds"),
                "slow start is not compatible with least_outstanding_requests (ALB refuses it)",
            ),
            Algorithm::WeightedRandom {
                anomaly_mitigation: true,
            } => ctx.error(
                &ap.key("slow_start.duration_seconds"),
                "slow start is not compatible with anomaly mitigation (ALB refuses it)",
            ),
            _ => {}
        }
    }
    let secs = |k: &str, default: u64| {
        Duration::from_secs(get(k).and_then(|v| v.parse().ok()).unwrap_or(default))
    };
    let stickiness = match (get("stickiness.enabled"), get("stickiness.type")) {
        (Some("true"), Some("app_cookie")) => {
            let name = get("stickiness.app_cookie.cookie_name")
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                ctx.error(
                    &ap.key("stickiness.type"),
                    "app_cookie stickiness needs stickiness.app_cookie.cookie_name",
                );
            } else if name.starts_with("AWSALB") {
                ctx.error(
                    &ap.key("stickiness.app_cookie.cookie_name"),
                    "cookie names starting with AWSALB are reserved by the load balancer",
                );
            }
            Some(Stickiness::AppCookie {
                cookie_name: name,
                duration: secs("stickiness.app_cookie.duration_seconds", 86_400),
            })
        }
        (Some("true"), _) => Some(Stickiness::LbCookie {
            duration: secs("stickiness.lb_cookie.duration_seconds", 86_400),
        }),
        _ => None,
    };
    let cross_zone = match get("load_balancing.cross_zone.enabled") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    for (i, t) in tg.targets.iter().enumerate() {
        let tp = path.key("targets").index(i);
        let address = ctx.ip(&tp.key("id"), &t.id);
        let port = t.port.unwrap_or(tg.port);
        ctx.range(&tp.key("port"), port, 1, 65535);
        if !zones.is_empty() && !zones.contains(t.zone.as_str()) {
            let mut known: Vec<&str> = zones.iter().copied().collect();
            known.sort();
            ctx.error(
                &tp.key("zone"),
                format!(
                    "no load balancer has a node in zone `{}` (zones: {})",
                    t.zone,
                    known.join(", ")
                ),
            );
        }
        if let Some(address) = address {
            if address.is_ipv6() != ipv6 {
                let (family, setting) = if ipv6 {
                    ("IPv6", "ip_address_type = \"ipv6\"")
                } else {
                    ("IPv4", "ip_address_type = \"ipv4\" (the default)")
                };
                ctx.error(
                    &tp.key("id"),
                    format!("{address}: a target group with {setting} registers {family} addresses only (AWS refuses the other family)"),
                );
            }
            if !seen.insert((address, port)) {
                ctx.error(&tp, format!("target {address}:{port} is registered twice"));
            }
            targets.push(model::Target {
                address,
                port,
                zone: t.zone.clone(),
            });
        }
    }
    model::TargetGroup {
        name: tg.name.clone(),
        protocol,
        protocol_version: version,
        port: tg.port,
        health_check,
        algorithm,
        slow_start: Duration::from_secs(slow_start),
        deregistration_delay: secs("deregistration_delay.timeout_seconds", 300),
        stickiness,
        cross_zone,
        min_healthy,
        attributes: attrs,
        targets,
        in_use: false,
    }
}

fn health_check(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    h: &spec::HealthCheck,
    protocol: spec::TargetProtocol,
    version: spec::ProtocolVersion,
) -> model::HealthCheck {
    let grpc = version == spec::ProtocolVersion::GRPC;
    let interval = ctx.range(
        &path.key("interval_seconds"),
        h.interval_seconds.unwrap_or(30),
        5,
        300,
    );
    let timeout = ctx.range(
        &path.key("timeout_seconds"),
        h.timeout_seconds.unwrap_or(5),
        2,
        120,
    );
    if timeout >= interval {
        ctx.error(
            &path.key("timeout_seconds"),
            format!("the timeout ({timeout}s) must be shorter than the interval ({interval}s)"),
        );
    }
    let healthy_threshold = ctx.range(
        &path.key("healthy_threshold_count"),
        h.healthy_threshold_count.unwrap_or(5),
        2,
        10,
    );
    let unhealthy_threshold = ctx.range(
        &path.key("unhealthy_threshold_count"),
        h.unhealthy_threshold_count.unwrap_or(2),
        2,
        10,
    );
    // A gRPC group's default path is a method no server has: the check passes on its
    // UNIMPLEMENTED (12), the default matcher.
    let path_text = h.path.clone().unwrap_or_else(|| {
        if grpc {
            crate::grpc::HEALTH_PATH.into()
        } else {
            "/".into()
        }
    });
    if !path_text.starts_with('/') || path_text.len() > 1024 {
        ctx.error(
            &path.key("path"),
            "a path starting with `/`, up to 1024 characters",
        );
    }
    let port = match &h.port {
        None => None,
        Some(spec::AttrValue::Str(s)) if s == "traffic-port" => None,
        Some(v) => match v.as_api_string().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                ctx.error(
                    &path.key("port"),
                    "a port from 1 to 65535 or \"traffic-port\"",
                );
                None
            }
        },
    };
    let default = if grpc {
        crate::grpc::DEFAULT_MATCHER
    } else {
        "200"
    };
    let text = h.matcher.as_deref().unwrap_or(default);
    let parsed = if grpc {
        parse_grpc_matcher(text)
    } else {
        parse_matcher(text)
    };
    let matcher = parsed.unwrap_or_else(|why| {
        ctx.error(&path.key("matcher"), why);
        Vec::new()
    });
    model::HealthCheck {
        enabled: h.enabled.unwrap_or(true),
        protocol: h.protocol.unwrap_or(protocol),
        port,
        path: path_text,
        interval: Duration::from_secs(interval.into()),
        timeout: Duration::from_secs(timeout.into()),
        healthy_threshold,
        unhealthy_threshold,
        matcher,
        protocol_version: version,
    }
}

/// `"200"`, `"200,202"`, `"200-299"`: HTTP codes from 200 to 499.
pub fn parse_matcher(text: &str) -> Result<Vec<(u16, u16)>, String> {
    parse_codes(text, 200..=499, "\"200\", \"200,202\" or \"200-299\"")
}

/// A gRPC target group's matcher (ALB's `GrpcCode`): `"12"`, `"0,12"`, `"0-99"`, gRPC status
/// codes from 0 to 99.
pub fn parse_grpc_matcher(text: &str) -> Result<Vec<(u16, u16)>, String> {
    parse_codes(
        text,
        0..=99,
        "\"12\", \"0,12\" or \"0-99\" (gRPC status codes)",
    )
}

fn parse_codes(
    text: &str,
    allowed: std::ops::RangeInclusive<u16>,
    like: &str,
) -> Result<Vec<(u16, u16)>, String> {
    let bad = || {
        format!(
            "`{text}` is not a matcher: codes from {} to {} like {like}",
            allowed.start(),
            allowed.end()
        )
    };
    let code = |s: &str| s.trim().parse::<u16>().ok().filter(|c| allowed.contains(c));
    text.split(',')
        .map(|part| match part.split_once('-') {
            Some((lo, hi)) => match (code(lo), code(hi)) {
                (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
                _ => Err(bad()),
            },
            None => code(part).map(|c| (c, c)).ok_or_else(bad),
        })
        .collect()
}

/// ALB forwards to HTTP/2 and gRPC target groups from HTTPS listeners only (the client's request
/// must be able to be HTTP/2).
fn http2_groups_need_https(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    listener: &model::Listener,
    target_groups: &[Arc<model::TargetGroup>],
) {
    let actions =
        std::iter::once(&listener.default_action).chain(listener.rules.iter().map(|r| &r.action));
    let mut named = HashSet::new();
    for action in actions {
        let model::Action::Forward(forward) = action else {
            continue;
        };
        for (index, _) in &forward.target_groups {
            let Some(group) = target_groups.get(*index) else {
                continue;
            };
            if group.protocol_version != spec::ProtocolVersion::HTTP1 && named.insert(*index) {
                ctx.error(
                    &path.key("protocol"),
                    format!(
                        "target group {} has protocol_version {:?}, which ALB forwards to from HTTPS listeners only: make this listener HTTPS",
                        group.name, group.protocol_version
                    ),
                );
            }
        }
    }
}

pub(super) fn load_balancers(
    ctx: &mut Ctx<'_, '_>,
    spec: &Spec,
    target_groups: &[Arc<model::TargetGroup>],
    resolve: &mut BTreeMap<String, Vec<IpAddr>>,
    base_dir: &Path,
) -> Vec<Arc<model::LoadBalancer>> {
    let root = FieldPath::root();
    ctx.unique(
        "load balancer name",
        spec.load_balancers.iter().enumerate().map(|(i, l)| {
            (
                root.key("load_balancers").index(i).key("name"),
                l.name.as_str(),
            )
        }),
    );
    let tg_index: HashMap<&str, usize> = target_groups
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for (i, lb) in spec.load_balancers.iter().enumerate() {
        let path = root.key("load_balancers").index(i);
        if !is_aws_lb_name(&lb.name) || lb.name.starts_with("internal-") {
            ctx.error(&path.key("name"), "a load balancer name is 1 to 32 letters, digits and `-`, not starting or ending with `-` nor with `internal-`");
        }
        if let Some(t) = &lb.ip_address_type {
            ctx.one_of(
                &path.key("ip_address_type"),
                t,
                &["ipv4", "dualstack", "dualstack-without-public-ipv4"],
            );
        }
        let dns = lb.dns_name.to_ascii_lowercase();
        if resolve.contains_key(&dns) {
            ctx.error(
                &path.key("dns_name"),
                format!(
                    "`{}` is already a name in [resolve] or of another load balancer",
                    lb.dns_name
                ),
            );
        }
        if lb.nodes.is_empty() {
            ctx.error(
                &path.key("nodes"),
                "a load balancer needs at least one node: nodes = { a = \"127.0.0.1\" }",
            );
        }
        if spec.aws.is_some() && lb.nodes.len() < 2 {
            ctx.error(
                &path.key("nodes"),
                "an ALB spans at least two availability zones: give nodes in two zones",
            );
        }
        let nodes: Vec<model::Node> = lb
            .nodes
            .iter()
            .filter_map(|(zone, address)| {
                let address = ctx.ip(&path.key("nodes").key(zone), address)?;
                Some(model::Node {
                    zone: zone.clone(),
                    address,
                })
            })
            .collect();
        resolve.insert(dns, nodes.iter().map(|n| n.address).collect());
        let attrs = normalise(
            ctx,
            &path.key("attributes"),
            &lb.attributes,
            attributes::LOAD_BALANCER,
        );
        let xff_mode = match attrs
            .get("routing.http.xff_header_processing.mode")
            .map(String::as_str)
        {
            Some("preserve") => model::XffMode::Preserve,
            Some("remove") => model::XffMode::Remove,
            _ => model::XffMode::Append,
        };
        let idle = attrs
            .get("idle_timeout.timeout_seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        let client_keepalive = attrs
            .get("client_keep_alive.seconds")
            .and_then(|v| v.parse().ok())
            .unwrap_or(3600);
        // ALB negotiates HTTP/2 on HTTPS listeners unless the load balancer turns it off.
        let http2 = attrs.get("routing.http2.enabled").map(String::as_str) != Some("false");
        let tls_version_headers = attrs
            .get("routing.http.x_amzn_tls_version_and_cipher_suite.enabled")
            .map(String::as_str)
            == Some("true");
        let mut ports = HashSet::new();
        for (j, l) in lb.listeners.iter().enumerate() {
            if !ports.insert(l.port) {
                ctx.error(
                    &path.key("listeners").index(j).key("port"),
                    format!("duplicate listener port {}", l.port),
                );
            }
        }
        let listeners = lb
            .listeners
            .iter()
            .enumerate()
            .map(|(j, l)| {
                let lp = path.key("listeners").index(j);
                let tls = listener_tls(ctx, &lp, l, http2, base_dir);
                let tls_headers =
                    tls_version_headers && l.protocol == spec::ListenerProtocol::HTTPS;
                let listener = listener(ctx, &lp, l, &tg_index, tls_headers)?;
                if l.protocol == spec::ListenerProtocol::HTTP {
                    http2_groups_need_https(ctx, &lp, &listener, target_groups);
                }
                Some(model::Listener { tls, ..listener })
            })
            .collect::<Vec<_>>();
        out.push(Arc::new(model::LoadBalancer {
            name: lb.name.clone(),
            dns_name: lb.dns_name.to_ascii_lowercase(),
            nodes,
            idle_timeout: Duration::from_secs(idle),
            client_keepalive: Duration::from_secs(client_keepalive),
            xff_mode,
            preserve_host_header: enabled(&attrs, "routing.http.preserve_host_header.enabled"),
            xff_client_port: enabled(&attrs, "routing.http.xff_client_port.enabled"),
            drop_invalid_header_fields: enabled(
                &attrs,
                "routing.http.drop_invalid_header_fields.enabled",
            ),
            attributes: attrs,
            listeners: listeners.into_iter().flatten().collect(),
        }));
    }
    out
}

/// Whether a boolean attribute (already validated as one) is on.
fn enabled(attributes: &BTreeMap<String, String>, name: &str) -> bool {
    attributes.get(name).map(String::as_str) == Some("true")
}

/// What a listener's attributes do: response header edits, and the names of the TLS headers.
fn listener_attributes(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    l: &spec::Listener,
    tls_headers: bool,
) -> (model::ResponseHeaderEdits, Option<model::TlsHeaderNames>) {
    let attrs = normalise(ctx, path, &l.attributes, attributes::LISTENER);
    let mut edits = model::ResponseHeaderEdits {
        remove_server: attrs
            .get("routing.http.response.server.enabled")
            .map(String::as_str)
            == Some("false"),
        set: Vec::new(),
    };
    for (key, value) in &attrs {
        if let Some(header) = attributes::response_header_of(key) {
            // An empty value is AWS's "not set".
            if !value.is_empty() {
                edits.set.push((header.to_string(), value.clone()));
            }
        }
    }
    let name = |key: &str, default: &str| {
        attrs
            .get(&format!("routing.http.request.{key}.header_name"))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let names = tls_headers.then(|| model::TlsHeaderNames {
        version: name("x_amzn_tls_version", "X-Amzn-Tls-Version"),
        cipher_suite: name("x_amzn_tls_cipher_suite", "X-Amzn-Tls-Cipher-Suite"),
    });
    (edits, names)
}

/// RedirectActionConfig: "You cannot redirect HTTPS to HTTP" (an HTTPS listener's redirects).
fn no_downgrade(ctx: &mut Ctx<'_, '_>, path: &FieldPath, actions: &[spec::Action]) {
    for (i, a) in actions.iter().enumerate() {
        let protocol = a
            .redirect_config
            .as_ref()
            .and_then(|r| r.protocol.as_deref());
        if a.r#type == ActionType::Redirect && protocol == Some("HTTP") {
            ctx.error(
                &path.index(i).key("redirect_config").key("protocol"),
                "an HTTPS listener cannot redirect to HTTP (ALB refuses HTTPS to HTTP redirects)",
            );
        }
    }
}

fn listener(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    l: &spec::Listener,
    tgs: &HashMap<&str, usize>,
    tls_headers: bool,
) -> Option<model::Listener> {
    ctx.range(&path.key("port"), l.port, 1, 65535);
    if l.alpn_policy.is_some() {
        ctx.error(
            &path.key("alpn_policy"),
            "alpn_policy applies to TLS listeners of Network Load Balancers (AWS refuses it on an Application Load Balancer's): an HTTPS listener offers HTTP/2 and HTTP/1.1 by ALPN itself; remove it",
        );
    }
    let (response_headers, tls_headers) =
        listener_attributes(ctx, &path.key("attributes"), l, tls_headers);
    let default_action = actions(ctx, &path.key("default_actions"), &l.default_actions, tgs);
    if l.protocol == spec::ListenerProtocol::HTTPS {
        no_downgrade(ctx, &path.key("default_actions"), &l.default_actions);
        for (i, r) in l.rules.iter().enumerate() {
            no_downgrade(ctx, &path.key("rules").index(i).key("actions"), &r.actions);
        }
    }
    let mut priorities = HashMap::new();
    let mut rules = Vec::new();
    for (i, r) in l.rules.iter().enumerate() {
        let rp = path.key("rules").index(i);
        ctx.range(&rp.key("priority"), r.priority, 1, 50_000);
        if priorities.insert(r.priority, i).is_some() {
            ctx.error(
                &rp.key("priority"),
                format!(
                    "duplicate priority {}: priorities are unique per listener",
                    r.priority
                ),
            );
        }
        let conditions = conditions(ctx, &rp, &r.conditions);
        let action = actions(ctx, &rp.key("actions"), &r.actions, tgs);
        if let (Some(conditions), Some(action)) = (conditions, action) {
            rules.push(model::Rule {
                priority: r.priority,
                conditions,
                action,
            });
        }
    }
    rules.sort_by_key(|r| r.priority);
    Some(model::Listener {
        port: l.port,
        protocol: l.protocol,
        rules,
        default_action: default_action?,
        tls: None,
        response_headers,
        tls_headers,
    })
}

/// An HTTPS listener's TLS: the security policy on rustls, and the certificates loaded and checked.
fn listener_tls(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    l: &spec::Listener,
    http2: bool,
    base_dir: &Path,
) -> Option<model::ListenerTls> {
    let policy_path = path.key("ssl_policy");
    if l.protocol == spec::ListenerProtocol::HTTP {
        if l.ssl_policy.is_some() {
            ctx.error(&policy_path, "ssl_policy applies to HTTPS listeners only");
        }
        if l.default_certificate.is_some() || !l.certificates.is_empty() {
            let field = if l.default_certificate.is_some() {
                "default_certificate"
            } else {
                "certificates"
            };
            ctx.error(
                &path.key(field),
                "certificates apply to HTTPS listeners only: set protocol = \"HTTPS\"",
            );
        }
        return None;
    }
    let ssl_policy = l
        .ssl_policy
        .clone()
        .unwrap_or_else(|| tls::ELB_DEFAULT_POLICY.to_string());
    let minimum = tls::elb_policy_minimum(&ssl_policy);
    if minimum.is_none() {
        let hint = suggest::closest(&ssl_policy, tls::elb_policy_names())
            .map(|c| format!(": did you mean `{c}`?"))
            .unwrap_or_else(|| {
                format!(
                    " (SSLPolicyNotFound): ELB's policies are named like `{}` or `ELBSecurityPolicy-TLS13-1-2-2021-06`",
                    tls::ELB_DEFAULT_POLICY
                )
            });
        ctx.error(
            &policy_path,
            format!("`{ssl_policy}` is not an ELB security policy{hint}"),
        );
    }
    let Some(pair) = &l.default_certificate else {
        ctx.error(
            &path.key("default_certificate"),
            "an HTTPS listener needs default_certificate = { cert = \"...\", key = \"...\" }",
        );
        return None;
    };
    let default = certificate_pair(ctx, &path.key("default_certificate"), pair, base_dir);
    let others: Vec<_> = l
        .certificates
        .iter()
        .enumerate()
        .map(|(i, pair)| certificate_pair(ctx, &path.key("certificates").index(i), pair, base_dir))
        .collect();
    let store = certificate_store(ctx, &path.key("certificates"), Some(&default), &others)?;
    Some(model::ListenerTls {
        tls13: tls::elb_policy_allows_tls13(&ssl_policy),
        ssl_policy,
        minimum: minimum?,
        http2,
        default_certificate: default.0,
        certificates: others.into_iter().map(|(files, _)| files).collect(),
        store,
    })
}

fn conditions(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    list: &[spec::Condition],
) -> Option<Vec<Condition>> {
    let cp = path.key("conditions");
    if list.is_empty() {
        ctx.error(&cp, "a rule needs at least one condition");
    }
    let mut values_total = 0;
    let mut wildcards = 0;
    let mut once = HashSet::new();
    let mut out = Vec::new();
    let mut ok = true;
    for (i, c) in list.iter().enumerate() {
        let p = cp.index(i);
        let field = c.field;
        if matches!(
            field,
            ConditionField::HostHeader
                | ConditionField::PathPattern
                | ConditionField::HttpRequestMethod
                | ConditionField::SourceIp
        ) && !once.insert(field)
        {
            ctx.error(
                &p.key("field"),
                format!(
                    "`{}` may appear once per rule; put the values in one condition",
                    field.as_str()
                ),
            );
        }
        if c.values.is_empty() {
            ctx.error(&p.key("values"), "give at least one value");
        }
        if c.values.len() > 5 {
            ctx.error(
                &p.key("values"),
                format!(
                    "{} values; ALB allows at most 5 per condition",
                    c.values.len()
                ),
            );
        }
        values_total += c.values.len();
        if field == ConditionField::HttpHeader {
            match &c.http_header_name {
                Some(n)
                    if !n.is_empty()
                        && n.len() <= 40
                        && n.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
                        }) => {}
                Some(n) => ctx.error(
                    &p.key("http_header_name"),
                    format!("`{n}` is not a header name (up to 40 token characters)"),
                ),
                None => ctx.error(&p, "http-header needs http_header_name"),
            }
            // ALB's CreateRule refuses it: the host is matched by a host-header condition.
            if c.http_header_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("host"))
            {
                ctx.error(
                    &p.key("http_header_name"),
                    "an http-header condition cannot name Host (ALB refuses it): use a host-header condition",
                );
            }
        } else if c.http_header_name.is_some() {
            ctx.error(
                &p.key("http_header_name"),
                "only http-header conditions take http_header_name",
            );
        }
        let mut texts = Vec::new();
        let mut pairs = Vec::new();
        for (j, v) in c.values.iter().enumerate() {
            let vp = p.key("values").index(j);
            match (field, v) {
                (ConditionField::QueryString, ConditionValue::KeyValue(kv)) => {
                    for s in kv.key.iter().chain([&kv.value]) {
                        wildcards += pattern::escaped_wildcard_count(s);
                        if s.len() > 128 || s.is_empty() {
                            ctx.error(&vp, "query-string keys and values are 1 to 128 characters");
                        }
                    }
                    pairs.push(kv.clone());
                }
                (ConditionField::QueryString, ConditionValue::Text(_)) => {
                    ctx.error(&vp, "query-string values are tables: { key = \"version\", value = \"v1\" } (key optional)");
                    ok = false;
                }
                (_, ConditionValue::KeyValue(_)) => {
                    ctx.error(&vp, format!("{} values are strings", field.as_str()));
                    ok = false;
                }
                (_, ConditionValue::Text(s)) => {
                    check_value(ctx, &vp, field, s);
                    if !matches!(
                        field,
                        ConditionField::SourceIp | ConditionField::HttpRequestMethod
                    ) {
                        wildcards += wildcard_count(s);
                    }
                    texts.push(s.clone());
                }
            }
        }
        let condition = match field {
            ConditionField::HostHeader => {
                Condition::HostHeader(texts.iter().map(|s| pattern::alb_host_pattern(s)).collect())
            }
            ConditionField::PathPattern => {
                Condition::PathPattern(texts.iter().map(|s| pattern::alb_path_pattern(s)).collect())
            }
            ConditionField::HttpHeader => Condition::HttpHeader(
                c.http_header_name
                    .clone()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                texts
                    .iter()
                    .map(|s| pattern::alb_header_value_pattern(s))
                    .collect(),
            ),
            ConditionField::HttpRequestMethod => Condition::HttpRequestMethod(texts),
            ConditionField::QueryString => Condition::QueryString(
                pairs
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.as_deref().map(pattern::alb_query_pattern),
                            pattern::alb_query_pattern(&kv.value),
                        )
                    })
                    .collect(),
            ),
            ConditionField::SourceIp => {
                Condition::SourceIp(texts.iter().filter_map(|s| Cidr::parse(s).ok()).collect())
            }
        };
        out.push(condition);
    }
    if values_total > 5 {
        ctx.error(&cp, format!("{values_total} condition values in this rule; ALB allows at most 5 match evaluations per rule"));
    }
    if wildcards > 5 {
        ctx.error(
            &cp,
            format!("{wildcards} wildcards in this rule; ALB allows at most 5 per rule"),
        );
    }
    ok.then_some(out)
}

fn check_value(ctx: &mut Ctx<'_, '_>, path: &FieldPath, field: ConditionField, s: &str) {
    let (allowed, what): (fn(char) -> bool, &str) = match field {
        ConditionField::HostHeader => (
            |c| c.is_ascii_alphanumeric() || "-.*?".contains(c),
            "A-Z a-z 0-9 - . * ?",
        ),
        ConditionField::PathPattern => (
            |c| c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c),
            "A-Z a-z 0-9 _ - . $ / ~ \" ' @ : + & * ?",
        ),
        ConditionField::HttpRequestMethod => (
            |c| c.is_ascii_uppercase() || c == '-' || c == '_',
            "A-Z - _ (exact, case sensitive)",
        ),
        ConditionField::HttpHeader | ConditionField::QueryString => {
            (|c| !c.is_control(), "printable characters")
        }
        ConditionField::SourceIp => {
            if let Err(why) = Cidr::parse(s) {
                ctx.error(path, why);
            } else if s == "255.255.255.255/32" {
                ctx.error(
                    path,
                    "255.255.255.255/32 is not allowed as a source-ip value",
                );
            }
            return;
        }
    };
    let max = if field == ConditionField::HttpRequestMethod {
        40
    } else {
        128
    };
    if s.is_empty() || s.chars().count() > max || !s.chars().all(allowed) {
        ctx.error(
            path,
            format!(
                "`{s}` is not a valid {} value: 1 to {max} of {what}",
                field.as_str()
            ),
        );
    } else if field == ConditionField::HostHeader
        && !s.rsplit_once('.').is_some_and(|(_, last)| {
            !last.is_empty() && last.chars().all(|c| c.is_ascii_alphabetic())
        })
    {
        // HostHeaderConditionConfig: "You must include at least one "." character. You can include
        // only alphabetical characters after the final "." character."
        ctx.error(
            path,
            format!("`{s}` is not a valid host-header value: it needs at least one `.`, and only letters after the last `.`"),
        );
    }
}

fn actions(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    list: &[spec::Action],
    tgs: &HashMap<&str, usize>,
) -> Option<model::Action> {
    if list.is_empty() {
        ctx.error(path, "give one action: forward, redirect or fixed-response");
        return None;
    }
    let mut ordered: Vec<(usize, &spec::Action)> = list.iter().enumerate().collect();
    ordered.sort_by_key(|(i, a)| (a.order.unwrap_or(u32::MAX), *i));
    let mut terminal = None;
    for (pos, (i, a)) in ordered.iter().enumerate() {
        let ap = path.index(*i);
        if let Some(order) = a.order {
            ctx.range(&ap.key("order"), order, 1, 50_000);
        }
        let last = pos + 1 == ordered.len();
        let is_terminal = matches!(
            a.r#type,
            ActionType::Forward | ActionType::Redirect | ActionType::FixedResponse
        );
        if is_terminal && !last {
            ctx.error(
                &ap.key("type"),
                format!(
                    "`{}` ends the request: it must be the last action",
                    a.r#type.as_str()
                ),
            );
        }
        if last && !is_terminal {
            ctx.error(
                &ap.key("type"),
                "the last action must be forward, redirect or fixed-response",
            );
        }
        check_action_fields(ctx, &ap, a);
        match a.r#type {
            ActionType::AuthenticateOidc | ActionType::AuthenticateCognito => {
                ctx.error(&ap.key("type"), format!("`{}` is not served by ferry's balancer yet: ferry would have to let every request through unauthenticated, so it refuses the topology", a.r#type.as_str()));
            }
            _ if last => terminal = action(ctx, &ap, a, tgs),
            _ => {}
        }
    }
    terminal
}

/// Each action type takes its own config and no other.
fn check_action_fields(ctx: &mut Ctx<'_, '_>, path: &FieldPath, a: &spec::Action) {
    let present = [
        (
            "target_group",
            a.target_group.is_some(),
            ActionType::Forward,
        ),
        (
            "forward_config",
            a.forward_config.is_some(),
            ActionType::Forward,
        ),
        (
            "redirect_config",
            a.redirect_config.is_some(),
            ActionType::Redirect,
        ),
        (
            "fixed_response_config",
            a.fixed_response_config.is_some(),
            ActionType::FixedResponse,
        ),
        (
            "authenticate_oidc_config",
            a.authenticate_oidc_config.is_some(),
            ActionType::AuthenticateOidc,
        ),
        (
            "authenticate_cognito_config",
            a.authenticate_cognito_config.is_some(),
            ActionType::AuthenticateCognito,
        ),
    ];
    for (field, is_set, owner) in present {
        if is_set && owner != a.r#type {
            ctx.error(
                &path.key(field),
                format!(
                    "`{field}` does not go with type = \"{}\"",
                    a.r#type.as_str()
                ),
            );
        }
    }
    let needed = match a.r#type {
        ActionType::Forward => a.target_group.is_some() || a.forward_config.is_some(),
        ActionType::Redirect => a.redirect_config.is_some(),
        ActionType::FixedResponse => a.fixed_response_config.is_some(),
        ActionType::AuthenticateOidc => a.authenticate_oidc_config.is_some(),
        ActionType::AuthenticateCognito => a.authenticate_cognito_config.is_some(),
    };
    if !needed {
        let what = match a.r#type {
            ActionType::Forward => "`target_group = \"...\"` or `forward_config`",
            ActionType::Redirect => "`redirect_config`",
            ActionType::FixedResponse => "`fixed_response_config`",
            ActionType::AuthenticateOidc => "`authenticate_oidc_config`",
            ActionType::AuthenticateCognito => "`authenticate_cognito_config`",
        };
        ctx.error(path, format!("a {} action needs {what}", a.r#type.as_str()));
    }
}

fn action(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    a: &spec::Action,
    tgs: &HashMap<&str, usize>,
) -> Option<model::Action> {
    let lookup = |ctx: &mut Ctx<'_, '_>, p: &FieldPath, name: &str| {
        let found = tgs.get(name).copied();
        if found.is_none() {
            reference_error(ctx, p, "target group", name, tgs.keys().copied());
        }
        found
    };
    match a.r#type {
        ActionType::Forward => {
            if a.target_group.is_some() && a.forward_config.is_some() {
                ctx.error(
                    &path.key("forward_config"),
                    "give either target_group or forward_config, not both",
                );
            }
            if let Some(name) = &a.target_group {
                let tg = lookup(ctx, &path.key("target_group"), name)?;
                return Some(model::Action::Forward(model::Forward {
                    target_groups: vec![(tg, 1)],
                    stickiness: None,
                    rotation: Default::default(),
                }));
            }
            let fc = a.forward_config.as_ref()?;
            let fp = path.key("forward_config");
            if fc.target_groups.is_empty() || fc.target_groups.len() > 5 {
                ctx.error(&fp.key("target_groups"), "from 1 to 5 target groups");
            }
            let mut seen = HashSet::new();
            let mut groups = Vec::new();
            for (i, w) in fc.target_groups.iter().enumerate() {
                let wp = fp.key("target_groups").index(i);
                if !seen.insert(w.target_group.as_str()) {
                    ctx.error(
                        &wp.key("target_group"),
                        format!("target group `{}` is listed twice", w.target_group),
                    );
                }
                let weight = ctx.range(&wp.key("weight"), w.weight.unwrap_or(1), 0, 999);
                if let Some(tg) = lookup(ctx, &wp.key("target_group"), &w.target_group) {
                    groups.push((tg, weight));
                }
            }
            if !fc.target_groups.is_empty() && fc.target_groups.iter().all(|w| w.weight == Some(0))
            {
                ctx.error(
                    &fp.key("target_groups"),
                    "every weight is 0: no request could be forwarded",
                );
            }
            let stickiness = match &fc.target_group_stickiness_config {
                Some(s) if s.enabled => {
                    let d = match s.duration_seconds {
                        Some(d) => ctx.range(
                            &fp.key("target_group_stickiness_config")
                                .key("duration_seconds"),
                            d,
                            1,
                            604_800,
                        ),
                        None => {
                            ctx.error(&fp.key("target_group_stickiness_config"), "duration_seconds (1 to 604800) is required when stickiness is enabled");
                            1
                        }
                    };
                    Some(Duration::from_secs(d.into()))
                }
                _ => None,
            };
            (groups.len() == fc.target_groups.len()).then_some(model::Action::Forward(
                model::Forward {
                    target_groups: groups,
                    stickiness,
                    rotation: Default::default(),
                },
            ))
        }
        ActionType::Redirect => redirect(
            ctx,
            &path.key("redirect_config"),
            a.redirect_config.as_ref()?,
        )
        .map(model::Action::Redirect),
        ActionType::FixedResponse => fixed_response(
            ctx,
            &path.key("fixed_response_config"),
            a.fixed_response_config.as_ref()?,
        )
        .map(model::Action::FixedResponse),
        ActionType::AuthenticateOidc | ActionType::AuthenticateCognito => None,
    }
}

fn redirect(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    r: &spec::RedirectConfig,
) -> Option<model::Redirect> {
    let protocol = r.protocol.clone().unwrap_or_else(|| "#{protocol}".into());
    let port = r.port.clone().unwrap_or_else(|| "#{port}".into());
    let host = r.host.clone().unwrap_or_else(|| "#{host}".into());
    let path_text = r.path.clone().unwrap_or_else(|| "/#{path}".into());
    let query = r.query.clone().unwrap_or_else(|| "#{query}".into());
    let mut ok = true;
    if !["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()) {
        ctx.error(&path.key("protocol"), "HTTP, HTTPS or #{protocol}");
        ok = false;
    }
    if port != "#{port}" && port.parse::<u16>().map_or(true, |p| p == 0) {
        ctx.error(&path.key("port"), "a port from 1 to 65535 or #{port}");
        ok = false;
    }
    if !path_text.starts_with('/') {
        ctx.error(
            &path.key("path"),
            "the path must start with `/` (for example \"/#{path}\")",
        );
        ok = false;
    }
    if query.starts_with('?') {
        ctx.error(&path.key("query"), "the query goes without its leading `?`");
        ok = false;
    }
    for (field, value, allowed) in [
        ("host", &host, &["#{host}"][..]),
        ("path", &path_text, &["#{host}", "#{path}", "#{port}"][..]),
        (
            "query",
            &query,
            &["#{protocol}", "#{host}", "#{port}", "#{path}", "#{query}"][..],
        ),
    ] {
        let mut rest = value.as_str();
        while let Some(start) = rest.find("#{") {
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let placeholder = &rest[start..start + end + 1];
            if !allowed.contains(&placeholder) {
                ctx.error(
                    &path.key(field),
                    format!(
                        "{placeholder} cannot be used in {field}; allowed: {}",
                        allowed.join(" ")
                    ),
                );
                ok = false;
            }
            rest = &rest[start + end + 1..];
        }
    }
    // RedirectActionConfig: "To avoid a redirect loop, you must modify at least one of the
    // following components: protocol, port, hostname or path" (the query alone is not enough).
    if protocol == "#{protocol}"
        && port == "#{port}"
        && host == "#{host}"
        && path_text == "/#{path}"
    {
        ctx.error(
            path,
            "this redirect points at the same URL it came from: change at least one of protocol, port, host or path (ALB does not count the query)",
        );
        ok = false;
    }
    let status = match r.status_code {
        spec::RedirectStatus::HTTP_301 => 301,
        spec::RedirectStatus::HTTP_302 => 302,
    };
    ok.then_some(model::Redirect {
        protocol,
        port,
        host,
        path: path_text,
        query,
        status,
    })
}

fn fixed_response(
    ctx: &mut Ctx<'_, '_>,
    path: &FieldPath,
    f: &spec::FixedResponseConfig,
) -> Option<model::FixedResponse> {
    let status = f
        .status_code
        .parse::<u16>()
        .ok()
        .filter(|s| matches!(s / 100, 2 | 4 | 5) && f.status_code.len() == 3);
    if status.is_none() {
        ctx.error(
            &path.key("status_code"),
            format!("`{}` is not a 2XX, 4XX or 5XX status code", f.status_code),
        );
    }
    const TYPES: &[&str] = &[
        "text/plain",
        "text/css",
        "text/html",
        "application/javascript",
        "application/json",
    ];
    if let Some(t) = &f.content_type {
        if !TYPES.contains(&t.as_str()) {
            ctx.error(
                &path.key("content_type"),
                format!("`{t}` is not one of {}", TYPES.join(", ")),
            );
        }
    }
    let body = f.message_body.clone().unwrap_or_default();
    if body.len() > 1024 {
        ctx.error(
            &path.key("message_body"),
            format!("{} bytes; ALB allows at most 1024", body.len()),
        );
    }
    Some(model::FixedResponse {
        status: status?,
        content_type: f.content_type.clone(),
        body,
    })
}
