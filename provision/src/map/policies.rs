//! The topology's custom cache and origin request policies ↔ CloudFront's `CachePolicyConfig` and
//! `OriginRequestPolicyConfig`. CloudFront cannot tag policies, so the stack that owns one is
//! written at the end of its comment (`[ferry:stack=NAME]`) and read back from there.

use crate::error::Result;
use crate::names::{api_name, from_api_name};
use aws_sdk_cloudfront::types as cf;
use ferry_config::spec;

fn n(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

fn marker(stack: &str) -> String {
    format!("[ferry:stack={stack}]")
}

/// The comment AWS keeps: the topology's comment and the owner marker.
pub fn owned_comment(comment: &Option<String>, stack: &str) -> String {
    match comment {
        Some(c) if !c.is_empty() => format!("{c} {}", marker(stack)),
        _ => marker(stack),
    }
}

/// The stack that owns a policy, and the topology's comment without the marker.
pub fn owner(comment: Option<&str>) -> (Option<String>, Option<String>) {
    let comment = comment.unwrap_or_default();
    match comment.rfind("[ferry:stack=") {
        Some(at) if comment.ends_with(']') => {
            let stack = comment[at + "[ferry:stack=".len()..comment.len() - 1].to_string();
            let rest = comment[..at].trim_end().to_string();
            (Some(stack), (!rest.is_empty()).then_some(rest))
        }
        _ => (None, (!comment.is_empty()).then(|| comment.to_string())),
    }
}

fn headers(items: &[String]) -> Result<cf::Headers> {
    Ok(cf::Headers::builder()
        .quantity(n(items.len()))
        .set_items((!items.is_empty()).then(|| items.to_vec()))
        .build()?)
}

fn cookie_names(items: &[String]) -> Result<cf::CookieNames> {
    Ok(cf::CookieNames::builder()
        .quantity(n(items.len()))
        .set_items((!items.is_empty()).then(|| items.to_vec()))
        .build()?)
}

fn query_names(items: &[String]) -> Result<cf::QueryStringNames> {
    Ok(cf::QueryStringNames::builder()
        .quantity(n(items.len()))
        .set_items((!items.is_empty()).then(|| items.to_vec()))
        .build()?)
}

fn i64_of(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

pub fn cache_policy_to_api(p: &spec::CachePolicy, stack: &str) -> Result<cf::CachePolicyConfig> {
    let params = cf::ParametersInCacheKeyAndForwardedToOrigin::builder()
        .enable_accept_encoding_gzip(p.enable_accept_encoding_gzip)
        .enable_accept_encoding_brotli(p.enable_accept_encoding_brotli)
        .headers_config(
            cf::CachePolicyHeadersConfig::builder()
                .header_behavior(cf::CachePolicyHeaderBehavior::from(
                    api_name(&p.headers_config.header_behavior).as_str(),
                ))
                .headers(headers(&p.headers_config.headers)?)
                .build()?,
        )
        .cookies_config(
            cf::CachePolicyCookiesConfig::builder()
                .cookie_behavior(cf::CachePolicyCookieBehavior::from(
                    api_name(&p.cookies_config.cookie_behavior).as_str(),
                ))
                .cookies(cookie_names(&p.cookies_config.cookies)?)
                .build()?,
        )
        .query_strings_config(
            cf::CachePolicyQueryStringsConfig::builder()
                .query_string_behavior(cf::CachePolicyQueryStringBehavior::from(
                    api_name(&p.query_strings_config.query_string_behavior).as_str(),
                ))
                .query_strings(query_names(&p.query_strings_config.query_strings)?)
                .build()?,
        )
        .build()?;
    // CloudFront's defaults when a TTL is left out: 1 day, and 1 year or the default if larger.
    let default_ttl = p.default_ttl.unwrap_or(86_400.max(p.min_ttl));
    let max_ttl = p.max_ttl.unwrap_or(31_536_000.max(default_ttl));
    Ok(cf::CachePolicyConfig::builder()
        .name(&p.name)
        .comment(owned_comment(&p.comment, stack))
        .min_ttl(i64_of(Some(p.min_ttl)).unwrap_or(0))
        .set_default_ttl(i64_of(Some(default_ttl)))
        .set_max_ttl(i64_of(Some(max_ttl)))
        .parameters_in_cache_key_and_forwarded_to_origin(params)
        .build()?)
}

fn items_of(items: Option<&Vec<String>>) -> Vec<String> {
    items.cloned().unwrap_or_default()
}

pub fn cache_policy_from_api(c: &cf::CachePolicyConfig) -> Result<spec::CachePolicy> {
    let what = format!("cache policy {}", c.name);
    let params = c.parameters_in_cache_key_and_forwarded_to_origin.as_ref();
    let h = params.and_then(|p| p.headers_config.as_ref());
    let k = params.and_then(|p| p.cookies_config.as_ref());
    let q = params.and_then(|p| p.query_strings_config.as_ref());
    Ok(spec::CachePolicy {
        name: c.name.clone(),
        comment: owner(c.comment.as_deref()).1,
        min_ttl: u64::try_from(c.min_ttl).unwrap_or(0),
        default_ttl: c.default_ttl.and_then(|v| u64::try_from(v).ok()),
        max_ttl: c.max_ttl.and_then(|v| u64::try_from(v).ok()),
        enable_accept_encoding_gzip: params.is_some_and(|p| p.enable_accept_encoding_gzip),
        enable_accept_encoding_brotli: params
            .and_then(|p| p.enable_accept_encoding_brotli)
            .unwrap_or(false),
        headers_config: spec::CacheHeadersConfig {
            header_behavior: match h {
                Some(h) => from_api_name(&what, h.header_behavior.as_str())?,
                None => spec::CacheHeaderBehavior::None,
            },
            headers: items_of(
                h.and_then(|h| h.headers.as_ref())
                    .and_then(|h| h.items.as_ref()),
            ),
        },
        cookies_config: spec::CookiesConfig {
            cookie_behavior: match k {
                Some(k) => from_api_name(&what, k.cookie_behavior.as_str())?,
                None => spec::CookieBehavior::None,
            },
            cookies: items_of(
                k.and_then(|k| k.cookies.as_ref())
                    .and_then(|c| c.items.as_ref()),
            ),
        },
        query_strings_config: spec::QueryStringsConfig {
            query_string_behavior: match q {
                Some(q) => from_api_name(&what, q.query_string_behavior.as_str())?,
                None => spec::QueryStringBehavior::None,
            },
            query_strings: items_of(
                q.and_then(|q| q.query_strings.as_ref())
                    .and_then(|s| s.items.as_ref()),
            ),
        },
    })
}

pub fn origin_request_policy_to_api(
    p: &spec::OriginRequestPolicy,
    stack: &str,
) -> Result<cf::OriginRequestPolicyConfig> {
    Ok(cf::OriginRequestPolicyConfig::builder()
        .name(&p.name)
        .comment(owned_comment(&p.comment, stack))
        .headers_config(
            cf::OriginRequestPolicyHeadersConfig::builder()
                .header_behavior(cf::OriginRequestPolicyHeaderBehavior::from(
                    api_name(&p.headers_config.header_behavior).as_str(),
                ))
                .headers(headers(&p.headers_config.headers)?)
                .build()?,
        )
        .cookies_config(
            cf::OriginRequestPolicyCookiesConfig::builder()
                .cookie_behavior(cf::OriginRequestPolicyCookieBehavior::from(
                    api_name(&p.cookies_config.cookie_behavior).as_str(),
                ))
                .cookies(cookie_names(&p.cookies_config.cookies)?)
                .build()?,
        )
        .query_strings_config(
            cf::OriginRequestPolicyQueryStringsConfig::builder()
                .query_string_behavior(cf::OriginRequestPolicyQueryStringBehavior::from(
                    api_name(&p.query_strings_config.query_string_behavior).as_str(),
                ))
                .query_strings(query_names(&p.query_strings_config.query_strings)?)
                .build()?,
        )
        .build()?)
}

pub fn origin_request_policy_from_api(
    c: &cf::OriginRequestPolicyConfig,
) -> Result<spec::OriginRequestPolicy> {
    let what = format!("origin request policy {}", c.name);
    let h = c.headers_config.as_ref();
    let k = c.cookies_config.as_ref();
    let q = c.query_strings_config.as_ref();
    Ok(spec::OriginRequestPolicy {
        name: c.name.clone(),
        comment: owner(c.comment.as_deref()).1,
        headers_config: spec::OriginHeadersConfig {
            header_behavior: match h {
                Some(h) => from_api_name(&what, h.header_behavior.as_str())?,
                None => spec::OriginHeaderBehavior::None,
            },
            headers: items_of(
                h.and_then(|h| h.headers.as_ref())
                    .and_then(|h| h.items.as_ref()),
            ),
        },
        cookies_config: spec::CookiesConfig {
            cookie_behavior: match k {
                Some(k) => from_api_name(&what, k.cookie_behavior.as_str())?,
                None => spec::CookieBehavior::None,
            },
            cookies: items_of(
                k.and_then(|k| k.cookies.as_ref())
                    .and_then(|c| c.items.as_ref()),
            ),
        },
        query_strings_config: spec::QueryStringsConfig {
            query_string_behavior: match q {
                Some(q) => from_api_name(&what, q.query_string_behavior.as_str())?,
                None => spec::QueryStringBehavior::None,
            },
            query_strings: items_of(
                q.and_then(|q| q.query_strings.as_ref())
                    .and_then(|s| s.items.as_ref()),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_marker_round_trips_through_the_comment() {
        assert_eq!(owned_comment(&None, "demo"), "[ferry:stack=demo]");
        assert_eq!(
            owner(Some("[ferry:stack=demo]")),
            (Some("demo".into()), None)
        );
        assert_eq!(
            owner(Some("api cache [ferry:stack=demo]")),
            (Some("demo".into()), Some("api cache".into()))
        );
        assert_eq!(
            owner(Some("made by hand")),
            (None, Some("made by hand".into()))
        );
        assert_eq!(owner(None), (None, None));
    }

    #[test]
    fn policies_round_trip_with_ttl_defaults_filled() {
        let p = spec::CachePolicy {
            name: "api-short".into(),
            comment: Some("short".into()),
            min_ttl: 0,
            default_ttl: Some(60),
            max_ttl: Some(300),
            enable_accept_encoding_gzip: true,
            enable_accept_encoding_brotli: true,
            headers_config: spec::CacheHeadersConfig {
                header_behavior: spec::CacheHeaderBehavior::Whitelist,
                headers: vec!["Accept-Language".into()],
            },
            cookies_config: spec::CookiesConfig::default(),
            query_strings_config: spec::QueryStringsConfig {
                query_string_behavior: spec::QueryStringBehavior::AllExcept,
                query_strings: vec!["utm_source".into()],
            },
        };
        let api = cache_policy_to_api(&p, "demo").unwrap();
        assert_eq!(api.comment.as_deref(), Some("short [ferry:stack=demo]"));
        let back = cache_policy_from_api(&api).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&p).unwrap()
        );
        let bare = spec::CachePolicy {
            default_ttl: None,
            max_ttl: None,
            ..p
        };
        let back = cache_policy_from_api(&cache_policy_to_api(&bare, "demo").unwrap()).unwrap();
        assert_eq!(
            (back.default_ttl, back.max_ttl),
            (Some(86_400), Some(31_536_000))
        );

        let o = spec::OriginRequestPolicy {
            name: "forward-auth".into(),
            comment: None,
            headers_config: spec::OriginHeadersConfig {
                header_behavior: spec::OriginHeaderBehavior::Whitelist,
                headers: vec!["Authorization".into()],
            },
            cookies_config: spec::CookiesConfig {
                cookie_behavior: spec::CookieBehavior::All,
                cookies: Vec::new(),
            },
            query_strings_config: spec::QueryStringsConfig {
                query_string_behavior: spec::QueryStringBehavior::All,
                query_strings: Vec::new(),
            },
        };
        let back =
            origin_request_policy_from_api(&origin_request_policy_to_api(&o, "demo").unwrap())
                .unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&o).unwrap()
        );
    }
}

// ------------------------------------------------------------------ response headers policies

fn i32_of(v: u64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub fn response_headers_policy_to_api(
    p: &spec::ResponseHeadersPolicy,
    stack: &str,
) -> Result<cf::ResponseHeadersPolicyConfig> {
    let cors = match &p.cors_config {
        Some(c) => Some(
            cf::ResponseHeadersPolicyCorsConfig::builder()
                .access_control_allow_credentials(c.access_control_allow_credentials)
                .access_control_allow_headers(
                    cf::ResponseHeadersPolicyAccessControlAllowHeaders::builder()
                        .quantity(n(c.access_control_allow_headers.len()))
                        .set_items(Some(c.access_control_allow_headers.clone()))
                        .build()?,
                )
                .access_control_allow_methods(
                    cf::ResponseHeadersPolicyAccessControlAllowMethods::builder()
                        .quantity(n(c.access_control_allow_methods.len()))
                        .set_items(Some(
                            c.access_control_allow_methods
                                .iter()
                                .map(|m| {
                                    cf::ResponseHeadersPolicyAccessControlAllowMethodsValues::from(
                                        m.as_str(),
                                    )
                                })
                                .collect(),
                        ))
                        .build()?,
                )
                .access_control_allow_origins(
                    cf::ResponseHeadersPolicyAccessControlAllowOrigins::builder()
                        .quantity(n(c.access_control_allow_origins.len()))
                        .set_items(Some(c.access_control_allow_origins.clone()))
                        .build()?,
                )
                .set_access_control_expose_headers(
                    (!c.access_control_expose_headers.is_empty())
                        .then(|| {
                            cf::ResponseHeadersPolicyAccessControlExposeHeaders::builder()
                                .quantity(n(c.access_control_expose_headers.len()))
                                .set_items(Some(c.access_control_expose_headers.clone()))
                                .build()
                        })
                        .transpose()?,
                )
                .set_access_control_max_age_sec(c.access_control_max_age_sec.map(i32_of))
                .origin_override(c.origin_override)
                .build()?,
        ),
        None => None,
    };
    let security = match &p.security_headers_config {
        Some(s) => {
            let csp = match &s.content_security_policy {
                Some(c) => Some(
                    cf::ResponseHeadersPolicyContentSecurityPolicy::builder()
                        .r#override(c.r#override)
                        .content_security_policy(&c.content_security_policy)
                        .build()?,
                ),
                None => None,
            };
            let cto = match &s.content_type_options {
                Some(c) => Some(
                    cf::ResponseHeadersPolicyContentTypeOptions::builder()
                        .r#override(c.r#override)
                        .build()?,
                ),
                None => None,
            };
            let frame = match &s.frame_options {
                Some(f) => Some(
                    cf::ResponseHeadersPolicyFrameOptions::builder()
                        .r#override(f.r#override)
                        .frame_option(cf::FrameOptionsList::from(
                            api_name(&f.frame_option).as_str(),
                        ))
                        .build()?,
                ),
                None => None,
            };
            let referrer = match &s.referrer_policy {
                Some(r) => Some(
                    cf::ResponseHeadersPolicyReferrerPolicy::builder()
                        .r#override(r.r#override)
                        .referrer_policy(cf::ReferrerPolicyList::from(
                            api_name(&r.referrer_policy).as_str(),
                        ))
                        .build()?,
                ),
                None => None,
            };
            let hsts = match &s.strict_transport_security {
                Some(h) => Some(
                    cf::ResponseHeadersPolicyStrictTransportSecurity::builder()
                        .r#override(h.r#override)
                        .include_subdomains(h.include_subdomains)
                        .preload(h.preload)
                        .access_control_max_age_sec(i32_of(h.access_control_max_age_sec))
                        .build()?,
                ),
                None => None,
            };
            let xss = match &s.xss_protection {
                Some(x) => Some(
                    cf::ResponseHeadersPolicyXssProtection::builder()
                        .r#override(x.r#override)
                        .protection(x.protection)
                        .mode_block(x.mode_block)
                        .set_report_uri(x.report_uri.clone())
                        .build()?,
                ),
                None => None,
            };
            Some(
                cf::ResponseHeadersPolicySecurityHeadersConfig::builder()
                    .set_content_security_policy(csp)
                    .set_content_type_options(cto)
                    .set_frame_options(frame)
                    .set_referrer_policy(referrer)
                    .set_strict_transport_security(hsts)
                    .set_xss_protection(xss)
                    .build(),
            )
        }
        None => None,
    };
    let custom = p
        .custom_headers_config
        .iter()
        .map(|h| {
            Ok(cf::ResponseHeadersPolicyCustomHeader::builder()
                .header(&h.header)
                .value(&h.value)
                .r#override(h.r#override)
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let remove = p
        .remove_headers_config
        .iter()
        .map(|h| {
            Ok(cf::ResponseHeadersPolicyRemoveHeader::builder()
                .header(&h.header)
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let timing = match &p.server_timing_headers_config {
        Some(t) => Some(
            cf::ResponseHeadersPolicyServerTimingHeadersConfig::builder()
                .enabled(t.enabled)
                .set_sampling_rate(t.sampling_rate)
                .build()?,
        ),
        None => None,
    };
    Ok(cf::ResponseHeadersPolicyConfig::builder()
        .name(&p.name)
        .comment(owned_comment(&p.comment, stack))
        .set_cors_config(cors)
        .set_security_headers_config(security)
        .custom_headers_config(
            cf::ResponseHeadersPolicyCustomHeadersConfig::builder()
                .quantity(n(custom.len()))
                .set_items((!custom.is_empty()).then_some(custom))
                .build()?,
        )
        .remove_headers_config(
            cf::ResponseHeadersPolicyRemoveHeadersConfig::builder()
                .quantity(n(remove.len()))
                .set_items((!remove.is_empty()).then_some(remove))
                .build()?,
        )
        .set_server_timing_headers_config(timing)
        .build()?)
}

pub fn response_headers_policy_from_api(
    c: &cf::ResponseHeadersPolicyConfig,
) -> Result<spec::ResponseHeadersPolicy> {
    let what = format!("response headers policy {}", c.name);
    let cors_config = c.cors_config.as_ref().map(|k| spec::CorsConfig {
        access_control_allow_credentials: k.access_control_allow_credentials,
        access_control_allow_headers: k
            .access_control_allow_headers
            .as_ref()
            .map(|h| h.items.clone())
            .unwrap_or_default(),
        access_control_allow_methods: k
            .access_control_allow_methods
            .as_ref()
            .map(|m| m.items.iter().map(|v| v.as_str().to_string()).collect())
            .unwrap_or_default(),
        access_control_allow_origins: k
            .access_control_allow_origins
            .as_ref()
            .map(|o| o.items.clone())
            .unwrap_or_default(),
        access_control_expose_headers: k
            .access_control_expose_headers
            .as_ref()
            .and_then(|e| e.items.clone())
            .unwrap_or_default(),
        access_control_max_age_sec: k
            .access_control_max_age_sec
            .and_then(|v| u64::try_from(v).ok()),
        origin_override: k.origin_override,
    });
    let security_headers_config = match &c.security_headers_config {
        Some(s) => {
            let out = spec::SecurityHeadersConfig {
                content_security_policy: s.content_security_policy.as_ref().map(|p| {
                    spec::ContentSecurityPolicy {
                        content_security_policy: p.content_security_policy.clone(),
                        r#override: p.r#override,
                    }
                }),
                content_type_options: s.content_type_options.as_ref().map(|o| {
                    spec::ContentTypeOptions {
                        r#override: o.r#override,
                    }
                }),
                frame_options: match &s.frame_options {
                    Some(f) => Some(spec::FrameOptions {
                        frame_option: from_api_name(&what, f.frame_option.as_str())?,
                        r#override: f.r#override,
                    }),
                    None => None,
                },
                referrer_policy: match &s.referrer_policy {
                    Some(r) => Some(spec::ReferrerPolicyHeader {
                        referrer_policy: from_api_name(&what, r.referrer_policy.as_str())?,
                        r#override: r.r#override,
                    }),
                    None => None,
                },
                strict_transport_security: s.strict_transport_security.as_ref().map(|h| {
                    spec::StrictTransportSecurity {
                        access_control_max_age_sec: u64::try_from(h.access_control_max_age_sec)
                            .unwrap_or(0),
                        include_subdomains: h.include_subdomains.unwrap_or(false),
                        preload: h.preload.unwrap_or(false),
                        r#override: h.r#override,
                    }
                }),
                xss_protection: s.xss_protection.as_ref().map(|x| spec::XssProtection {
                    protection: x.protection,
                    mode_block: x.mode_block.unwrap_or(false),
                    report_uri: x.report_uri.clone().filter(|u| !u.is_empty()),
                    r#override: x.r#override,
                }),
            };
            let empty = out.content_security_policy.is_none()
                && out.content_type_options.is_none()
                && out.frame_options.is_none()
                && out.referrer_policy.is_none()
                && out.strict_transport_security.is_none()
                && out.xss_protection.is_none();
            (!empty).then_some(out)
        }
        None => None,
    };
    Ok(spec::ResponseHeadersPolicy {
        name: c.name.clone(),
        comment: owner(c.comment.as_deref()).1,
        cors_config,
        security_headers_config,
        custom_headers_config: c
            .custom_headers_config
            .as_ref()
            .and_then(|h| h.items.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|h| spec::CustomHeader {
                header: h.header,
                value: h.value,
                r#override: h.r#override,
            })
            .collect(),
        remove_headers_config: c
            .remove_headers_config
            .as_ref()
            .and_then(|h| h.items.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|h| spec::RemoveHeader { header: h.header })
            .collect(),
        server_timing_headers_config: c.server_timing_headers_config.as_ref().map(|t| {
            spec::ServerTimingHeadersConfig {
                enabled: t.enabled,
                sampling_rate: t.sampling_rate,
            }
        }),
    })
}

#[cfg(test)]
mod response_headers_tests {
    use super::*;

    #[test]
    fn response_headers_policies_round_trip() {
        let p = spec::ResponseHeadersPolicy {
            name: "site-headers".into(),
            comment: None,
            cors_config: Some(spec::CorsConfig {
                access_control_allow_credentials: false,
                access_control_allow_headers: vec!["*".into()],
                access_control_allow_methods: vec!["GET".into(), "OPTIONS".into()],
                access_control_allow_origins: vec!["https://example.test".into()],
                access_control_expose_headers: vec!["X-Trace".into()],
                access_control_max_age_sec: Some(600),
                origin_override: true,
            }),
            security_headers_config: Some(spec::SecurityHeadersConfig {
                strict_transport_security: Some(spec::StrictTransportSecurity {
                    access_control_max_age_sec: 31_536_000,
                    include_subdomains: true,
                    preload: false,
                    r#override: true,
                }),
                frame_options: Some(spec::FrameOptions {
                    frame_option: spec::FrameOption::DENY,
                    r#override: true,
                }),
                referrer_policy: Some(spec::ReferrerPolicyHeader {
                    referrer_policy: spec::ReferrerPolicy::StrictOriginWhenCrossOrigin,
                    r#override: false,
                }),
                ..Default::default()
            }),
            custom_headers_config: vec![spec::CustomHeader {
                header: "X-Served-By".into(),
                value: "ferry".into(),
                r#override: true,
            }],
            remove_headers_config: vec![spec::RemoveHeader {
                header: "Server".into(),
            }],
            server_timing_headers_config: Some(spec::ServerTimingHeadersConfig {
                enabled: true,
                sampling_rate: Some(50.0),
            }),
        };
        let api = response_headers_policy_to_api(&p, "demo").unwrap();
        let back = response_headers_policy_from_api(&api).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&p).unwrap()
        );
    }
}
