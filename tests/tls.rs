//! TLS at the edge, end to end: certificates generated at run time (a CA and leaves, with rcgen),
//! `ferry up` with an HTTPS listener, and real rustls clients that verify the chain against that CA
//! and the host name. SNI picks the exact certificate, then the wildcard one, then the default;
//! ALPN gives HTTP/2 when a distribution's `http_version` allows it (and a request really goes over
//! HTTP/2), HTTP/1.1 otherwise; a viewer that stops reading is cut at the send timeout; a
//! `TLSv1.3_2025` distribution refuses TLS 1.2-only clients for its names while the other names
//! still take them; the viewer protocol policy redirects or refuses plain HTTP and serves HTTPS.
//! `ferry validate` locates a bad certificate or key at its field.

mod common;

use common::h2_target::{H2Reply, H2Request, H2Target};
use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned, SupportedProtocolVersion,
};

// ---------------------------------------------------------------- certificates

/// A test CA and the leaf certificates it signed, written as PEM files in a directory.
struct Pki {
    ca: CertificateDer<'static>,
    /// name -> the leaf's DER, to tell which certificate a server presented.
    leaves: Vec<(&'static str, CertificateDer<'static>)>,
}

impl Pki {
    /// Writes `certs/<label>.pem` and `certs/<label>.key` under `dir` for each (label, names).
    fn write(dir: &Path, leaves: &[(&'static str, &[&str])]) -> Pki {
        std::fs::create_dir_all(dir.join("certs")).expect("certs dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ferry test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("CA");
        let mut out = Vec::new();
        for (label, names) in leaves {
            let key = KeyPair::generate().expect("leaf key");
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .expect("leaf params");
            params
                .distinguished_name
                .push(DnType::CommonName, names.first().copied().unwrap_or(label));
            let leaf = params.signed_by(&key, &ca, &ca_key).expect("leaf");
            // The chain: the leaf, then the CA (as a server sends intermediates).
            std::fs::write(
                dir.join(format!("certs/{label}.pem")),
                format!("{}{}", leaf.pem(), ca.pem()),
            )
            .expect("write cert");
            std::fs::write(dir.join(format!("certs/{label}.key")), key.serialize_pem())
                .expect("write key");
            out.push((*label, leaf.der().clone()));
        }
        Pki {
            ca: ca.der().clone(),
            leaves: out,
        }
    }

    /// Which leaf this is.
    fn label_of(&self, der: &CertificateDer<'_>) -> &'static str {
        self.leaves
            .iter()
            .find(|(_, d)| d.as_ref() == der.as_ref())
            .map(|(label, _)| *label)
            .unwrap_or("(a certificate this test did not make)")
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).expect("CA into the root store");
        roots
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the chain against the CA like the standard verifier, but accepts a certificate for
/// another name: to see which certificate a name with no certificate of its own gets.
#[derive(Debug)]
struct AnyNameVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// How a test client is configured.
struct ClientOptions {
    versions: &'static [&'static SupportedProtocolVersion],
    alpn: &'static [&'static [u8]],
    /// Accept a certificate for another name (the chain is still verified).
    any_name: bool,
}

const DEFAULT_CLIENT: ClientOptions = ClientOptions {
    versions: &[&rustls::version::TLS13, &rustls::version::TLS12],
    alpn: &[b"h2", b"http/1.1"],
    any_name: false,
};

/// A client that speaks HTTP/1.1 only, for [`http1`].
const H1_CLIENT: ClientOptions = ClientOptions {
    alpn: &[b"http/1.1"],
    ..DEFAULT_CLIENT
};

fn client_config(pki: &Pki, options: &ClientOptions) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(options.versions)
        .expect("versions");
    let mut config = if options.any_name {
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(pki.roots()), provider())
            .build()
            .expect("verifier");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyNameVerifier(inner)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(pki.roots())
            .with_no_client_auth()
    };
    config.alpn_protocols = options.alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// What one handshake gave.
struct Handshake {
    stream: StreamOwned<ClientConnection, TcpStream>,
    certificate: &'static str,
    alpn: Option<Vec<u8>>,
    version: Option<rustls::ProtocolVersion>,
}

fn handshake(
    pki: &Pki,
    address: &str,
    sni: &str,
    options: &ClientOptions,
) -> Result<Handshake, String> {
    handshake_with(pki, client_config(pki, options), address, sni)
}

/// A handshake with `config`, whose session cache lets a later handshake resume this one.
fn handshake_with(
    pki: &Pki,
    config: Arc<ClientConfig>,
    address: &str,
    sni: &str,
) -> Result<Handshake, String> {
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("handshake with SNI {sni}: {e}"))?;
    }
    let certificate = stream
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| pki.label_of(c))
        .unwrap_or("(none)");
    Ok(Handshake {
        certificate,
        alpn: stream.conn.alpn_protocol().map(|p| p.to_vec()),
        version: stream.conn.protocol_version(),
        stream,
    })
}

/// A response head's status and its headers, names lowercased.
fn parse_head(head: &str) -> (u16, Vec<(String, String)>) {
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// Sends one HTTP/1.1 request on an established TLS connection and reads the response to the end
/// (`Connection: close`): (status, headers lowercased, body).
fn http1(hs: &mut Handshake, host: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: tls-test\r\n\r\n"
    );
    hs.stream
        .write_all(request.as_bytes())
        .expect("write the request");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match hs.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A close without close_notify after the whole response is fine for this test.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!(
                "reading the response: {e} (so far: {:?})",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = parse_head(head);
    (status, headers, body.to_string())
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Polls the HTTPS listener until a handshake succeeds.
fn wait_https(pki: &Pki, address: &str, sni: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match handshake(pki, address, sni, &DEFAULT_CLIENT) {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => {
                panic!("{address} never completed a handshake: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

// ---------------------------------------------------------------- the topology

const WWW: &str = "www.example.test";
const OTHER: &str = "other.example.test";
const STRICT: &str = "strict.example.net";
const DEFAULT_NAME: &str = "default.example.net";

/// An edge with `http` and `https`, the default certificate (`default.example.net`), a wildcard
/// certificate (`*.example.test`), an exact one (`www.example.test`) and one for the strict
/// distribution. Distribution `site` (`www` and `*.example.test`): `http_version` as given,
/// `/secure/*` https-only, `/redirect/*` redirect-to-https, the rest allow-all. Distribution
/// `strict` (`strict.example.net`): TLSv1.3_2025.
/// `/cached/*` of distribution `site` is cached (what the origin allows).
const CACHED_BEHAVIOR: &str = r#"
  [[distributions.cache_behaviors]]
  path_pattern = "/cached/*"
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingOptimized"

  [[distributions.cache_behaviors]]
  path_pattern = "/by-host/*"
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-UseOriginCacheControlHeaders"
  origin_request_policy = "Managed-AllViewer"
"#;

fn topology(http: &str, https: &str, origin: &Origin, http_version: &str) -> String {
    let port = origin.port();
    let dist = |id: &str, aliases: &str, extra: &str, behaviors: &str| {
        format!(
            r#"
[[distributions]]
id = "{id}"
aliases = [{aliases}]
{extra}

  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "allow-all"
  cache_policy = "Managed-CachingDisabled"
{behaviors}"#
        )
    };
    let behavior = |pattern: &str, policy: &str| {
        format!(
            r#"
  [[distributions.cache_behaviors]]
  path_pattern = "{pattern}"
  target_origin_id = "o"
  viewer_protocol_policy = "{policy}"
  cache_policy = "Managed-CachingDisabled"
"#
        )
    };
    format!(
        r#"stack = "e2e-tls"

[edge]
http = "{http}"
https = "{https}"
client_header_timeout = 2
send_timeout = 2
default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
certificates = [
  {{ cert = "certs/wildcard.pem", key = "certs/wildcard.key" }},
  {{ cert = "certs/www.pem", key = "certs/www.key" }},
  {{ cert = "certs/strict.pem", key = "certs/strict.key" }},
]

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]
{site}{strict}"#,
        site = dist(
            "site",
            &format!("\"{WWW}\", \"*.example.test\""),
            &format!(
                "http_version = \"{http_version}\"\nminimum_protocol_version = \"TLSv1.2_2021\""
            ),
            &format!(
                "{}{}{CACHED_BEHAVIOR}",
                behavior("/secure/*", "https-only"),
                behavior("/redirect/*", "redirect-to-https")
            ),
        ),
        strict = dist(
            "strict",
            &format!("\"{STRICT}\""),
            &format!(
                "http_version = \"{http_version}\"\nminimum_protocol_version = \"TLSv1.3_2025\""
            ),
            "",
        ),
    )
}

const LEAVES: &[(&str, &[&str])] = &[
    ("default", &[DEFAULT_NAME]),
    ("wildcard", &["*.example.test"]),
    ("www", &[WWW]),
    ("strict", &[STRICT]),
];

struct Edge {
    ferry: Ferry,
    topology: Topology,
    pki: Pki,
    http: String,
    https: String,
}

fn start(label: &str, origin: &Origin, http_version: &str) -> Edge {
    start_with_env(label, origin, http_version, &[])
}

fn start_with_env(label: &str, origin: &Origin, http_version: &str, env: &[(&str, &str)]) -> Edge {
    let ports = free_ports(2);
    let http = format!("127.0.0.1:{}", ports[0]);
    let https = format!("127.0.0.1:{}", ports[1]);
    let topology = Topology::write(label, &topology(&http, &https, origin, http_version));
    let pki = Pki::write(topology.dir().path(), LEAVES);
    let ferry = Ferry::start_with_env(&["up", topology.path_str()], env, &[&http]);
    wait_https(&pki, &https, WWW);
    Edge {
        ferry,
        topology,
        pki,
        http,
        https,
    }
}

// ---------------------------------------------------------------- tests

/// A client that starts a handshake and stalls is closed once the client header timeout (2 s
/// here) is over, not after pingora's 60 s, whether it stalls in its ClientHello or after it (the
/// server's flight sent, its Finished never coming); a handshake meanwhile is served.
#[test]
fn a_stalled_handshake_is_closed_at_the_client_header_timeout() {
    let origin = Origin::start("o");
    let edge = start("tls-stall", &origin, "http2");
    let mut in_hello = TcpStream::connect(&edge.https).expect("connect");
    // The first bytes of a TLS record, then nothing.
    in_hello
        .write_all(&[0x16, 0x03, 0x01])
        .expect("partial record");
    let mut after_hello = TcpStream::connect(&edge.https).expect("connect");
    let name = ServerName::try_from(WWW.to_string()).expect("name");
    let mut conn =
        ClientConnection::new(client_config(&edge.pki, &DEFAULT_CLIENT), name).expect("client");
    while conn.wants_write() {
        conn.write_tls(&mut after_hello).expect("ClientHello");
    }
    let started = Instant::now();
    let hs =
        handshake(&edge.pki, &edge.https, WWW, &DEFAULT_CLIENT).expect("a handshake meanwhile");
    assert_eq!(hs.certificate, "www");
    for (what, mut stalled) in [("in", in_hello), ("after", after_hello)] {
        stalled
            .set_read_timeout(Some(Duration::from_secs(8)))
            .expect("timeout");
        // Whatever the server sends (its flight, after a whole ClientHello), until it closes.
        let mut buf = [0u8; 4096];
        let closed = loop {
            match stalled.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => {
                    break e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::TimedOut
                }
            }
        };
        let after = started.elapsed();
        assert!(
            closed,
            "the handshake stalled {what} its ClientHello was never closed"
        );
        assert!(
            after >= Duration::from_millis(1500) && after < Duration::from_secs(7),
            "stalled {what} its ClientHello: closed after {after:?}, not at the 2 s client header timeout"
        );
    }
}

/// A viewer that asks for a large response over TLS and stops reading it is closed once it has
/// taken none of it for the send timeout (2 s here), as over plain HTTP (tests/stalled_viewers.rs);
/// a handshake and a request meanwhile are served.
#[test]
fn a_viewer_that_stops_reading_over_tls_is_cut_at_the_send_timeout() {
    let origin = Origin::start_with("o", |req| {
        if req.path().starts_with("/big") {
            Response::new(200).with_body(vec![b'x'; 32 << 20])
        } else {
            default_origin_response("o", req)
        }
    });
    let edge = start("tls-send-stall", &origin, "http1.1");
    let mut stalled = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("handshake");
    stalled
        .stream
        .write_all(format!("GET /big HTTP/1.1\r\nHost: {WWW}\r\n\r\n").as_bytes())
        .expect("request");
    stalled.stream.flush().expect("flush");
    let asked = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("a handshake meanwhile");
    let (status, _, body) = http1(&mut hs, WWW, "/meanwhile");
    assert_eq!(status, 200, "{body}");
    // The TLS records the edge wrote before it gave up, then the close.
    assert!(
        closed_by_server(&mut stalled.stream.sock, Duration::from_secs(8)),
        "the connection of a viewer that stopped reading is still open {:?} after its request",
        asked.elapsed()
    );
    assert_eq!(origin.count_path("/big"), 1);
}

#[test]
fn the_access_log_names_the_tls_version_and_cipher() {
    let origin = Origin::start("o");
    let logs = TempDir::new("tls-access-log");
    let log = logs.path().join("edge.log");
    let log_path = log.to_str().expect("a UTF-8 path");
    let edge = start_with_env(
        "tls-log",
        &origin,
        "http1.1",
        &[("FERRY_EDGE_ACCESS_LOG", log_path)],
    );
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("handshake");
    let (status, _, _) = http1(&mut hs, WWW, "/logged-over-tls");
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("/logged-over-tls")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no log line: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f[16], "https", "{f:?}");
    assert_eq!(f[20], "TLSv1.3", "{f:?}");
    assert!(
        f[21].starts_with("TLS_AES_") || f[21].starts_with("TLS_CHACHA20"),
        "{f:?}"
    );
}

#[test]
fn certificates_reload_on_sighup_without_dropping_connections() {
    let origin = Origin::start("o");
    let edge = start("tls-reload", &origin, "http2");

    let mut before = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("www, first CA");
    assert_eq!(before.certificate, "www");

    // New certificates from another CA, at the same paths; then SIGHUP.
    let renewed = Pki::write(edge.topology.dir().path(), LEAVES);
    edge.ferry.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match handshake(&renewed, &edge.https, WWW, &H1_CLIENT) {
            Ok(hs) => break hs,
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "the renewed certificate was never served after SIGHUP: {e}\n{}",
                    edge.ferry.output_report()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(after.certificate, "www", "the renewed www certificate");
    let err = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT)
        .err()
        .expect("the old CA's certificate is no longer served");
    // (Both CAs have the same name: the old chain fails on the signature.)
    assert!(err.contains("invalid peer certificate"), "{err}");

    // The connection made before the reload is still up and served.
    let (status, headers, body) = http1(&mut before, WWW, "/after-reload");
    assert_eq!(status, 200, "{headers:?} {body}");
    assert_eq!(body, "origin o: GET /after-reload");
    assert!(
        edge.ferry.stderr().contains("topology reloaded"),
        "{}",
        edge.ferry.output_report()
    );
}

#[test]
fn sni_chooses_exact_then_wildcard_then_default_and_alpn_gives_http2() {
    let origin = Origin::start("o");
    let edge = start("tls-sni", &origin, "http2");

    let hs = handshake(&edge.pki, &edge.https, WWW, &DEFAULT_CLIENT).expect("www");
    assert_eq!(hs.certificate, "www", "the exact name's certificate");
    assert_eq!(hs.alpn.as_deref(), Some(&b"h2"[..]), "HTTP/2 by ALPN");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));

    let hs = handshake(&edge.pki, &edge.https, OTHER, &DEFAULT_CLIENT).expect("other");
    assert_eq!(
        hs.certificate, "wildcard",
        "no exact certificate: the wildcard"
    );

    // A name no certificate covers gets the default one (for another name: the client checks
    // only the chain here).
    let any_name = ClientOptions {
        any_name: true,
        ..DEFAULT_CLIENT
    };
    let hs =
        handshake(&edge.pki, &edge.https, "nobody.example.org", &any_name).expect("unknown name");
    assert_eq!(hs.certificate, "default");
    // ...which a client that checks the name refuses, as it should.
    let err = handshake(
        &edge.pki,
        &edge.https,
        "nobody.example.org",
        &DEFAULT_CLIENT,
    )
    .err()
    .expect("the default certificate is not valid for another name");
    assert!(
        err.contains("not valid for") || err.contains("NotValidForName"),
        "{err}"
    );
    // No SNI at all (a client connecting by IP address sends none): the default certificate.
    let hs = handshake(&edge.pki, &edge.https, "127.0.0.1", &any_name).expect("no SNI");
    assert_eq!(hs.certificate, "default", "a ClientHello without SNI");
    // A wildcard covers one label only: a.b.example.test is not *.example.test's.
    let hs = handshake(&edge.pki, &edge.https, "a.b.example.test", &any_name).expect("deep");
    assert_eq!(hs.certificate, "default");

    // A client that only speaks HTTP/1.1 gets it. (CachingDisabled forwards no query string.)
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("h1");
    assert_eq!(hs.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (status, headers, body) = http1(&mut hs, WWW, "/over-tls?x=1");
    assert_eq!(status, 200, "{headers:?} {body}");
    assert_eq!(body, "origin o: GET /over-tls");
    assert!(header(&headers, "x-cache").is_some(), "{headers:?}");
}

/// A client that comes back resumes its TLS session whichever of the edge's threads takes the new
/// connection (rustls keeps sessions per acceptor: with one per thread, about half of these would
/// be full handshakes).
#[test]
fn every_new_connection_resumes_the_session() {
    resumes_every_time("tls-resume", &H1_CLIENT, None);
}

/// TLS 1.2 clients resume too: with a session ticket, or from the session ID alone for a client
/// that takes no tickets (as older clients do).
#[test]
fn tls12_sessions_resume_by_ticket_and_by_session_id() {
    const TLS12: ClientOptions = ClientOptions {
        versions: &[&rustls::version::TLS12],
        ..H1_CLIENT
    };
    let tls12 = &TLS12;
    resumes_every_time(
        "tls12-ticket",
        tls12,
        Some(rustls::client::Tls12Resumption::SessionIdOrTickets),
    );
    resumes_every_time(
        "tls12-id",
        tls12,
        Some(rustls::client::Tls12Resumption::SessionIdOnly),
    );
}

/// 16 connections in turn to a new edge: the first a full handshake, every other one resumed.
fn resumes_every_time(
    label: &str,
    options: &ClientOptions,
    tls12: Option<rustls::client::Tls12Resumption>,
) {
    let origin = Origin::start("o");
    let edge = start(label, &origin, "http1.1");
    let mut config = (*client_config(&edge.pki, options)).clone();
    if let Some(tls12) = tls12 {
        config.resumption = rustls::client::Resumption::default().tls12_resumption(tls12);
    }
    let config = Arc::new(config);
    let mut kinds = Vec::new();
    for i in 0..16 {
        let mut hs = handshake_with(&edge.pki, config.clone(), &edge.https, WWW)
            .unwrap_or_else(|e| panic!("{label}: connection {i}: {e}"));
        kinds.push(hs.stream.conn.handshake_kind());
        if tls12.is_some() {
            assert_eq!(
                hs.version,
                Some(rustls::ProtocolVersion::TLSv1_2),
                "{label}"
            );
        }
        // Reading the response also takes in the session tickets sent after the handshake.
        let (status, headers, body) = http1(&mut hs, WWW, &format!("/resume/{i}"));
        assert_eq!(status, 200, "{label}: {headers:?} {body}");
    }
    assert_eq!(kinds[0], Some(rustls::HandshakeKind::Full), "{label}");
    let resumed = kinds
        .iter()
        .filter(|k| **k == Some(rustls::HandshakeKind::Resumed))
        .count();
    assert_eq!(resumed, kinds.len() - 1, "{label}: {kinds:?}");
}

#[test]
fn a_request_goes_over_http2_end_to_end() {
    let origin = Origin::start("o");
    let edge = start("tls-h2", &origin, "http2");
    let config = client_config(&edge.pki, &DEFAULT_CLIENT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body) = runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(&edge.https)
            .await
            .expect("connect");
        let name = ServerName::try_from(WWW.to_string()).expect("name");
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (mut client, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = http::Request::get(format!("https://{WWW}/h2/path?q=2"))
            .body(())
            .expect("request");
        let (response, _) = client.send_request(request, true).expect("send");
        let response = tokio::time::timeout(IO_TIMEOUT, response)
            .await
            .expect("in time")
            .expect("response");
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        (status, String::from_utf8_lossy(&bytes).to_string())
    });
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "origin o: GET /h2/path");
    // Routed by the HTTP/2 :authority to distribution `site`, forwarded to its origin in HTTP/1.1.
    let seen = origin.last_for_path("/h2/path");
    assert_eq!(
        (seen.method.as_str(), seen.version.as_str()),
        ("GET", "HTTP/1.1"),
        "{seen:?}"
    );
}

/// Over HTTP/2 the host is named by `:authority` alone: a cache policy that keys on Host keys on
/// it, so two aliases of one distribution never share an object (as over HTTP/1.1), and an origin
/// request policy that forwards Host forwards it.
#[test]
fn http2_requests_are_keyed_by_their_authority_as_host() {
    let origin = Origin::start_with("o", |req| {
        let host = req.headers.get("host").unwrap_or("(none)").to_string();
        Response::text(200, format!("for {host}")).with_header("Cache-Control", "max-age=60")
    });
    let edge = start("tls-h2-host", &origin, "http2");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let get = |host: &'static str| {
        runtime.block_on(async {
            let (mut client, _connection) = h2_client_to(&edge, host).await;
            let request = http::Request::get(format!("https://{host}/by-host/page"))
                .body(())
                .expect("request");
            let (response, _) = client.send_request(request, true).expect("send");
            let response = tokio::time::timeout(IO_TIMEOUT, response)
                .await
                .expect("in time")
                .expect("response");
            let x_cache = response
                .headers()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = h2_body(response, Take::All, IO_TIMEOUT).await;
            assert!(matches!(body, Some(Ok(_))), "{host}: the body");
            x_cache
        })
    };
    let first = get("a.example.test");
    assert!(first.starts_with("Miss"), "{first}");
    let again = get("a.example.test");
    assert!(again.starts_with("Hit"), "the same host hits: {again}");
    let other = get("b.example.test");
    assert!(
        other.starts_with("Miss"),
        "another alias is another object: {other}"
    );
    let hosts: Vec<String> = origin
        .requests()
        .iter()
        .filter(|r| r.path() == "/by-host/page")
        .map(|r| r.headers.get("host").unwrap_or("(none)").to_string())
        .collect();
    assert_eq!(
        hosts,
        ["a.example.test", "b.example.test"],
        "Host as forwarded"
    );
}

/// HTTP/2 clients of an HTTPS listener live as ALB's do: a connection with no stream in flight for
/// the load balancer's idle timeout (2 s here) is closed, and one kept busy past the client
/// keepalive (60 s, its least) gets a GOAWAY after its next request, which is served.
#[test]
fn balancer_http2_connections_idle_out_and_go_away_after_the_client_keepalive() {
    let port = free_port();
    let text = format!(
        r#"stack = "e2e-tls-alb-h2"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
attributes = {{ "idle_timeout.timeout_seconds" = 2, "client_keep_alive.seconds" = 60 }}

  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTPS"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  default_actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "h2" }} }}]
"#
    );
    let topology = Topology::write("tls-alb-h2", &text);
    let pki = Pki::write(topology.dir().path(), &[("default", &[DEFAULT_NAME])]);
    let address = format!("127.0.0.1:{port}");
    let _ferry = Ferry::up(&topology, &[]);
    wait_https(&pki, &address, DEFAULT_NAME);

    let get = |client: &mut h2::client::SendRequest<bytes::Bytes>, path: &str| {
        let request = http::Request::get(format!("https://{DEFAULT_NAME}{path}"))
            .body(())
            .expect("request");
        client
            .send_request(request, true)
            .map(|(response, _)| response)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Idle: closed once no stream has been in flight for 2 s.
        let (mut client, connection) = h2_connect(&pki, &address, DEFAULT_NAME).await;
        let response = get(&mut client, "/idle").expect("send");
        let status = tokio::time::timeout(IO_TIMEOUT, response)
            .await
            .expect("in time")
            .expect("response")
            .status();
        assert_eq!(status, 200);
        let answered = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(10), connection).await;
        let after = answered.elapsed();
        assert!(
            closed.is_ok(),
            "an idle HTTP/2 connection still open after {after:?}"
        );
        assert!(
            after >= Duration::from_millis(1700) && after < Duration::from_secs(6),
            "an idle HTTP/2 connection closed after {after:?}, not at the 2 s idle timeout"
        );

        // Busy: a request a second, every one served, until the GOAWAY after 60 s.
        let (mut client, mut connection) = h2_connect(&pki, &address, DEFAULT_NAME).await;
        let opened = Instant::now();
        let mut served = 0;
        let ended = loop {
            let sent = match get(&mut client, &format!("/busy/{served}")) {
                Ok(response) => response,
                // The GOAWAY came: no new stream on this connection.
                Err(_) => break opened.elapsed(),
            };
            let status = tokio::time::timeout(IO_TIMEOUT, sent)
                .await
                .unwrap_or_else(|_| panic!("request {served} answered in time"))
                .unwrap_or_else(|e| panic!("request {served} after {:?}: {e}", opened.elapsed()))
                .status();
            assert_eq!(status, 200, "request {served}");
            served += 1;
            assert!(
                opened.elapsed() < Duration::from_secs(70),
                "no GOAWAY after {:?}",
                opened.elapsed()
            );
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = &mut connection => break opened.elapsed(),
            }
        };
        assert!(
            ended >= Duration::from_secs(60),
            "gone away after {ended:?} and {served} requests, before the client keepalive"
        );
        assert!(served >= 55, "{served} requests served in {ended:?}");
    });
}

/// HTTP/2 and gRPC target groups at the balancer, as ALB runs them: an HTTP/2 group's target gets
/// HTTP/2 requests (h2c in the clear, ALPN `h2` over TLS for an HTTPS group, each checked the same
/// way), a gRPC group's gets the gRPC call and its answer's trailers reach the
/// client, and the gRPC group is checked with a gRPC call to `/AWS.ALB/healthcheck` whose
/// UNIMPLEMENTED (12) is ALB's default matcher. ALB's 464 goes to an HTTP/1.1 request for an
/// HTTP/2 or gRPC group and to a gRPC request for an HTTP/1 group, which no target sees.
#[test]
fn http2_and_grpc_target_groups_get_their_protocol_and_a_mismatch_gets_464() {
    let grpc = H2Target::start(|r| match r.path.as_str() {
        "/pkg.Echo/Say" => H2Reply::grpc(0, &r.body[5.min(r.body.len())..]),
        // What a gRPC server answers for a method it does not have.
        _ => H2Reply {
            status: 200,
            headers: vec![("content-type", "application/grpc".into())],
            trailers: vec![("grpc-status", "12".into())],
            ..H2Reply::default()
        },
    });
    let h2 = H2Target::start(|r| H2Reply {
        status: 200,
        headers: vec![("content-type", "text/plain".into())],
        body: format!("h2 {} {}", r.method, r.path).into_bytes(),
        ..H2Reply::default()
    });
    let h2s = H2Target::start_tls(|r| H2Reply {
        status: 200,
        headers: vec![("content-type", "text/plain".into())],
        body: format!("h2 over TLS {} {}", r.method, r.path).into_bytes(),
        ..H2Reply::default()
    });
    let h1 = Origin::start("h1");
    let port = free_port();
    let admin = format!("127.0.0.1:{}", free_port());
    let text = format!(
        r#"stack = "e2e-tls-alb-grpc"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTPS"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  default_actions = [{{ type = "forward", target_group = "h1" }}]

    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{{ field = "path-pattern", values = ["/pkg.*"] }}]
    actions = [{{ type = "forward", target_group = "grpc" }}]

    [[load_balancers.listeners.rules]]
    priority = 2
    conditions = [{{ field = "path-pattern", values = ["/h2/*"] }}]
    actions = [{{ type = "forward", target_group = "h2" }}]

    [[load_balancers.listeners.rules]]
    priority = 3
    conditions = [{{ field = "path-pattern", values = ["/h2s/*"] }}]
    actions = [{{ type = "forward", target_group = "h2s" }}]

[[target_groups]]
name = "grpc"
port = {grpc}
protocol_version = "GRPC"
health_check = {{ interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2 }}
targets = [{{ id = "127.0.0.1", zone = "a" }}]

[[target_groups]]
name = "h2"
port = {h2}
protocol_version = "HTTP2"
health_check = {{ interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2 }}
targets = [{{ id = "127.0.0.1", zone = "a" }}]

[[target_groups]]
name = "h2s"
port = {h2s}
protocol = "HTTPS"
protocol_version = "HTTP2"
health_check = {{ interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2 }}
targets = [{{ id = "127.0.0.1", zone = "a" }}]

[[target_groups]]
name = "h1"
port = {h1}
targets = [{{ id = "127.0.0.1", zone = "a" }}]
"#,
        grpc = grpc.port(),
        h2 = h2.port(),
        h2s = h2s.port(),
        h1 = h1.port(),
    );
    let topology = Topology::write("tls-alb-grpc", &text);
    let pki = Pki::write(topology.dir().path(), &[("default", &[DEFAULT_NAME])]);
    let address = format!("127.0.0.1:{port}");
    let logs = TempDir::new("tls-alb-grpc-log");
    let log = logs.path().join("alb.log");
    let ferry = Ferry::start_with_env(
        &["up", topology.path_str(), "--admin", admin.as_str()],
        &[(
            "FERRY_BALANCER_ACCESS_LOG",
            log.to_str().expect("a UTF-8 path"),
        )],
        &[admin.as_str()],
    );
    wait_https(&pki, &address, DEFAULT_NAME);
    let alb = Alb {
        ferry,
        admin,
        topology,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (mut client, _connection) = h2_connect(&pki, &address, DEFAULT_NAME).await;
        let mut call = |path: &str, content_type: &str, body: &'static [u8]| {
            let request = http::Request::post(format!("https://{DEFAULT_NAME}{path}"))
                .header("content-type", content_type)
                .header("te", "trailers")
                .body(())
                .expect("request");
            let (response, mut send) = client.send_request(request, false).expect("send");
            send.send_data(bytes::Bytes::from_static(body), true)
                .expect("body");
            async move {
                let response = tokio::time::timeout(IO_TIMEOUT, response)
                    .await
                    .expect("in time")
                    .expect("response");
                let status = response.status().as_u16();
                let mut body = response.into_body();
                let mut got = Vec::new();
                while let Some(chunk) = tokio::time::timeout(IO_TIMEOUT, body.data())
                    .await
                    .expect("body in time")
                {
                    let chunk = chunk.expect("chunk");
                    let _ = body.flow_control().release_capacity(chunk.len());
                    got.extend_from_slice(&chunk);
                }
                let trailers = tokio::time::timeout(IO_TIMEOUT, body.trailers())
                    .await
                    .expect("trailers in time")
                    .expect("trailers");
                let grpc_status = trailers
                    .as_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                (status, got, grpc_status)
            }
        };

        // A gRPC call: to the target over HTTP/2, its message and status back.
        let (status, body, grpc_status) =
            call("/pkg.Echo/Say", "application/grpc", b"\0\0\0\0\x04ping").await;
        assert_eq!(status, 200);
        assert_eq!(body, b"\0\0\0\0\x04ping");
        assert_eq!(grpc_status.as_deref(), Some("0"));
        let calls: Vec<H2Request> = grpc
            .requests()
            .into_iter()
            .filter(|r| r.path == "/pkg.Echo/Say")
            .collect();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].content_type.as_deref(), Some("application/grpc"));

        // An HTTP/2 request to the HTTP/2 group: HTTP/2 to its target.
        let (status, body, _) = call("/h2/page", "text/plain", b"x").await;
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), "h2 POST /h2/page");
        // And to an HTTPS one: TLS with ALPN h2 to its target.
        let (status, body, _) = call("/h2s/page", "text/plain", b"x").await;
        assert_eq!(status, 200);
        assert_eq!(String::from_utf8_lossy(&body), "h2 over TLS POST /h2s/page");

        // A gRPC request for the HTTP/1 group: 464, not forwarded.
        let (status, body, _) = call("/other", "application/grpc+proto", b"\0\0\0\0\0").await;
        assert_eq!(status, 464, "{}", String::from_utf8_lossy(&body));
        assert_eq!(h1.count_prefix("/other"), 0);
    });

    // HTTP/1.1 requests for the HTTP/2 and gRPC groups: 464, not forwarded.
    for path in ["/pkg.Echo/Say", "/h2/page"] {
        let mut hs = handshake(&pki, &address, DEFAULT_NAME, &H1_CLIENT).expect("handshake");
        let (status, _, body) = http1(&mut hs, DEFAULT_NAME, path);
        assert_eq!(status, 464, "{path}: {body}");
    }
    assert_eq!(h2.count_prefix("/h2/"), 1);

    // ALB's access log types: `grpcs` for the gRPC call, `h2` for the HTTP/2 request.
    let deadline = Instant::now() + Duration::from_secs(10);
    let kind_of = |path: &str| loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let line = text
            .lines()
            .find(|l| l.contains(&format!("{path} HTTP/2.0\"")));
        if let Some(kind) = line.and_then(|l| l.split(' ').next()) {
            break kind.to_string();
        }
        assert!(Instant::now() < deadline, "no log line for {path}: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(kind_of("/pkg.Echo/Say"), "grpcs");
    assert_eq!(kind_of("/h2/page"), "h2");

    // The gRPC group's health: a gRPC call to ALB's default path, healthy on its 12.
    alb.wait_state("grpc", grpc.port(), "healthy", Duration::from_secs(20));
    let checks: Vec<H2Request> = grpc
        .requests()
        .into_iter()
        .filter(|r| r.path == "/AWS.ALB/healthcheck")
        .collect();
    assert!(!checks.is_empty());
    assert!(checks
        .iter()
        .all(|c| c.method == "POST" && c.content_type.as_deref() == Some("application/grpc")));
    // The HTTP/2 group is checked over HTTP/2 (its target speaks nothing else).
    alb.wait_state("h2", h2.port(), "healthy", Duration::from_secs(20));
    alb.wait_state("h2s", h2s.port(), "healthy", Duration::from_secs(20));
    assert!(h2s
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/"));
    assert!(h2
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/"));
}

/// An HTTP/2 connection to `www` (ALPN h2), on `runtime`.
async fn h2_client(
    edge: &Edge,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    h2_client_to(edge, WWW).await
}

/// An HTTP/2 connection to `host` (its SNI; ALPN h2), on `runtime`.
async fn h2_client_to(
    edge: &Edge,
    host: &str,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    h2_connect(&edge.pki, &edge.https, host).await
}

/// An HTTP/2 connection to `address`, with `host` as its SNI (ALPN h2).
async fn h2_connect(
    pki: &Pki,
    address: &str,
    host: &str,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let config = client_config(pki, &DEFAULT_CLIENT);
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = ServerName::try_from(host.to_string()).expect("name");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let (client, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    (client, tokio::spawn(connection))
}

/// A GET over a fresh HTTP/2 connection: its status.
async fn h2_get(edge: &Edge, path: &str) -> u16 {
    let (mut client, _connection) = h2_client(edge).await;
    let request = http::Request::get(format!("https://{WWW}{path}"))
        .body(())
        .expect("request");
    let (response, _) = client.send_request(request, true).expect("send");
    tokio::time::timeout(IO_TIMEOUT, response)
        .await
        .expect("in time")
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// How an HTTP/2 test viewer takes a body.
#[derive(Clone, Copy)]
enum Take {
    /// As it comes, releasing its flow-control capacity.
    All,
    /// The same, pausing this long after each MiB.
    Paced(Duration),
    /// Not at all: the window stays shut once the first ones are spent.
    Nothing,
}

/// The body of `response`, taken as `take` says: `Ok(bytes)` when the body ended, `Err` when the
/// stream was reset or the connection closed, `None` when it had not ended after `wait`.
async fn h2_body(
    response: http::Response<h2::RecvStream>,
    take: Take,
    wait: Duration,
) -> Option<Result<usize, h2::Error>> {
    let mut body = response.into_body();
    let mut got = 0;
    let drain = async {
        while let Some(chunk) = body.data().await {
            let chunk = chunk?;
            let before = got;
            got += chunk.len();
            match take {
                Take::Nothing => continue,
                Take::Paced(pause) if got >> 20 != before >> 20 => tokio::time::sleep(pause).await,
                Take::All | Take::Paced(_) => {}
            }
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        Ok(got)
    };
    tokio::time::timeout(wait, drain).await.ok()
}

/// An HTTP/2 viewer that leaves its flow-control window shut, taking none of its body, has its
/// stream ended once it has taken nothing for the send timeout (2 s here), on a miss and on a hit
/// (whose body the store hands out in pieces, each one write); a viewer on another connection is
/// served meanwhile, and one that takes its body, however slowly, gets all of it.
#[test]
fn an_http2_viewer_that_leaves_its_window_shut_is_cut_at_the_send_timeout() {
    const BIG: usize = 32 << 20;
    let origin = Origin::start_with("o", |req| {
        if req.path().contains("/big") {
            Response::new(200).with_body(vec![b'x'; BIG])
        } else {
            default_origin_response("o", req)
        }
    });
    let edge = start("tls-h2-stall", &origin, "http2");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let get = |path: &str| {
            http::Request::get(format!("https://{WWW}{path}"))
                .body(())
                .expect("request")
        };
        // A viewer that takes its body: the hit is stored whole.
        let (mut client, _connection) = h2_client(&edge).await;
        let (response, _) = client.send_request(get("/cached/big"), true).expect("send");
        let response = tokio::time::timeout(IO_TIMEOUT, response)
            .await
            .expect("in time")
            .expect("response");
        let whole = h2_body(response, Take::All, Duration::from_secs(30)).await;
        assert!(matches!(whole, Some(Ok(BIG))), "{whole:?}");
        // One that takes it slowly but steadily, over more than the send timeout in all.
        let (response, _) = client.send_request(get("/cached/big"), true).expect("send");
        let response = tokio::time::timeout(IO_TIMEOUT, response)
            .await
            .expect("in time")
            .expect("response");
        let started = Instant::now();
        let paced = Take::Paced(Duration::from_millis(150));
        let whole = h2_body(response, paced, Duration::from_secs(30)).await;
        assert!(matches!(whole, Some(Ok(BIG))), "a slow viewer: {whole:?}");
        assert!(started.elapsed() > Duration::from_secs(3), "{:?}", started.elapsed());
        for (what, path) in [("a miss", "/big"), ("a hit", "/cached/big")] {
            let (mut client, _connection) = h2_client(&edge).await;
            let (response, _) = client.send_request(get(path), true).expect("send");
            let response = tokio::time::timeout(IO_TIMEOUT, response)
                .await
                .expect("in time")
                .expect("response");
            assert_eq!(response.status(), 200, "{what}");
            let asked = Instant::now();
            let ended = h2_body(response, Take::Nothing, Duration::from_secs(10)).await;
            let after = asked.elapsed();
            match ended {
                Some(Err(_)) => {}
                Some(Ok(n)) => panic!("{what}: the body ended after {n} bytes of {BIG} with the window shut"),
                None => panic!("{what}: the stream is still open {after:?} after the viewer stopped taking its body"),
            }
            assert!(
                after >= Duration::from_millis(1500),
                "{what}: cut after {after:?}, before the 2 s send timeout"
            );
            assert_eq!(h2_get(&edge, "/meanwhile").await, 200, "{what}: another viewer");
        }
    });
    assert_eq!(origin.count_path("/cached/big"), 1, "the hit was a hit");
}

/// HTTP/2 spoken badly: a client that opens and resets streams as fast as it can (rapid reset,
/// CVE-2023-44487) and one that sends a 64 KiB header block. Neither reaches the origin in bulk
/// nor stops the edge: a well-behaved viewer is served during and after.
#[test]
fn http2_rapid_reset_and_oversized_headers_leave_other_viewers_served() {
    let origin = Origin::start_with("o", |req| {
        default_origin_response("o", req).with_delay(Duration::from_millis(200))
    });
    let edge = start("tls-h2-abuse", &origin, "http2");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (during, after, oversized) = runtime.block_on(async {
        // Rapid reset: 2,000 streams opened and cancelled at once.
        let (mut abuser, connection) = h2_client(&edge).await;
        let attack = tokio::spawn(async move {
            for i in 0..2000 {
                let request = http::Request::get(format!("https://{WWW}/reset/{i}"))
                    .body(())
                    .expect("request");
                match abuser.send_request(request, true) {
                    // Dropping the response future resets the stream.
                    Ok((response, _)) => drop(response),
                    Err(_) => break,
                }
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let during = h2_get(&edge, "/during-rapid-reset").await;
        let _ = attack.await;
        let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
        let after = h2_get(&edge, "/after-rapid-reset").await;

        // A 64 KiB header block.
        let (mut big, _connection) = h2_client(&edge).await;
        let request = http::Request::get(format!("https://{WWW}/oversized"))
            .header("x-big", "a".repeat(64 * 1024))
            .body(())
            .expect("request");
        let oversized = match big.send_request(request, true) {
            Ok((response, _)) => match tokio::time::timeout(IO_TIMEOUT, response).await {
                Ok(Ok(r)) => r.status().as_u16(),
                Ok(Err(_)) => 0,
                Err(_) => 1,
            },
            Err(_) => 0,
        };
        (during, after, oversized)
    });
    assert_eq!(during, 200, "a viewer during the rapid reset");
    assert_eq!(after, 200, "a viewer after the rapid reset");
    assert!(
        oversized == 0 || (400..500).contains(&oversized),
        "a 64 KiB header block is refused (4xx or a reset), not served nor hung: {oversized}"
    );
    assert_eq!(origin.count_prefix("/oversized"), 0);
    let reached = origin.count_prefix("/reset/");
    eprintln!("rapid reset: {reached} of 2000 cancelled streams reached the origin; a 64 KiB header block got {oversized}");
    assert!(
        reached < 200,
        "every cancelled stream still went to the origin ({reached})"
    );
}

#[test]
fn http1_1_distributions_negotiate_only_http1_1() {
    let origin = Origin::start("o");
    let edge = start("tls-h1", &origin, "http1.1");
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &DEFAULT_CLIENT).expect("www");
    assert_eq!(
        hs.alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "the client offered h2 first; no distribution allows it"
    );
    let (status, _, body) = http1(&mut hs, WWW, "/one");
    assert_eq!((status, body.as_str()), (200, "origin o: GET /one"));
}

#[test]
fn tls1_3_2025_refuses_tls1_2_clients_for_its_names_only() {
    let origin = Origin::start("o");
    let edge = start("tls-versions", &origin, "http2");
    static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    let tls12_only = ClientOptions {
        versions: &TLS12,
        ..H1_CLIENT
    };

    let err = handshake(&edge.pki, &edge.https, STRICT, &tls12_only)
        .err()
        .expect("a TLS 1.2-only client is refused for a TLSv1.3_2025 distribution");
    assert!(
        err.contains("ProtocolVersion") || err.to_lowercase().contains("protocol version"),
        "refused with the protocol_version alert: {err}"
    );

    let mut hs = handshake(&edge.pki, &edge.https, STRICT, &H1_CLIENT).expect("TLS 1.3");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(hs.certificate, "strict");
    let (status, _, body) = http1(&mut hs, STRICT, "/strict");
    assert_eq!((status, body.as_str()), (200, "origin o: GET /strict"));

    // The other distribution's names still take TLS 1.2, on the same listener.
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &tls12_only).expect("TLS 1.2 for www");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_2));
    let (status, _, _) = http1(&mut hs, WWW, "/old-client");
    assert_eq!(status, 200);

    // And the refusals did not disturb the listener.
    handshake(&edge.pki, &edge.https, STRICT, &DEFAULT_CLIENT).expect("still serving");
}

#[test]
fn viewer_protocol_policy_redirects_refuses_and_serves() {
    let origin = Origin::start("o");
    let edge = start("tls-vpp", &origin, "http2");
    let client = Client::new();

    let r = client.get(&edge.http, "/redirect/page.html?a=1&b=2", &[("Host", WWW)]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://www.example.test/redirect/page.html?a=1&b=2")
    );
    // Other methods keep their method and body through a 307, on HTTP/1.1; an HTTP/1.0 client,
    // which may not know 307, gets 403.
    let r = client.request(
        &edge.http,
        "POST",
        "/redirect/form",
        &[("Host", WWW), ("Content-Type", "text/plain")],
        b"a=1",
    );
    assert_eq!(r.status, 307, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some("https://www.example.test/redirect/form")
    );
    let old = client.send_raw(
        &edge.http,
        format!("POST /redirect/form HTTP/1.0\r\nHost: {WWW}\r\nContent-Length: 3\r\n\r\na=1")
            .as_bytes(),
    );
    assert_eq!(old.status(), Some(403), "{}", old.text());
    assert_eq!(
        origin.count_prefix("/redirect/"),
        0,
        "no redirect reached the origin"
    );
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("https");
    let (status, _, body) = http1(&mut hs, WWW, "/redirect/page.html?a=1&b=2");
    assert_eq!(
        status, 200,
        "the redirect's target is served over HTTPS: {body}"
    );

    let r = client.get(&edge.http, "/secure/data", &[("Host", WWW)]);
    assert_eq!(r.status, 403, "{r:?}");
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("https");
    let (status, _, body) = http1(&mut hs, WWW, "/secure/data");
    assert_eq!((status, body.as_str()), (200, "origin o: GET /secure/data"));

    let r = client.get(&edge.http, "/open", &[("Host", WWW)]);
    assert_eq!(r.status, 200, "allow-all serves plain HTTP: {r:?}");
    assert_eq!(
        origin.count_prefix("/secure/"),
        1,
        "the 403 never reached the origin"
    );
}

// ---------------------------------------------------------------- validate

/// (line, column), 1-based, of the `nth` occurrence of `token` in `text`.
fn position(text: &str, token: &str, nth: usize) -> (usize, usize) {
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(at) = line[from..].find(token) {
            seen += 1;
            if seen == nth {
                return (i + 1, line[..from + at].chars().count() + 1);
            }
            from += at + token.len();
        }
    }
    panic!("occurrence {nth} of {token:?} not found");
}

/// An edge with only an HTTPS listener still answers with its distributions' custom error
/// responses (the page is fetched through the edge itself, here over TLS).
#[test]
fn an_https_only_edge_serves_custom_error_pages() {
    let origin = Origin::start_with("pages", |req| match req.path() {
        "/404.html" => Response::text(200, "the custom page"),
        _ => Response::text(404, "the origin's own 404"),
    });
    let https = format!("127.0.0.1:{}", free_port());
    let text = format!(
        r#"stack = "e2e-tls-error-pages"

[edge]
https = "{https}"
default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}

[resolve]
"{ORIGIN_DOMAIN}" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["{WWW}"]

  [[distributions.origins]]
  id = "o"
  domain_name = "{ORIGIN_DOMAIN}"
  custom_origin_config = {{ http_port = {port}, origin_protocol_policy = "http-only" }}

  [distributions.default_cache_behavior]
  target_origin_id = "o"
  viewer_protocol_policy = "https-only"
  cache_policy = "Managed-CachingOptimized"

  [[distributions.custom_error_responses]]
  error_code = 404
  response_page_path = "/404.html"
  response_code = 200
"#,
        port = origin.port(),
    );
    let topology = Topology::write("tls-error-pages", &text);
    let pki = Pki::write(topology.dir().path(), &[("default", &[WWW])]);
    let _ferry = Ferry::up(&topology, &[]);
    wait_https(&pki, &https, WWW);

    let mut hs = handshake(&pki, &https, WWW, &H1_CLIENT).expect("handshake");
    let (status, _, body) = http1(&mut hs, WWW, "/missing");
    assert_eq!(
        (status, body.as_str()),
        (200, "the custom page"),
        "{:#?}",
        origin.requests()
    );
    assert_eq!(origin.count_path("/404.html"), 1);
}

#[test]
fn validate_locates_a_bad_certificate_and_a_mismatched_key() {
    let text = r#"stack = "e2e-tls-validate"

[edge]
http = "127.0.0.1:18080"
https = "127.0.0.1:18443"
default_certificate = { cert = "certs/notes.txt", key = "certs/default.key" }
certificates = [{ cert = "certs/www.pem", key = "certs/default.key" }]

[[distributions]]
id = "site"
aliases = ["www.example.test"]
origins = [{ id = "o", domain_name = "o.internal", custom_origin_config = { origin_protocol_policy = "http-only" } }]
default_cache_behavior = { target_origin_id = "o", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = { a = "127.0.0.1" }

  [[load_balancers.listeners]]
  port = 18444
  protocol = "HTTPS"
  ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-6"
  default_certificate = { cert = "certs/default.key", key = "certs/default.key" }
  default_actions = [{ type = "fixed-response", fixed_response_config = { status_code = "200" } }]
"#;
    let topology = Topology::write("tls-validate", text);
    let dir = topology.dir().path();
    Pki::write(dir, &[("default", &[DEFAULT_NAME]), ("www", &[WWW])]);
    std::fs::write(
        dir.join("certs/notes.txt"),
        "remember to renew the certificate\n",
    )
    .expect("write");
    let out = ferry_cmd(&["validate", topology.path_str()]);
    let stderr = text_of(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = topology.path_str();
    let expect = |token: &str, nth: usize, path: &str, words: &[&str]| {
        let (line, column) = position(text, token, nth);
        let prefix = format!("{file}:{line}:{column}: error: {path}: ");
        let found = stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no error starting {prefix:?} in:\n{stderr}"));
        for w in words {
            assert!(found.contains(w), "{found:?} lacks {w:?}");
        }
    };
    // Not a certificate: at the default certificate's `cert`, naming the file.
    expect(
        "cert = \"certs/notes.txt\"",
        1,
        "edge.default_certificate.cert",
        &["certs/notes.txt", "no PEM block"],
    );
    // A key that is not the certificate's: at that pair's `key`, naming both files.
    expect(
        "key = \"certs/default.key\" }]",
        1,
        "edge.certificates[0].key",
        &[
            "certs/default.key",
            "does not match the certificate in",
            "certs/www.pem",
        ],
    );
    // The balancer's HTTPS listener: an unknown policy, with the close name, and a key given as
    // the certificate.
    expect(
        "ssl_policy",
        1,
        "load_balancers[0].listeners[0].ssl_policy",
        &["ELBSecurityPolicy-TLS13-1-2-2021-06"],
    );
    expect(
        "cert = \"certs/default.key\"",
        1,
        "load_balancers[0].listeners[0].default_certificate.cert",
        &["certs/default.key", "swapped"],
    );
    assert!(!stderr.to_lowercase().contains("panicked"), "{stderr}");
}

fn text_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

// ---------------------------------------------------------------- balancer

/// HTTPS listeners of a load balancer: SNI among the listener's certificates, HTTP/2 by ALPN, and
/// the ssl policy: the default `ELBSecurityPolicy-2016-08` stops at TLS 1.2 (it has no TLS 1.3),
/// a `TLS13-1-2` policy takes both, a `TLS13-1-3` policy refuses TLS 1.2.
#[test]
fn balancer_https_listeners_follow_their_certificates_and_ssl_policy() {
    let ports = free_ports(4);
    let (plain, open, strict, modern) = (ports[0], ports[1], ports[2], ports[3]);
    let fixed = |body: &str| {
        format!(
            r#"default_actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "{body}" }} }}]"#
        )
    };
    let text = format!(
        r#"stack = "e2e-tls-alb"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}

  [[load_balancers.listeners]]
  port = {plain}
  protocol = "HTTP"
  {plain_action}

  [[load_balancers.listeners]]
  port = {open}
  protocol = "HTTPS"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  certificates = [{{ cert = "certs/www.pem", key = "certs/www.key" }}]
  {open_action}

  [[load_balancers.listeners]]
  port = {strict}
  protocol = "HTTPS"
  ssl_policy = "ELBSecurityPolicy-TLS13-1-3-2021-06"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  {strict_action}

  [[load_balancers.listeners]]
  port = {modern}
  protocol = "HTTPS"
  ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  {modern_action}
"#,
        plain_action = fixed("plain"),
        open_action = fixed("open"),
        strict_action = fixed("strict"),
        modern_action = fixed("modern"),
    );
    let topology = Topology::write("tls-alb", &text);
    let pki = Pki::write(
        topology.dir().path(),
        &[("default", &[DEFAULT_NAME]), ("www", &[WWW])],
    );
    let plain = format!("127.0.0.1:{plain}");
    let open = format!("127.0.0.1:{open}");
    let strict = format!("127.0.0.1:{strict}");
    let modern = format!("127.0.0.1:{modern}");
    let _ferry = Ferry::up(&topology, &[&plain]);
    wait_https(&pki, &open, WWW);

    let hs = handshake(&pki, &open, WWW, &DEFAULT_CLIENT).expect("www");
    assert_eq!(hs.certificate, "www");
    assert_eq!(
        hs.version,
        Some(rustls::ProtocolVersion::TLSv1_2),
        "ELBSecurityPolicy-2016-08 has no TLS 1.3"
    );
    assert_eq!(
        hs.alpn.as_deref(),
        Some(&b"h2"[..]),
        "ALB speaks HTTP/2 by ALPN"
    );
    let any_name = ClientOptions {
        any_name: true,
        ..DEFAULT_CLIENT
    };
    let hs = handshake(&pki, &open, "nobody.example.org", &any_name).expect("fallback");
    assert_eq!(hs.certificate, "default");

    static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    let tls12_only = ClientOptions {
        versions: &TLS12,
        ..H1_CLIENT
    };
    let mut hs = handshake(&pki, &open, WWW, &tls12_only).expect("TLS 1.2 under 2016-08");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_2));
    let (status, _, body) = http1(&mut hs, WWW, "/");
    assert_eq!((status, body.as_str()), (200, "open"));

    let err = handshake(&pki, &strict, DEFAULT_NAME, &tls12_only)
        .err()
        .expect("TLS 1.2 refused under TLS13-1-3");
    assert!(err.contains("ProtocolVersion"), "{err}");
    let mut hs = handshake(&pki, &strict, DEFAULT_NAME, &H1_CLIENT).expect("TLS 1.3");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));
    let (status, _, body) = http1(&mut hs, DEFAULT_NAME, "/");
    assert_eq!((status, body.as_str()), (200, "strict"));

    let mut hs = handshake(&pki, &modern, DEFAULT_NAME, &H1_CLIENT).expect("TLS 1.3");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_3));
    let (status, _, body) = http1(&mut hs, DEFAULT_NAME, "/");
    assert_eq!((status, body.as_str()), (200, "modern"));
    let hs = handshake(&pki, &modern, DEFAULT_NAME, &tls12_only).expect("TLS 1.2 under TLS13-1-2");
    assert_eq!(hs.version, Some(rustls::ProtocolVersion::TLSv1_2));
}

/// Listener attributes (ALB's header modification) on an HTTPS listener: the Server header removed,
/// response headers set over the target's own (also on the balancer's fixed responses), and the
/// TLS version and cipher headers forwarded (the load balancer's
/// `routing.http.x_amzn_tls_version_and_cipher_suite.enabled`) under the names the listener gives.
#[test]
fn balancer_listener_attributes_edit_responses_and_name_the_tls_headers() {
    let origin = Origin::start_with("attrs", |_| {
        Response::text(200, "from the target")
            .with_header("Server", "target/1.0")
            .with_header("X-Frame-Options", "ALLOWALL")
    });
    let port = free_port();
    let text = format!(
        r#"stack = "e2e-tls-listener-attributes"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
attributes = {{ "routing.http.x_amzn_tls_version_and_cipher_suite.enabled" = true }}

  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTPS"
  ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  attributes = {{ "routing.http.response.server.enabled" = false, "routing.http.response.x_frame_options.header_value" = "DENY", "routing.http.response.strict_transport_security.header_value" = "max-age=31536000", "routing.http.request.x_amzn_tls_version.header_name" = "X-Tls-Version" }}
  default_actions = [{{ type = "forward", target_group = "web" }}]

    [[load_balancers.listeners.rules]]
    priority = 1
    conditions = [{{ field = "path-pattern", values = ["/fixed"] }}]
    actions = [{{ type = "fixed-response", fixed_response_config = {{ status_code = "200", content_type = "text/plain", message_body = "fixed" }} }}]

[[target_groups]]
name = "web"
port = {origin_port}
health_check = {{ enabled = false }}
targets = [{{ id = "127.0.0.1", zone = "a" }}]
"#,
        origin_port = origin.port(),
    );
    let topology = Topology::write("tls-listener-attributes", &text);
    let pki = Pki::write(topology.dir().path(), &[("default", &[DEFAULT_NAME])]);
    let address = format!("127.0.0.1:{port}");
    let _ferry = Ferry::up(&topology, &[]);
    wait_https(&pki, &address, DEFAULT_NAME);

    let mut hs = handshake(&pki, &address, DEFAULT_NAME, &H1_CLIENT).expect("handshake");
    let (status, headers, body) = http1(&mut hs, DEFAULT_NAME, "/page");
    assert_eq!((status, body.as_str()), (200, "from the target"));
    assert_eq!(header(&headers, "server"), None, "{headers:?}");
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    assert_eq!(
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-frame-options"))
            .count(),
        1,
        "the listener's value replaces the target's: {headers:?}"
    );
    assert_eq!(
        header(&headers, "strict-transport-security"),
        Some("max-age=31536000")
    );
    let seen = origin.requests();
    let request = seen.last().expect("the target got the request");
    assert_eq!(request.header("x-tls-version"), Some("TLSv1.3"));
    assert_eq!(request.header("x-amzn-tls-version"), None, "renamed");
    assert!(
        request
            .header("x-amzn-tls-cipher-suite")
            .is_some_and(|c| c.starts_with("TLS_AES_") || c.starts_with("TLS_CHACHA20")),
        "{:?}",
        request.headers
    );

    let mut hs = handshake(&pki, &address, DEFAULT_NAME, &H1_CLIENT).expect("handshake");
    let (status, headers, body) = http1(&mut hs, DEFAULT_NAME, "/fixed");
    assert_eq!((status, body.as_str()), (200, "fixed"));
    assert_eq!(header(&headers, "server"), None, "{headers:?}");
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
}

/// An HTTPS listener's kept-alive requests take the balancer's fast path, and the target sees what
/// pingora's path sends it: X-Forwarded-Proto https, the listener's port, and the TLS version and
/// cipher headers (under the listener's names) from the connection, never the client's own.
#[test]
fn https_listener_requests_take_the_fast_path_with_the_tls_headers() {
    let origin = Origin::start("https-fast");
    let port = free_port();
    let admin = format!("127.0.0.1:{}", free_port());
    let text = format!(
        r#"stack = "e2e-tls-fast-forward"

[[load_balancers]]
name = "alb"
dns_name = "alb.internal"
nodes = {{ a = "127.0.0.1" }}
attributes = {{ "routing.http.x_amzn_tls_version_and_cipher_suite.enabled" = true }}

  [[load_balancers.listeners]]
  port = {port}
  protocol = "HTTPS"
  default_certificate = {{ cert = "certs/default.pem", key = "certs/default.key" }}
  attributes = {{ "routing.http.request.x_amzn_tls_version.header_name" = "X-Tls-Version" }}
  default_actions = [{{ type = "forward", target_group = "web" }}]

[[target_groups]]
name = "web"
port = {origin_port}
health_check = {{ enabled = false }}
targets = [{{ id = "127.0.0.1", zone = "a" }}]
"#,
        origin_port = origin.port(),
    );
    let topology = Topology::write("tls-fast-forward", &text);
    let pki = Pki::write(topology.dir().path(), &[("default", &[DEFAULT_NAME])]);
    let address = format!("127.0.0.1:{port}");
    let _ferry = Ferry::start(&["up", topology.path_str(), "--admin", &admin], &[]);
    wait_https(&pki, &address, DEFAULT_NAME);
    let before = origin.requests().len();

    // A kept-alive request with forged TLS headers (the fast path's), then one that closes
    // (pingora's), in one write.
    let mut hs = handshake(&pki, &address, DEFAULT_NAME, &H1_CLIENT).expect("handshake");
    let requests = format!(
        "GET /fast HTTP/1.1\r\nHost: {DEFAULT_NAME}\r\nX-Tls-Version: forged\r\nX-Amzn-Tls-Cipher-Suite: forged\r\n\r\n\
         GET /last HTTP/1.1\r\nHost: {DEFAULT_NAME}\r\nConnection: close\r\n\r\n"
    );
    hs.stream.write_all(requests.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match hs.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading: {e} ({:?})", String::from_utf8_lossy(&raw)),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(
        text.matches("HTTP/1.1 200").count(),
        2,
        "both answered: {text}"
    );

    let seen = origin.requests();
    let sent: Vec<_> = seen[before..].iter().collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    // The listener's default policy (ELBSecurityPolicy-2016-08) stops at TLS 1.2.
    for request in &sent {
        assert_eq!(
            request.header("x-tls-version"),
            Some("TLSv1.2"),
            "{request:?}"
        );
        assert!(
            request
                .header("x-amzn-tls-cipher-suite")
                .is_some_and(|c| c.starts_with("ECDHE-")),
            "{request:?}"
        );
        assert_eq!(request.header("x-forwarded-proto"), Some("https"));
        assert_eq!(
            request.header("x-forwarded-port"),
            Some(port.to_string().as_str())
        );
        assert_eq!(
            request.headers.get_all("x-tls-version").len(),
            1,
            "the client's forged value is replaced: {request:?}"
        );
    }
    let metrics = Client::new().get(&admin, "/metrics", &[]).body_text();
    let fast = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ferry_balancer_fast_forwards_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(fast, Some(1.0), "the kept-alive request took the fast path");
}

/// Sends one HTTP/1.1 request on a kept-alive TLS connection and reads its response by its
/// Content-Length: (status, headers lowercased, body).
fn http1_kept(hs: &mut Handshake, host: &str, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tls-test\r\n\r\n");
    hs.stream
        .write_all(request.as_bytes())
        .expect("write the request");
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = hs.stream.read(&mut buf).expect("read the head");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let (status, headers) = parse_head(&head);
    let length: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    let mut body = raw.split_off(end + 4);
    while body.len() < length {
        let n = hs.stream.read(&mut buf).expect("read the body");
        assert!(n > 0, "closed after {} of {length} bytes", body.len());
        body.extend_from_slice(&buf[..n]);
    }
    assert_eq!(body.len(), length, "more bytes than the Content-Length");
    (status, headers, body)
}

/// A cached body large enough to be kept in a file (64 KiB and more) is encrypted from memory for
/// a TLS viewer: whole, on the hit fast path (kept alive) and on pingora's (`Connection: close`).
#[test]
fn a_large_cached_body_is_served_whole_over_tls() {
    let body = "0123456789abcdef".repeat(12_000);
    let served = body.clone();
    let origin = Origin::start_with("o", move |_| {
        Response::new(200)
            .with_header("Cache-Control", "max-age=600")
            .with_body(served.clone())
    });
    let edge = start("tls-large-body", &origin, "http1.1");
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("handshake");
    for i in 0..4 {
        let (status, headers, got) = http1_kept(&mut hs, WWW, "/cached/large");
        assert_eq!(status, 200, "request {i}");
        let want = if i == 0 {
            "Miss from cloudfront"
        } else {
            "Hit from cloudfront"
        };
        assert_eq!(header(&headers, "x-cache"), Some(want), "request {i}");
        assert!(
            got == body.as_bytes(),
            "request {i}: wrong body ({} bytes)",
            got.len()
        );
    }
    let mut hs = handshake(&edge.pki, &edge.https, WWW, &H1_CLIENT).expect("handshake");
    let (status, headers, got) = http1(&mut hs, WWW, "/cached/large");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-cache"), Some("Hit from cloudfront"));
    assert!(
        got == body,
        "pingora's path: wrong body ({} bytes)",
        got.len()
    );
    assert_eq!(origin.count_path("/cached/large"), 1);
}
