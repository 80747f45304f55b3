//! The resources ferry provisions, each in its canonical form, with the key that identifies it in
//! a stack and the order in which kinds are created (deleted in reverse).

use crate::map::distribution::DistributionState;
use crate::map::elbv2::{
    ListenerState, LoadBalancerState, RuleState, TargetGroupState, TargetsState,
};
use crate::map::keys::{KeyGroupState, PublicKeyState};
use ferry_config::spec;
use serde::Serialize;
use serde_json::Value;

/// Resource kinds in creation order: what a kind refers to is created before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CachePolicy,
    OriginRequestPolicy,
    ResponseHeadersPolicy,
    PublicKey,
    KeyGroup,
    TargetGroup,
    LoadBalancer,
    Listener,
    Rule,
    Targets,
    Distribution,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::CachePolicy => "cache policy",
            Kind::OriginRequestPolicy => "origin request policy",
            Kind::ResponseHeadersPolicy => "response headers policy",
            Kind::PublicKey => "public key",
            Kind::KeyGroup => "key group",
            Kind::TargetGroup => "target group",
            Kind::LoadBalancer => "load balancer",
            Kind::Listener => "listener",
            Kind::Rule => "rule",
            Kind::Targets => "targets of",
            Kind::Distribution => "distribution",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Body {
    CachePolicy(spec::CachePolicy),
    OriginRequestPolicy(spec::OriginRequestPolicy),
    ResponseHeadersPolicy(spec::ResponseHeadersPolicy),
    PublicKey(PublicKeyState),
    KeyGroup(KeyGroupState),
    TargetGroup(TargetGroupState),
    LoadBalancer(LoadBalancerState),
    Listener(ListenerState),
    Rule(RuleState),
    Targets(TargetsState),
    Distribution(Box<DistributionState>),
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::CachePolicy(_) => Kind::CachePolicy,
            Body::OriginRequestPolicy(_) => Kind::OriginRequestPolicy,
            Body::ResponseHeadersPolicy(_) => Kind::ResponseHeadersPolicy,
            Body::PublicKey(_) => Kind::PublicKey,
            Body::KeyGroup(_) => Kind::KeyGroup,
            Body::TargetGroup(_) => Kind::TargetGroup,
            Body::LoadBalancer(_) => Kind::LoadBalancer,
            Body::Listener(_) => Kind::Listener,
            Body::Rule(_) => Kind::Rule,
            Body::Targets(_) => Kind::Targets,
            Body::Distribution(_) => Kind::Distribution,
        }
    }

    /// What names this resource within its kind and stack.
    pub fn key(&self) -> String {
        match self {
            Body::CachePolicy(p) => p.name.clone(),
            Body::OriginRequestPolicy(p) => p.name.clone(),
            Body::ResponseHeadersPolicy(p) => p.name.clone(),
            Body::PublicKey(k) => k.name.clone(),
            Body::KeyGroup(g) => g.name.clone(),
            Body::TargetGroup(t) => t.name.clone(),
            Body::LoadBalancer(l) => l.name.clone(),
            Body::Listener(l) => format!("{}:{}", l.load_balancer, l.port),
            Body::Rule(r) => format!("{}:{} priority {}", r.load_balancer, r.port, r.priority),
            Body::Targets(t) => t.target_group.clone(),
            Body::Distribution(d) => d.distribution.id.clone(),
        }
    }

    /// The canonical JSON that plans compare: no nulls, no empty lists or tables.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        prune(&mut value);
        value
    }
}

/// Drops nulls, empty arrays and empty objects, recursively: absent and empty mean the same.
pub fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                prune(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune),
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// How ferry finds a live resource again to change or delete it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LiveId {
    Distribution {
        id: String,
        arn: String,
        etag: String,
        caller_reference: String,
    },
    Arn(String),
    /// The id of a CloudFront policy, public key or key group.
    Policy(String),
}

impl LiveId {
    pub fn arn(&self) -> &str {
        match self {
            LiveId::Distribution { arn, .. } | LiveId::Arn(arn) | LiveId::Policy(arn) => arn,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LiveResource {
    pub body: Body,
    pub id: LiveId,
}
