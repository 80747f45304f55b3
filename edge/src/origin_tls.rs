//! What an HTTPS origin's certificate is verified against.
//!
//! pingora's rustls connector verifies every origin certificate (chain, validity dates, and the
//! name: SNI and certificate name are the origin's `domain_name`) against the system roots, loaded
//! once per process. An origin whose `custom_origin_config` names a `ca_bundle` (local runs, where
//! origins have certificates from a private CA) gets a per-peer CA list instead: the system roots
//! plus the bundle's certificates, built here once per bundle file and shared by every connection.
//! pingora turns that list into a rustls root store on each new TLS connection (not on pooled
//! ones), a cost only bundle origins pay.
//!
//! rustls speaks TLS 1.2 and 1.3 only, so every `origin_ssl_protocols` list (SSLv3, TLSv1, TLSv1.1,
//! TLSv1.2) is honoured as "TLS 1.2 or later": the minimum rustls can offer.

use ferry_config::model::{Distribution, Origin};
use pingora::protocols::tls::CaType;
use pingora::tls::{CertificateDer, RootCertStore};
use pingora::utils::tls::WrappedX509;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

/// A bundle's CA list for `PeerOptions::ca`, and the pool key that keeps its connections apart
/// from those verified against other roots.
#[derive(Clone)]
pub struct BundleTrust {
    pub ca: Arc<CaType>,
    pub group_key: u64,
}

/// The CA lists of the topology's `ca_bundle` files.
#[derive(Default)]
pub struct OriginTrust {
    bundles: HashMap<PathBuf, BundleTrust>,
}

impl OriginTrust {
    pub fn new(distributions: &[Arc<Distribution>]) -> OriginTrust {
        let mut trust = OriginTrust::default();
        let mut system: Option<Vec<Vec<u8>>> = None;
        for origin in distributions.iter().flat_map(|d| d.origins.iter()) {
            let Some(bundle) = &origin.ca_bundle else {
                continue;
            };
            if trust.bundles.contains_key(&bundle.file) {
                continue;
            }
            let roots = system.get_or_insert_with(system_roots);
            let list: Vec<WrappedX509> = roots
                .iter()
                .chain(bundle.certificates.iter())
                .filter_map(|der| wrap(der.clone()))
                .collect();
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bundle.file.hash(&mut hasher);
            trust.bundles.insert(
                bundle.file.clone(),
                BundleTrust {
                    ca: Arc::from(list),
                    group_key: hasher.finish(),
                },
            );
        }
        trust
    }

    /// The CA list for an origin with a `ca_bundle`; `None` means the connector's system roots.
    pub fn for_origin(&self, origin: &Origin) -> Option<&BundleTrust> {
        origin
            .ca_bundle
            .as_ref()
            .and_then(|b| self.bundles.get(&b.file))
    }
}

/// The system's trusted roots (honouring `SSL_CERT_FILE` and `SSL_CERT_DIR`, as pingora's own
/// connector does), DER; none when they cannot be read.
fn system_roots() -> Vec<Vec<u8>> {
    match pingora::tls::load_native_certs() {
        Ok(certs) => certs.into_iter().map(|c| c.as_ref().to_vec()).collect(),
        Err(e) => {
            tracing::warn!("cannot read the system's trusted roots: {e}; HTTPS origins with a ca_bundle trust the bundle only");
            Vec::new()
        }
    }
}

/// A certificate in the form pingora takes, when both its X.509 parser and rustls accept it (a
/// certificate either refuses would fail every handshake with this list, or panic pingora).
fn wrap(der: Vec<u8>) -> Option<WrappedX509> {
    RootCertStore::empty()
        .add(CertificateDer::from(der.as_slice()))
        .ok()?;
    WrappedX509::try_new(der, |raw| {
        x509_parser::parse_x509_certificate(raw).map(|(_, cert)| cert)
    })
    .ok()
}
