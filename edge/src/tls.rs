//! The edge's HTTPS listener: certificates chosen by SNI (`ferry_config::tls::CertificateStore`),
//! HTTP/2 by ALPN when a distribution's `http_version` allows it, and each distribution's
//! `minimum_protocol_version` held to its own aliases.
//!
//! rustls takes one ALPN list and one version list per listener, and pingora always builds its
//! listener for TLS 1.2 and 1.3. So: ALPN offers h2 to every name as soon as one enabled
//! distribution allows HTTP/2 (a `http1.1` distribution then also speaks HTTP/2 when another one
//! allows it); and a distribution that requires TLS 1.3 (`TLSv1.3_2025`) has its names checked in the
//! ClientHello, before rustls reads it: a client that does not offer TLS 1.3 gets the
//! `protocol_version` alert and the connection is closed, as CloudFront refuses it.

use arc_swap::ArcSwap;
use ferry_config::model::Edge;
use ferry_config::tls::{self, HelloScan, VersionPolicy};
use ferry_config::Topology;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{PreTlsProcess, ALPN};
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::services::listening::Service;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a reload replaces in the HTTPS listener: its certificates and the TLS 1.3 check's names.
pub(crate) struct Reloadable {
    pub certificates: Arc<tls::ReloadableCertificates>,
    /// Present when the listener checks ClientHellos (some name requires TLS 1.3).
    pub gate: Option<Arc<ArcSwap<VersionPolicy>>>,
}

impl Reloadable {
    pub fn replace(&self, topology: &Topology) {
        let Some(edge) = &topology.edge else { return };
        if let Some(store) = &edge.certificate_store {
            self.certificates.replace(store.clone());
        }
        if let Some(gate) = &self.gate {
            gate.store(Arc::new(VersionPolicy::for_distributions(
                &topology.distributions,
                edge.default_distribution,
            )));
        }
    }
}

/// Adds the HTTPS listener to the edge's service, when the topology has one (validation has loaded
/// its certificates: `https` needs `default_certificate`).
pub(crate) fn add_https<A>(
    service: &mut Service<A>,
    topology: &Topology,
    edge: &Edge,
) -> Option<Reloadable> {
    let (Some(address), Some(store)) = (edge.https, &edge.certificate_store) else {
        return None;
    };
    let mut settings = match TlsSettings::intermediate("", "") {
        Ok(settings) => settings,
        Err(e) => {
            // Not reached: creating the settings only stores its arguments.
            tracing::error!("edge: cannot set up TLS on {address}: {e}");
            return None;
        }
    };
    let certificates = tls::ReloadableCertificates::new(store.clone());
    settings.set_cert_resolver(certificates.clone());
    if ferry_config::reload::edge_offers_http2(topology) {
        settings.enable_h2();
    } else {
        settings.set_alpn(ALPN::H1);
    }
    let policy =
        VersionPolicy::for_distributions(&topology.distributions, edge.default_distribution);
    let gate = policy.needs_tls13_anywhere().then(|| {
        let policy = Arc::new(ArcSwap::from_pointee(policy));
        service
            .endpoints()
            .set_pre_tls_callback(Arc::new(VersionGate {
                policy: policy.clone(),
            }));
        policy
    });
    service.add_listener(
        pingora::listeners::ListenerConfig::tcp(address.to_string())
            .tls(settings)
            .l4_buffer(crate::l4_buffers()),
    );
    Some(Reloadable { certificates, gate })
}

/// Reads the ClientHello, puts it back for rustls, and refuses a client that does not offer the
/// TLS version its SNI name requires.
struct VersionGate {
    policy: Arc<ArcSwap<VersionPolicy>>,
}

#[async_trait::async_trait]
impl PreTlsProcess for VersionGate {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let (bytes, scan) = read_client_hello(stream).await;
        stream.rewind(&bytes);
        let refusal = match scan? {
            HelloScan::Hello(hello) if self.policy.load().admits(&hello) => return Ok(()),
            HelloScan::Hello(hello) => format!(
                "refused a TLS handshake for {:?} that does not offer TLSv1.3, which its distribution requires (minimum_protocol_version TLSv1.3_2025)",
                hello.server_name.as_deref().unwrap_or("(no SNI)")
            ),
            HelloScan::Invalid(why) => format!("refused a TLS handshake: {why}"),
            HelloScan::Incomplete => "refused a TLS handshake: the ClientHello is too large".into(),
        };
        // Best effort: the connection is closed either way.
        let _ = stream.write_all(&tls::PROTOCOL_VERSION_ALERT).await;
        let _ = stream.flush().await;
        Error::e_explain(ErrorType::TLSHandshakeFailure, refusal)
    }
}

/// The bytes read and what they are; reads until the ClientHello is whole, malformed or too large.
async fn read_client_hello(stream: &mut L4Stream) -> (Vec<u8>, pingora::Result<HelloScan>) {
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let scan = tls::scan_client_hello(&bytes);
        if scan != HelloScan::Incomplete || bytes.len() > tls::MAX_HELLO + 1024 {
            return (bytes, Ok(scan));
        }
        match stream.read(&mut chunk).await {
            Ok(0) => {
                let e = Error::explain(
                    ErrorType::ConnectionClosed,
                    "the client closed before its ClientHello was complete",
                );
                return (bytes, Err(e));
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) => {
                let e = Error::because(ErrorType::ReadError, "reading the ClientHello", e);
                return (bytes, Err(e));
            }
        }
    }
}
