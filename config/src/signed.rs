//! CloudFront signed URLs and signed cookies, checked as CloudFront checks them: a canned policy
//! (`Expires`) or a custom one (`Policy`: a resource with wildcards, `DateLessThan`,
//! `DateGreaterThan`, `IpAddress`), signed with RSA-SHA1 (PKCS #1 v1.5) by the private key of a
//! public key in one of the behavior's trusted key groups (`Key-Pair-Id`), in CloudFront's URL-safe
//! base64 (`+` `=` `/` written `-` `_` `~`). Query parameters win over the `CloudFront-*` cookies.

use crate::net::Cidr;
use crate::pattern::{Case, Wildcard};
use base64::Engine;
use std::collections::HashMap;
use std::net::IpAddr;

/// The query parameters of a signed URL, which CloudFront removes before the cache key and the
/// origin see the query.
pub const QUERY_PARAMS: [&str; 4] = ["Expires", "Policy", "Signature", "Key-Pair-Id"];

/// The public keys of a behavior's trusted key groups, by key id (PKCS #1 `RSAPublicKey` DER).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: HashMap<String, Vec<u8>>,
}

impl TrustedKeys {
    pub fn new(keys: HashMap<String, Vec<u8>>) -> TrustedKeys {
        TrustedKeys { keys }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Why a request is refused: CloudFront's 403 error code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    MissingKey,
    MissingSignature,
    MissingPolicy,
    UnknownKey,
    MalformedPolicy,
    AccessDenied,
}

impl Denial {
    pub fn code(self) -> &'static str {
        match self {
            Denial::MissingKey => "MissingKey",
            Denial::MissingSignature => "MissingSignature",
            Denial::MissingPolicy => "MissingPolicy",
            Denial::UnknownKey => "InvalidKey",
            Denial::MalformedPolicy => "MalformedPolicy",
            Denial::AccessDenied => "AccessDenied",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Denial::MissingKey => "Missing Key-Pair-Id query parameter or cookie value",
            Denial::MissingSignature => "Missing Signature query parameter or cookie value",
            Denial::MissingPolicy => "Missing Policy or Expires query parameter or cookie value",
            Denial::UnknownKey => "Unknown Key",
            Denial::MalformedPolicy => "Malformed Policy",
            Denial::AccessDenied => "Access denied",
        }
    }

    /// The XML body CloudFront answers with.
    pub fn body(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code(),
            self.message()
        )
    }
}

/// The signing parameters of a request, from its query or else its cookies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub expires: Option<String>,
    pub policy: Option<String>,
    pub signature: Option<String>,
    pub key_pair_id: Option<String>,
}

impl Credentials {
    /// Reads them from the raw query (parameters are not percent-decoded: CloudFront's values are
    /// URL-safe) and the `Cookie` header values.
    pub fn find(query: Option<&str>, cookies: &[&str]) -> Credentials {
        let mut from_query = Credentials::default();
        for pair in query.unwrap_or("").split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            from_query.set(name, value);
        }
        if from_query.key_pair_id.is_some() || from_query.signature.is_some() {
            return from_query;
        }
        let mut from_cookies = Credentials::default();
        for cookie in cookies.iter().flat_map(|c| c.split(';')) {
            let (name, value) = cookie.trim().split_once('=').unwrap_or((cookie.trim(), ""));
            if let Some(name) = name.strip_prefix("CloudFront-") {
                from_cookies.set(name, value);
            }
        }
        from_cookies
    }

    fn set(&mut self, name: &str, value: &str) {
        let slot = match name {
            "Expires" => &mut self.expires,
            "Policy" => &mut self.policy,
            "Signature" => &mut self.signature,
            "Key-Pair-Id" => &mut self.key_pair_id,
            _ => return,
        };
        *slot = Some(value.to_string());
    }
}

/// What a viewer request looks like to the check.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// `https://host/path?query`, the signing parameters left out of the query.
    pub url: &'a str,
    pub ip: IpAddr,
    /// Seconds since the Unix epoch.
    pub now: u64,
}

/// The policy statement a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `None`: any resource.
    pub resource: Option<String>,
    pub date_less_than: u64,
    pub date_greater_than: Option<u64>,
    pub source_ip: Option<String>,
}

/// The canned policy CloudFront signs for `Expires`: this exact text, no spaces.
pub fn canned_policy(resource: &str, expires: u64) -> String {
    format!(
        "{{\"Statement\":[{{\"Resource\":\"{resource}\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"
    )
}

/// Parses a custom policy's JSON.
pub fn parse_policy(json: &[u8]) -> Result<Policy, Denial> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| Denial::MalformedPolicy)?;
    let statements = value
        .get("Statement")
        .and_then(|s| s.as_array())
        .ok_or(Denial::MalformedPolicy)?;
    let [statement] = statements.as_slice() else {
        return Err(Denial::MalformedPolicy);
    };
    let resource = match statement.get("Resource") {
        None => None,
        Some(r) => Some(r.as_str().ok_or(Denial::MalformedPolicy)?.to_string()),
    };
    let condition = statement.get("Condition").ok_or(Denial::MalformedPolicy)?;
    let epoch = |name: &str| -> Result<Option<u64>, Denial> {
        match condition.get(name) {
            None => Ok(None),
            Some(c) => c
                .get("AWS:EpochTime")
                .and_then(|t| t.as_u64())
                .map(Some)
                .ok_or(Denial::MalformedPolicy),
        }
    };
    let date_less_than = epoch("DateLessThan")?.ok_or(Denial::MalformedPolicy)?;
    let date_greater_than = epoch("DateGreaterThan")?;
    let source_ip = match condition.get("IpAddress") {
        None => None,
        Some(ip) => Some(
            ip.get("AWS:SourceIp")
                .and_then(|s| s.as_str())
                .ok_or(Denial::MalformedPolicy)?
                .to_string(),
        ),
    };
    Ok(Policy {
        resource,
        date_less_than,
        date_greater_than,
        source_ip,
    })
}

/// CloudFront's URL-safe base64: standard base64 with `+` `=` `/` written `-` `_` `~`.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .ok()
}

/// Checks a request to a behavior with trusted key groups.
pub fn check(
    credentials: &Credentials,
    viewer: &Viewer<'_>,
    keys: &TrustedKeys,
) -> Result<(), Denial> {
    let key_id = credentials
        .key_pair_id
        .as_deref()
        .ok_or(Denial::MissingKey)?;
    let signature = credentials
        .signature
        .as_deref()
        .ok_or(Denial::MissingSignature)?;
    let key = keys.keys.get(key_id).ok_or(Denial::UnknownKey)?;
    let (signed, policy) = match (&credentials.policy, &credentials.expires) {
        (Some(encoded), _) => {
            let json = decode(encoded).ok_or(Denial::MalformedPolicy)?;
            let policy = parse_policy(&json)?;
            (json, policy)
        }
        (None, Some(expires)) => {
            let expires: u64 = expires.parse().map_err(|_| Denial::MalformedPolicy)?;
            let text = canned_policy(viewer.url, expires);
            let policy = Policy {
                resource: Some(viewer.url.to_string()),
                date_less_than: expires,
                date_greater_than: None,
                source_ip: None,
            };
            (text.into_bytes(), policy)
        }
        (None, None) => return Err(Denial::MissingPolicy),
    };
    let signature = decode(signature).ok_or(Denial::AccessDenied)?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        key,
    )
    .verify(&signed, &signature)
    .map_err(|_| Denial::AccessDenied)?;
    if !policy_admits(&policy, viewer) {
        return Err(Denial::AccessDenied);
    }
    Ok(())
}

/// The policy's conditions, once its signature holds.
fn policy_admits(policy: &Policy, viewer: &Viewer<'_>) -> bool {
    let resource_ok = policy.resource.as_deref().is_none_or(|r| {
        // A resource names the whole URL, wildcards allowed; `http*://` covers both schemes.
        Wildcard::new(r, Case::Sensitive).matches(viewer.url)
    });
    let ip_ok = policy
        .source_ip
        .as_deref()
        .is_none_or(|cidr| Cidr::parse(cidr).is_ok_and(|c| c.contains(viewer.ip)));
    resource_ok
        && ip_ok
        && viewer.now < policy.date_less_than
        && policy
            .date_greater_than
            .is_none_or(|after| viewer.now > after)
}

/// The query without the signing parameters (`None` when nothing is left).
pub fn strip_query(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(n, _)| n);
            !QUERY_PARAMS.contains(&name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The PKCS #1 `RSAPublicKey` DER of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) holding an RSA key.
pub fn rsa_public_key(pem: &str) -> Result<Vec<u8>, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM public key: {e}"))?;
    if block.label != "PUBLIC KEY" {
        return Err(format!(
            "a `{}` PEM block, where a `PUBLIC KEY` is expected",
            block.label
        ));
    }
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&block.contents)
        .map_err(|e| format!("not a SubjectPublicKeyInfo: {e}"))?;
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err("not an RSA key: CloudFront's key groups hold RSA public keys".into());
    }
    Ok(spki.subject_public_key.data.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_policy_text_is_cloudfronts() {
        assert_eq!(
            canned_policy(
                "https://d111111abcdef8.cloudfront.net/image.jpg",
                1357034400
            ),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1357034400}}}]}"#
        );
    }

    #[test]
    fn url_safe_base64_both_ways() {
        let bytes = [0xfbu8, 0xff, 0xfe, 0x3e];
        let text = encode(&bytes);
        assert!(!text.contains(['+', '/', '=']), "{text}");
        assert_eq!(decode(&text), Some(bytes.to_vec()));
        assert_eq!(encode(b"?>"), "Pz4_");
    }

    #[test]
    fn credentials_from_query_then_cookies() {
        let q = Credentials::find(
            Some("a=1&Expires=10&Signature=s&Key-Pair-Id=K1"),
            &["CloudFront-Key-Pair-Id=K2"],
        );
        assert_eq!(q.key_pair_id.as_deref(), Some("K1"));
        assert_eq!(q.expires.as_deref(), Some("10"));
        let c = Credentials::find(
            Some("a=1"),
            &[
                "x=1; CloudFront-Policy=p; CloudFront-Signature=s",
                "CloudFront-Key-Pair-Id=K2",
            ],
        );
        assert_eq!(
            (
                c.policy.as_deref(),
                c.signature.as_deref(),
                c.key_pair_id.as_deref()
            ),
            (Some("p"), Some("s"), Some("K2"))
        );
        assert_eq!(
            strip_query(Some("a=1&Expires=10&Signature=s&Key-Pair-Id=K1")),
            Some("a=1".into())
        );
        assert_eq!(strip_query(Some("Expires=10&Signature=s")), None);
    }

    #[test]
    fn custom_policies_parse_and_admit() {
        let json = br#"{"Statement":[{"Resource":"https://a.test/videos/*","Condition":{"DateLessThan":{"AWS:EpochTime":2000},"DateGreaterThan":{"AWS:EpochTime":1000},"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}}}]}"#;
        let p = parse_policy(json).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(p.date_less_than, 2000);
        let viewer = |url, ip: &str, now| Viewer {
            url,
            ip: ip.parse().unwrap_or_else(|e| panic!("{e}")),
            now,
        };
        let cases = [
            (
                viewer("https://a.test/videos/1.mp4", "192.0.2.9", 1500),
                true,
            ),
            (
                viewer("https://a.test/videos/1.mp4", "192.0.2.9", 2000),
                false,
            ),
            (
                viewer("https://a.test/videos/1.mp4", "192.0.2.9", 1000),
                false,
            ),
            (
                viewer("https://a.test/videos/1.mp4", "198.51.100.1", 1500),
                false,
            ),
            (
                viewer("https://a.test/images/1.jpg", "192.0.2.9", 1500),
                false,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(policy_admits(&p, &v), want, "{v:?}");
        }
        for bad in [
            &br#"{"Statement":[]}"#[..],
            br#"{"Statement":[{"Condition":{}}]}"#,
            br#"{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":"soon"}}}]}"#,
            b"not json",
        ] {
            assert_eq!(parse_policy(bad), Err(Denial::MalformedPolicy));
        }
    }
}
