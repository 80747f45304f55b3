//! An HTTP/2 target, in the clear (h2c, prior knowledge) or over TLS (ALPN `h2`), for the
//! balancer's HTTP/2 and gRPC target groups: it records each request (method, path, content type,
//! body) and answers what its handler says, trailers included (a gRPC answer's `grpc-status`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A request as an [`H2Target`] received it.
#[derive(Clone, Debug)]
pub struct H2Request {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What an [`H2Target`] answers.
#[derive(Clone, Debug, Default)]
pub struct H2Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(&'static str, String)>,
}

impl H2Reply {
    /// A gRPC answer: 200, `application/grpc`, one message `message`, `grpc-status: status`.
    pub fn grpc(status: u16, message: &[u8]) -> H2Reply {
        let mut body = vec![0];
        body.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
        body.extend_from_slice(message);
        H2Reply {
            status: 200,
            headers: vec![("content-type", "application/grpc".into())],
            body,
            trailers: vec![("grpc-status", status.to_string())],
        }
    }
}

type Handler = dyn Fn(&H2Request) -> H2Reply + Send + Sync;

pub struct H2Target {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<H2Request>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl H2Target {
    /// In the clear: HTTP/2 with prior knowledge (h2c).
    pub fn start(handler: impl Fn(&H2Request) -> H2Reply + Send + Sync + 'static) -> H2Target {
        H2Target::start_with(handler, None)
    }

    /// Over TLS, with a self-signed certificate (ALB does not verify its targets') and ALPN `h2`.
    pub fn start_tls(handler: impl Fn(&H2Request) -> H2Reply + Send + Sync + 'static) -> H2Target {
        use tokio_rustls::rustls;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["target.internal".to_string()])
            .and_then(|p| p.self_signed(&key))
            .expect("certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec()];
        H2Target::start_with(
            handler,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn start_with(
        handler: impl Fn(&H2Request) -> H2Reply + Send + Sync + 'static,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> H2Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = requests.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (handler, seen, tls) = (handler.clone(), seen.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve(tcp, handler, seen).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, handler, seen).await;
                            }
                        }
                    }
                });
            }
        });
        H2Target {
            addr,
            requests,
            runtime: Some(runtime),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<H2Request> {
        self.requests.lock().expect("requests").clone()
    }

    /// How many requests came for a path starting with `prefix`.
    pub fn count_prefix(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }
}

impl Drop for H2Target {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve<S>(stream: S, handler: Arc<Handler>, seen: Arc<Mutex<Vec<H2Request>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut connection) = h2::server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(answer(request, respond, handler.clone(), seen.clone()));
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<H2Request>>>,
) {
    let (head, mut stream) = request.into_parts();
    let mut body = Vec::new();
    while let Some(Ok(chunk)) = stream.data().await {
        let _ = stream.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    let received = H2Request {
        method: head.method.to_string(),
        path: head
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        content_type: head
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    };
    let reply = handler(&received);
    if let Ok(mut all) = seen.lock() {
        all.push(received);
    }
    let mut response = http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(*name, value.as_str());
    }
    let Ok(response) = response.body(()) else {
        return;
    };
    let ends = reply.body.is_empty() && reply.trailers.is_empty();
    let Ok(mut send) = respond.send_response(response, ends) else {
        return;
    };
    if !reply.body.is_empty() {
        let _ = send.send_data(bytes::Bytes::from(reply.body), reply.trailers.is_empty());
    }
    if !reply.trailers.is_empty() {
        let mut trailers = http::HeaderMap::new();
        for (name, value) in &reply.trailers {
            if let Ok(value) = http::HeaderValue::from_str(value) {
                trailers.insert(*name, value);
            }
        }
        let _ = send.send_trailers(trailers);
    }
}
