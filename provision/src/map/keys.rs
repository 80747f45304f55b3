//! The topology's public keys and key groups ↔ CloudFront's `PublicKeyConfig` and `KeyGroupConfig`.
//! Neither can be tagged, so, as for policies, the owning stack is written at the end of the
//! comment. CloudFront gives each public key an id of its own (the `Key-Pair-Id` signers send),
//! so the topology's `id` is not provisioned: import writes CloudFront's back.

use crate::error::Result;
use crate::map::policies::{owned_comment, owner};
use crate::refs::{RefKind, Refs};
use aws_sdk_cloudfront::types as cf;
use ferry_config::spec;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicKeyState {
    pub name: String,
    /// PEM, in canonical form (see [`canonical_pem`]).
    pub encoded_key: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyGroupState {
    pub name: String,
    /// Public keys by name, sorted (CloudFront keeps them as a set).
    pub items: Vec<String>,
    pub comment: Option<String>,
}

/// A PEM with its lines trimmed, `\n` line ends and one final newline: the same key written with
/// other whitespace is the same key.
pub fn canonical_pem(pem: &str) -> String {
    let mut out: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// A topology public key whose `encoded_key` is the PEM itself (the caller reads key files).
pub fn public_key_state(k: &spec::PublicKey) -> PublicKeyState {
    PublicKeyState {
        name: k.name.clone(),
        encoded_key: canonical_pem(&k.encoded_key),
        comment: k.comment.clone().filter(|c| !c.is_empty()),
    }
}

pub fn key_group_state(g: &spec::KeyGroup) -> KeyGroupState {
    let mut items = g.items.clone();
    items.sort();
    items.dedup();
    KeyGroupState {
        name: g.name.clone(),
        items,
        comment: g.comment.clone().filter(|c| !c.is_empty()),
    }
}

pub fn public_key_to_api(
    k: &PublicKeyState,
    caller_reference: &str,
    stack: &str,
) -> Result<cf::PublicKeyConfig> {
    Ok(cf::PublicKeyConfig::builder()
        .caller_reference(caller_reference)
        .name(&k.name)
        .encoded_key(&k.encoded_key)
        .comment(owned_comment(&k.comment, stack))
        .build()?)
}

/// A live public key: (owning stack, state).
pub fn public_key_from_api(s: &cf::PublicKeySummary) -> (Option<String>, PublicKeyState) {
    let (stack, comment) = owner(s.comment.as_deref());
    (
        stack,
        PublicKeyState {
            name: s.name.clone(),
            encoded_key: canonical_pem(&s.encoded_key),
            comment,
        },
    )
}

pub fn key_group_to_api(g: &KeyGroupState, stack: &str, refs: &Refs) -> Result<cf::KeyGroupConfig> {
    let items = g
        .items
        .iter()
        .map(|name| refs.id(RefKind::PublicKey, name))
        .collect::<Result<Vec<_>>>()?;
    Ok(cf::KeyGroupConfig::builder()
        .name(&g.name)
        .set_items(Some(items))
        .comment(owned_comment(&g.comment, stack))
        .build()?)
}

/// A live key group: (owning stack, state), its keys named as the topology names them.
pub fn key_group_from_api(c: &cf::KeyGroupConfig, refs: &Refs) -> (Option<String>, KeyGroupState) {
    let (stack, comment) = owner(c.comment.as_deref());
    let mut items: Vec<String> = c
        .items
        .iter()
        .map(|id| refs.name(RefKind::PublicKey, id))
        .collect();
    items.sort();
    (
        stack,
        KeyGroupState {
            name: c.name.clone(),
            items,
            comment,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----\n";

    #[test]
    fn pem_whitespace_does_not_matter() {
        for written in [
            PEM.to_string(),
            PEM.replace('\n', "\r\n"),
            format!("\n  {}  \n\n", PEM.trim()),
        ] {
            assert_eq!(canonical_pem(&written), PEM, "{written:?}");
        }
    }

    #[test]
    fn public_keys_and_key_groups_round_trip() {
        let key = spec::PublicKey {
            name: "signer".into(),
            id: Some("K-LOCAL".into()),
            encoded_key: PEM.replace('\n', "\r\n"),
            comment: Some("rotated 2026".into()),
        };
        let state = public_key_state(&key);
        let api = public_key_to_api(&state, "ref-1", "demo").unwrap();
        assert_eq!(
            api.comment.as_deref(),
            Some("rotated 2026 [ferry:stack=demo]")
        );
        let summary = cf::PublicKeySummary::builder()
            .id("K2JCJMDEHXQW5F")
            .name(&api.name)
            .created_time(aws_smithy_types::DateTime::from_secs(0))
            .encoded_key(&api.encoded_key)
            .set_comment(api.comment.clone())
            .build()
            .unwrap();
        assert_eq!(
            public_key_from_api(&summary),
            (Some("demo".to_string()), state)
        );

        let mut refs = Refs::new();
        refs.insert(RefKind::PublicKey, "signer", "K2JCJMDEHXQW5F");
        refs.insert(RefKind::PublicKey, "backup", "K3BACKUP");
        let group = key_group_state(&spec::KeyGroup {
            name: "signers".into(),
            items: vec!["signer".into(), "backup".into()],
            comment: None,
        });
        assert_eq!(group.items, vec!["backup", "signer"]);
        let api = key_group_to_api(&group, "demo", &refs).unwrap();
        assert_eq!(api.items, vec!["K3BACKUP", "K2JCJMDEHXQW5F"]);
        assert_eq!(
            key_group_from_api(&api, &refs),
            (Some("demo".to_string()), group)
        );
        refs.strict = true;
        let unknown = KeyGroupState {
            name: "g".into(),
            items: vec!["nobody".into()],
            comment: None,
        };
        assert!(key_group_to_api(&unknown, "demo", &refs).is_err());
    }
}
