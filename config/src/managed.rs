//! AWS's managed CloudFront policies: their names as the topology writes them (`Managed-<Name>`), their
//! fixed AWS ids, and what each one contains, so that the edge serves them exactly and the provisioner
//! references them by id.

use crate::spec::*;

/// The prefix the topology uses for AWS's managed policies.
pub const PREFIX: &str = "Managed-";

pub struct Managed<T> {
    /// Without the `Managed-` prefix, as AWS names it.
    pub name: &'static str,
    pub id: &'static str,
    pub policy: T,
}

fn strs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn cache(
    name: &'static str,
    id: &'static str,
    ttl: (u64, u64, u64),
    encodings: (bool, bool),
    headers: &[&str],
    cookie_behavior: CookieBehavior,
    query_strings: (QueryStringBehavior, &[&str]),
) -> Managed<CachePolicy> {
    Managed {
        name,
        id,
        policy: CachePolicy {
            name: format!("{PREFIX}{name}"),
            comment: None,
            min_ttl: ttl.0,
            default_ttl: Some(ttl.1),
            max_ttl: Some(ttl.2),
            enable_accept_encoding_gzip: encodings.0,
            enable_accept_encoding_brotli: encodings.1,
            headers_config: CacheHeadersConfig {
                header_behavior: if headers.is_empty() {
                    CacheHeaderBehavior::None
                } else {
                    CacheHeaderBehavior::Whitelist
                },
                headers: strs(headers),
            },
            cookies_config: CookiesConfig {
                cookie_behavior,
                cookies: Vec::new(),
            },
            query_strings_config: QueryStringsConfig {
                query_string_behavior: query_strings.0,
                query_strings: strs(query_strings.1),
            },
        },
    }
}

/// AWS's managed cache policies ("Use managed cache policies", CloudFront Developer Guide).
pub fn cache_policies() -> Vec<Managed<CachePolicy>> {
    use CookieBehavior as C;
    use QueryStringBehavior as Q;
    const YEAR: u64 = 31_536_000;
    const ORIGIN_HEADERS: &[&str] = &[
        "host",
        "origin",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ];
    vec![
        cache(
            "Amplify",
            "2e54312d-136d-493c-8eb9-b001f22f67d2",
            // Maximum TTL 600 seconds (10 minutes), not a year.
            (2, 2, 600),
            (true, true),
            &["Authorization", "CloudFront-Viewer-Country", "Host"],
            C::All,
            (Q::All, &[]),
        ),
        cache(
            "CachingDisabled",
            "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            (0, 0, 0),
            (false, false),
            &[],
            C::None,
            (Q::None, &[]),
        ),
        cache(
            "CachingOptimized",
            "658327ea-f89d-4fab-a63d-7e88639e58f6",
            (1, 86_400, YEAR),
            (true, true),
            &[],
            C::None,
            (Q::None, &[]),
        ),
        cache(
            "CachingOptimizedForUncompressedObjects",
            "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
            (1, 86_400, YEAR),
            (false, false),
            &[],
            C::None,
            (Q::None, &[]),
        ),
        cache(
            "Elemental-MediaPackage",
            "08627262-05a9-4f76-9ded-b50ca2e3a84f",
            (0, 86_400, YEAR),
            (true, false),
            &["origin"],
            C::None,
            (Q::Whitelist, &["aws.manifestfilter", "start", "end", "m"]),
        ),
        // AWS names these two without the `Managed-` prefix (`UseOriginCacheControlHeaders`); the
        // topology still writes `Managed-<Name>` for them, and the provisioner refers to them by id.
        cache(
            "UseOriginCacheControlHeaders",
            "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
            (0, 0, YEAR),
            (true, true),
            ORIGIN_HEADERS,
            C::All,
            (Q::None, &[]),
        ),
        cache(
            "UseOriginCacheControlHeaders-QueryStrings",
            "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
            (0, 0, YEAR),
            (true, true),
            ORIGIN_HEADERS,
            C::All,
            (Q::All, &[]),
        ),
    ]
}

fn origin_request(
    name: &'static str,
    id: &'static str,
    header_behavior: OriginHeaderBehavior,
    headers: &[&str],
    cookie_behavior: CookieBehavior,
    query_string_behavior: QueryStringBehavior,
) -> Managed<OriginRequestPolicy> {
    Managed {
        name,
        id,
        policy: OriginRequestPolicy {
            name: format!("{PREFIX}{name}"),
            comment: None,
            headers_config: OriginHeadersConfig {
                header_behavior,
                headers: strs(headers),
            },
            cookies_config: CookiesConfig {
                cookie_behavior,
                cookies: Vec::new(),
            },
            query_strings_config: QueryStringsConfig {
                query_string_behavior,
                query_strings: Vec::new(),
            },
        },
    }
}

/// The CloudFront-generated headers that `AllViewerAndCloudFrontHeaders-2022-06` adds.
pub const CLOUDFRONT_VIEWER_HEADERS: &[&str] = &[
    "CloudFront-Forwarded-Proto",
    "CloudFront-Is-Android-Viewer",
    "CloudFront-Is-Desktop-Viewer",
    "CloudFront-Is-IOS-Viewer",
    "CloudFront-Is-Mobile-Viewer",
    "CloudFront-Is-SmartTV-Viewer",
    "CloudFront-Is-Tablet-Viewer",
    "CloudFront-Viewer-Address",
    "CloudFront-Viewer-ASN",
    "CloudFront-Viewer-City",
    "CloudFront-Viewer-Country",
    "CloudFront-Viewer-Country-Name",
    "CloudFront-Viewer-Country-Region",
    "CloudFront-Viewer-Country-Region-Name",
    "CloudFront-Viewer-Http-Version",
    "CloudFront-Viewer-Latitude",
    "CloudFront-Viewer-Longitude",
    "CloudFront-Viewer-Metro-Code",
    "CloudFront-Viewer-Postal-Code",
    "CloudFront-Viewer-Time-Zone",
    "CloudFront-Viewer-TLS",
];

/// AWS's managed origin request policies ("Use managed origin request policies").
pub fn origin_request_policies() -> Vec<Managed<OriginRequestPolicy>> {
    use CookieBehavior as C;
    use OriginHeaderBehavior as H;
    use QueryStringBehavior as Q;
    vec![
        origin_request(
            "AllViewer",
            "216adef6-5c7f-47e4-b989-5492eafa07d3",
            H::AllViewer,
            &[],
            C::All,
            Q::All,
        ),
        origin_request(
            "AllViewerAndCloudFrontHeaders-2022-06",
            "33f36d7e-f396-46d9-90e0-52428a34d9dc",
            H::AllViewerAndWhitelistCloudFront,
            CLOUDFRONT_VIEWER_HEADERS,
            C::All,
            Q::All,
        ),
        origin_request(
            "AllViewerExceptHostHeader",
            "b689b0a8-53d0-40ab-baf2-68738e2966ac",
            H::AllExcept,
            &["host"],
            C::All,
            Q::All,
        ),
        origin_request(
            "CORS-CustomOrigin",
            "59781a5b-3903-41f3-afcb-af62929ccde1",
            H::Whitelist,
            &["origin"],
            C::None,
            Q::None,
        ),
        origin_request(
            "CORS-S3Origin",
            "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
            H::Whitelist,
            &[
                "origin",
                "access-control-request-headers",
                "access-control-request-method",
            ],
            C::None,
            Q::None,
        ),
        origin_request(
            "Elemental-MediaTailor-PersonalizedManifests",
            "775133bc-15f2-49f9-abea-afb2e0bf67d2",
            H::Whitelist,
            &[
                "origin",
                "access-control-request-headers",
                "x-forwarded-for",
                "access-control-request-method",
                "user-agent",
            ],
            C::None,
            Q::All,
        ),
        // Added by AWS in September 2025.
        origin_request(
            "HostHeaderOnly",
            "bf0718e1-ba1e-49d1-88b1-f726733018ae",
            H::Whitelist,
            &["host"],
            C::None,
            Q::None,
        ),
        origin_request(
            "UserAgentRefererHeaders",
            "acba4595-bd28-49b8-b9fe-13317c0390fa",
            H::Whitelist,
            &["user-agent", "referer"],
            C::None,
            Q::None,
        ),
    ]
}

/// `SimpleCORS`: only `Access-Control-Allow-Origin: *`, not overriding the origin's.
fn simple_cors() -> CorsConfig {
    CorsConfig {
        access_control_allow_credentials: false,
        access_control_allow_headers: Vec::new(),
        access_control_allow_methods: Vec::new(),
        access_control_allow_origins: strs(&["*"]),
        access_control_expose_headers: Vec::new(),
        access_control_max_age_sec: None,
        origin_override: false,
    }
}

/// `CORS-With-Preflight`: `Access-Control-Allow-Methods`, `Access-Control-Allow-Origin` and
/// `Access-Control-Expose-Headers`, none overriding the origin's; no `Access-Control-Allow-Headers`
/// and no `Access-Control-Max-Age`.
fn preflight_cors() -> CorsConfig {
    CorsConfig {
        access_control_allow_credentials: false,
        access_control_allow_headers: Vec::new(),
        access_control_allow_methods: strs(&[
            "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
        ]),
        access_control_allow_origins: strs(&["*"]),
        access_control_expose_headers: strs(&["*"]),
        access_control_max_age_sec: None,
        origin_override: false,
    }
}

/// `SecurityHeadersPolicy`: `X-Content-Type-Options: nosniff` replaces the origin's; the others
/// (`Referrer-Policy`, `Strict-Transport-Security: max-age=31536000`, `X-Frame-Options`,
/// `X-XSS-Protection: 1; mode=block`) give way to the origin's.
fn security_headers() -> SecurityHeadersConfig {
    SecurityHeadersConfig {
        content_security_policy: None,
        content_type_options: Some(ContentTypeOptions { r#override: true }),
        frame_options: Some(FrameOptions {
            frame_option: FrameOption::SAMEORIGIN,
            r#override: false,
        }),
        referrer_policy: Some(ReferrerPolicyHeader {
            referrer_policy: ReferrerPolicy::StrictOriginWhenCrossOrigin,
            r#override: false,
        }),
        strict_transport_security: Some(StrictTransportSecurity {
            access_control_max_age_sec: 31_536_000,
            include_subdomains: false,
            preload: false,
            r#override: false,
        }),
        xss_protection: Some(XssProtection {
            protection: true,
            mode_block: true,
            report_uri: None,
            r#override: false,
        }),
    }
}

fn response_headers(
    name: &'static str,
    id: &'static str,
    cors: Option<CorsConfig>,
    security: Option<SecurityHeadersConfig>,
) -> Managed<ResponseHeadersPolicy> {
    Managed {
        name,
        id,
        policy: ResponseHeadersPolicy {
            name: format!("{PREFIX}{name}"),
            comment: None,
            cors_config: cors,
            security_headers_config: security,
            custom_headers_config: Vec::new(),
            remove_headers_config: Vec::new(),
            server_timing_headers_config: None,
        },
    }
}

/// AWS's managed response headers policies ("Use managed response headers policies").
pub fn response_headers_policies() -> Vec<Managed<ResponseHeadersPolicy>> {
    vec![
        response_headers(
            "CORS-and-SecurityHeadersPolicy",
            "e61eb60c-9c35-4d20-a928-2b84e02af89c",
            Some(simple_cors()),
            Some(security_headers()),
        ),
        response_headers(
            "CORS-With-Preflight",
            "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
            Some(preflight_cors()),
            None,
        ),
        response_headers(
            "CORS-with-preflight-and-SecurityHeadersPolicy",
            "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
            Some(preflight_cors()),
            Some(security_headers()),
        ),
        response_headers(
            "SecurityHeadersPolicy",
            "67f7725c-6f97-4210-82d7-5512b31e9d03",
            None,
            Some(security_headers()),
        ),
        response_headers(
            "SimpleCORS",
            "60669652-455b-4ae9-85a4-c4c02393f86c",
            Some(simple_cors()),
            None,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_uuids_and_names_unique() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        let all: Vec<(&str, &str)> = cache_policies()
            .iter()
            .map(|m| (m.name, m.id))
            .chain(origin_request_policies().iter().map(|m| (m.name, m.id)))
            .chain(response_headers_policies().iter().map(|m| (m.name, m.id)))
            .collect();
        for (name, id) in all {
            assert!(ids.insert(id), "duplicate id {id}");
            assert!(names.insert(name), "duplicate name {name}");
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{name}: {id}");
            assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn caching_optimized_is_as_documented() {
        let all = cache_policies();
        let p = all
            .iter()
            .find(|m| m.name == "CachingOptimized")
            .map(|m| &m.policy);
        let p = p.expect("present");
        assert_eq!(
            (p.min_ttl, p.default_ttl, p.max_ttl),
            (1, Some(86_400), Some(31_536_000))
        );
        assert!(p.enable_accept_encoding_gzip && p.enable_accept_encoding_brotli);
        assert_eq!(p.name, "Managed-CachingOptimized");
    }
}
