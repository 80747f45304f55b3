//! `ferry sign-url`: a CloudFront signed URL (or signed cookies) made as AWS documents it, with a
//! canned policy (`--expires`) or a custom one (`--policy FILE`), for testing behaviors with
//! `trusted_key_groups` against a running edge, or against CloudFront itself.

use anyhow::{bail, Context, Result};
use ferry_config::signed;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use std::path::Path;

/// When the signature expires: `1767225600` (seconds since the epoch) or `+3600` (from now).
pub fn expires(text: &str, now: u64) -> Result<u64> {
    let parsed = match text.strip_prefix('+') {
        Some(rest) => rest.parse::<u64>().map(|s| now.saturating_add(s)),
        None => text.parse::<u64>(),
    };
    parsed.with_context(|| {
        format!("--expires {text:?}: seconds since the epoch (1767225600) or from now (+3600)")
    })
}

fn private_key(path: &Path) -> Result<rsa::RsaPrivateKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the private key", path.display()))?;
    rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&pem))
        .with_context(|| {
            format!(
                "{}: not an RSA private key in PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`)",
                path.display()
            )
        })
}

/// CloudFront's signature of `policy`: RSA-SHA1, PKCS #1 v1.5, URL-safe base64.
pub fn signature(key: rsa::RsaPrivateKey, policy: &str) -> String {
    let signer = rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key);
    signed::encode(&signer.sign(policy.as_bytes()).to_bytes())
}

/// What to sign: `--expires` gives a canned policy, `--policy` a custom one.
pub enum Terms {
    Canned { expires: u64 },
    Custom { policy: String },
}

/// The signing parameters, as `(name, value)` pairs in CloudFront's order.
pub fn parameters(
    url: &str,
    terms: &Terms,
    key_pair_id: &str,
    private_key_file: &Path,
) -> Result<Vec<(&'static str, String)>> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("{url}: a signed URL is absolute (https://host/path)");
    }
    let key = private_key(private_key_file)?;
    Ok(match terms {
        Terms::Canned { expires } => {
            let policy = signed::canned_policy(&without_port(url), *expires);
            vec![
                ("Expires", expires.to_string()),
                ("Signature", signature(key, &policy)),
                ("Key-Pair-Id", key_pair_id.to_string()),
            ]
        }
        Terms::Custom { policy } => {
            signed::parse_policy(policy.as_bytes()).map_err(|_| {
                anyhow::anyhow!("the policy is not a CloudFront policy: one Statement with Condition.DateLessThan.AWS:EpochTime")
            })?;
            vec![
                ("Policy", signed::encode(policy.as_bytes())),
                ("Signature", signature(key, policy)),
                ("Key-Pair-Id", key_pair_id.to_string()),
            ]
        }
    })
}

/// The URL as CloudFront checks it, without an explicit port (CloudFront serves on 80 and 443
/// only, and the edge, which may listen on another port, checks the URL without it): the
/// signed URL itself keeps the port, to reach a local edge.
fn without_port(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once(':') {
        // Not the colons of an IPv6 address (`[::1]`).
        Some((host, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && !host.ends_with(':') =>
        {
            format!("{scheme}://{host}{tail}")
        }
        _ => url.to_string(),
    }
}

/// The URL with its signing parameters.
pub fn signed_url(url: &str, parameters: &[(&'static str, String)]) -> String {
    let query: Vec<String> = parameters.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_forms() {
        assert_eq!(expires("1767225600", 5).ok(), Some(1767225600));
        assert_eq!(expires("+60", 1000).ok(), Some(1060));
        assert!(expires("tomorrow", 0).is_err());
    }

    #[test]
    fn the_port_is_not_signed() {
        for (url, signed) in [
            ("http://site.test:8080/a?x=1", "http://site.test/a?x=1"),
            ("https://site.test/a", "https://site.test/a"),
            ("http://127.0.0.1:8080", "http://127.0.0.1"),
            ("http://[::1]:8080/a", "http://[::1]/a"),
            ("http://[::1]/a", "http://[::1]/a"),
        ] {
            assert_eq!(without_port(url), signed, "{url}");
        }
    }

    #[test]
    fn parameters_join_the_url() {
        let p = vec![
            ("Expires", "1".to_string()),
            ("Key-Pair-Id", "K".to_string()),
        ];
        assert_eq!(
            signed_url("https://a.test/x", &p),
            "https://a.test/x?Expires=1&Key-Pair-Id=K"
        );
        assert_eq!(
            signed_url("https://a.test/x?v=2", &p),
            "https://a.test/x?v=2&Expires=1&Key-Pair-Id=K"
        );
    }
}
