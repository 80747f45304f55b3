//! A topology distribution ↔ CloudFront's `DistributionConfig`, field for field. `from_api` returns
//! the canonical form (AWS's defaults written as absent), so `from_api(to_api(d)) == canonical(d)`
//! and a live distribution compares with the topology without noise.
// The legacy cache settings (ForwardedValues, per-behavior TTLs) are deprecated in the SDK but still
// part of the API, and topologies without cache policies use them.
#![allow(deprecated)]

use crate::error::{ProvisionError, Result};
use crate::names::{api_name, from_api_name};
use crate::refs::{RefKind, Refs};
use aws_sdk_cloudfront::types as cf;
use ferry_config::spec::{self, Method};
use serde::Serialize;
use std::collections::BTreeMap;

/// What ferry provisions for one distribution: the topology's distribution and the viewer
/// certificate it gets from `[aws]` (only a distribution with aliases has one).
#[derive(Debug, Clone, Serialize)]
pub struct DistributionState {
    #[serde(flatten)]
    pub distribution: spec::Distribution,
    pub viewer_certificate: Option<spec::ViewerCertificate>,
}

const DEFAULT_METHODS: [Method; 2] = [Method::GET, Method::HEAD];
const LEGACY_TTLS: (i64, i64, i64) = (0, 86_400, 31_536_000);

fn n(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn none_if_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn none_if<T: PartialEq>(value: Option<T>, default: T) -> Option<T> {
    value.filter(|v| *v != default)
}

fn u32_of(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

fn u64_of(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn i32_of(v: Option<u32>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

fn i64_of(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

// ------------------------------------------------------------------ topology → API

/// The `DistributionConfig` for a distribution. `caller_reference` is AWS's idempotency token:
/// new on create, the live one on update.
pub fn to_api(
    state: &DistributionState,
    caller_reference: &str,
    refs: &Refs,
) -> Result<cf::DistributionConfig> {
    let d = &state.distribution;
    let origins = d
        .origins
        .iter()
        .map(|o| origin_to_api(o, refs))
        .collect::<Result<Vec<_>>>()?;
    let groups = d
        .origin_groups
        .iter()
        .map(origin_group_to_api)
        .collect::<Result<Vec<_>>>()?;
    let behaviors = d
        .cache_behaviors
        .iter()
        .map(|b| behavior_to_api(b, refs))
        .collect::<Result<Vec<_>>>()?;
    let errors = d
        .custom_error_responses
        .iter()
        .map(|e| {
            cf::CustomErrorResponse::builder()
                .error_code(i32::from(e.error_code))
                .set_response_page_path(e.response_page_path.clone())
                .set_response_code(e.response_code.map(|c| c.to_string()))
                .set_error_caching_min_ttl(i64_of(e.error_caching_min_ttl))
                .build()
                .map_err(ProvisionError::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let restrictions = {
        let (kind, locations) = match &d.restrictions {
            Some(r) => (
                api_name(&r.geo_restriction.restriction_type),
                r.geo_restriction.locations.clone(),
            ),
            None => ("none".to_string(), Vec::new()),
        };
        cf::Restrictions::builder()
            .geo_restriction(
                cf::GeoRestriction::builder()
                    .restriction_type(cf::GeoRestrictionType::from(kind.as_str()))
                    .quantity(n(locations.len()))
                    .set_items((!locations.is_empty()).then_some(locations))
                    .build()?,
            )
            .build()
    };
    let logging = match &d.logging_config {
        Some(l) => cf::LoggingConfig::builder()
            .enabled(true)
            .bucket(&l.bucket)
            .prefix(&l.prefix)
            .include_cookies(l.include_cookies),
        None => cf::LoggingConfig::builder()
            .enabled(false)
            .bucket("")
            .prefix("")
            .include_cookies(false),
    }
    .build();
    Ok(cf::DistributionConfig::builder()
        .caller_reference(caller_reference)
        .comment(d.comment.clone().unwrap_or_default())
        .enabled(d.enabled)
        .aliases(
            cf::Aliases::builder()
                .quantity(n(d.aliases.len()))
                .set_items((!d.aliases.is_empty()).then(|| d.aliases.clone()))
                .build()?,
        )
        .default_root_object(d.default_root_object.clone().unwrap_or_default())
        .http_version(cf::HttpVersion::from(api_name(&d.http_version).as_str()))
        .is_ipv6_enabled(d.is_ipv6_enabled)
        .price_class(cf::PriceClass::from(
            d.price_class
                .map(|p| api_name(&p))
                .unwrap_or_else(|| "PriceClass_All".into())
                .as_str(),
        ))
        .web_acl_id(d.web_acl_id.clone().unwrap_or_default())
        .origins(
            cf::Origins::builder()
                .quantity(n(origins.len()))
                .set_items(Some(origins))
                .build()?,
        )
        .origin_groups(
            cf::OriginGroups::builder()
                .quantity(n(groups.len()))
                .set_items((!groups.is_empty()).then_some(groups))
                .build()?,
        )
        .default_cache_behavior(default_behavior_to_api(&d.default_cache_behavior, refs)?)
        .cache_behaviors(
            cf::CacheBehaviors::builder()
                .quantity(n(behaviors.len()))
                .set_items((!behaviors.is_empty()).then_some(behaviors))
                .build()?,
        )
        .custom_error_responses(
            cf::CustomErrorResponses::builder()
                .quantity(n(errors.len()))
                .set_items((!errors.is_empty()).then_some(errors))
                .build()?,
        )
        .restrictions(restrictions)
        .logging(logging)
        .viewer_certificate(viewer_certificate_to_api(state))
        .build()?)
}

fn viewer_certificate_to_api(state: &DistributionState) -> cf::ViewerCertificate {
    let d = &state.distribution;
    match &state.viewer_certificate {
        Some(vc) if vc.acm_certificate_arn.is_some() || vc.iam_certificate_id.is_some() => {
            let method = vc
                .ssl_support_method
                .map(|m| api_name(&m))
                .unwrap_or_else(|| "sni-only".into());
            cf::ViewerCertificate::builder()
                .cloud_front_default_certificate(false)
                .set_acm_certificate_arn(vc.acm_certificate_arn.clone())
                .set_iam_certificate_id(vc.iam_certificate_id.clone())
                .ssl_support_method(cf::SslSupportMethod::from(method.as_str()))
                .minimum_protocol_version(cf::MinimumProtocolVersion::from(
                    api_name(&d.minimum_protocol_version).as_str(),
                ))
                .build()
        }
        // CloudFront's own certificate pins the minimum protocol to TLSv1.
        _ => cf::ViewerCertificate::builder()
            .cloud_front_default_certificate(true)
            .minimum_protocol_version(cf::MinimumProtocolVersion::from("TLSv1"))
            .build(),
    }
}

fn origin_to_api(o: &spec::Origin, refs: &Refs) -> Result<cf::Origin> {
    let headers: Vec<cf::OriginCustomHeader> = o
        .custom_headers
        .iter()
        .map(|(k, v)| {
            cf::OriginCustomHeader::builder()
                .header_name(k)
                .header_value(v)
                .build()
                .map_err(ProvisionError::from)
        })
        .collect::<Result<_>>()?;
    let custom = match &o.custom_origin_config {
        Some(c) => {
            let protocols: Vec<cf::SslProtocol> = if c.origin_ssl_protocols.is_empty() {
                vec![cf::SslProtocol::from("TLSv1.2")]
            } else {
                c.origin_ssl_protocols
                    .iter()
                    .map(|p| cf::SslProtocol::from(api_name(p).as_str()))
                    .collect()
            };
            Some(
                cf::CustomOriginConfig::builder()
                    .http_port(i32::from(c.http_port.unwrap_or(80)))
                    .https_port(i32::from(c.https_port.unwrap_or(443)))
                    .origin_protocol_policy(cf::OriginProtocolPolicy::from(
                        api_name(&c.origin_protocol_policy).as_str(),
                    ))
                    .origin_ssl_protocols(
                        cf::OriginSslProtocols::builder()
                            .quantity(n(protocols.len()))
                            .set_items(Some(protocols))
                            .build()?,
                    )
                    .origin_read_timeout(i32_of(c.origin_read_timeout).unwrap_or(30))
                    .origin_keepalive_timeout(i32_of(c.origin_keepalive_timeout).unwrap_or(5))
                    .set_ip_address_type(
                        c.ip_address_type
                            .map(|t| cf::IpAddressType::from(api_name(&t).as_str())),
                    )
                    .build()?,
            )
        }
        None => None,
    };
    let s3 = o.s3_origin_config.as_ref().map(|s| {
        cf::S3OriginConfig::builder()
            .origin_access_identity(&s.origin_access_identity)
            .build()
    });
    let shield = match &o.origin_shield {
        Some(s) => cf::OriginShield::builder()
            .enabled(s.enabled)
            .set_origin_shield_region(s.origin_shield_region.clone())
            .build()?,
        None => cf::OriginShield::builder().enabled(false).build()?,
    };
    Ok(cf::Origin::builder()
        .id(&o.id)
        .domain_name(refs.id_or_same(RefKind::LoadBalancerDns, &o.domain_name))
        .origin_path(&o.origin_path)
        .custom_headers(
            cf::CustomHeaders::builder()
                .quantity(n(headers.len()))
                .set_items((!headers.is_empty()).then_some(headers))
                .build()?,
        )
        .set_custom_origin_config(custom)
        .set_s3_origin_config(s3)
        .connection_attempts(i32_of(o.connection_attempts).unwrap_or(3))
        .connection_timeout(i32_of(o.connection_timeout).unwrap_or(10))
        .set_response_completion_timeout(i32_of(o.response_completion_timeout))
        .origin_shield(shield)
        .origin_access_control_id(o.origin_access_control_id.clone().unwrap_or_default())
        .build()?)
}

fn origin_group_to_api(g: &spec::OriginGroup) -> Result<cf::OriginGroup> {
    let members = g
        .members
        .iter()
        .map(|m| {
            cf::OriginGroupMember::builder()
                .origin_id(m)
                .build()
                .map_err(ProvisionError::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let codes: Vec<i32> = g
        .failover_criteria
        .status_codes
        .iter()
        .map(|c| i32::from(*c))
        .collect();
    Ok(cf::OriginGroup::builder()
        .id(&g.id)
        .members(
            cf::OriginGroupMembers::builder()
                .quantity(n(members.len()))
                .set_items(Some(members))
                .build()?,
        )
        .failover_criteria(
            cf::OriginGroupFailoverCriteria::builder()
                .status_codes(
                    cf::StatusCodes::builder()
                        .quantity(n(codes.len()))
                        .set_items(Some(codes))
                        .build()?,
                )
                .build(),
        )
        .selection_criteria(cf::OriginGroupSelectionCriteria::from(
            api_name(&g.selection_criteria).as_str(),
        ))
        .build()?)
}

/// The parts a default behavior and an ordered one share, as a list of setters' inputs.
struct BehaviorParts {
    allowed: cf::AllowedMethods,
    cache_policy_id: Option<String>,
    origin_request_policy_id: Option<String>,
    response_headers_policy_id: Option<String>,
    forwarded_values: Option<cf::ForwardedValues>,
    ttls: Option<(i64, i64, i64)>,
    trusted_key_groups: cf::TrustedKeyGroups,
    trusted_signers: cf::TrustedSigners,
    functions: cf::FunctionAssociations,
    lambdas: cf::LambdaFunctionAssociations,
}

fn methods_to_api(methods: &Option<Vec<Method>>) -> Vec<cf::Method> {
    methods
        .as_deref()
        .unwrap_or(&DEFAULT_METHODS)
        .iter()
        .map(|m| cf::Method::from(m.as_str()))
        .collect()
}

fn behavior_parts(b: &spec::CacheBehavior, refs: &Refs) -> Result<BehaviorParts> {
    let allowed = methods_to_api(&b.allowed_methods);
    let cached = methods_to_api(&b.cached_methods);
    let allowed = cf::AllowedMethods::builder()
        .quantity(n(allowed.len()))
        .set_items(Some(allowed))
        .cached_methods(
            cf::CachedMethods::builder()
                .quantity(n(cached.len()))
                .set_items(Some(cached))
                .build()?,
        )
        .build()?;
    let policy = |kind, name: &Option<String>| -> Result<Option<String>> {
        name.as_ref().map(|n| refs.id(kind, n)).transpose()
    };
    let (forwarded_values, ttls) = if b.cache_policy.is_none() {
        let fv = b.forwarded_values.clone().unwrap_or(spec::ForwardedValues {
            query_string: false,
            query_string_cache_keys: Vec::new(),
            cookies: spec::ForwardedCookies {
                forward: spec::ForwardCookies::None,
                whitelisted_names: Vec::new(),
            },
            headers: Vec::new(),
        });
        let names = &fv.cookies.whitelisted_names;
        let fv = cf::ForwardedValues::builder()
            .query_string(fv.query_string)
            .query_string_cache_keys(
                cf::QueryStringCacheKeys::builder()
                    .quantity(n(fv.query_string_cache_keys.len()))
                    .set_items(
                        (!fv.query_string_cache_keys.is_empty())
                            .then(|| fv.query_string_cache_keys.clone()),
                    )
                    .build()?,
            )
            .headers(
                cf::Headers::builder()
                    .quantity(n(fv.headers.len()))
                    .set_items((!fv.headers.is_empty()).then(|| fv.headers.clone()))
                    .build()?,
            )
            .cookies(
                cf::CookiePreference::builder()
                    .forward(cf::ItemSelection::from(
                        api_name(&fv.cookies.forward).as_str(),
                    ))
                    .whitelisted_names(
                        cf::CookieNames::builder()
                            .quantity(n(names.len()))
                            .set_items((!names.is_empty()).then(|| names.clone()))
                            .build()?,
                    )
                    .build()?,
            )
            .build()?;
        let ttls = (
            i64_of(b.min_ttl).unwrap_or(LEGACY_TTLS.0),
            i64_of(b.default_ttl).unwrap_or(LEGACY_TTLS.1),
            i64_of(b.max_ttl).unwrap_or(LEGACY_TTLS.2),
        );
        (Some(fv), Some(ttls))
    } else {
        (None, None)
    };
    let functions = b
        .function_associations
        .iter()
        .map(|f| {
            cf::FunctionAssociation::builder()
                .function_arn(&f.function_arn)
                .event_type(cf::EventType::from(api_name(&f.event_type).as_str()))
                .build()
                .map_err(ProvisionError::from)
        })
        .collect::<Result<Vec<_>>>()?;
    let lambdas = b
        .lambda_function_associations
        .iter()
        .map(|l| {
            cf::LambdaFunctionAssociation::builder()
                .lambda_function_arn(&l.lambda_arn)
                .event_type(cf::EventType::from(api_name(&l.event_type).as_str()))
                .include_body(l.include_body)
                .build()
                .map_err(ProvisionError::from)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BehaviorParts {
        allowed,
        cache_policy_id: policy(RefKind::CachePolicy, &b.cache_policy)?,
        origin_request_policy_id: policy(RefKind::OriginRequestPolicy, &b.origin_request_policy)?,
        response_headers_policy_id: policy(
            RefKind::ResponseHeadersPolicy,
            &b.response_headers_policy,
        )?,
        forwarded_values,
        ttls,
        trusted_key_groups: cf::TrustedKeyGroups::builder()
            .enabled(!b.trusted_key_groups.is_empty())
            .quantity(n(b.trusted_key_groups.len()))
            .set_items(if b.trusted_key_groups.is_empty() {
                None
            } else {
                Some(
                    b.trusted_key_groups
                        .iter()
                        .map(|g| refs.id(RefKind::KeyGroup, g))
                        .collect::<Result<Vec<_>>>()?,
                )
            })
            .build()?,
        trusted_signers: cf::TrustedSigners::builder()
            .enabled(false)
            .quantity(0)
            .build()?,
        functions: cf::FunctionAssociations::builder()
            .quantity(n(functions.len()))
            .set_items((!functions.is_empty()).then_some(functions))
            .build()?,
        lambdas: cf::LambdaFunctionAssociations::builder()
            .quantity(n(lambdas.len()))
            .set_items((!lambdas.is_empty()).then_some(lambdas))
            .build()?,
    })
}

/// One builder call chain for both behavior types: they have the same setters but no common trait.
macro_rules! fill_behavior {
    ($builder:expr, $b:expr, $p:expr) => {
        $builder
            .target_origin_id(&$b.target_origin_id)
            .viewer_protocol_policy(cf::ViewerProtocolPolicy::from(
                api_name(&$b.viewer_protocol_policy).as_str(),
            ))
            .allowed_methods($p.allowed)
            .smooth_streaming($b.smooth_streaming)
            .compress($b.compress)
            .set_cache_policy_id($p.cache_policy_id)
            .set_origin_request_policy_id($p.origin_request_policy_id)
            .set_response_headers_policy_id($p.response_headers_policy_id)
            .set_forwarded_values($p.forwarded_values)
            .set_min_ttl($p.ttls.map(|t| t.0))
            .set_default_ttl($p.ttls.map(|t| t.1))
            .set_max_ttl($p.ttls.map(|t| t.2))
            .field_level_encryption_id($b.field_level_encryption_id.clone().unwrap_or_default())
            .set_realtime_log_config_arn($b.realtime_log_config_arn.clone())
            .trusted_key_groups($p.trusted_key_groups)
            .trusted_signers($p.trusted_signers)
            .function_associations($p.functions)
            .lambda_function_associations($p.lambdas)
            .build()?
    };
}

fn default_behavior_to_api(
    b: &spec::CacheBehavior,
    refs: &Refs,
) -> Result<cf::DefaultCacheBehavior> {
    let p = behavior_parts(b, refs)?;
    Ok(fill_behavior!(cf::DefaultCacheBehavior::builder(), b, p))
}

fn behavior_to_api(b: &spec::CacheBehavior, refs: &Refs) -> Result<cf::CacheBehavior> {
    let p = behavior_parts(b, refs)?;
    let pattern = b.path_pattern.clone().unwrap_or_default();
    Ok(fill_behavior!(
        cf::CacheBehavior::builder().path_pattern(pattern),
        b,
        p
    ))
}

// ------------------------------------------------------------------ API → topology

/// The canonical topology distribution for a `DistributionConfig`; `id` is the distribution's
/// `ferry:id` tag (its id in the topology).
pub fn from_api(id: &str, c: &cf::DistributionConfig, refs: &Refs) -> Result<DistributionState> {
    let what = format!("distribution {id}");
    let vc = c.viewer_certificate.as_ref();
    // Some answers carry the unused certificate source as an empty string.
    let acm_arn = vc.and_then(|v| none_if_empty(v.acm_certificate_arn.clone()));
    let iam_id = vc.and_then(|v| none_if_empty(v.iam_certificate_id.clone()));
    let custom_cert = vc.is_some_and(|v| {
        v.cloud_front_default_certificate != Some(true) && (acm_arn.is_some() || iam_id.is_some())
    });
    let minimum_protocol_version = match vc.and_then(|v| v.minimum_protocol_version.as_ref()) {
        Some(v) if custom_cert => from_api_name(&what, v.as_str())?,
        _ => spec::MinimumProtocolVersion::default(),
    };
    let viewer_certificate = match vc {
        Some(v) if custom_cert => Some(spec::ViewerCertificate {
            acm_certificate_arn: acm_arn,
            iam_certificate_id: iam_id,
            cloudfront_default_certificate: false,
            ssl_support_method: match v.ssl_support_method.as_ref() {
                Some(cf::SslSupportMethod::SniOnly) | None => None,
                Some(m) => Some(from_api_name(&what, m.as_str())?),
            },
        }),
        _ => None,
    };
    let origins = c
        .origins
        .as_ref()
        .map(|o| o.items.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|o| origin_from_api(&what, o, refs))
        .collect::<Result<Vec<_>>>()?;
    let origin_groups = c
        .origin_groups
        .as_ref()
        .and_then(|g| g.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|g| origin_group_from_api(&what, g))
        .collect::<Result<Vec<_>>>()?;
    let default_cache_behavior = match &c.default_cache_behavior {
        Some(b) => behavior_from_api(&what, &BehaviorView::Default(b), refs)?,
        None => return Err(ProvisionError::shape(what, "no DefaultCacheBehavior")),
    };
    let cache_behaviors = c
        .cache_behaviors
        .as_ref()
        .and_then(|b| b.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|b| behavior_from_api(&what, &BehaviorView::Ordered(b), refs))
        .collect::<Result<Vec<_>>>()?;
    let custom_error_responses = c
        .custom_error_responses
        .as_ref()
        .and_then(|e| e.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            Ok(spec::CustomErrorResponse {
                error_code: u16::try_from(e.error_code)
                    .map_err(|_| ProvisionError::shape(&what, "error code out of range"))?,
                response_page_path: none_if_empty(e.response_page_path.clone()),
                response_code: match none_if_empty(e.response_code.clone()) {
                    Some(code) => Some(code.parse().map_err(|_| {
                        ProvisionError::shape(&what, format!("response code {code:?}"))
                    })?),
                    None => None,
                },
                error_caching_min_ttl: u64_of(e.error_caching_min_ttl),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let restrictions = match c
        .restrictions
        .as_ref()
        .and_then(|r| r.geo_restriction.as_ref())
    {
        Some(g) if g.restriction_type != cf::GeoRestrictionType::None => Some(spec::Restrictions {
            geo_restriction: spec::GeoRestriction {
                restriction_type: from_api_name(&what, g.restriction_type.as_str())?,
                locations: g.items.clone().unwrap_or_default(),
            },
        }),
        _ => None,
    };
    let logging_config = match &c.logging {
        Some(l) if l.enabled => Some(spec::LoggingConfig {
            bucket: l.bucket.clone(),
            prefix: l.prefix.clone(),
            include_cookies: l.include_cookies,
        }),
        _ => None,
    };
    Ok(DistributionState {
        distribution: spec::Distribution {
            id: id.to_string(),
            comment: none_if_empty(Some(c.comment.clone())),
            enabled: c.enabled,
            aliases: c
                .aliases
                .as_ref()
                .and_then(|a| a.items.clone())
                .unwrap_or_default(),
            default_root_object: none_if_empty(c.default_root_object.clone()),
            http_version: match &c.http_version {
                Some(v) => from_api_name(&what, v.as_str())?,
                None => spec::HttpVersion::default(),
            },
            minimum_protocol_version,
            is_ipv6_enabled: c.is_ipv6_enabled.unwrap_or(false),
            price_class: match &c.price_class {
                Some(cf::PriceClass::PriceClassAll) | None => None,
                Some(p) => Some(from_api_name(&what, p.as_str())?),
            },
            web_acl_id: none_if_empty(c.web_acl_id.clone()),
            origins,
            origin_groups,
            default_cache_behavior,
            cache_behaviors,
            custom_error_responses,
            restrictions,
            logging_config,
        },
        viewer_certificate,
    })
}

fn origin_from_api(what: &str, o: &cf::Origin, refs: &Refs) -> Result<spec::Origin> {
    let custom_headers: BTreeMap<String, String> = o
        .custom_headers
        .as_ref()
        .and_then(|h| h.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|h| (h.header_name.clone(), h.header_value.clone()))
        .collect();
    let custom_origin_config = match &o.custom_origin_config {
        Some(c) => {
            let protocols = c
                .origin_ssl_protocols
                .as_ref()
                .map(|p| p.items.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|p| from_api_name(what, p.as_str()))
                .collect::<Result<Vec<spec::OriginSslProtocol>>>()?;
            Some(spec::CustomOriginConfig {
                http_port: none_if(u16::try_from(c.http_port).ok(), 80),
                https_port: none_if(u16::try_from(c.https_port).ok(), 443),
                origin_protocol_policy: from_api_name(what, c.origin_protocol_policy.as_str())?,
                origin_ssl_protocols: if protocols == [spec::OriginSslProtocol::TLSv1_2] {
                    Vec::new()
                } else {
                    protocols
                },
                origin_read_timeout: none_if(u32_of(c.origin_read_timeout), 30),
                origin_keepalive_timeout: none_if(u32_of(c.origin_keepalive_timeout), 5),
                ip_address_type: match &c.ip_address_type {
                    Some(t) => Some(from_api_name(what, t.as_str())?),
                    None => None,
                },
                ca_bundle: None,
            })
        }
        None => None,
    };
    let domain_name = refs
        .known_name(RefKind::LoadBalancerDns, &o.domain_name)
        .unwrap_or_else(|| o.domain_name.clone());
    Ok(spec::Origin {
        id: o.id.clone(),
        domain_name,
        origin_path: o.origin_path.clone().unwrap_or_default(),
        custom_headers,
        connection_attempts: none_if(u32_of(o.connection_attempts), 3),
        connection_timeout: none_if(u32_of(o.connection_timeout), 10),
        response_completion_timeout: u32_of(o.response_completion_timeout),
        origin_shield: o
            .origin_shield
            .as_ref()
            .filter(|s| s.enabled)
            .map(|s| spec::OriginShield {
                enabled: true,
                origin_shield_region: s.origin_shield_region.clone(),
            }),
        origin_access_control_id: none_if_empty(o.origin_access_control_id.clone()),
        s3_origin_config: o.s3_origin_config.as_ref().map(|s| spec::S3OriginConfig {
            origin_access_identity: s.origin_access_identity.clone(),
        }),
        custom_origin_config,
    })
}

fn origin_group_from_api(what: &str, g: &cf::OriginGroup) -> Result<spec::OriginGroup> {
    Ok(spec::OriginGroup {
        id: g.id.clone(),
        members: g
            .members
            .as_ref()
            .map(|m| m.items.iter().map(|m| m.origin_id.clone()).collect())
            .unwrap_or_default(),
        failover_criteria: spec::FailoverCriteria {
            status_codes: g
                .failover_criteria
                .as_ref()
                .and_then(|f| f.status_codes.as_ref())
                .map(|s| {
                    s.items
                        .iter()
                        .filter_map(|c| u16::try_from(*c).ok())
                        .collect()
                })
                .unwrap_or_default(),
        },
        selection_criteria: match &g.selection_criteria {
            Some(s) => from_api_name(what, s.as_str())?,
            None => spec::SelectionCriteria::Default,
        },
    })
}

/// The two behavior types read through one view (they have the same fields but no common trait).
enum BehaviorView<'a> {
    Default(&'a cf::DefaultCacheBehavior),
    Ordered(&'a cf::CacheBehavior),
}

macro_rules! field {
    ($view:expr, $f:ident) => {
        match $view {
            BehaviorView::Default(b) => &b.$f,
            BehaviorView::Ordered(b) => &b.$f,
        }
    };
}

fn methods_from_api(what: &str, items: &[cf::Method]) -> Result<Option<Vec<Method>>> {
    let mut methods = items
        .iter()
        .map(|m| from_api_name(what, m.as_str()))
        .collect::<Result<Vec<Method>>>()?;
    methods.sort();
    methods.dedup();
    Ok((methods != DEFAULT_METHODS).then_some(methods))
}

fn behavior_from_api(what: &str, v: &BehaviorView, refs: &Refs) -> Result<spec::CacheBehavior> {
    let path_pattern = match v {
        BehaviorView::Default(_) => None,
        BehaviorView::Ordered(b) => Some(b.path_pattern.clone()),
    };
    let allowed = field!(v, allowed_methods).as_ref();
    let allowed_methods = match allowed {
        Some(a) => methods_from_api(what, &a.items)?,
        None => None,
    };
    let cached_methods = match allowed.and_then(|a| a.cached_methods.as_ref()) {
        Some(c) => methods_from_api(what, &c.items)?,
        None => None,
    };
    let cache_policy = field!(v, cache_policy_id)
        .as_ref()
        .filter(|id| !id.is_empty())
        .map(|id| refs.name(RefKind::CachePolicy, id));
    // With a cache policy, the legacy fields are not part of the configuration (some endpoints
    // still echo them back).
    let legacy = cache_policy.is_none();
    let forwarded_values = match field!(v, forwarded_values) {
        Some(fv) if legacy => {
            let cookies = fv.cookies.as_ref();
            let forwarded = spec::ForwardedValues {
                query_string: fv.query_string,
                query_string_cache_keys: fv
                    .query_string_cache_keys
                    .as_ref()
                    .and_then(|k| k.items.clone())
                    .unwrap_or_default(),
                cookies: spec::ForwardedCookies {
                    forward: match cookies {
                        Some(c) => from_api_name(what, c.forward.as_str())?,
                        None => spec::ForwardCookies::None,
                    },
                    whitelisted_names: cookies
                        .and_then(|c| c.whitelisted_names.as_ref())
                        .and_then(|w| w.items.clone())
                        .unwrap_or_default(),
                },
                headers: fv
                    .headers
                    .as_ref()
                    .and_then(|h| h.items.clone())
                    .unwrap_or_default(),
            };
            let empty = !forwarded.query_string
                && forwarded.query_string_cache_keys.is_empty()
                && forwarded.cookies.forward == spec::ForwardCookies::None
                && forwarded.headers.is_empty();
            (!empty).then_some(forwarded)
        }
        _ => None,
    };
    let ttl = |value: Option<i64>, default: i64| {
        if legacy {
            u64_of(none_if(value, default))
        } else {
            None
        }
    };
    let key_groups = field!(v, trusted_key_groups)
        .as_ref()
        .filter(|k| k.enabled)
        .and_then(|k| k.items.clone())
        .unwrap_or_default()
        .iter()
        .map(|id| refs.name(RefKind::KeyGroup, id))
        .collect();
    let function_associations = field!(v, function_associations)
        .as_ref()
        .and_then(|f| f.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|f| {
            Ok(spec::FunctionAssociation {
                event_type: from_api_name(what, f.event_type.as_str())?,
                function_arn: f.function_arn.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let lambda_function_associations = field!(v, lambda_function_associations)
        .as_ref()
        .and_then(|f| f.items.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|l| {
            Ok(spec::LambdaFunctionAssociation {
                event_type: from_api_name(what, l.event_type.as_str())?,
                lambda_arn: l.lambda_function_arn.clone(),
                include_body: l.include_body.unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(spec::CacheBehavior {
        path_pattern,
        target_origin_id: field!(v, target_origin_id).clone(),
        viewer_protocol_policy: from_api_name(what, field!(v, viewer_protocol_policy).as_str())?,
        allowed_methods,
        cached_methods,
        origin_request_policy: field!(v, origin_request_policy_id)
            .as_ref()
            .filter(|id| !id.is_empty())
            .map(|id| refs.name(RefKind::OriginRequestPolicy, id)),
        response_headers_policy: field!(v, response_headers_policy_id)
            .as_ref()
            .filter(|id| !id.is_empty())
            .map(|id| refs.name(RefKind::ResponseHeadersPolicy, id)),
        cache_policy,
        compress: field!(v, compress).unwrap_or(false),
        forwarded_values,
        min_ttl: ttl(*field!(v, min_ttl), LEGACY_TTLS.0),
        default_ttl: ttl(*field!(v, default_ttl), LEGACY_TTLS.1),
        max_ttl: ttl(*field!(v, max_ttl), LEGACY_TTLS.2),
        smooth_streaming: field!(v, smooth_streaming).unwrap_or(false),
        field_level_encryption_id: none_if_empty(field!(v, field_level_encryption_id).clone()),
        realtime_log_config_arn: none_if_empty(field!(v, realtime_log_config_arn).clone()),
        trusted_key_groups: key_groups,
        function_associations,
        lambda_function_associations,
    })
}

/// The canonical form of a topology distribution: the same as what AWS would give back.
pub fn canonical(state: &DistributionState, refs: &Refs) -> Result<DistributionState> {
    let config = to_api(state, "canonical", refs)?;
    from_api(&state.distribution.id, &config, refs)
}
