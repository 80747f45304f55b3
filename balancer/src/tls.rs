//! HTTPS listeners of the load balancer: certificates chosen by SNI among the listener's
//! (`ferry_config::tls::CertificateStore`, the default certificate as fallback), HTTP/2 by ALPN
//! unless the load balancer sets `routing.http2.enabled = false`, and the `ssl_policy` as rustls can
//! honour it (see `ferry_config::tls::elb_policy_minimum`).
//!
//! Every ClientHello goes through `ferry_guard::HelloGate` first: it is due within the load
//! balancer's idle timeout, and a TLS 1.3-only policy (`ELBSecurityPolicy-TLS13-1-3-*`) refuses a
//! client that does not offer TLS 1.3 with the `protocol_version` alert (pingora builds every TLS
//! listener for TLS 1.2 and 1.3).

use arc_swap::ArcSwap;
use ferry_config::model::Listener;
use ferry_config::spec::ListenerProtocol;
use ferry_config::tls::{self, VersionPolicy};
use ferry_guard::{Gate, HelloGate};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{ListenerConfig, ALPN};
use pingora::services::listening::Service;
use std::sync::Arc;
use std::time::Duration;

/// Why a listener has no TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the listener on port {0} is not an HTTPS listener with certificates")]
    NotHttps(u16),
    #[error("TLS settings for the listener on port {port}: {detail}")]
    Settings { port: u16, detail: String },
}

/// The TLS settings of an HTTPS listener: `certificates` by SNI, and ALPN. The ssl policy's TLS 1.3
/// minimum is not in them (pingora always allows TLS 1.2 and 1.3): [`listen`] adds that check, so
/// add HTTPS listeners through it.
pub fn settings(
    listener: &Listener,
    certificates: &Arc<tls::ReloadableCertificates>,
) -> Result<TlsSettings, TlsSetupError> {
    let Some(config) = &listener.tls else {
        return Err(TlsSetupError::NotHttps(listener.port));
    };
    let mut settings = TlsSettings::intermediate("", "").map_err(|e| TlsSetupError::Settings {
        port: listener.port,
        detail: e.to_string(),
    })?;
    settings.set_cert_resolver(certificates.clone());
    if config.http2 {
        settings.enable_h2();
    } else {
        settings.set_alpn(ALPN::H1);
    }
    Ok(settings)
}

/// What a reload replaces in an HTTPS listener: its certificates and its ClientHello gate, shared
/// by the services of every thread.
pub struct Reloadable {
    certificates: Arc<tls::ReloadableCertificates>,
    gate: Arc<ArcSwap<Gate>>,
}

impl Reloadable {
    /// The reloadable parts of `listener`, when it is an HTTPS listener.
    pub fn new(listener: &Listener, idle_timeout: Duration) -> Option<Reloadable> {
        let config = listener.tls.as_ref()?;
        Some(Reloadable {
            certificates: tls::ReloadableCertificates::new(config.store.clone()),
            gate: Arc::new(ArcSwap::from_pointee(gate(config, idle_timeout))),
        })
    }

    pub fn replace(&self, listener: &Listener, idle_timeout: Duration) {
        let Some(config) = &listener.tls else { return };
        self.certificates.replace(config.store.clone());
        self.gate.store(Arc::new(gate(config, idle_timeout)));
    }
}

/// The ClientHello is due within the load balancer's idle timeout; a TLS 1.3-only ssl policy
/// refuses clients that do not offer TLS 1.3.
fn gate(config: &ferry_config::model::ListenerTls, idle_timeout: Duration) -> Gate {
    Gate {
        policy: VersionPolicy::uniform(config.minimum),
        timeout: idle_timeout,
        requirement: config.ssl_policy.clone(),
    }
}

/// Adds the endpoint of `listener` to `service`: `endpoint` as it is for HTTP; for HTTPS, with
/// [`settings`] and the ClientHello gate of `tls` (from [`Reloadable::new`]).
pub fn listen<A>(
    service: &mut Service<A>,
    endpoint: ListenerConfig,
    listener: &Listener,
    tls: Option<&Reloadable>,
) {
    let Some(tls) = tls else {
        if listener.protocol == ListenerProtocol::HTTPS {
            // Not reached after validation, which gives every HTTPS listener its certificates;
            // never fall back to plain HTTP on an HTTPS port.
            tracing::error!(
                "balancer: not listening on port {}: an HTTPS listener without certificates",
                listener.port
            );
        } else {
            service.add_listener(endpoint);
        }
        return;
    };
    let tls_settings = match settings(listener, &tls.certificates) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("balancer: not listening on port {}: {e}", listener.port);
            return;
        }
    };
    service
        .endpoints()
        .set_pre_tls_callback(Arc::new(HelloGate(tls.gate.clone())));
    service.add_listener(endpoint.tls(tls_settings));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_listener_has_no_tls_settings() {
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
        let store = Arc::new(ferry_config::tls::CertificateStore::new(None, Vec::new()));
        let certificates = tls::ReloadableCertificates::new(store);
        assert!(matches!(
            settings(listener, &certificates),
            Err(TlsSetupError::NotHttps(8081))
        ));
    }
}
