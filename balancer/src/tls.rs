//! HTTPS listeners of the load balancer: certificates chosen by SNI among the listener's
//! (`ferry_config::tls::CertificateStore`, the default certificate as fallback), HTTP/2 by ALPN
//! unless the load balancer sets `routing.http2.enabled = false`, and the `ssl_policy` as rustls can
//! honour it (see `ferry_config::tls::elb_policy_minimum`).
//!
//! Every ClientHello goes through `ferry_guard::HelloGate` first: it is due within the load
//! balancer's idle timeout, and a TLS 1.3-only policy (`ELBSecurityPolicy-TLS13-1-3-*`) refuses a
//! client that does not offer TLS 1.3 with the `protocol_version` alert; a policy without TLS 1.3
//! (`ELBSecurityPolicy-2016-08`, `FS-*`, `TLS-1-*`) gets an acceptor built for TLS 1.2 alone. TLS
//! is terminated on every thread by `ferry_guard::Terminate`, with the acceptors (one ticket key
//! each, so sessions resume on any thread) shared by the listener's threads.

use arc_swap::ArcSwap;
use ferry_config::model::Listener;
use ferry_config::spec::ListenerProtocol;
use ferry_config::tls::{self, VersionPolicy};
use ferry_guard::{Gate, Terminate};
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a reload replaces in an HTTPS listener: its certificates and its ClientHello gate, shared
/// by the services of every thread.
pub struct Reloadable {
    certificates: Arc<tls::ReloadableCertificates>,
    gate: Arc<ArcSwap<Gate>>,
    /// Built once (their ALPN is the listener's at start), shared by every thread's service: TLS
    /// 1.2 only, and TLS 1.2 and 1.3, for the policy of the moment to pick from.
    acceptors: [Arc<Acceptor>; 2],
}

impl Reloadable {
    /// The reloadable parts of `listener`, when it is an HTTPS listener.
    pub fn new(listener: &Listener, idle_timeout: Duration) -> Option<Reloadable> {
        let config = listener.tls.as_ref()?;
        let certificates = tls::ReloadableCertificates::new(config.store.clone());
        let acceptors = [false, true]
            .map(|tls13| ferry_guard::acceptor(certificates.clone(), config.http2, tls13));
        Some(Reloadable {
            gate: Arc::new(ArcSwap::from_pointee(gate(
                config,
                idle_timeout,
                &acceptors,
            ))),
            acceptors,
            certificates,
        })
    }

    pub fn replace(&self, listener: &Listener, idle_timeout: Duration) {
        let Some(config) = &listener.tls else { return };
        self.certificates.replace(config.store.clone());
        self.gate
            .store(Arc::new(gate(config, idle_timeout, &self.acceptors)));
    }
}

/// The ClientHello is due within the load balancer's idle timeout; a TLS 1.3-only ssl policy
/// refuses clients that do not offer TLS 1.3, and a policy without TLS 1.3 (the API's default
/// `ELBSecurityPolicy-2016-08` among them) negotiates TLS 1.2.
fn gate(
    config: &ferry_config::model::ListenerTls,
    idle_timeout: Duration,
    acceptors: &[Arc<Acceptor>; 2],
) -> Gate {
    Gate {
        policy: VersionPolicy::uniform(config.minimum),
        timeout: idle_timeout,
        requirement: config.ssl_policy.clone(),
        acceptor: acceptors[usize::from(config.tls13)].clone(),
    }
}

/// The service of one thread of `listener`: `app` on `endpoint` as it is for HTTP; for HTTPS
/// behind TLS with the acceptor and the ClientHello gate of `tls` (from [`Reloadable::new`]).
pub fn service<A: ServerApp + Send + Sync + 'static>(
    name: String,
    app: A,
    (address, thread, pin): (SocketAddr, usize, bool),
    listener: &Listener,
    tls: Option<&Reloadable>,
) -> Option<Box<dyn ServiceWithDependents>> {
    use ferry_guard::thread_service;
    match tls {
        Some(tls) => {
            let app = Terminate::new(app, tls.gate.clone());
            Some(thread_service(name, app, address, thread, pin))
        }
        // Not reached after validation, which gives every HTTPS listener its certificates; never
        // fall back to plain HTTP on an HTTPS port.
        None if listener.protocol == ListenerProtocol::HTTPS => {
            tracing::error!(
                "balancer: not listening on port {}: an HTTPS listener without certificates",
                listener.port
            );
            None
        }
        None => Some(thread_service(name, app, address, thread, pin)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_listener_has_no_tls() {
        let text = r#"
stack = "t"
[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = { a = "127.0.0.1" }
  [[load_balancers.listeners]]
  port = 8081
  protocol = "HTTP"
  default_actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200" } }]
"#;
        let t = ferry_config::parse("t.toml", text, std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        let listener = &t.load_balancers[0].listeners[0];
        assert!(Reloadable::new(listener, Duration::from_secs(60)).is_none());
    }
}
