//! TLS for viewers and listeners: PEM certificates and keys loaded and checked with errors that name
//! the file, SNI certificate choice (exact name, then wildcard, then the default certificate), the
//! CloudFront `MinimumProtocolVersion` and ELB `ssl_policy` names mapped onto what rustls can do, and
//! a reader of the TLS ClientHello so that a TLS 1.3-only name can refuse a TLS 1.2 handshake.
//!
//! rustls speaks TLS 1.2 and TLS 1.3 only, with AEAD suites and ECDHE key exchange only (the suites
//! of CloudFront's `TLSv1.2_2021` policy, and TLS 1.3's three). So every AWS policy that also allows
//! SSLv3, TLS 1.0 or TLS 1.1, or CBC and RSA key-exchange suites, is honoured as "TLS 1.2 or later"
//! here: stricter than AWS, never weaker. A policy that allows TLS 1.3 only is honoured exactly.

use crate::model::{Alias, CertificateFiles, Distribution};
use crate::spec::{HttpVersion, MinimumProtocolVersion};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{SignatureScheme, SupportedProtocolVersion};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// PEM files larger than this are refused unread: no certificate chain or key comes near it.
pub const MAX_PEM_SIZE: u64 = 1 << 20;

// ---------------------------------------------------------------- loading

/// Which file of a `{ cert, key }` pair an error is about: the topology field to point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemField {
    Cert,
    Key,
}

impl PemField {
    pub fn as_str(self) -> &'static str {
        match self {
            PemField::Cert => "cert",
            PemField::Key => "key",
        }
    }
}

/// Why a certificate or its key cannot be used. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", .file.display())]
    Read {
        field: PemField,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {MAX_PEM_SIZE} bytes: is this the right file?", .file.display())]
    TooLarge { field: PemField, file: PathBuf },
    #[error("{} is not valid PEM: {detail}", .file.display())]
    Pem {
        field: PemField,
        file: PathBuf,
        detail: String,
    },
    #[error("{} holds no certificate (a PEM `-----BEGIN CERTIFICATE-----` block){hint}", .file.display())]
    NoCertificate { file: PathBuf, hint: &'static str },
    #[error("{} holds no private key (a PEM `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block){hint}", .file.display())]
    NoKey { file: PathBuf, hint: &'static str },
    #[error("{}: certificate {index} in the file cannot be parsed as X.509: {detail}", .file.display())]
    BadCertificate {
        file: PathBuf,
        /// 1-based position in the file.
        index: usize,
        detail: String,
    },
    #[error("{}: the private key cannot be used (RSA, ECDSA P-256/P-384 and Ed25519 keys are supported): {detail}", .file.display())]
    BadKey { file: PathBuf, detail: String },
    #[error("the private key in {} does not match the certificate in {}{hint}", .key.display(), .cert.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        hint: &'static str,
    },
}

impl TlsError {
    /// The field of the `{ cert, key }` pair the error is about.
    pub fn field(&self) -> PemField {
        match self {
            TlsError::Read { field, .. }
            | TlsError::TooLarge { field, .. }
            | TlsError::Pem { field, .. } => *field,
            TlsError::NoCertificate { .. } | TlsError::BadCertificate { .. } => PemField::Cert,
            TlsError::NoKey { .. } | TlsError::BadKey { .. } | TlsError::KeyMismatch { .. } => {
                PemField::Key
            }
        }
    }
}

/// A certificate chain with its key, checked, and the DNS names its leaf certificate covers.
#[derive(Clone)]
pub struct LoadedCertificate {
    pub files: CertificateFiles,
    pub key: Arc<CertifiedKey>,
    /// The leaf's subjectAltName DNS names, lowercased: `www.example.test`, `*.example.test`.
    pub dns_names: Vec<String>,
}

impl fmt::Debug for LoadedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCertificate")
            .field("cert", &self.files.cert)
            .field("dns_names", &self.dns_names)
            .finish_non_exhaustive()
    }
}

/// The PEM sections of a file, in order.
fn read_pem(field: PemField, file: &Path) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    let read_error = |source| TlsError::Read {
        field,
        file: file.to_path_buf(),
        source,
    };
    let handle = std::fs::File::open(file).map_err(read_error)?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_PEM_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_SIZE {
        return Err(TlsError::TooLarge {
            field,
            file: file.to_path_buf(),
        });
    }
    let sections = <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            field,
            file: file.to_path_buf(),
            detail: e.to_string(),
        })?;
    if sections.is_empty() {
        // Say why when it is recognisably something else.
        let detail = if bytes.first() == Some(&0x30) {
            "no PEM block found; this looks like binary DER: convert it with `openssl x509 -inform der` (or `openssl pkey -inform der`)"
        } else if bytes.windows(9).any(|w| w == b"ENCRYPTED") {
            "the key is encrypted: ferry needs an unencrypted key (`openssl pkey -in KEY -out KEY.plain`)"
        } else {
            "no PEM block (`-----BEGIN ...-----`) found"
        };
        return Err(TlsError::Pem {
            field,
            file: file.to_path_buf(),
            detail: detail.to_string(),
        });
    }
    Ok(sections)
}

fn is_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// Reads `files.cert` (the leaf certificate first, then its intermediates) and `files.key`, and
/// checks that each parses and that the key belongs to the leaf.
pub fn load(files: &CertificateFiles) -> Result<LoadedCertificate, TlsError> {
    let cert_sections = read_pem(PemField::Cert, &files.cert)?;
    let chain: Vec<CertificateDer<'static>> = cert_sections
        .iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der.clone()))
        .collect();
    if chain.is_empty() {
        let hint = if cert_sections.iter().any(|(k, _)| is_key(*k)) {
            ": it holds a private key; are `cert` and `key` swapped?"
        } else {
            ""
        };
        return Err(TlsError::NoCertificate {
            file: files.cert.clone(),
            hint,
        });
    }
    let mut dns_names = Vec::new();
    for (i, der) in chain.iter().enumerate() {
        let parsed = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| TlsError::BadCertificate {
                file: files.cert.clone(),
                index: i + 1,
                detail: e.to_string(),
            })?
            .1;
        if i == 0 {
            dns_names = leaf_dns_names(&parsed).map_err(|detail| TlsError::BadCertificate {
                file: files.cert.clone(),
                index: 1,
                detail,
            })?;
        }
    }

    let key_sections = read_pem(PemField::Key, &files.key)?;
    let Some(key_der) = key_sections
        .into_iter()
        .find(|(kind, _)| is_key(*kind))
        .and_then(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
    else {
        return Err(TlsError::NoKey {
            file: files.key.clone(),
            hint: if files.key == files.cert {
                ""
            } else {
                ": give the key's file as `key`"
            },
        });
    };
    let key = any_supported_type(&key_der).map_err(|e| TlsError::BadKey {
        file: files.key.clone(),
        detail: e.to_string(),
    })?;
    let certified = CertifiedKey::new(chain.clone(), key.clone());
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        let later = chain.iter().skip(1).any(|c| matches_key(c, key.clone()));
        return Err(TlsError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            hint: if later {
                ": it matches a later certificate in the file; put the server's own (leaf) certificate first, then its intermediates"
            } else {
                ""
            },
        });
    }
    Ok(LoadedCertificate {
        files: files.clone(),
        key: Arc::new(certified),
        dns_names,
    })
}

fn matches_key(cert: &CertificateDer<'static>, key: Arc<dyn SigningKey>) -> bool {
    CertifiedKey::new(vec![cert.clone()], key)
        .keys_match()
        .is_ok()
}

fn leaf_dns_names(
    cert: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<Vec<String>, String> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("its subjectAltName extension: {e}"))?;
    let mut names: Vec<String> = san
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(name) => Some(normalise(name)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    names.dedup();
    Ok(names)
}

/// Lowercased, without a trailing dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

// ---------------------------------------------------------------- SNI

/// The certificates of one TLS listener, chosen by SNI: a name in a certificate's subjectAltName
/// exactly, then a wildcard name (`*.example.test` covers one label in front of `example.test`, as
/// clients check it), then the default certificate. Among certificates with the same name, the
/// first whose key the client can use (RSA or ECDSA, from its signature schemes) wins, in the
/// order `certificates` lists them, the default certificate's own names last.
pub struct CertificateStore {
    certificates: Vec<LoadedCertificate>,
    /// Index into `certificates`.
    default: Option<usize>,
    exact: HashMap<String, Vec<usize>>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<String, Vec<usize>>,
}

impl fmt::Debug for CertificateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateStore")
            .field("certificates", &self.certificates)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl CertificateStore {
    pub fn new(
        default: Option<LoadedCertificate>,
        certificates: Vec<LoadedCertificate>,
    ) -> CertificateStore {
        let mut all = certificates;
        let default = default.map(|d| {
            all.push(d);
            all.len() - 1
        });
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, c) in all.iter().enumerate() {
            for name in &c.dns_names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(parent) => (&mut wildcard, parent),
                    None => (&mut exact, name.as_str()),
                };
                let list = map.entry(key.to_string()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        CertificateStore {
            certificates: all,
            default,
            exact,
            wildcard,
        }
    }

    /// Loads the files and builds the store; the first error stops it.
    pub fn load(
        default: Option<&CertificateFiles>,
        certificates: &[CertificateFiles],
    ) -> Result<CertificateStore, TlsError> {
        let default = default.map(load).transpose()?;
        let others = certificates.iter().map(load).collect::<Result<_, _>>()?;
        Ok(CertificateStore::new(default, others))
    }

    pub fn certificates(&self) -> &[LoadedCertificate] {
        &self.certificates
    }

    pub fn default_certificate(&self) -> Option<&LoadedCertificate> {
        self.default.and_then(|i| self.certificates.get(i))
    }

    /// The certificates in the order they are tried for `server_name` (no SNI: the default only).
    fn candidates(&self, server_name: Option<&str>) -> Vec<usize> {
        let mut out = Vec::new();
        if let Some(name) = server_name.map(normalise) {
            if let Some(list) = self.exact.get(&name) {
                out.extend(list);
            }
            // A wildcard covers exactly one label: `a.example.test`, not `example.test` nor
            // `a.b.example.test`.
            if let Some((label, parent)) = name.split_once('.') {
                if !label.is_empty() {
                    if let Some(list) = self.wildcard.get(parent) {
                        let more: Vec<usize> =
                            list.iter().copied().filter(|i| !out.contains(i)).collect();
                        out.extend(more);
                    }
                }
            }
        }
        if let Some(d) = self.default {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// The certificate for a ClientHello's SNI and signature schemes: the first candidate whose key
    /// the client can verify; when none can, the first candidate anyway (the handshake then fails
    /// with rustls's alert). `None` only without any matching or default certificate.
    pub fn choose(
        &self,
        server_name: Option<&str>,
        signature_schemes: &[SignatureScheme],
    ) -> Option<&LoadedCertificate> {
        let candidates = self.candidates(server_name);
        let usable = candidates.iter().find(|i| {
            self.certificates
                .get(**i)
                .is_some_and(|c| c.key.key.choose_scheme(signature_schemes).is_some())
        });
        usable
            .or(candidates.first())
            .and_then(|i| self.certificates.get(*i))
    }
}

impl ResolvesServerCert for CertificateStore {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(client_hello.server_name(), client_hello.signature_schemes())
            .map(|c| c.key.clone())
    }
}

/// The certificates of one listener, which a topology reload replaces: a handshake uses the store
/// that is current when its ClientHello arrives; connections already up keep theirs.
#[derive(Debug)]
pub struct ReloadableCertificates {
    store: arc_swap::ArcSwap<CertificateStore>,
}

impl ReloadableCertificates {
    pub fn new(store: Arc<CertificateStore>) -> Arc<ReloadableCertificates> {
        Arc::new(ReloadableCertificates {
            store: arc_swap::ArcSwap::new(store),
        })
    }

    pub fn replace(&self, store: Arc<CertificateStore>) {
        self.store.store(store);
    }

    pub fn current(&self) -> Arc<CertificateStore> {
        self.store.load_full()
    }
}

impl ResolvesServerCert for ReloadableCertificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.store.load().resolve(client_hello)
    }
}

/// A connection's TLS version and cipher as rustls names them (`TLSv1_3`,
/// `TLS13_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), in the OpenSSL names
/// that CloudFront's and ALB's access logs use (`TLSv1.3`, `TLS_AES_128_GCM_SHA256`,
/// `ECDHE-RSA-AES128-GCM-SHA256`).
pub fn log_names(version: &str, cipher: &str) -> (String, String) {
    let version = version.replace('_', ".");
    let cipher = if let Some(rest) = cipher.strip_prefix("TLS13_") {
        format!("TLS_{rest}")
    } else if let Some((kx, enc)) = cipher
        .strip_prefix("TLS_")
        .and_then(|c| c.split_once("_WITH_"))
    {
        let enc = enc
            .replace("AES_128", "AES128")
            .replace("AES_256", "AES256");
        // OpenSSL names ChaCha20 suites without their hash.
        let enc = enc
            .strip_suffix("POLY1305_SHA256")
            .map_or(enc.clone(), |e| format!("{e}POLY1305"));
        format!("{kx}-{enc}").replace('_', "-")
    } else {
        cipher.to_string()
    };
    (version, cipher)
}

// ---------------------------------------------------------------- versions

/// The lowest TLS version a listener or a name accepts, in what rustls can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MinimumTls {
    /// TLS 1.2 and TLS 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl MinimumTls {
    /// The rustls protocol versions this allows.
    pub fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static BOTH: [&SupportedProtocolVersion; 2] =
            [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            MinimumTls::Tls12 => &BOTH,
            MinimumTls::Tls13 => &TLS13,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MinimumTls::Tls12 => "TLSv1.2",
            MinimumTls::Tls13 => "TLSv1.3",
        }
    }
}

/// CloudFront's `MinimumProtocolVersion` on rustls. `TLSv1.3_2025` is exact (TLS 1.3 only).
/// `TLSv1.2_2018` to `TLSv1.2_2025` are TLS 1.2 or later, with rustls's suites (those of
/// `TLSv1.2_2021`) whatever the year. `SSLv3`, `TLSv1`, `TLSv1_2016` and `TLSv1.1_2016` cannot be
/// honoured (rustls has no SSLv3, TLS 1.0 nor 1.1): they too mean TLS 1.2 or later, so viewers that
/// only speak an older version are refused where CloudFront would serve them.
pub fn cloudfront_minimum(version: MinimumProtocolVersion) -> MinimumTls {
    match version {
        MinimumProtocolVersion::TLSv1_3_2025 => MinimumTls::Tls13,
        MinimumProtocolVersion::SSLv3
        | MinimumProtocolVersion::TLSv1
        | MinimumProtocolVersion::TLSv1_2016
        | MinimumProtocolVersion::TLSv1_1_2016
        | MinimumProtocolVersion::TLSv1_2_2018
        | MinimumProtocolVersion::TLSv1_2_2019
        | MinimumProtocolVersion::TLSv1_2_2021
        | MinimumProtocolVersion::TLSv1_2_2025 => MinimumTls::Tls12,
    }
}

/// Whether a distribution's `http_version` lets viewers negotiate HTTP/2 (ferry serves no HTTP/3:
/// `http2and3` is HTTP/2, `http3` alone is HTTP/1.1).
pub fn allows_http2(version: HttpVersion) -> bool {
    matches!(version, HttpVersion::Http2 | HttpVersion::Http2And3)
}

/// The policy ELB applies when a listener names none through the API (the console's is newer).
pub const ELB_DEFAULT_POLICY: &str = "ELBSecurityPolicy-2016-08";

/// ELB's predefined security policies for Application Load Balancers, each with the lowest TLS
/// version it allows (1.0 and 1.1 written as they are; rustls makes them 1.2).
const ELB_POLICIES: &[(&str, (u8, u8))] = &[
    ("ELBSecurityPolicy-TLS13-1-2-2021-06", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-1-2021-06", (1, 1)),
    ("ELBSecurityPolicy-TLS13-1-0-2021-06", (1, 0)),
    ("ELBSecurityPolicy-TLS13-1-3-2021-06", (1, 3)),
    ("ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", (1, 3)),
    ("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04", (1, 1)),
    ("ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04", (1, 0)),
    ("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", (1, 3)),
    ("ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09", (1, 2)),
    ("ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09", (1, 3)),
    ("ELBSecurityPolicy-2016-08", (1, 0)),
    ("ELBSecurityPolicy-2015-05", (1, 0)),
    ("ELBSecurityPolicy-TLS-1-0-2015-04", (1, 0)),
    ("ELBSecurityPolicy-TLS-1-1-2017-01", (1, 1)),
    ("ELBSecurityPolicy-TLS-1-2-2017-01", (1, 2)),
    ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", (1, 2)),
    ("ELBSecurityPolicy-FS-2018-06", (1, 0)),
    ("ELBSecurityPolicy-FS-1-1-2019-08", (1, 1)),
    ("ELBSecurityPolicy-FS-1-2-2019-08", (1, 2)),
    ("ELBSecurityPolicy-FS-1-2-Res-2019-08", (1, 2)),
    ("ELBSecurityPolicy-FS-1-2-Res-2020-10", (1, 2)),
];

/// Every ELB security policy name ferry knows, for "did you mean".
pub fn elb_policy_names() -> impl Iterator<Item = &'static str> {
    ELB_POLICIES.iter().map(|(name, _)| *name)
}

/// An ELB `ssl_policy` on rustls (`None`: not a policy ELB has). The `TLS13-1-3` policies
/// (including their FIPS and PQ variants) allow TLS 1.3 only and are exact; every other policy
/// allows TLS 1.2, and those that also allow TLS 1.0 or 1.1 (`ELBSecurityPolicy-2016-08`, the
/// default) are TLS 1.2 or later here. FIPS and PQ variants get rustls's ring suites and groups
/// (no FIPS module, no ML-KEM key exchange on ring).
///
/// A `ELBSecurityPolicy-TLS13-1-N-...` name that is not in ferry's table (a policy newer than
/// ferry) is read from its name: its TLS 1.N minimum is in it.
pub fn elb_policy_minimum(name: &str) -> Option<MinimumTls> {
    let version = match ELB_POLICIES.iter().find(|(n, _)| *n == name) {
        Some((_, version)) => *version,
        None => {
            let rest = name.strip_prefix("ELBSecurityPolicy-TLS13-1-")?;
            let mut chars = rest.chars();
            let minor = chars.next()?.to_digit(10).filter(|d| *d <= 3)?;
            if chars.next() != Some('-') || !ends_with_date(chars.as_str()) {
                return None;
            }
            (1, minor as u8)
        }
    };
    Some(if version >= (1, 3) {
        MinimumTls::Tls13
    } else {
        MinimumTls::Tls12
    })
}

/// Whether an ELB security policy allows TLS 1.3: only the `ELBSecurityPolicy-TLS13-*` ones do
/// (`ELBSecurityPolicy-2016-08`, the API's default, and the `FS-*` and `TLS-1-*` policies stop at
/// TLS 1.2).
pub fn elb_policy_allows_tls13(name: &str) -> bool {
    name.starts_with("ELBSecurityPolicy-TLS13-")
}

/// Whether `s` ends with a policy's `YYYY-MM` release date.
fn ends_with_date(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(date) = b.len().checked_sub(7).and_then(|i| b.get(i..)) else {
        return false;
    };
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    let month = (u32::from(date[5]) * 10 + u32::from(date[6])).wrapping_sub(u32::from(b'0') * 11);
    digits(&date[..4]) && date[4] == b'-' && digits(&date[5..]) && (1..=12).contains(&month)
}

// ---------------------------------------------------------------- ClientHello

/// What the handshake's first message says, as far as the version policy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloInfo {
    /// The SNI host name, lowercased, without a trailing dot.
    pub server_name: Option<String>,
    /// Whether the client offers TLS 1.3 (`supported_versions` lists 0x0304), so that a server that
    /// allows it negotiates TLS 1.3.
    pub offers_tls13: bool,
}

/// The outcome of reading the bytes a client sent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloScan {
    /// Not enough bytes yet for the whole ClientHello.
    Incomplete,
    Hello(HelloInfo),
    /// Not a TLS ClientHello, or a malformed one.
    Invalid(&'static str),
}

/// The largest ClientHello read (a TLS handshake message can be longer, but no real hello is).
pub const MAX_HELLO: usize = 0xffff;

/// Reads a ClientHello from the start of a connection's bytes, across TLS records.
pub fn scan_client_hello(bytes: &[u8]) -> HelloScan {
    let mut handshake: Vec<u8> = Vec::new();
    let mut rest = bytes;
    loop {
        if handshake.len() >= 4 {
            if handshake[0] != 1 {
                return HelloScan::Invalid("the first handshake message is not a ClientHello");
            }
            let length = u32::from_be_bytes([0, handshake[1], handshake[2], handshake[3]]) as usize;
            if length > MAX_HELLO {
                return HelloScan::Invalid("the ClientHello is too large");
            }
            if handshake.len() >= 4 + length {
                return match parse_hello(&handshake[4..4 + length]) {
                    Some(info) => HelloScan::Hello(info),
                    None => HelloScan::Invalid("malformed ClientHello"),
                };
            }
        }
        if rest.len() < 5 {
            return HelloScan::Incomplete;
        }
        if rest[0] != 22 || rest[1] != 3 {
            return HelloScan::Invalid("not a TLS handshake record");
        }
        let length = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if length == 0 || length > 1 << 14 {
            return HelloScan::Invalid("bad TLS record length");
        }
        let Some(body) = rest.get(5..5 + length) else {
            return HelloScan::Incomplete;
        };
        handshake.extend_from_slice(body);
        rest = &rest[5 + length..];
    }
}

/// A cursor over big-endian TLS fields.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// A vector with a `len_bytes`-byte length in front.
    fn vector(&mut self, len_bytes: usize) -> Option<&'a [u8]> {
        let n = match len_bytes {
            1 => self.u8()?,
            _ => self.u16()?,
        };
        self.take(n)
    }
}

fn parse_hello(body: &[u8]) -> Option<HelloInfo> {
    let mut f = Fields(body);
    f.take(2 + 32)?; // legacy_version, random
    f.vector(1)?; // legacy_session_id
    f.vector(2)?; // cipher_suites
    f.vector(1)?; // legacy_compression_methods
    let mut info = HelloInfo {
        server_name: None,
        offers_tls13: false,
    };
    if f.0.is_empty() {
        return Some(info); // a TLS 1.2 hello may have no extensions at all
    }
    let mut extensions = Fields(f.vector(2)?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let mut data = Fields(extensions.vector(2)?);
        match kind {
            0 => {
                let mut names = Fields(data.vector(2)?);
                while !names.0.is_empty() {
                    let name_type = names.u8()?;
                    let name = names.vector(2)?;
                    if name_type == 0 {
                        let name = std::str::from_utf8(name).ok()?;
                        info.server_name = Some(normalise(name));
                    }
                }
            }
            43 => {
                let versions = data.vector(1)?;
                info.offers_tls13 = versions.chunks_exact(2).any(|v| v == [3, 4]);
            }
            _ => {}
        }
    }
    Some(info)
}

/// The fatal `protocol_version` alert (TLS 1.2 record framing), sent before closing a handshake
/// whose client does not offer a version the name requires.
pub const PROTOCOL_VERSION_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 70];

/// The minimum TLS version for each SNI name of a listener, where one name can need TLS 1.3 while
/// the listener as a whole allows TLS 1.2 (rustls takes one version list per listener, so the names
/// that need more are held to it from their ClientHello, before rustls sees it).
#[derive(Debug, Clone)]
pub struct VersionPolicy {
    exact: HashMap<String, MinimumTls>,
    /// (suffix with its leading dot, minimum), longest first: a CloudFront wildcard alias.
    wildcards: Vec<(String, MinimumTls)>,
    /// For names no alias matches, and handshakes without SNI.
    fallback: MinimumTls,
}

impl VersionPolicy {
    /// One minimum for every name.
    pub fn uniform(minimum: MinimumTls) -> VersionPolicy {
        VersionPolicy {
            exact: HashMap::new(),
            wildcards: Vec::new(),
            fallback: minimum,
        }
    }

    /// The edge's: each enabled distribution's `minimum_protocol_version` for its aliases, chosen
    /// as the edge chooses a distribution by Host (exact alias, longest wildcard, the default
    /// distribution); the lowest of them all for other names.
    pub fn for_distributions(
        distributions: &[Arc<Distribution>],
        default_distribution: Option<usize>,
    ) -> VersionPolicy {
        let enabled = || distributions.iter().filter(|d| d.enabled);
        let lowest = enabled()
            .map(|d| cloudfront_minimum(d.minimum_protocol_version))
            .min()
            .unwrap_or(MinimumTls::Tls12);
        let fallback = default_distribution
            .and_then(|i| distributions.get(i))
            .filter(|d| d.enabled)
            .map(|d| cloudfront_minimum(d.minimum_protocol_version))
            .unwrap_or(lowest);
        let mut policy = VersionPolicy::uniform(fallback);
        for d in enabled() {
            let minimum = cloudfront_minimum(d.minimum_protocol_version);
            for alias in &d.aliases {
                match alias {
                    Alias::Exact(name) => {
                        policy.exact.insert(name.clone(), minimum);
                    }
                    Alias::Wildcard(suffix) => policy.wildcards.push((suffix.clone(), minimum)),
                }
            }
        }
        policy
            .wildcards
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        policy
    }

    /// The minimum for a handshake's SNI name (`None`: no SNI).
    pub fn minimum_for(&self, server_name: Option<&str>) -> MinimumTls {
        let Some(name) = server_name.map(normalise) else {
            return self.fallback;
        };
        if let Some(m) = self.exact.get(&name) {
            return *m;
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| Alias::Wildcard(suffix.clone()).matches(&name))
            .map(|(_, m)| *m)
            .unwrap_or(self.fallback)
    }

    /// Whether any name needs more than TLS 1.2 (else there is nothing to check before rustls).
    pub fn needs_tls13_anywhere(&self) -> bool {
        self.fallback == MinimumTls::Tls13
            || self.exact.values().any(|m| *m == MinimumTls::Tls13)
            || self.wildcards.iter().any(|(_, m)| *m == MinimumTls::Tls13)
    }

    /// Whether a handshake that starts with this ClientHello may go on.
    pub fn admits(&self, hello: &HelloInfo) -> bool {
        match self.minimum_for(hello.server_name.as_deref()) {
            MinimumTls::Tls12 => true,
            MinimumTls::Tls13 => hello.offers_tls13,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "ferry-tls-unit-{label}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, contents).expect("write");
            p
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate for `names` (PEM cert, PEM key).
    fn self_signed(names: &[&str], key: &KeyPair) -> String {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        CertificateParams::new(names)
            .expect("params")
            .self_signed(key)
            .expect("sign")
            .pem()
    }

    fn pair(dir: &Dir, label: &str, names: &[&str]) -> CertificateFiles {
        let key = KeyPair::generate().expect("key");
        let cert = dir.write(&format!("{label}.pem"), &self_signed(names, &key));
        let key = dir.write(&format!("{label}.key"), &key.serialize_pem());
        CertificateFiles { cert, key }
    }

    fn rsa_pair(dir: &Dir, label: &str, names: &[&str]) -> CertificateFiles {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256);
        // ring cannot generate RSA keys: fall back to ECDSA P-384 to still have a second key type.
        let key = key.or_else(|_| KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384));
        let key = key.expect("key");
        let cert = dir.write(&format!("{label}.pem"), &self_signed(names, &key));
        let key = dir.write(&format!("{label}.key"), &key.serialize_pem());
        CertificateFiles { cert, key }
    }

    #[test]
    fn loads_a_pair_and_reads_its_dns_names() {
        let dir = Dir::new("load");
        let files = pair(&dir, "site", &["WWW.Example.test", "*.example.test"]);
        let loaded = load(&files).expect("loads");
        assert_eq!(loaded.dns_names, ["www.example.test", "*.example.test"]);
        assert_eq!(loaded.key.cert.len(), 1);
    }

    #[test]
    fn each_bad_input_names_its_file_and_field() {
        let dir = Dir::new("bad");
        let good = pair(&dir, "good", &["a.test"]);
        let other = pair(&dir, "other", &["b.test"]);
        let text = dir.write("text.pem", "hello, not a certificate\n");
        let der = dir.write("der.pem", "0\u{1}\u{2}");
        let broken = dir.write(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
        );
        let garbage_cert = dir.write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        );
        let missing = dir.0.join("missing.pem");
        let cases: Vec<(CertificateFiles, PemField, &Path, &str)> = vec![
            (
                CertificateFiles {
                    cert: missing.clone(),
                    key: good.key.clone(),
                },
                PemField::Cert,
                &missing,
                "cannot read",
            ),
            (
                CertificateFiles {
                    cert: good.cert.clone(),
                    key: missing.clone(),
                },
                PemField::Key,
                &missing,
                "cannot read",
            ),
            (
                CertificateFiles {
                    cert: text.clone(),
                    key: good.key.clone(),
                },
                PemField::Cert,
                &text,
                "no PEM block",
            ),
            (
                CertificateFiles {
                    cert: der.clone(),
                    key: good.key.clone(),
                },
                PemField::Cert,
                &der,
                "DER",
            ),
            (
                CertificateFiles {
                    cert: broken.clone(),
                    key: good.key.clone(),
                },
                PemField::Cert,
                &broken,
                "not valid PEM",
            ),
            (
                CertificateFiles {
                    cert: garbage_cert.clone(),
                    key: good.key.clone(),
                },
                PemField::Cert,
                &garbage_cert,
                "cannot be parsed as X.509",
            ),
            (
                CertificateFiles {
                    cert: good.key.clone(),
                    key: good.cert.clone(),
                },
                PemField::Cert,
                &good.key,
                "swapped",
            ),
            (
                CertificateFiles {
                    cert: good.cert.clone(),
                    key: good.cert.clone(),
                },
                PemField::Key,
                &good.cert,
                "holds no private key",
            ),
            (
                CertificateFiles {
                    cert: good.cert.clone(),
                    key: other.key.clone(),
                },
                PemField::Key,
                &other.key,
                "does not match the certificate",
            ),
        ];
        for (i, (files, field, file, words)) in cases.iter().enumerate() {
            let err = load(files).expect_err(&format!("case {i} loads"));
            let message = err.to_string();
            assert_eq!(err.field(), *field, "case {i}: {message}");
            assert!(
                message.contains(&file.display().to_string()),
                "case {i} does not name {}: {message}",
                file.display()
            );
            assert!(message.contains(words), "case {i}: {message}");
        }
    }

    #[test]
    fn a_chain_in_the_wrong_order_says_so() {
        let dir = Dir::new("order");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["a.test".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("leaf");
        let key = dir.write("leaf.key", &leaf_key.serialize_pem());
        let right = dir.write("right.pem", &format!("{}{}", leaf.pem(), ca.pem()));
        let wrong = dir.write("wrong.pem", &format!("{}{}", ca.pem(), leaf.pem()));
        let loaded = load(&CertificateFiles {
            cert: right,
            key: key.clone(),
        })
        .expect("loads");
        assert_eq!(loaded.key.cert.len(), 2);
        let err = load(&CertificateFiles { cert: wrong, key }).expect_err("leaf last");
        assert!(err.to_string().contains("leaf"), "{err}");
    }

    #[test]
    fn sni_prefers_exact_then_wildcard_then_default() {
        let dir = Dir::new("sni");
        let load_all = |files: &[CertificateFiles]| -> Vec<LoadedCertificate> {
            files.iter().map(|f| load(f).expect("load")).collect()
        };
        let default = load(&pair(&dir, "default", &["default.test"])).expect("load");
        let certs = load_all(&[
            pair(&dir, "wild", &["*.example.test"]),
            pair(&dir, "www", &["www.example.test"]),
            pair(&dir, "deep", &["*.api.example.test", "api.example.test"]),
        ]);
        let store = CertificateStore::new(Some(default), certs);
        let schemes = [
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::RSA_PSS_SHA256,
        ];
        let chosen = |name: Option<&str>| {
            store.choose(name, &schemes).map(|c| {
                c.files
                    .cert
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string()
            })
        };
        for (name, expected) in [
            (Some("www.example.test"), "www.pem"),
            (Some("WWW.EXAMPLE.TEST."), "www.pem"),
            (Some("other.example.test"), "wild.pem"),
            (Some("api.example.test"), "deep.pem"),
            (Some("v1.api.example.test"), "deep.pem"),
            // A wildcard covers one label only, as clients check it.
            (Some("a.b.example.test"), "default.pem"),
            (Some("example.test"), "default.pem"),
            (Some("unknown.test"), "default.pem"),
            (Some("default.test"), "default.pem"),
            (None, "default.pem"),
        ] {
            assert_eq!(chosen(name).as_deref(), Some(expected), "{name:?}");
        }
        let no_default = CertificateStore::new(None, load_all(&[pair(&dir, "only", &["x.test"])]));
        assert!(no_default.choose(Some("y.test"), &schemes).is_none());
        assert!(no_default.choose(Some("x.test"), &schemes).is_some());
    }

    #[test]
    fn the_key_type_the_client_can_use_wins_among_same_names() {
        let dir = Dir::new("types");
        let p256 = load(&pair(&dir, "p256", &["www.example.test"])).expect("load");
        let other = load(&rsa_pair(&dir, "other", &["www.example.test"])).expect("load");
        let other_scheme = if other
            .key
            .key
            .choose_scheme(&[SignatureScheme::RSA_PSS_SHA256])
            .is_some()
        {
            SignatureScheme::RSA_PSS_SHA256
        } else {
            SignatureScheme::ECDSA_NISTP384_SHA384
        };
        let store = CertificateStore::new(None, vec![p256, other]);
        let name = |schemes: &[SignatureScheme]| {
            store
                .choose(Some("www.example.test"), schemes)
                .map(|c| c.files.cert.clone())
        };
        assert!(name(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .is_some_and(|p| p.ends_with("p256.pem")));
        assert!(name(&[other_scheme]).is_some_and(|p| p.ends_with("other.pem")));
        // Nothing usable: the first candidate, for rustls to refuse.
        assert!(name(&[SignatureScheme::ED25519]).is_some_and(|p| p.ends_with("p256.pem")));
    }

    #[test]
    fn cloudfront_and_elb_names_map_to_rustls_versions() {
        use MinimumProtocolVersion as V;
        for (v, expected) in [
            (V::SSLv3, MinimumTls::Tls12),
            (V::TLSv1, MinimumTls::Tls12),
            (V::TLSv1_2016, MinimumTls::Tls12),
            (V::TLSv1_1_2016, MinimumTls::Tls12),
            (V::TLSv1_2_2018, MinimumTls::Tls12),
            (V::TLSv1_2_2019, MinimumTls::Tls12),
            (V::TLSv1_2_2021, MinimumTls::Tls12),
            (V::TLSv1_2_2025, MinimumTls::Tls12),
            (V::TLSv1_3_2025, MinimumTls::Tls13),
        ] {
            assert_eq!(cloudfront_minimum(v), expected, "{v:?}");
        }
        for (name, expected) in [
            (
                "ELBSecurityPolicy-TLS13-1-2-2021-06",
                Some(MinimumTls::Tls12),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-3-2021-06",
                Some(MinimumTls::Tls13),
            ),
            ("ELBSecurityPolicy-2016-08", Some(MinimumTls::Tls12)),
            ("ELBSecurityPolicy-TLS-1-0-2015-04", Some(MinimumTls::Tls12)),
            (
                "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
                Some(MinimumTls::Tls12),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
                Some(MinimumTls::Tls12),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
                Some(MinimumTls::Tls13),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
                Some(MinimumTls::Tls13),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-3-Future-2030-01",
                Some(MinimumTls::Tls13),
            ),
            (
                "ELBSecurityPolicy-TLS13-1-2-Future-2030-01",
                Some(MinimumTls::Tls12),
            ),
            ("ELBSecurityPolicy-TLS13-1-4-2030-01", None),
            ("ELBSecurityPolicy-TLS13-1-2", None),
            ("ELBSecurityPolicy-TLS13-1-2-2021-6", None),
            ("ELBSecurityPolicy-TLS13-1-2-2021-13", None),
            ("ELBSecurityPolicy-TLS13-1-2-Res-2021-00", None),
            ("ELBSecurityPolicy-2016-09", None),
            ("TLSv1.2_2021", None),
        ] {
            assert_eq!(elb_policy_minimum(name), expected, "{name}");
        }
        assert_eq!(
            elb_policy_minimum(ELB_DEFAULT_POLICY),
            Some(MinimumTls::Tls12)
        );
        for (name, tls13) in [
            (ELB_DEFAULT_POLICY, false),
            ("ELBSecurityPolicy-FS-1-2-Res-2020-10", false),
            ("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", false),
            ("ELBSecurityPolicy-TLS13-1-0-2021-06", true),
            ("ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09", true),
        ] {
            assert_eq!(elb_policy_allows_tls13(name), tls13, "{name}");
        }
        assert_eq!(MinimumTls::Tls13.versions().len(), 1);
        assert_eq!(MinimumTls::Tls12.versions().len(), 2);
        assert!(allows_http2(HttpVersion::Http2) && allows_http2(HttpVersion::Http2And3));
        assert!(!allows_http2(HttpVersion::Http1_1) && !allows_http2(HttpVersion::Http3));
    }

    /// A ClientHello as a rustls client sends it, captured from a real connection attempt.
    fn real_hello(versions: &[&'static SupportedProtocolVersion], sni: &str) -> Vec<u8> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("conn");
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).expect("write");
        }
        out
    }

    #[test]
    fn reads_sni_and_versions_from_real_hellos_in_any_split() {
        let both = real_hello(MinimumTls::Tls12.versions(), "WWW.example.test");
        let tls12 = real_hello(&[&rustls::version::TLS12], "old.example.test");
        assert_eq!(
            scan_client_hello(&both),
            HelloScan::Hello(HelloInfo {
                server_name: Some("www.example.test".into()),
                offers_tls13: true
            })
        );
        assert_eq!(
            scan_client_hello(&tls12),
            HelloScan::Hello(HelloInfo {
                server_name: Some("old.example.test".into()),
                offers_tls13: false
            })
        );
        for cut in 0..both.len() {
            assert_eq!(
                scan_client_hello(&both[..cut]),
                HelloScan::Incomplete,
                "cut {cut}"
            );
        }
        // The same hello split over two records.
        let body = &both[5..];
        let (a, b) = body.split_at(40);
        let mut split = Vec::new();
        for part in [a, b] {
            split.extend_from_slice(&[22, 3, 1]);
            split.extend_from_slice(&(part.len() as u16).to_be_bytes());
            split.extend_from_slice(part);
        }
        assert_eq!(scan_client_hello(&split), scan_client_hello(&both));
        assert!(matches!(
            scan_client_hello(b"GET / HTTP/1.1\r\n\r\n"),
            HelloScan::Invalid(_)
        ));
        // A whole record whose ClientHello ends inside its random.
        let short = [22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0];
        assert!(matches!(scan_client_hello(&short), HelloScan::Invalid(_)));
        // A first handshake message that is not a ClientHello.
        let other = [22, 3, 3, 0, 4, 2, 0, 0, 0];
        assert!(matches!(scan_client_hello(&other), HelloScan::Invalid(_)));
    }

    #[test]
    fn https_listeners_get_their_policy_certificates_and_alpn_in_the_model() {
        let dir = Dir::new("listener");
        pair(&dir, "default", &["default.test"]);
        pair(&dir, "site", &["www.example.test"]);
        let listener = |port: u16, extra: &str| {
            format!(
                r#"
  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTPS"
  default_certificate = {{ cert = "default.pem", key = "default.key" }}
  {extra}
  default_actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200" }} }}]
"#
            )
        };
        let text = format!(
            "stack = \"t\"\n[[load_balancers]]\nname = \"alb\"\ndns_name = \"alb.internal\"\nnodes = {{ a = \"127.0.0.1\" }}\nattributes = {{ \"routing.http2.enabled\" = false }}\n{}{}{}",
            listener(443, ""),
            listener(8443, "ssl_policy = \"ELBSecurityPolicy-TLS13-1-3-2021-06\"\n  certificates = [{ cert = \"site.pem\", key = \"site.key\" }]"),
            "  [[load_balancers.listeners]]\n  port = 80\n  protocol = \"HTTP\"\n  default_actions = [{ type = \"fixed-response\", fixed_response_config = { status_code = \"200\" } }]\n",
        );
        let t = crate::parse("t.toml", &text, &dir.0).unwrap_or_else(|e| panic!("{e}"));
        let listeners = &t.load_balancers[0].listeners;
        let default_policy = listeners[0].tls.as_ref().expect("https");
        assert_eq!(default_policy.ssl_policy, ELB_DEFAULT_POLICY);
        assert_eq!(default_policy.minimum, MinimumTls::Tls12);
        assert!(!default_policy.http2, "routing.http2.enabled = false");
        let strict = listeners[1].tls.as_ref().expect("https");
        assert_eq!(strict.minimum, MinimumTls::Tls13);
        assert_eq!(strict.certificates.len(), 1);
        let chosen = strict
            .store
            .choose(
                Some("www.example.test"),
                &[SignatureScheme::ECDSA_NISTP256_SHA256],
            )
            .expect("chosen");
        assert!(chosen.files.cert.ends_with("site.pem"));
        assert!(listeners[2].tls.is_none());

        // HTTP listeners take no TLS fields; a certificate that no SNI can choose is refused.
        pair(&dir, "nameless", &[]);
        let bad = text
            .replace("site.pem", "nameless.pem")
            .replace("site.key", "nameless.key")
            .replace(
                "protocol = \"HTTP\"\n",
                "protocol = \"HTTP\"\n  ssl_policy = \"ELBSecurityPolicy-2016-08\"\n",
            );
        let err = crate::parse("t.toml", &bad, &dir.0).expect_err("invalid");
        let paths: Vec<&str> = err.diagnostics().iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "load_balancers[0].listeners[1].certificates[0].cert",
                "load_balancers[0].listeners[2].ssl_policy"
            ],
            "{err}"
        );
    }

    fn topology(text: &str) -> crate::Topology {
        crate::parse("t.toml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn version_policy_follows_the_distribution_of_each_name() {
        let dist = |id: &str, aliases: &str, version: &str| {
            format!(
                r#"
[[distributions]]
id = "{id}"
aliases = [{aliases}]
minimum_protocol_version = "{version}"
origins = [{{ id = "o", domain_name = "o.test", custom_origin_config = {{ origin_protocol_policy = "http-only" }} }}]
default_cache_behavior = {{ target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }}
"#
            )
        };
        let text = format!(
            "stack = \"t\"\n[edge]\nhttp = \"127.0.0.1:1\"\n{}{}",
            dist(
                "new",
                "\"strict.example.test\", \"*.api.example.test\"",
                "TLSv1.3_2025"
            ),
            dist("old", "\"*.example.test\"", "TLSv1.2_2021"),
        );
        let t = topology(&text);
        let policy = VersionPolicy::for_distributions(&t.distributions, None);
        assert!(policy.needs_tls13_anywhere());
        for (name, expected) in [
            (Some("strict.example.test"), MinimumTls::Tls13),
            (Some("v1.api.example.test"), MinimumTls::Tls13),
            (Some("www.example.test"), MinimumTls::Tls12),
            (Some("elsewhere.test"), MinimumTls::Tls12),
            (None, MinimumTls::Tls12),
        ] {
            assert_eq!(policy.minimum_for(name), expected, "{name:?}");
        }
        let hello = |name: &str, offers_tls13| HelloInfo {
            server_name: Some(name.into()),
            offers_tls13,
        };
        assert!(!policy.admits(&hello("strict.example.test", false)));
        assert!(policy.admits(&hello("strict.example.test", true)));
        assert!(policy.admits(&hello("www.example.test", false)));

        let all_old = VersionPolicy::uniform(MinimumTls::Tls12);
        assert!(!all_old.needs_tls13_anywhere());
        let all_new = VersionPolicy::uniform(MinimumTls::Tls13);
        assert!(!all_new.admits(&HelloInfo {
            server_name: None,
            offers_tls13: false
        }));
    }

    #[test]
    fn log_names_are_openssl_names() {
        let cases = [
            (
                "TLSv1_3",
                "TLS13_AES_128_GCM_SHA256",
                "TLSv1.3",
                "TLS_AES_128_GCM_SHA256",
            ),
            (
                "TLSv1_3",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLSv1.3",
                "TLS_CHACHA20_POLY1305_SHA256",
            ),
            (
                "TLSv1_2",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLSv1.2",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ),
            (
                "TLSv1_2",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLSv1.2",
                "ECDHE-ECDSA-AES256-GCM-SHA384",
            ),
            (
                "TLSv1_2",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLSv1.2",
                "ECDHE-RSA-CHACHA20-POLY1305",
            ),
        ];
        for (version, cipher, want_version, want_cipher) in cases {
            assert_eq!(
                log_names(version, cipher),
                (want_version.to_string(), want_cipher.to_string()),
                "{cipher}"
            );
        }
    }
}
