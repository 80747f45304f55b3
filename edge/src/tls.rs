//! The edge's HTTPS listener: certificates chosen by SNI (`ferry_config::tls::CertificateStore`),
//! HTTP/2 by ALPN when a distribution's `http_version` allows it, and each distribution's
//! `minimum_protocol_version` held to its own aliases.
//!
//! rustls takes one ALPN list and one version list per listener, and pingora always builds its
//! listener for TLS 1.2 and 1.3. So: ALPN offers h2 to every name as soon as one enabled
//! distribution allows HTTP/2 (a `http1.1` distribution then also speaks HTTP/2 when another one
//! allows it); and every ClientHello goes through `ferry_guard::HelloGate` first, which holds it to
//! the client header timeout and the TLS 1.3 requirement of `TLSv1.3_2025` distributions' names.

use arc_swap::ArcSwap;
use ferry_config::model::Edge;
use ferry_config::tls::{self, VersionPolicy};
use ferry_config::Topology;
use ferry_guard::{Gate, HelloGate};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::ALPN;
use pingora::services::listening::Service;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a reload replaces in the HTTPS listener: its certificates and the ClientHello gate.
pub(crate) struct Reloadable {
    pub certificates: Arc<tls::ReloadableCertificates>,
    pub gate: Arc<ArcSwap<Gate>>,
}

impl Reloadable {
    pub fn replace(&self, topology: &Topology) {
        let Some(edge) = &topology.edge else { return };
        if let Some(store) = &edge.certificate_store {
            self.certificates.replace(store.clone());
        }
        self.gate.store(Arc::new(gate(topology, edge)));
    }
}

/// Every ClientHello must arrive within the client header timeout; names of `TLSv1.3_2025`
/// distributions require TLS 1.3.
fn gate(topology: &Topology, edge: &Edge) -> Gate {
    Gate {
        policy: VersionPolicy::for_distributions(
            &topology.distributions,
            edge.default_distribution,
        ),
        timeout: edge.client_header_timeout,
        requirement: "its distribution (minimum_protocol_version TLSv1.3_2025)".into(),
    }
}

/// The edge's HTTPS listener, when the topology has one (validation has loaded its certificates:
/// `https` needs `default_certificate`): shared by the services of every thread, so that a reload
/// replaces the certificates and the gate of all of them at once.
pub(crate) struct Https {
    address: SocketAddr,
    http2: bool,
    pub reloadable: Reloadable,
}

impl Https {
    pub fn new(topology: &Topology, edge: &Edge) -> Option<Https> {
        let (Some(address), Some(store)) = (edge.https, &edge.certificate_store) else {
            return None;
        };
        Some(Https {
            address,
            http2: ferry_config::reload::edge_offers_http2(topology),
            reloadable: Reloadable {
                certificates: tls::ReloadableCertificates::new(store.clone()),
                gate: Arc::new(ArcSwap::from_pointee(gate(topology, edge))),
            },
        })
    }

    /// Adds the listener to `service`.
    pub fn listen<A>(&self, service: &mut Service<A>) {
        let mut settings = match TlsSettings::intermediate("", "") {
            Ok(settings) => settings,
            Err(e) => {
                // Not reached: creating the settings only stores its arguments.
                tracing::error!("edge: cannot set up TLS on {}: {e}", self.address);
                return;
            }
        };
        settings.set_cert_resolver(self.reloadable.certificates.clone());
        if self.http2 {
            settings.enable_h2();
        } else {
            settings.set_alpn(ALPN::H1);
        }
        service
            .endpoints()
            .set_pre_tls_callback(Arc::new(HelloGate(self.reloadable.gate.clone())));
        service.add_listener(ferry_guard::shared_listener(self.address).tls(settings));
    }
}
