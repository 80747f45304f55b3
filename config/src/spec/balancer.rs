//! The serde layer of the ALB side: load balancers with their zone nodes, listeners, rules,
//! conditions, actions, and target groups with health checks and targets.

use super::{AttrValue, CertificatePair, ConditionValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    pub name: String,
    /// What origins use as `domain_name`; resolves locally to the `nodes` addresses.
    pub dns_name: String,
    /// Zone name -> the address that zone's balancer node listens on.
    pub nodes: BTreeMap<String, String>,
    #[serde(default)]
    pub scheme: Option<Scheme>,
    #[serde(default)]
    pub ip_address_type: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
    #[serde(default)]
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    InternetFacing,
    Internal,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: u16,
    pub protocol: ListenerProtocol,
    #[serde(default)]
    pub ssl_policy: Option<String>,
    /// Local TLS material for HTTPS listeners (AWS takes ARNs from `[aws] listener_certificates`).
    #[serde(default)]
    pub default_certificate: Option<CertificatePair>,
    #[serde(default)]
    pub certificates: Vec<CertificatePair>,
    #[serde(default)]
    pub alpn_policy: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
    pub default_actions: Vec<Action>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ListenerProtocol {
    HTTP,
    HTTPS,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub priority: u32,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

/// One condition; which of the optional fields apply depends on `field`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: ConditionField,
    #[serde(default)]
    pub values: Vec<ConditionValue>,
    /// Only for `http-header`.
    #[serde(default)]
    pub http_header_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionField {
    HostHeader,
    PathPattern,
    HttpHeader,
    HttpRequestMethod,
    QueryString,
    SourceIp,
}

impl ConditionField {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionField::HostHeader => "host-header",
            ConditionField::PathPattern => "path-pattern",
            ConditionField::HttpHeader => "http-header",
            ConditionField::HttpRequestMethod => "http-request-method",
            ConditionField::QueryString => "query-string",
            ConditionField::SourceIp => "source-ip",
        }
    }
}

/// One action; which of the optional fields apply depends on `type`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub r#type: ActionType,
    #[serde(default)]
    pub order: Option<u32>,
    /// `forward` to a single target group.
    #[serde(default)]
    pub target_group: Option<String>,
    #[serde(default)]
    pub forward_config: Option<ForwardConfig>,
    #[serde(default)]
    pub redirect_config: Option<RedirectConfig>,
    #[serde(default)]
    pub fixed_response_config: Option<FixedResponseConfig>,
    #[serde(default)]
    pub authenticate_oidc_config: Option<AuthenticateOidcConfig>,
    #[serde(default)]
    pub authenticate_cognito_config: Option<AuthenticateCognitoConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionType {
    Forward,
    Redirect,
    FixedResponse,
    AuthenticateOidc,
    AuthenticateCognito,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Forward => "forward",
            ActionType::Redirect => "redirect",
            ActionType::FixedResponse => "fixed-response",
            ActionType::AuthenticateOidc => "authenticate-oidc",
            ActionType::AuthenticateCognito => "authenticate-cognito",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    pub target_groups: Vec<WeightedTargetGroup>,
    #[serde(default)]
    pub target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedTargetGroup {
    pub target_group: String,
    #[serde(default)]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupStickinessConfig {
    pub enabled: bool,
    #[serde(default)]
    pub duration_seconds: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    pub status_code: RedirectStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum RedirectStatus {
    HTTP_301,
    HTTP_302,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FixedResponseConfig {
    pub status_code: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub message_body: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateOidcConfig {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub user_info_endpoint: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub session_cookie_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub session_timeout: Option<u64>,
    #[serde(default)]
    pub authentication_request_extra_params: BTreeMap<String, String>,
    #[serde(default)]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateCognitoConfig {
    pub user_pool_arn: String,
    pub user_pool_client_id: String,
    pub user_pool_domain: String,
    #[serde(default)]
    pub session_cookie_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub session_timeout: Option<u64>,
    #[serde(default)]
    pub authentication_request_extra_params: BTreeMap<String, String>,
    #[serde(default)]
    pub on_unauthenticated_request: Option<OnUnauthenticatedRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnauthenticatedRequest {
    Deny,
    Allow,
    Authenticate,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub name: String,
    #[serde(default)]
    pub protocol: Option<TargetProtocol>,
    #[serde(default)]
    pub protocol_version: Option<ProtocolVersion>,
    pub port: u16,
    #[serde(default)]
    pub target_type: Option<TargetType>,
    #[serde(default)]
    pub ip_address_type: Option<String>,
    #[serde(default)]
    pub health_check: HealthCheck,
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
    #[serde(default)]
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum TargetProtocol {
    HTTP,
    HTTPS,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ProtocolVersion {
    HTTP1,
    HTTP2,
    GRPC,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Instance,
    Ip,
    Lambda,
    Alb,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub protocol: Option<TargetProtocol>,
    /// A port number or `traffic-port`.
    #[serde(default)]
    pub port: Option<AttrValue>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub interval_seconds: Option<u32>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub healthy_threshold_count: Option<u32>,
    #[serde(default)]
    pub unhealthy_threshold_count: Option<u32>,
    /// HTTP codes: `"200"`, `"200,202"`, `"200-299"`.
    #[serde(default)]
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    /// Defaults to the group's port.
    #[serde(default)]
    pub port: Option<u16>,
    pub zone: String,
}
