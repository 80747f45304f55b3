//! The serde layer of the CloudFront side: the `[edge]` section, the three policy kinds and
//! distributions with their origins, origin groups, cache behaviors and error responses.

use super::{ByteSize, Method};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSection {
    #[serde(default)]
    pub http: Option<String>,
    #[serde(default)]
    pub https: Option<String>,
    #[serde(default)]
    pub admin: Option<String>,
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(default)]
    pub cache_size: Option<ByteSize>,
    /// Objects larger than this are streamed to the viewer without being stored.
    #[serde(default)]
    pub cache_max_object_size: Option<ByteSize>,
    #[serde(default)]
    pub pop: Option<String>,
    /// Local only: the distribution that answers a Host that matches no alias (CloudFront's own
    /// `dxxxx.cloudfront.net` name plays this part).
    #[serde(default)]
    pub default_distribution: Option<String>,
    #[serde(default)]
    pub default_certificate: Option<CertificatePair>,
    #[serde(default)]
    pub certificates: Vec<CertificatePair>,
    #[serde(default)]
    pub threads: Option<usize>,
    /// Local only: pin thread N (of the edge and of the balancer) to the Nth CPU ferry may run
    /// on, and have the kernel hand each new connection to the thread on the CPU that received
    /// it (`SO_INCOMING_CPU`). For NICs with a queue per CPU and for local clients; not when one
    /// CPU takes all of the NIC's interrupts. Default false.
    #[serde(default)]
    pub pin_threads: Option<bool>,
    /// Local only: seconds a viewer has to send a whole request head once it has begun (nginx's
    /// `client_header_timeout`); a slower one is disconnected. Default 60.
    #[serde(default)]
    pub client_header_timeout: Option<u64>,
    /// Local only: seconds a viewer may take none of a response being sent to it before it is
    /// disconnected (nginx's `send_timeout`): a client that stops reading holds no connection,
    /// task or origin connection for ever. Default 60.
    #[serde(default)]
    pub send_timeout: Option<u64>,
    /// Local only: the country of viewer addresses for geo restriction, CIDR → ISO 3166-1
    /// alpha-2 code (`"127.0.0.2/32" = "FR"`); the longest prefix wins. CloudFront uses its GeoIP
    /// database; ferry has none.
    #[serde(default)]
    pub client_countries: std::collections::BTreeMap<String, String>,
}

/// A PEM certificate chain and its private key, paths relative to the topology file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatePair {
    pub cert: String,
    pub key: String,
}

// ---------------------------------------------------------------- policies

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CachePolicy {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub min_ttl: u64,
    #[serde(default)]
    pub default_ttl: Option<u64>,
    #[serde(default)]
    pub max_ttl: Option<u64>,
    #[serde(default)]
    pub enable_accept_encoding_gzip: bool,
    #[serde(default)]
    pub enable_accept_encoding_brotli: bool,
    #[serde(default)]
    pub headers_config: CacheHeadersConfig,
    #[serde(default)]
    pub cookies_config: CookiesConfig,
    #[serde(default)]
    pub query_strings_config: QueryStringsConfig,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheHeadersConfig {
    #[serde(default)]
    pub header_behavior: CacheHeaderBehavior,
    #[serde(default)]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CacheHeaderBehavior {
    #[default]
    None,
    Whitelist,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CookiesConfig {
    #[serde(default)]
    pub cookie_behavior: CookieBehavior,
    #[serde(default)]
    pub cookies: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CookieBehavior {
    #[default]
    None,
    Whitelist,
    AllExcept,
    All,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueryStringsConfig {
    #[serde(default)]
    pub query_string_behavior: QueryStringBehavior,
    #[serde(default)]
    pub query_strings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum QueryStringBehavior {
    #[default]
    None,
    Whitelist,
    AllExcept,
    All,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OriginRequestPolicy {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub headers_config: OriginHeadersConfig,
    #[serde(default)]
    pub cookies_config: CookiesConfig,
    #[serde(default)]
    pub query_strings_config: QueryStringsConfig,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OriginHeadersConfig {
    #[serde(default)]
    pub header_behavior: OriginHeaderBehavior,
    #[serde(default)]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OriginHeaderBehavior {
    #[default]
    None,
    Whitelist,
    AllViewer,
    AllViewerAndWhitelistCloudFront,
    AllExcept,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseHeadersPolicy {
    pub name: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub cors_config: Option<CorsConfig>,
    #[serde(default)]
    pub security_headers_config: Option<SecurityHeadersConfig>,
    #[serde(default)]
    pub custom_headers_config: Vec<CustomHeader>,
    #[serde(default)]
    pub remove_headers_config: Vec<RemoveHeader>,
    #[serde(default)]
    pub server_timing_headers_config: Option<ServerTimingHeadersConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    pub access_control_allow_credentials: bool,
    pub access_control_allow_headers: Vec<String>,
    pub access_control_allow_methods: Vec<String>,
    pub access_control_allow_origins: Vec<String>,
    #[serde(default)]
    pub access_control_expose_headers: Vec<String>,
    #[serde(default)]
    pub access_control_max_age_sec: Option<u64>,
    pub origin_override: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityHeadersConfig {
    #[serde(default)]
    pub content_security_policy: Option<ContentSecurityPolicy>,
    #[serde(default)]
    pub content_type_options: Option<ContentTypeOptions>,
    #[serde(default)]
    pub frame_options: Option<FrameOptions>,
    #[serde(default)]
    pub referrer_policy: Option<ReferrerPolicyHeader>,
    #[serde(default)]
    pub strict_transport_security: Option<StrictTransportSecurity>,
    #[serde(default)]
    pub xss_protection: Option<XssProtection>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSecurityPolicy {
    pub content_security_policy: String,
    pub r#override: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentTypeOptions {
    pub r#override: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrameOptions {
    pub frame_option: FrameOption,
    pub r#override: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum FrameOption {
    DENY,
    SAMEORIGIN,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReferrerPolicyHeader {
    pub referrer_policy: ReferrerPolicy,
    pub r#override: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ReferrerPolicy {
    #[serde(rename = "no-referrer")]
    NoReferrer,
    #[serde(rename = "no-referrer-when-downgrade")]
    NoReferrerWhenDowngrade,
    #[serde(rename = "origin")]
    Origin,
    #[serde(rename = "origin-when-cross-origin")]
    OriginWhenCrossOrigin,
    #[serde(rename = "same-origin")]
    SameOrigin,
    #[serde(rename = "strict-origin")]
    StrictOrigin,
    #[serde(rename = "strict-origin-when-cross-origin")]
    StrictOriginWhenCrossOrigin,
    #[serde(rename = "unsafe-url")]
    UnsafeUrl,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StrictTransportSecurity {
    pub access_control_max_age_sec: u64,
    #[serde(default)]
    pub include_subdomains: bool,
    #[serde(default)]
    pub preload: bool,
    pub r#override: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XssProtection {
    pub protection: bool,
    #[serde(default)]
    pub mode_block: bool,
    #[serde(default)]
    pub report_uri: Option<String>,
    pub r#override: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomHeader {
    pub header: String,
    pub value: String,
    pub r#override: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveHeader {
    pub header: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTimingHeadersConfig {
    pub enabled: bool,
    #[serde(default)]
    pub sampling_rate: Option<f64>,
}

// ---------------------------------------------------------------- distributions

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    pub id: String,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub default_root_object: Option<String>,
    #[serde(default)]
    pub http_version: HttpVersion,
    #[serde(default)]
    pub minimum_protocol_version: MinimumProtocolVersion,
    #[serde(default = "yes")]
    pub is_ipv6_enabled: bool,
    #[serde(default)]
    pub price_class: Option<PriceClass>,
    #[serde(default)]
    pub web_acl_id: Option<String>,
    #[serde(default)]
    pub origins: Vec<Origin>,
    #[serde(default)]
    pub origin_groups: Vec<OriginGroup>,
    pub default_cache_behavior: CacheBehavior,
    #[serde(default)]
    pub cache_behaviors: Vec<CacheBehavior>,
    #[serde(default)]
    pub custom_error_responses: Vec<CustomErrorResponse>,
    #[serde(default)]
    pub restrictions: Option<Restrictions>,
    #[serde(default)]
    pub logging_config: Option<LoggingConfig>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum HttpVersion {
    #[serde(rename = "http1.1")]
    Http1_1,
    #[default]
    #[serde(rename = "http2")]
    Http2,
    #[serde(rename = "http3")]
    Http3,
    #[serde(rename = "http2and3")]
    Http2And3,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum MinimumProtocolVersion {
    SSLv3,
    TLSv1,
    TLSv1_2016,
    #[serde(rename = "TLSv1.1_2016")]
    TLSv1_1_2016,
    #[serde(rename = "TLSv1.2_2018")]
    TLSv1_2_2018,
    #[serde(rename = "TLSv1.2_2019")]
    TLSv1_2_2019,
    #[default]
    #[serde(rename = "TLSv1.2_2021")]
    TLSv1_2_2021,
    #[serde(rename = "TLSv1.2_2025")]
    TLSv1_2_2025,
    #[serde(rename = "TLSv1.3_2025")]
    TLSv1_3_2025,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum PriceClass {
    PriceClass_100,
    PriceClass_200,
    PriceClass_All,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub id: String,
    pub domain_name: String,
    #[serde(default)]
    pub origin_path: String,
    #[serde(default)]
    pub custom_headers: BTreeMap<String, String>,
    #[serde(default)]
    pub connection_attempts: Option<u32>,
    #[serde(default)]
    pub connection_timeout: Option<u32>,
    #[serde(default)]
    pub response_completion_timeout: Option<u32>,
    #[serde(default)]
    pub origin_shield: Option<OriginShield>,
    #[serde(default)]
    pub origin_access_control_id: Option<String>,
    #[serde(default)]
    pub s3_origin_config: Option<S3OriginConfig>,
    #[serde(default)]
    pub custom_origin_config: Option<CustomOriginConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OriginShield {
    pub enabled: bool,
    #[serde(default)]
    pub origin_shield_region: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3OriginConfig {
    #[serde(default)]
    pub origin_access_identity: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomOriginConfig {
    #[serde(default)]
    pub http_port: Option<u16>,
    #[serde(default)]
    pub https_port: Option<u16>,
    pub origin_protocol_policy: OriginProtocolPolicy,
    #[serde(default)]
    pub origin_ssl_protocols: Vec<OriginSslProtocol>,
    #[serde(default)]
    pub origin_read_timeout: Option<u32>,
    #[serde(default)]
    pub origin_keepalive_timeout: Option<u32>,
    #[serde(default)]
    pub ip_address_type: Option<IpAddressType>,
    /// Local runs only (not an AWS field): a PEM file of CA certificates, relative to the topology
    /// file, trusted for this origin's certificate besides the system roots.
    #[serde(default)]
    pub ca_bundle: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginProtocolPolicy {
    HttpOnly,
    MatchViewer,
    HttpsOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum OriginSslProtocol {
    SSLv3,
    TLSv1,
    #[serde(rename = "TLSv1.1")]
    TLSv1_1,
    #[serde(rename = "TLSv1.2")]
    TLSv1_2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpAddressType {
    Ipv4,
    Ipv6,
    Dualstack,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OriginGroup {
    pub id: String,
    /// Primary first; exactly two.
    pub members: Vec<String>,
    pub failover_criteria: FailoverCriteria,
    #[serde(default)]
    pub selection_criteria: SelectionCriteria,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverCriteria {
    pub status_codes: Vec<u16>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectionCriteria {
    #[default]
    Default,
    MediaQualityBased,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheBehavior {
    /// Only in `cache_behaviors`; the default behavior has none.
    #[serde(default)]
    pub path_pattern: Option<String>,
    pub target_origin_id: String,
    pub viewer_protocol_policy: ViewerProtocolPolicy,
    #[serde(default)]
    pub allowed_methods: Option<Vec<Method>>,
    #[serde(default)]
    pub cached_methods: Option<Vec<Method>>,
    #[serde(default)]
    pub cache_policy: Option<String>,
    #[serde(default)]
    pub origin_request_policy: Option<String>,
    #[serde(default)]
    pub response_headers_policy: Option<String>,
    #[serde(default)]
    pub compress: bool,
    /// Legacy cache settings (instead of a cache policy).
    #[serde(default)]
    pub forwarded_values: Option<ForwardedValues>,
    #[serde(default)]
    pub min_ttl: Option<u64>,
    #[serde(default)]
    pub default_ttl: Option<u64>,
    #[serde(default)]
    pub max_ttl: Option<u64>,
    #[serde(default)]
    pub smooth_streaming: bool,
    #[serde(default)]
    pub field_level_encryption_id: Option<String>,
    #[serde(default)]
    pub realtime_log_config_arn: Option<String>,
    #[serde(default)]
    pub trusted_key_groups: Vec<String>,
    #[serde(default)]
    pub function_associations: Vec<FunctionAssociation>,
    #[serde(default)]
    pub lambda_function_associations: Vec<LambdaFunctionAssociation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViewerProtocolPolicy {
    AllowAll,
    HttpsOnly,
    RedirectToHttps,
}

/// How `redirect-to-https` answers a plain-HTTP request (CloudFront Developer Guide, "Require
/// HTTPS between viewers and CloudFront"): GET and HEAD get 301; other methods get 307, so that
/// the viewer resends the same method and body, on HTTP/1.1 and later, and 403 (`None`) below
/// HTTP/1.1, whose clients may not know 307.
pub fn https_redirect_status(method: &str, http_1_1_or_later: bool) -> Option<u16> {
    match method {
        "GET" | "HEAD" => Some(301),
        _ if http_1_1_or_later => Some(307),
        _ => None,
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedValues {
    pub query_string: bool,
    #[serde(default)]
    pub query_string_cache_keys: Vec<String>,
    pub cookies: ForwardedCookies,
    #[serde(default)]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedCookies {
    pub forward: ForwardCookies,
    #[serde(default)]
    pub whitelisted_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardCookies {
    None,
    Whitelist,
    All,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionAssociation {
    pub event_type: FunctionEventType,
    pub function_arn: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FunctionEventType {
    ViewerRequest,
    ViewerResponse,
    OriginRequest,
    OriginResponse,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaFunctionAssociation {
    pub event_type: FunctionEventType,
    pub lambda_arn: String,
    #[serde(default)]
    pub include_body: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomErrorResponse {
    pub error_code: u16,
    #[serde(default)]
    pub response_page_path: Option<String>,
    #[serde(default)]
    pub response_code: Option<u16>,
    #[serde(default)]
    pub error_caching_min_ttl: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Restrictions {
    pub geo_restriction: GeoRestriction,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeoRestriction {
    pub restriction_type: GeoRestrictionType,
    #[serde(default)]
    pub locations: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeoRestrictionType {
    None,
    Whitelist,
    Blacklist,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub include_cookies: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_redirects_keep_the_method_where_the_client_can() {
        let cases = [
            ("GET", true, Some(301)),
            ("HEAD", true, Some(301)),
            ("GET", false, Some(301)),
            ("POST", true, Some(307)),
            ("PUT", true, Some(307)),
            ("PATCH", true, Some(307)),
            ("DELETE", true, Some(307)),
            ("OPTIONS", true, Some(307)),
            ("POST", false, None),
            ("OPTIONS", false, None),
        ];
        for (method, http11, want) in cases {
            assert_eq!(
                https_redirect_status(method, http11),
                want,
                "{method} {http11}"
            );
        }
    }
}
