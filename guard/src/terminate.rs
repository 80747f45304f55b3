//! TLS terminated by an app of ferry's own rather than by pingora's listener, so that an HTTPS port
//! is laid out like an HTTP one: one service per thread, each on its own `SO_REUSEPORT` socket
//! (see [`crate::thread_service`]), and every thread's app sharing one rustls acceptor.
//!
//! Why: pingora builds an acceptor (and so a rustls session cache or ticket key, what TLS
//! resumption needs) per service. Per-thread services behind pingora's TLS would resume one
//! session in N; one service over every thread resumed all of them but ran each connection on a
//! random thread, its socket registered with another thread's reactor (every readiness event
//! crossed threads), which showed as a worse p99 than nginx's for HTTPS hits and handshakes. Here
//! the acceptor is one and the connection stays on the thread whose socket accepted it.

use crate::{Gate, HelloGate};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::listeners::tls::Acceptor;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::tls::{version, ResolvesServerCert, ServerConfig};
use std::sync::Arc;

/// The acceptor every thread of an HTTPS port shares: TLS 1.2 and, when `tls13`, 1.3 (as pingora
/// builds its own), certificates from `resolver` (chosen by SNI), ALPN offering `h2` when
/// `http2`, and stateless session tickets (as nginx's default), so that a session resumes on any
/// thread.
pub fn acceptor(resolver: Arc<dyn ResolvesServerCert>, http2: bool, tls13: bool) -> Arc<Acceptor> {
    pingora::tls::install_default_crypto_provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13 {
        &[&version::TLS12, &version::TLS13]
    } else {
        &[&version::TLS12]
    };
    let mut config = ServerConfig::builder_with_protocol_versions(versions)
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    // Without a ticketer, rustls keeps TLS 1.3 sessions in its cache, whose every resumption
    // scans the cache's whole eviction queue: a cache large enough for many clients cost more per
    // handshake than the handshake's own cryptography.
    match rustls::crypto::ring::Ticketer::new() {
        Ok(ticketer) => config.ticketer = ticketer,
        Err(e) => tracing::warn!("TLS: no session tickets ({e}); sessions resume from a cache"),
    }
    Arc::new(Acceptor::from_server_config(Arc::new(config)))
}

/// An app behind a plain TCP listener that makes each new connection a TLS one: the ClientHello
/// through `gate` ([`HelloGate`]), then the rest of the handshake, each due within the gate's
/// timeout.
pub struct Terminate<A> {
    inner: Arc<A>,
    gate: HelloGate,
}

impl<A> Terminate<A> {
    pub fn new(inner: A, gate: Arc<ArcSwap<Gate>>) -> Terminate<A> {
        Terminate {
            inner: Arc::new(inner),
            gate: HelloGate(gate),
        }
    }

    async fn handshake(&self, stream: Stream) -> pingora::Result<Stream> {
        let mut l4 = match stream.into_any().downcast::<L4Stream>() {
            Ok(l4) => *l4,
            // Not reached: a plain TCP listener hands over its sockets as they are.
            Err(_) => {
                return pingora::Error::e_explain(
                    pingora::ErrorType::InternalError,
                    "the HTTPS listener's connection is not a TCP socket",
                )
            }
        };
        self.gate.process(&mut l4).await?;
        let (timeout, acceptor) = {
            let gate = self.gate.0.load();
            (gate.timeout, gate.acceptor.clone())
        };
        match tokio::time::timeout(timeout, acceptor.tls_handshake(l4)).await {
            Ok(tls) => Ok(Box::new(tls?)),
            Err(_) => pingora::Error::e_explain(
                pingora::ErrorType::TLSHandshakeTimedout,
                format!("the TLS handshake did not complete within {timeout:?}"),
            ),
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Terminate<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // A kept-alive connection comes back for its next request already a TLS one.
        if !stream.as_any().is::<L4Stream>() {
            return self.inner.process_new(stream, shutdown).await;
        }
        let peer = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned());
        match self.handshake(stream).await {
            Ok(tls) => self.inner.process_new(tls, shutdown).await,
            Err(e) => {
                // A client's failed handshake is its own business, as with pingora's listener.
                tracing::debug!(?peer, "TLS handshake: {e}");
                None
            }
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}
