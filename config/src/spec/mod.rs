//! The serde layer: the topology file exactly as written, field names the snake_case of the AWS API's.
//! Nothing here is trusted; `crate::validate` turns it into a `Topology`.
// Enum variants spell AWS's own values (GET, HTTP_301, PriceClass_100) so that they read as the API does.
#![allow(non_camel_case_types, clippy::upper_case_acronyms)]

mod balancer;
mod edge;
mod values;

pub use balancer::*;
pub use edge::*;
pub use values::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The `ferry:stack` tag value that marks what ferry owns in AWS.
    pub stack: String,
    #[serde(default)]
    pub edge: Option<EdgeSection>,
    /// Static names for local runs: name -> addresses.
    #[serde(default)]
    pub resolve: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub cache_policies: Vec<CachePolicy>,
    #[serde(default)]
    pub origin_request_policies: Vec<OriginRequestPolicy>,
    #[serde(default)]
    pub response_headers_policies: Vec<ResponseHeadersPolicy>,
    /// RSA public keys that verify signed URLs and cookies (CloudFront's PublicKey).
    #[serde(default)]
    pub public_keys: Vec<PublicKey>,
    /// Groups of public keys, named by behaviors' `trusted_key_groups` (CloudFront's KeyGroup).
    #[serde(default)]
    pub key_groups: Vec<KeyGroup>,
    #[serde(default)]
    pub distributions: Vec<Distribution>,
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default)]
    pub target_groups: Vec<TargetGroup>,
    #[serde(default)]
    pub aws: Option<AwsSection>,
    /// Local only: built-in HTTP servers that `ferry up` starts to stand in for real targets.
    #[serde(default)]
    pub demo_targets: Vec<DemoTarget>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    pub name: String,
    /// The `Key-Pair-Id` of URLs signed with its private key (CloudFront gives one like
    /// `K2JCJMDEHXQW5F`); the name when not set.
    #[serde(default)]
    pub id: Option<String>,
    /// The PEM `PUBLIC KEY`, or the path of a file holding it (relative to the topology file).
    pub encoded_key: String,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyGroup {
    pub name: String,
    /// Public keys, by name.
    pub items: Vec<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DemoTarget {
    pub name: String,
    pub listen: String,
}

/// What provision needs beyond the local topology.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    pub region: String,
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// Local zone name -> subnet id (and so its availability zone).
    #[serde(default)]
    pub subnets: BTreeMap<String, String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub viewer_certificate: Option<ViewerCertificate>,
    /// Listener port -> ACM certificate ARN.
    #[serde(default)]
    pub listener_certificates: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerCertificate {
    #[serde(default)]
    pub acm_certificate_arn: Option<String>,
    #[serde(default)]
    pub iam_certificate_id: Option<String>,
    #[serde(default)]
    pub cloudfront_default_certificate: bool,
    #[serde(default)]
    pub ssl_support_method: Option<SslSupportMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SslSupportMethod {
    #[serde(rename = "sni-only")]
    SniOnly,
    #[serde(rename = "vip")]
    Vip,
    #[serde(rename = "static-ip")]
    StaticIp,
}
