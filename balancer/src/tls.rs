//! HTTPS listeners of the load balancer: certificates chosen by SNI among the listener's
//! (`ferry_config::tls::CertificateStore`, the default certificate as fallback), HTTP/2 by ALPN
//! unless the load balancer sets `routing.http2.enabled = false`, and the `ssl_policy` as rustls can
//! honour it (see `ferry_config::tls::elb_policy_minimum`).
//!
//! pingora builds every TLS listener for TLS 1.2 and 1.3; a TLS 1.3-only policy
//! (`ELBSecurityPolicy-TLS13-1-3-*`) is enforced on the ClientHello before rustls reads it: a client
//! that does not offer TLS 1.3 gets the `protocol_version` alert and the connection is closed.

use arc_swap::ArcSwap;
use ferry_config::model::Listener;
use ferry_config::spec::ListenerProtocol;
use ferry_config::tls::{self, HelloScan, MinimumTls, VersionPolicy};
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::{ListenerConfig, PreTlsProcess, ALPN};
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::services::listening::Service;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a listener has no TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the listener on port {0} is not an HTTPS listener with certificates")]
    NotHttps(u16),
    #[error("TLS settings for the listener on port {port}: {detail}")]
    Settings { port: u16, detail: String },
}

/// The TLS settings of an HTTPS listener: its certificates by SNI and ALPN. The ssl policy's TLS 1.3
/// minimum is not in them (pingora always allows TLS 1.2 and 1.3): [`listen`] adds that check, so
/// add HTTPS listeners through it.
pub fn settings(
    listener: &Listener,
) -> Result<(TlsSettings, Arc<tls::ReloadableCertificates>), TlsSetupError> {
    let Some(config) = &listener.tls else {
        return Err(TlsSetupError::NotHttps(listener.port));
    };
    let mut settings = TlsSettings::intermediate("", "").map_err(|e| TlsSetupError::Settings {
        port: listener.port,
        detail: e.to_string(),
    })?;
    let certificates = tls::ReloadableCertificates::new(config.store.clone());
    settings.set_cert_resolver(certificates.clone());
    if config.http2 {
        settings.enable_h2();
    } else {
        settings.set_alpn(ALPN::H1);
    }
    Ok((settings, certificates))
}

/// What a reload replaces in an HTTPS listener: its certificates and its ssl policy's TLS 1.3 check.
pub struct Reloadable {
    certificates: Arc<tls::ReloadableCertificates>,
    gate: Option<Arc<ArcSwap<Gate>>>,
}

impl Reloadable {
    pub fn replace(&self, listener: &Listener) {
        let Some(config) = &listener.tls else { return };
        self.certificates.replace(config.store.clone());
        if let Some(gate) = &self.gate {
            gate.store(Arc::new(Gate::of(config)));
        }
    }
}

/// Adds the endpoint of `listener` to `service`: `endpoint` as it is for HTTP; for HTTPS, with
/// [`settings`] and, under a TLS 1.3-only policy, the ClientHello check.
pub fn listen<A>(
    service: &mut Service<A>,
    endpoint: ListenerConfig,
    listener: &Listener,
) -> Option<Reloadable> {
    let Some(config) = &listener.tls else {
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
        return None;
    };
    let (tls_settings, certificates) = match settings(listener) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("balancer: not listening on port {}: {e}", listener.port);
            return None;
        }
    };
    let gate = (config.minimum == MinimumTls::Tls13).then(|| {
        let gate = Arc::new(ArcSwap::from_pointee(Gate::of(config)));
        service
            .endpoints()
            .set_pre_tls_callback(Arc::new(VersionGate { gate: gate.clone() }));
        gate
    });
    service.add_listener(endpoint.tls(tls_settings));
    Some(Reloadable { certificates, gate })
}

/// The TLS 1.3 check of an ssl policy.
struct Gate {
    policy: VersionPolicy,
    /// The ssl policy's name, for the log.
    name: String,
}

impl Gate {
    fn of(config: &ferry_config::model::ListenerTls) -> Gate {
        Gate {
            policy: VersionPolicy::uniform(config.minimum),
            name: config.ssl_policy.clone(),
        }
    }
}

/// Reads the ClientHello, puts it back for rustls, and refuses a client that does not offer TLS 1.3.
struct VersionGate {
    gate: Arc<ArcSwap<Gate>>,
}

#[async_trait::async_trait]
impl PreTlsProcess for VersionGate {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let (bytes, scan) = read_client_hello(stream).await;
        stream.rewind(&bytes);
        let gate = self.gate.load();
        let refusal = match scan? {
            HelloScan::Hello(hello) if gate.policy.admits(&hello) => return Ok(()),
            HelloScan::Hello(_) => format!(
                "refused a TLS handshake that does not offer TLSv1.3, which {} requires",
                gate.name
            ),
            HelloScan::Invalid(why) => format!("refused a TLS handshake: {why}"),
            HelloScan::Incomplete => "refused a TLS handshake: the ClientHello is too large".into(),
        };
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
        assert!(matches!(
            settings(listener),
            Err(TlsSetupError::NotHttps(8081))
        ));
    }
}
