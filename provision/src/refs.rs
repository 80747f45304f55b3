//! Names in the topology ↔ identifiers in AWS: policy names ↔ policy ids (AWS's managed policies by
//! their fixed ids), target group names ↔ ARNs, a load balancer's local `dns_name` ↔ its AWS DNS name.
//! Plans map names that do not exist yet to a visible placeholder; apply resolves them as it creates.

use crate::error::{ProvisionError, Result};
use ferry_config::managed;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    CachePolicy,
    OriginRequestPolicy,
    ResponseHeadersPolicy,
    /// A public key's name ↔ the id CloudFront gave it.
    PublicKey,
    KeyGroup,
    TargetGroup,
    /// A load balancer's local `dns_name` ↔ the DNS name AWS gave it.
    LoadBalancerDns,
}

impl RefKind {
    fn label(self) -> &'static str {
        match self {
            RefKind::CachePolicy => "cache policy",
            RefKind::OriginRequestPolicy => "origin request policy",
            RefKind::ResponseHeadersPolicy => "response headers policy",
            RefKind::PublicKey => "public key",
            RefKind::KeyGroup => "key group",
            RefKind::TargetGroup => "target group",
            RefKind::LoadBalancerDns => "dns name of load balancer",
        }
    }
}

const PENDING: &str = "(known after apply: ";

#[derive(Debug, Clone, Default)]
pub struct Refs {
    by_name: HashMap<(RefKind, String), String>,
    by_id: HashMap<(RefKind, String), String>,
    /// Apply sets this: a name without an id is then an error, never a placeholder sent to AWS.
    pub strict: bool,
}

impl Refs {
    /// Refs that know AWS's managed policies.
    pub fn new() -> Refs {
        let mut refs = Refs::default();
        for p in managed::cache_policies() {
            refs.insert(RefKind::CachePolicy, &p.policy.name, p.id);
        }
        for p in managed::origin_request_policies() {
            refs.insert(RefKind::OriginRequestPolicy, &p.policy.name, p.id);
        }
        for p in managed::response_headers_policies() {
            refs.insert(RefKind::ResponseHeadersPolicy, &p.policy.name, p.id);
        }
        refs
    }

    pub fn insert(&mut self, kind: RefKind, name: &str, id: &str) {
        self.by_name
            .insert((kind, name.to_string()), id.to_string());
        self.by_id.insert((kind, id.to_string()), name.to_string());
    }

    /// The AWS identifier for a topology name.
    pub fn id(&self, kind: RefKind, name: &str) -> Result<String> {
        if let Some(id) = self.by_name.get(&(kind, name.to_string())) {
            return Ok(id.clone());
        }
        if self.strict {
            return Err(ProvisionError::Invalid(format!(
                "{} {name:?} does not exist in AWS",
                kind.label()
            )));
        }
        Ok(format!("{PENDING}{} {name})", kind.label()))
    }

    /// The topology name for an AWS identifier; an identifier ferry does not know stays as it is,
    /// so that a plan shows it as drift.
    pub fn name(&self, kind: RefKind, id: &str) -> String {
        if let Some(name) = self.by_id.get(&(kind, id.to_string())) {
            return name.clone();
        }
        let prefix = format!("{PENDING}{} ", kind.label());
        if let Some(name) = id.strip_prefix(&prefix).and_then(|s| s.strip_suffix(')')) {
            return name.to_string();
        }
        id.to_string()
    }

    /// The topology name of an id if ferry knows it (for origin domains that may or may not be a
    /// load balancer's).
    pub fn known_name(&self, kind: RefKind, id: &str) -> Option<String> {
        self.by_id.get(&(kind, id.to_string())).cloned()
    }

    /// The AWS id for a name if there is one, else the name unchanged (origin domains).
    pub fn id_or_same(&self, kind: RefKind, name: &str) -> String {
        self.by_name
            .get(&(kind, name.to_string()))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policies_have_their_aws_ids() {
        let refs = Refs::new();
        assert_eq!(
            refs.id(RefKind::CachePolicy, "Managed-CachingOptimized")
                .unwrap(),
            "658327ea-f89d-4fab-a63d-7e88639e58f6"
        );
        assert_eq!(
            refs.name(RefKind::CachePolicy, "658327ea-f89d-4fab-a63d-7e88639e58f6"),
            "Managed-CachingOptimized"
        );
    }

    #[test]
    fn unknown_names_are_placeholders_that_map_back_unless_strict() {
        let mut refs = Refs::new();
        let id = refs.id(RefKind::TargetGroup, "web").unwrap();
        assert!(id.contains("known after apply"));
        assert_eq!(refs.name(RefKind::TargetGroup, &id), "web");
        refs.strict = true;
        assert!(refs.id(RefKind::TargetGroup, "web").is_err());
        refs.insert(RefKind::TargetGroup, "web", "arn:tg/web");
        assert_eq!(refs.id(RefKind::TargetGroup, "web").unwrap(), "arn:tg/web");
        assert_eq!(
            refs.name(RefKind::TargetGroup, "arn:aws:unknown"),
            "arn:aws:unknown"
        );
    }
}
