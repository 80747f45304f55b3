//! The topology's load balancers, listeners, rules and target groups ↔ the ELBv2 API's shapes.
//! `*_from_api` return the canonical form (AWS's defaults written as absent), so a live resource
//! compares with the topology without noise, and `from_api(to_api(x))` is `x`'s canonical form.

use super::attributes;
use crate::error::{ProvisionError, Result};
use crate::names::{api_name, from_api_name};
use crate::refs::{RefKind, Refs};
use aws_sdk_elasticloadbalancingv2::types as elb;
use ferry_config::spec::{self, AttrValue, ConditionValue, QueryKeyValue};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The HTTPS listener policy AWS recommends (and ferry sends when the topology names none).
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetGroupState {
    pub name: String,
    pub protocol: Option<spec::TargetProtocol>,
    pub protocol_version: Option<spec::ProtocolVersion>,
    pub port: u16,
    pub target_type: Option<spec::TargetType>,
    pub ip_address_type: Option<String>,
    pub vpc_id: Option<String>,
    pub health_check: HealthCheckState,
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A health check with every field present (AWS's defaults filled in), so that a change to any
/// one shows as that change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheckState {
    pub enabled: bool,
    pub protocol: Option<spec::TargetProtocol>,
    pub port: String,
    pub path: String,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub healthy_threshold_count: u32,
    pub unhealthy_threshold_count: u32,
    pub matcher: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadBalancerState {
    pub name: String,
    pub scheme: Option<spec::Scheme>,
    pub ip_address_type: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub attributes: BTreeMap<String, AttrValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListenerState {
    pub load_balancer: String,
    pub port: u16,
    pub protocol: spec::ListenerProtocol,
    pub ssl_policy: Option<String>,
    pub certificate_arn: Option<String>,
    pub alpn_policy: Option<String>,
    pub default_actions: Vec<spec::Action>,
    /// Canonical: only what differs from AWS's defaults.
    pub attributes: BTreeMap<String, AttrValue>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleState {
    pub load_balancer: String,
    pub port: u16,
    pub priority: u32,
    pub conditions: Vec<spec::Condition>,
    pub actions: Vec<spec::Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TargetRef {
    pub id: String,
    pub port: u16,
    /// `Some("all")` for an `ip` target outside the VPC's subnets (RegisterTargets requires it
    /// there and refuses it inside, where AWS finds the zone itself); `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

impl TargetRef {
    /// The target's identity in its group: AWS registers an address once per port.
    pub fn key(&self) -> (&str, u16) {
        (&self.id, self.port)
    }
}

/// The Availability Zone RegisterTargets is given for a target outside the VPC's subnets.
pub const ZONE_ALL: &str = "all";

/// Marks the targets of `outside` (`(target group, address)`, as `checks` finds them) with the
/// zone `all`, as RegisterTargets needs them.
pub fn zone_all_outside_subnets(targets: &mut TargetsState, outside: &BTreeSet<(String, String)>) {
    let group = &targets.target_group;
    for t in &mut targets.targets {
        if outside.iter().any(|(g, ip)| g == group && *ip == t.id) {
            t.availability_zone = Some(ZONE_ALL.to_string());
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetsState {
    pub target_group: String,
    pub targets: Vec<TargetRef>,
}

fn u32_of(v: Option<i32>, default: u32) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(default)
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

// ------------------------------------------------------------------ target groups

/// The canonical state of a topology target group (targets are their own resource).
pub fn target_group_state(tg: &spec::TargetGroup, vpc_id: Option<&str>) -> TargetGroupState {
    let h = &tg.health_check;
    let grpc = tg.protocol_version == Some(spec::ProtocolVersion::GRPC);
    TargetGroupState {
        name: tg.name.clone(),
        protocol: tg.protocol.filter(|p| *p != spec::TargetProtocol::HTTP),
        protocol_version: tg
            .protocol_version
            .filter(|v| *v != spec::ProtocolVersion::HTTP1),
        port: tg.port,
        target_type: tg.target_type.filter(|t| *t != spec::TargetType::Instance),
        ip_address_type: tg.ip_address_type.clone().filter(|t| t != "ipv4"),
        vpc_id: vpc_id.map(str::to_string),
        health_check: HealthCheckState {
            enabled: h.enabled.unwrap_or(true),
            protocol: h
                .protocol
                .filter(|p| Some(*p) != tg.protocol.or(Some(spec::TargetProtocol::HTTP))),
            port: h
                .port
                .as_ref()
                .map(AttrValue::as_api_string)
                .unwrap_or_else(|| "traffic-port".into()),
            path: h.path.clone().unwrap_or_else(|| {
                if grpc {
                    ferry_config::grpc::HEALTH_PATH.into()
                } else {
                    "/".into()
                }
            }),
            interval_seconds: h.interval_seconds.unwrap_or(30),
            timeout_seconds: h.timeout_seconds.unwrap_or(5),
            healthy_threshold_count: h.healthy_threshold_count.unwrap_or(5),
            unhealthy_threshold_count: h.unhealthy_threshold_count.unwrap_or(2),
            matcher: h.matcher.clone().unwrap_or_else(|| {
                if grpc {
                    ferry_config::grpc::DEFAULT_MATCHER.into()
                } else {
                    "200".into()
                }
            }),
        },
        attributes: attributes::canonical(
            attributes::TARGET_GROUP,
            tg.attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_api_string())),
        ),
    }
}

/// The ELBv2 `TargetGroup` (as DescribeTargetGroups returns it) for a state.
pub fn target_group_to_api(s: &TargetGroupState) -> elb::TargetGroup {
    let protocol = api_name(&s.protocol.unwrap_or(spec::TargetProtocol::HTTP));
    let h = &s.health_check;
    elb::TargetGroup::builder()
        .target_group_name(&s.name)
        .protocol(elb::ProtocolEnum::from(protocol.as_str()))
        .protocol_version(api_name(
            &s.protocol_version.unwrap_or(spec::ProtocolVersion::HTTP1),
        ))
        .port(i32::from(s.port))
        .target_type(elb::TargetTypeEnum::from(
            api_name(&s.target_type.unwrap_or(spec::TargetType::Instance)).as_str(),
        ))
        .ip_address_type(elb::TargetGroupIpAddressTypeEnum::from(
            s.ip_address_type.as_deref().unwrap_or("ipv4"),
        ))
        .set_vpc_id(s.vpc_id.clone())
        .health_check_enabled(h.enabled)
        .health_check_protocol(elb::ProtocolEnum::from(
            h.protocol
                .map(|p| api_name(&p))
                .unwrap_or(protocol)
                .as_str(),
        ))
        .health_check_port(&h.port)
        .health_check_path(&h.path)
        .health_check_interval_seconds(i32_of(h.interval_seconds))
        .health_check_timeout_seconds(i32_of(h.timeout_seconds))
        .healthy_threshold_count(i32_of(h.healthy_threshold_count))
        .unhealthy_threshold_count(i32_of(h.unhealthy_threshold_count))
        .matcher(if s.protocol_version == Some(spec::ProtocolVersion::GRPC) {
            elb::Matcher::builder().grpc_code(&h.matcher).build()
        } else {
            elb::Matcher::builder().http_code(&h.matcher).build()
        })
        .build()
}

/// The canonical state of a live target group and its attributes.
pub fn target_group_from_api(
    tg: &elb::TargetGroup,
    attrs: &[elb::TargetGroupAttribute],
) -> Result<TargetGroupState> {
    let name = tg.target_group_name.clone().unwrap_or_default();
    let what = format!("target group {name}");
    let protocol: Option<spec::TargetProtocol> = match &tg.protocol {
        Some(p) => Some(from_api_name(&what, p.as_str())?),
        None => None,
    };
    let health_protocol: Option<spec::TargetProtocol> = match &tg.health_check_protocol {
        Some(p) => Some(from_api_name(&what, p.as_str())?),
        None => None,
    };
    let effective = protocol.unwrap_or(spec::TargetProtocol::HTTP);
    Ok(TargetGroupState {
        protocol: protocol.filter(|p| *p != spec::TargetProtocol::HTTP),
        protocol_version: match tg.protocol_version.as_deref() {
            Some(v) if !v.is_empty() => Some(from_api_name::<spec::ProtocolVersion>(&what, v)?)
                .filter(|v| *v != spec::ProtocolVersion::HTTP1),
            _ => None,
        },
        port: tg
            .port
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| ProvisionError::shape(&what, "no port"))?,
        target_type: match &tg.target_type {
            Some(t) => Some(from_api_name::<spec::TargetType>(&what, t.as_str())?)
                .filter(|t| *t != spec::TargetType::Instance),
            None => None,
        },
        ip_address_type: tg
            .ip_address_type
            .as_ref()
            .map(|t| t.as_str().to_string())
            .filter(|t| t != "ipv4"),
        vpc_id: tg.vpc_id.clone(),
        health_check: HealthCheckState {
            enabled: tg.health_check_enabled.unwrap_or(true),
            protocol: health_protocol.filter(|p| *p != effective),
            port: tg
                .health_check_port
                .clone()
                .unwrap_or_else(|| "traffic-port".into()),
            path: tg.health_check_path.clone().unwrap_or_else(|| "/".into()),
            interval_seconds: u32_of(tg.health_check_interval_seconds, 30),
            timeout_seconds: u32_of(tg.health_check_timeout_seconds, 5),
            healthy_threshold_count: u32_of(tg.healthy_threshold_count, 5),
            unhealthy_threshold_count: u32_of(tg.unhealthy_threshold_count, 2),
            // A gRPC group's matcher is its GrpcCode, an HTTP one's its HttpCode.
            matcher: tg
                .matcher
                .as_ref()
                .and_then(|m| m.grpc_code.clone().or_else(|| m.http_code.clone()))
                .unwrap_or_else(|| "200".into()),
        },
        attributes: attributes::canonical(
            attributes::TARGET_GROUP,
            attrs
                .iter()
                .filter_map(|a| Some((a.key.as_deref()?, a.value.clone().unwrap_or_default()))),
        ),
        name,
    })
}

/// The topology's target group for a state (import).
pub fn target_group_to_spec(s: &TargetGroupState, targets: Vec<spec::Target>) -> spec::TargetGroup {
    let h = &s.health_check;
    let set = |v: u32, d: u32| (v != d).then_some(v);
    spec::TargetGroup {
        name: s.name.clone(),
        protocol: s.protocol,
        protocol_version: s.protocol_version,
        port: s.port,
        target_type: s.target_type,
        ip_address_type: s.ip_address_type.clone(),
        health_check: spec::HealthCheck {
            enabled: (!h.enabled).then_some(false),
            protocol: h.protocol,
            port: (h.port != "traffic-port").then(|| AttrValue::Str(h.port.clone())),
            path: (h.path != "/").then(|| h.path.clone()),
            interval_seconds: set(h.interval_seconds, 30),
            timeout_seconds: set(h.timeout_seconds, 5),
            healthy_threshold_count: set(h.healthy_threshold_count, 5),
            unhealthy_threshold_count: set(h.unhealthy_threshold_count, 2),
            matcher: (h.matcher != "200").then(|| h.matcher.clone()),
        },
        attributes: s.attributes.clone(),
        targets,
    }
}

// ------------------------------------------------------------------ load balancers

pub fn load_balancer_state(
    lb: &spec::LoadBalancer,
    subnets: Vec<String>,
    security_groups: &[String],
) -> LoadBalancerState {
    let mut subnets = subnets;
    subnets.sort();
    let mut security_groups = security_groups.to_vec();
    security_groups.sort();
    LoadBalancerState {
        name: lb.name.clone(),
        scheme: lb.scheme.filter(|s| *s != spec::Scheme::InternetFacing),
        ip_address_type: lb.ip_address_type.clone().filter(|t| t != "ipv4"),
        subnets,
        security_groups,
        attributes: attributes::canonical(
            attributes::LOAD_BALANCER,
            lb.attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_api_string())),
        ),
    }
}

pub fn load_balancer_from_api(
    lb: &elb::LoadBalancer,
    attrs: &[elb::LoadBalancerAttribute],
) -> Result<LoadBalancerState> {
    let name = lb.load_balancer_name.clone().unwrap_or_default();
    let what = format!("load balancer {name}");
    let mut subnets: Vec<String> = lb
        .availability_zones
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|z| z.subnet_id.clone())
        .collect();
    subnets.sort();
    let mut security_groups = lb.security_groups.clone().unwrap_or_default();
    security_groups.sort();
    Ok(LoadBalancerState {
        scheme: match &lb.scheme {
            Some(s) => Some(from_api_name::<spec::Scheme>(&what, s.as_str())?)
                .filter(|s| *s != spec::Scheme::InternetFacing),
            None => None,
        },
        ip_address_type: lb
            .ip_address_type
            .as_ref()
            .map(|t| t.as_str().to_string())
            .filter(|t| t != "ipv4"),
        subnets,
        security_groups,
        attributes: attributes::canonical(
            attributes::LOAD_BALANCER,
            attrs
                .iter()
                .filter_map(|a| Some((a.key.as_deref()?, a.value.clone().unwrap_or_default()))),
        ),
        name,
    })
}

// ------------------------------------------------------------------ actions and conditions

fn weight_of(w: Option<u32>) -> i32 {
    i32_of(w.unwrap_or(1))
}

pub fn action_to_api(a: &spec::Action, order: usize, refs: &Refs) -> Result<elb::Action> {
    let order = i32::try_from(order + 1).unwrap_or(i32::MAX);
    let b = elb::Action::builder()
        .r#type(elb::ActionTypeEnum::from(a.r#type.as_str()))
        .order(order);
    Ok(match a.r#type {
        spec::ActionType::Forward => {
            let b = match &a.target_group {
                Some(tg) => b.target_group_arn(refs.id(RefKind::TargetGroup, tg)?),
                None => b,
            };
            match &a.forward_config {
                Some(fc) => {
                    let groups = fc
                        .target_groups
                        .iter()
                        .map(|g| {
                            Ok(elb::TargetGroupTuple::builder()
                                .target_group_arn(refs.id(RefKind::TargetGroup, &g.target_group)?)
                                .weight(weight_of(g.weight))
                                .build())
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let sticky = fc.target_group_stickiness_config.as_ref();
                    b.forward_config(
                        elb::ForwardActionConfig::builder()
                            .set_target_groups(Some(groups))
                            .target_group_stickiness_config(
                                elb::TargetGroupStickinessConfig::builder()
                                    .enabled(sticky.is_some_and(|s| s.enabled))
                                    .set_duration_seconds(
                                        sticky
                                            .filter(|s| s.enabled)
                                            .and_then(|s| s.duration_seconds)
                                            .map(i32_of),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
                }
                None => b.build(),
            }
        }
        spec::ActionType::Redirect => {
            let r = a.redirect_config.as_ref().ok_or_else(|| {
                ProvisionError::Invalid("redirect without redirect_config".into())
            })?;
            b.redirect_config(
                elb::RedirectActionConfig::builder()
                    .set_protocol(r.protocol.clone())
                    .set_port(r.port.clone())
                    .set_host(r.host.clone())
                    .set_path(r.path.clone())
                    .set_query(r.query.clone())
                    .status_code(elb::RedirectActionStatusCodeEnum::from(
                        api_name(&r.status_code).as_str(),
                    ))
                    .build(),
            )
            .build()
        }
        spec::ActionType::FixedResponse => {
            let f = a.fixed_response_config.as_ref().ok_or_else(|| {
                ProvisionError::Invalid("fixed-response without fixed_response_config".into())
            })?;
            b.fixed_response_config(
                elb::FixedResponseActionConfig::builder()
                    .status_code(&f.status_code)
                    .set_content_type(f.content_type.clone())
                    .set_message_body(f.message_body.clone())
                    .build(),
            )
            .build()
        }
        spec::ActionType::AuthenticateOidc | spec::ActionType::AuthenticateCognito => {
            return Err(ProvisionError::Invalid(format!(
                "{} actions are not provisioned by ferry",
                a.r#type.as_str()
            )))
        }
    })
}

fn blank_action(kind: spec::ActionType) -> spec::Action {
    spec::Action {
        r#type: kind,
        order: None,
        target_group: None,
        forward_config: None,
        redirect_config: None,
        fixed_response_config: None,
        authenticate_oidc_config: None,
        authenticate_cognito_config: None,
    }
}

/// Canonical actions: in order, `order` left out where it is the position, a forward to one
/// group without stickiness written as `target_group`, redirect placeholders that are AWS's
/// defaults left out.
pub fn actions_from_api(
    what: &str,
    actions: &[elb::Action],
    refs: &Refs,
) -> Result<Vec<spec::Action>> {
    let mut sorted: Vec<&elb::Action> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order.unwrap_or(i32::MAX));
    sorted
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let kind: spec::ActionType = match &a.r#type {
                Some(t) => from_api_name(what, t.as_str())?,
                None => return Err(ProvisionError::shape(what, "action without a type")),
            };
            let mut out = blank_action(kind);
            let position = i32::try_from(i + 1).unwrap_or(i32::MAX);
            out.order = a
                .order
                .filter(|o| *o != position)
                .and_then(|o| u32::try_from(o).ok());
            match kind {
                spec::ActionType::Forward => {
                    let fc = a.forward_config.as_ref();
                    let groups = fc
                        .and_then(|f| f.target_groups.as_deref())
                        .unwrap_or_default();
                    let sticky = fc
                        .and_then(|f| f.target_group_stickiness_config.as_ref())
                        .filter(|s| s.enabled == Some(true));
                    if groups.len() > 1 || sticky.is_some() {
                        out.forward_config = Some(spec::ForwardConfig {
                            target_groups: groups
                                .iter()
                                .map(|g| spec::WeightedTargetGroup {
                                    target_group: refs.name(
                                        RefKind::TargetGroup,
                                        g.target_group_arn.as_deref().unwrap_or_default(),
                                    ),
                                    weight: Some(u32_of(g.weight, 1)),
                                })
                                .collect(),
                            target_group_stickiness_config: sticky.map(|s| {
                                spec::TargetGroupStickinessConfig {
                                    enabled: true,
                                    duration_seconds: s
                                        .duration_seconds
                                        .and_then(|d| u32::try_from(d).ok()),
                                }
                            }),
                        });
                    } else {
                        let arn = a
                            .target_group_arn
                            .clone()
                            .or_else(|| groups.first().and_then(|g| g.target_group_arn.clone()))
                            .ok_or_else(|| {
                                ProvisionError::shape(what, "forward without a target group")
                            })?;
                        out.target_group = Some(refs.name(RefKind::TargetGroup, &arn));
                    }
                }
                spec::ActionType::Redirect => {
                    let r = a.redirect_config.as_ref().ok_or_else(|| {
                        ProvisionError::shape(what, "redirect without RedirectConfig")
                    })?;
                    let keep =
                        |v: &Option<String>, default: &str| v.clone().filter(|v| v != default);
                    out.redirect_config = Some(spec::RedirectConfig {
                        protocol: keep(&r.protocol, "#{protocol}"),
                        port: keep(&r.port, "#{port}"),
                        host: keep(&r.host, "#{host}"),
                        path: keep(&r.path, "/#{path}"),
                        query: keep(&r.query, "#{query}"),
                        status_code: match &r.status_code {
                            Some(s) => from_api_name(what, s.as_str())?,
                            None => {
                                return Err(ProvisionError::shape(
                                    what,
                                    "redirect without StatusCode",
                                ))
                            }
                        },
                    });
                }
                spec::ActionType::FixedResponse => {
                    let f = a.fixed_response_config.as_ref().ok_or_else(|| {
                        ProvisionError::shape(what, "fixed-response without FixedResponseConfig")
                    })?;
                    out.fixed_response_config = Some(spec::FixedResponseConfig {
                        status_code: f.status_code.clone().unwrap_or_default(),
                        content_type: f.content_type.clone().filter(|c| !c.is_empty()),
                        message_body: f.message_body.clone().filter(|m| !m.is_empty()),
                    });
                }
                // Added outside ferry (the topology refuses them): read as their kind alone, so
                // that the plan shows them going and the update puts the topology's actions back
                // (a destroy deletes them with the rest).
                spec::ActionType::AuthenticateOidc | spec::ActionType::AuthenticateCognito => {}
            }
            Ok(out)
        })
        .collect()
}

fn texts(values: &[ConditionValue]) -> Vec<String> {
    values
        .iter()
        .map(|v| match v {
            ConditionValue::Text(t) => t.clone(),
            ConditionValue::KeyValue(kv) => kv.value.clone(),
        })
        .collect()
}

pub fn condition_to_api(c: &spec::Condition) -> elb::RuleCondition {
    let b = elb::RuleCondition::builder().field(c.field.as_str());
    let values = Some(texts(&c.values));
    match c.field {
        spec::ConditionField::HostHeader => b.host_header_config(
            elb::HostHeaderConditionConfig::builder()
                .set_values(values)
                .build(),
        ),
        spec::ConditionField::PathPattern => b.path_pattern_config(
            elb::PathPatternConditionConfig::builder()
                .set_values(values)
                .build(),
        ),
        spec::ConditionField::HttpHeader => b.http_header_config(
            elb::HttpHeaderConditionConfig::builder()
                .set_http_header_name(c.http_header_name.clone())
                .set_values(values)
                .build(),
        ),
        spec::ConditionField::HttpRequestMethod => b.http_request_method_config(
            elb::HttpRequestMethodConditionConfig::builder()
                .set_values(values)
                .build(),
        ),
        spec::ConditionField::SourceIp => b.source_ip_config(
            elb::SourceIpConditionConfig::builder()
                .set_values(values)
                .build(),
        ),
        spec::ConditionField::QueryString => {
            let pairs = c
                .values
                .iter()
                .map(|v| match v {
                    ConditionValue::KeyValue(kv) => elb::QueryStringKeyValuePair::builder()
                        .set_key(kv.key.clone())
                        .value(&kv.value)
                        .build(),
                    ConditionValue::Text(t) => {
                        elb::QueryStringKeyValuePair::builder().value(t).build()
                    }
                })
                .collect();
            b.query_string_config(
                elb::QueryStringConditionConfig::builder()
                    .set_values(Some(pairs))
                    .build(),
            )
        }
    }
    .build()
}

pub fn condition_from_api(what: &str, c: &elb::RuleCondition) -> Result<spec::Condition> {
    let field_name = c.field.as_deref().unwrap_or_default();
    let field: spec::ConditionField = from_api_name(what, field_name)?;
    let legacy = || c.values.clone().unwrap_or_default();
    let text = |v: Option<Vec<String>>| -> Vec<ConditionValue> {
        v.unwrap_or_else(legacy)
            .into_iter()
            .map(ConditionValue::Text)
            .collect()
    };
    let (values, http_header_name) = match field {
        spec::ConditionField::HostHeader => (
            text(c.host_header_config.as_ref().and_then(|h| h.values.clone())),
            None,
        ),
        spec::ConditionField::PathPattern => (
            text(
                c.path_pattern_config
                    .as_ref()
                    .and_then(|h| h.values.clone()),
            ),
            None,
        ),
        spec::ConditionField::HttpHeader => {
            let h = c.http_header_config.as_ref();
            (
                text(h.and_then(|h| h.values.clone())),
                h.and_then(|h| h.http_header_name.clone()),
            )
        }
        spec::ConditionField::HttpRequestMethod => (
            text(
                c.http_request_method_config
                    .as_ref()
                    .and_then(|h| h.values.clone()),
            ),
            None,
        ),
        spec::ConditionField::SourceIp => (
            text(c.source_ip_config.as_ref().and_then(|h| h.values.clone())),
            None,
        ),
        spec::ConditionField::QueryString => (
            c.query_string_config
                .as_ref()
                .and_then(|q| q.values.as_deref())
                .unwrap_or_default()
                .iter()
                .map(|kv| {
                    ConditionValue::KeyValue(QueryKeyValue {
                        key: kv.key.clone().filter(|k| !k.is_empty()),
                        value: kv.value.clone().unwrap_or_default(),
                    })
                })
                .collect(),
            None,
        ),
    };
    Ok(spec::Condition {
        field,
        values,
        http_header_name,
    })
}

/// The canonical form of topology conditions (query-string plain values become `{ value }`).
pub fn canonical_conditions(
    what: &str,
    conditions: &[spec::Condition],
) -> Result<Vec<spec::Condition>> {
    conditions
        .iter()
        .map(|c| condition_from_api(what, &condition_to_api(c)))
        .collect()
}

/// The canonical form of topology actions.
pub fn canonical_actions(
    what: &str,
    actions: &[spec::Action],
    refs: &Refs,
) -> Result<Vec<spec::Action>> {
    let api = actions
        .iter()
        .enumerate()
        .map(|(i, a)| action_to_api(a, i, refs))
        .collect::<Result<Vec<_>>>()?;
    actions_from_api(what, &api, refs)
}

// ------------------------------------------------------------------ listeners

/// A listener's attributes in canonical form, from the topology.
pub fn listener_attributes(attrs: &BTreeMap<String, AttrValue>) -> BTreeMap<String, AttrValue> {
    attributes::canonical(
        attributes::LISTENER,
        attrs.iter().map(|(k, v)| (k.as_str(), v.as_api_string())),
    )
}

pub fn listener_from_api(
    load_balancer: &str,
    l: &elb::Listener,
    attrs: &[elb::ListenerAttribute],
    refs: &Refs,
) -> Result<ListenerState> {
    let port = l.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(0);
    let what = format!("listener {load_balancer}:{port}");
    let protocol: spec::ListenerProtocol = match &l.protocol {
        Some(p) => from_api_name(&what, p.as_str())?,
        None => return Err(ProvisionError::shape(what, "no protocol")),
    };
    Ok(ListenerState {
        load_balancer: load_balancer.to_string(),
        port,
        protocol,
        // Some endpoints echo a policy on HTTP listeners too; it means nothing there.
        ssl_policy: l.ssl_policy.clone().filter(|p| {
            protocol == spec::ListenerProtocol::HTTPS && !p.is_empty() && p != DEFAULT_SSL_POLICY
        }),
        certificate_arn: l
            .certificates
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|c| c.is_default != Some(false))
            .and_then(|c| c.certificate_arn.clone()),
        alpn_policy: l
            .alpn_policy
            .as_ref()
            .and_then(|a| a.first().cloned())
            .filter(|a| a != "None"),
        default_actions: actions_from_api(
            &what,
            l.default_actions.as_deref().unwrap_or_default(),
            refs,
        )?,
        attributes: attributes::canonical(
            attributes::LISTENER,
            attrs
                .iter()
                .filter_map(|a| Some((a.key.as_deref()?, a.value.clone().unwrap_or_default()))),
        ),
    })
}

pub fn rule_from_api(
    load_balancer: &str,
    port: u16,
    r: &elb::Rule,
    refs: &Refs,
) -> Result<Option<RuleState>> {
    if r.is_default == Some(true) {
        return Ok(None);
    }
    let priority_text = r.priority.as_deref().unwrap_or_default();
    let what = format!("rule {load_balancer}:{port} priority {priority_text}");
    let priority: u32 = priority_text
        .parse()
        .map_err(|_| ProvisionError::shape(&what, "priority is not a number"))?;
    Ok(Some(RuleState {
        load_balancer: load_balancer.to_string(),
        port,
        priority,
        conditions: r
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| condition_from_api(&what, c))
            .collect::<Result<_>>()?,
        actions: actions_from_api(&what, r.actions.as_deref().unwrap_or_default(), refs)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(tg: &str) -> spec::Action {
        spec::Action {
            target_group: Some(tg.into()),
            ..blank_action(spec::ActionType::Forward)
        }
    }

    fn refs() -> Refs {
        let mut refs = Refs::new();
        refs.insert(RefKind::TargetGroup, "web", "arn:tg/web");
        refs.insert(RefKind::TargetGroup, "api", "arn:tg/api");
        refs
    }

    #[test]
    fn actions_round_trip_in_canonical_form() {
        let refs = refs();
        let weighted = spec::Action {
            forward_config: Some(spec::ForwardConfig {
                target_groups: vec![
                    spec::WeightedTargetGroup {
                        target_group: "web".into(),
                        weight: Some(1),
                    },
                    spec::WeightedTargetGroup {
                        target_group: "api".into(),
                        weight: Some(3),
                    },
                ],
                target_group_stickiness_config: Some(spec::TargetGroupStickinessConfig {
                    enabled: true,
                    duration_seconds: Some(300),
                }),
            }),
            ..blank_action(spec::ActionType::Forward)
        };
        let redirect = spec::Action {
            redirect_config: Some(spec::RedirectConfig {
                protocol: Some("HTTPS".into()),
                port: Some("443".into()),
                host: None,
                path: Some("/v1/#{path}".into()),
                query: None,
                status_code: spec::RedirectStatus::HTTP_301,
            }),
            ..blank_action(spec::ActionType::Redirect)
        };
        let fixed = spec::Action {
            fixed_response_config: Some(spec::FixedResponseConfig {
                status_code: "200".into(),
                content_type: Some("text/plain".into()),
                message_body: Some("ok".into()),
            }),
            ..blank_action(spec::ActionType::FixedResponse)
        };
        for action in [forward("web"), weighted, redirect, fixed] {
            let api = action_to_api(&action, 0, &refs).unwrap();
            let back = actions_from_api("t", &[api], &refs).unwrap();
            assert_eq!(
                serde_json::to_value(&back[0]).unwrap(),
                serde_json::to_value(&action).unwrap()
            );
        }
    }

    #[test]
    fn aws_shapes_normalise_a_single_forward_and_default_redirect_parts() {
        let refs = refs();
        let live = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Forward)
            .target_group_arn("arn:tg/web")
            .order(1)
            .forward_config(
                elb::ForwardActionConfig::builder()
                    .target_groups(
                        elb::TargetGroupTuple::builder()
                            .target_group_arn("arn:tg/web")
                            .weight(1)
                            .build(),
                    )
                    .target_group_stickiness_config(
                        elb::TargetGroupStickinessConfig::builder()
                            .enabled(false)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let back = actions_from_api("t", &[live], &refs).unwrap();
        assert_eq!(back[0].target_group.as_deref(), Some("web"));
        assert!(back[0].forward_config.is_none());
        let live = elb::Action::builder()
            .r#type(elb::ActionTypeEnum::Redirect)
            .redirect_config(
                elb::RedirectActionConfig::builder()
                    .protocol("#{protocol}")
                    .port("#{port}")
                    .host("#{host}")
                    .path("/#{path}")
                    .query("#{query}")
                    .status_code(elb::RedirectActionStatusCodeEnum::Http302)
                    .build(),
            )
            .build();
        let back = actions_from_api("t", &[live], &refs).unwrap();
        let r = back[0].redirect_config.as_ref().unwrap();
        assert!(r.protocol.is_none() && r.port.is_none() && r.path.is_none() && r.query.is_none());
    }

    #[test]
    fn every_condition_type_round_trips() {
        let text = |v: &[&str]| {
            v.iter()
                .map(|s| ConditionValue::Text(s.to_string()))
                .collect()
        };
        let conditions = vec![
            spec::Condition {
                field: spec::ConditionField::HostHeader,
                values: text(&["*.example.test"]),
                http_header_name: None,
            },
            spec::Condition {
                field: spec::ConditionField::PathPattern,
                values: text(&["/api/*", "/v?/x"]),
                http_header_name: None,
            },
            spec::Condition {
                field: spec::ConditionField::HttpHeader,
                values: text(&["on"]),
                http_header_name: Some("X-Beta".into()),
            },
            spec::Condition {
                field: spec::ConditionField::HttpRequestMethod,
                values: text(&["GET", "HEAD"]),
                http_header_name: None,
            },
            spec::Condition {
                field: spec::ConditionField::SourceIp,
                values: text(&["127.0.0.0/8"]),
                http_header_name: None,
            },
            spec::Condition {
                field: spec::ConditionField::QueryString,
                values: vec![ConditionValue::KeyValue(QueryKeyValue {
                    key: Some("version".into()),
                    value: "v1".into(),
                })],
                http_header_name: None,
            },
        ];
        let back = canonical_conditions("t", &conditions).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&conditions).unwrap()
        );
        // A live condition with only the legacy Values reads the same.
        let legacy = elb::RuleCondition::builder()
            .field("path-pattern")
            .values("/api/*")
            .build();
        let c = condition_from_api("t", &legacy).unwrap();
        assert_eq!(c.values, text(&["/api/*"]));
    }

    #[test]
    fn target_groups_round_trip_with_defaults_absent() {
        let spec_tg = spec::TargetGroup {
            name: "web".into(),
            protocol: Some(spec::TargetProtocol::HTTP),
            protocol_version: None,
            port: 9001,
            target_type: Some(spec::TargetType::Ip),
            ip_address_type: None,
            health_check: spec::HealthCheck {
                path: Some("/health".into()),
                interval_seconds: Some(5),
                timeout_seconds: Some(2),
                healthy_threshold_count: Some(3),
                matcher: Some("200-299".into()),
                ..Default::default()
            },
            attributes: [
                ("stickiness.enabled".to_string(), AttrValue::Bool(true)),
                (
                    "deregistration_delay.timeout_seconds".to_string(),
                    AttrValue::Int(300),
                ),
            ]
            .into_iter()
            .collect(),
            targets: Vec::new(),
        };
        let state = target_group_state(&spec_tg, Some("vpc-1"));
        assert_eq!(state.protocol, None, "HTTP is the default");
        assert_eq!(state.attributes.len(), 1, "300 s is the default delay");
        let api = target_group_to_api(&state);
        let attrs: Vec<elb::TargetGroupAttribute> = state
            .attributes
            .iter()
            .map(|(k, v)| {
                elb::TargetGroupAttribute::builder()
                    .key(k)
                    .value(v.as_api_string())
                    .build()
            })
            .collect();
        let back = target_group_from_api(&api, &attrs).unwrap();
        assert_eq!(back, state);
        let spec_back = target_group_to_spec(&back, Vec::new());
        assert_eq!(target_group_state(&spec_back, Some("vpc-1")), state);
    }
}
