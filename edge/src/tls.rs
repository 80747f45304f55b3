//! The edge's HTTPS listener: certificates chosen by SNI (`ferry_config::tls::CertificateStore`),
//! HTTP/2 by ALPN when a distribution's `http_version` allows it, and each distribution's
//! `minimum_protocol_version` held to its own aliases.
//!
//! rustls takes one ALPN list and one version list per listener, and the listener is built for
//! TLS 1.2 and 1.3 (as pingora builds its own). So: ALPN offers h2 to every name as soon as one
//! enabled distribution allows HTTP/2 (a `http1.1` distribution then also speaks HTTP/2 when
//! another one allows it); and every ClientHello goes through `ferry_guard::HelloGate` first (in
//! `ferry_guard::Terminate`), which holds it to the client header timeout and the TLS 1.3
//! requirement of `TLSv1.3_2025` distributions' names.

use arc_swap::ArcSwap;
use ferry_config::model::Edge;
use ferry_config::tls::{self, VersionPolicy};
use ferry_config::Topology;
use ferry_guard::{Gate, Terminate};
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a reload replaces in the HTTPS listener: its certificates and the ClientHello gate.
pub(crate) struct Reloadable {
    pub certificates: Arc<tls::ReloadableCertificates>,
    pub gate: Arc<ArcSwap<Gate>>,
    /// One for the listener (its ALPN is the topology's at start): CloudFront offers TLS 1.3
    /// under every `minimum_protocol_version`.
    acceptor: Arc<Acceptor>,
}

impl Reloadable {
    pub fn replace(&self, topology: &Topology) {
        let Some(edge) = &topology.edge else { return };
        if let Some(store) = &edge.certificate_store {
            self.certificates.replace(store.clone());
        }
        self.gate
            .store(Arc::new(gate(topology, edge, self.acceptor.clone())));
    }
}

/// Every ClientHello must arrive within the client header timeout; names of `TLSv1.3_2025`
/// distributions require TLS 1.3.
fn gate(topology: &Topology, edge: &Edge, acceptor: Arc<Acceptor>) -> Gate {
    Gate {
        acceptor,
        policy: VersionPolicy::for_distributions(
            &topology.distributions,
            edge.default_distribution,
        ),
        timeout: edge.client_header_timeout,
        requirement: "its distribution (minimum_protocol_version TLSv1.3_2025)".into(),
    }
}

/// The edge's HTTPS listener, when the topology has one (validation has loaded its certificates:
/// `https` needs `default_certificate`): its certificates and gate are shared by the services of
/// every thread, so that a reload replaces them for all of them at once.
pub(crate) struct Https {
    address: SocketAddr,
    pub reloadable: Reloadable,
}

impl Https {
    pub fn new(topology: &Topology, edge: &Edge) -> Option<Https> {
        let (Some(address), Some(store)) = (edge.https, &edge.certificate_store) else {
            return None;
        };
        let certificates = tls::ReloadableCertificates::new(store.clone());
        let http2 = ferry_config::reload::edge_offers_http2(topology);
        let acceptor = ferry_guard::acceptor(certificates.clone(), http2, true);
        Some(Https {
            address,
            reloadable: Reloadable {
                certificates,
                gate: Arc::new(ArcSwap::from_pointee(gate(
                    topology,
                    edge,
                    acceptor.clone(),
                ))),
                acceptor,
            },
        })
    }

    /// The services of every thread, each with its own socket and `app` once per thread, all
    /// sharing one acceptor (see `ferry_guard::Terminate`).
    pub fn services<A: ServerApp + Send + Sync + 'static>(
        &self,
        threads: usize,
        pin: bool,
        mut app: impl FnMut() -> A,
    ) -> Vec<Box<dyn ServiceWithDependents>> {
        (0..threads)
            .map(|thread| {
                let app = Terminate::new(app(), self.reloadable.gate.clone());
                let name = "edge https".to_string();
                ferry_guard::thread_service(name, app, self.address, thread, pin)
            })
            .collect()
    }
}
