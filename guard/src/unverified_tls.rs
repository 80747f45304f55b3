//! A TLS client that does not verify the server's certificate; only the handshake's signatures
//! are checked, as TLS requires. The balancer speaks it to HTTPS targets as ALB does (ALB does not
//! validate target certificates, so a self-signed one works, and sends no SNI); the edge to its
//! own HTTPS listener, for the pages of custom error responses.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, OnceLock};

/// Accepts any certificate; checks the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client configuration (one per process).
pub fn client_config() -> Option<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| tracing::error!("no TLS client: {e}"))
                .ok()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            Some(Arc::new(config))
        })
        .clone()
}

/// A TLS connection over `stream` to `name` (an IP address sends no SNI), the certificate
/// unverified.
pub async fn connect(
    stream: tokio::net::TcpStream,
    name: ServerName<'static>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let config = client_config().ok_or_else(|| std::io::Error::other("no TLS client"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
}

/// As [`connect`], offering only `h2` by ALPN (the health checks of HTTP/2 and gRPC target
/// groups).
pub async fn connect_h2(
    stream: tokio::net::TcpStream,
    name: ServerName<'static>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| {
            client_config().map(|base| {
                let mut config = (*base).clone();
                config.alpn_protocols = vec![b"h2".to_vec()];
                Arc::new(config)
            })
        })
        .clone()
        .ok_or_else(|| std::io::Error::other("no TLS client"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
}
