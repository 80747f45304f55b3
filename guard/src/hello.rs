//! The ClientHello gate of HTTPS listeners, before rustls reads a byte: the ClientHello must
//! arrive within a deadline (a handshake that stalls is closed instead of holding a task for
//! pingora's 60 s), and a name whose policy requires TLS 1.3 refuses a client that does not offer
//! it with the `protocol_version` alert, as CloudFront and ALB refuse it (pingora builds every TLS
//! listener for TLS 1.2 and 1.3, so rustls cannot).

use arc_swap::ArcSwap;
use ferry_config::tls::{self, HelloScan, VersionPolicy};
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::{Error, ErrorType};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the gate holds a ClientHello to; a reload replaces it.
pub struct Gate {
    pub policy: VersionPolicy,
    /// How long a client may take to send its whole ClientHello.
    pub timeout: Duration,
    /// What requires TLS 1.3, for the log (`its distribution's minimum_protocol_version`).
    pub requirement: String,
    /// The handshake after the ClientHello (its TLS versions are the listener's).
    pub acceptor: Arc<pingora::listeners::tls::Acceptor>,
}

/// The pre-TLS callback: reads the ClientHello, puts it back for rustls, and closes the
/// connection when it is late or does not offer the TLS version its name requires.
pub struct HelloGate(pub Arc<ArcSwap<Gate>>);

#[async_trait::async_trait]
impl PreTlsProcess for HelloGate {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        let gate = self.0.load_full();
        let Ok((bytes, scan)) = tokio::time::timeout(gate.timeout, read_client_hello(stream)).await
        else {
            return Error::e_explain(
                ErrorType::TLSHandshakeTimedout,
                format!("the ClientHello did not arrive within {:?}", gate.timeout),
            );
        };
        stream.rewind(&bytes);
        let refusal = match scan? {
            HelloScan::Hello(hello) if gate.policy.admits(&hello) => return Ok(()),
            HelloScan::Hello(hello) => format!(
                "refused a TLS handshake for {:?} that does not offer TLSv1.3, which {} requires",
                hello.server_name.as_deref().unwrap_or("(no SNI)"),
                gate.requirement
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
