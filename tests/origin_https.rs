//! HTTPS origins, end to end: certificates generated at run time (rcgen), origins behind a real
//! TLS server (tokio-rustls) in front of a recording [`Origin`], and `ferry up` with a CA bundle
//! named in the topology (`custom_origin_config.ca_bundle`, local runs only).
//!
//! CloudFront verifies the origin's certificate: SNI and the name checked are the origin's
//! `domain_name`, the chain must lead to a trusted CA and be in date; otherwise "CloudFront drops
//! the connection and returns 502" with `X-Cache: Error from cloudfront`. `https-only` always
//! speaks HTTPS to the origin (on `https_port`), `match-viewer` only for HTTPS viewers, `http-only`
//! never. `ferry validate` locates a `ca_bundle` that is missing or holds no certificate.

mod common;

use common::*;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------- certificates

/// A CA that signs leaves.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA");
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A leaf for `names`; expired (valid in 2020 only) when asked.
    fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("leaf");
        Leaf {
            chain: vec![cert.der().clone(), self.der()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

struct Leaf {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pem: String,
    key_pem: String,
}

// ---------------------------------------------------------------- a TLS origin

/// A TLS server on 127.0.0.1 in front of a recording [`Origin`]: each connection's handshake is
/// done with `leaf`, then its bytes go both ways to the origin. Records the SNI of every
/// handshake, and counts the handshakes that completed.
struct TlsOrigin {
    port: u16,
    origin: Origin,
    sni: Arc<Mutex<Vec<Option<String>>>>,
    handshakes: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsOrigin {
    fn start(name: &str, leaf: &Leaf) -> TlsOrigin {
        let origin = Origin::start(name);
        let backend: SocketAddr = origin.addr();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let sni = Arc::new(Mutex::new(Vec::new()));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (sni_log, done) = (sni.clone(), handshakes.clone());
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (acceptor, sni_log, done) = (acceptor.clone(), sni_log.clone(), done.clone());
                tokio::spawn(async move {
                    let accepted =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    let Ok(Ok(mut tls)) = accepted else {
                        return;
                    };
                    let name = tls.get_ref().1.server_name().map(|s| s.to_string());
                    sni_log.lock().expect("sni lock").push(name);
                    done.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsOrigin {
            port,
            origin,
            sni,
            handshakes,
            _runtime: runtime,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    fn sni(&self) -> Vec<Option<String>> {
        self.sni.lock().expect("sni lock").clone()
    }
}

// ---------------------------------------------------------------- the edge

const WWW: &str = "www.example.test";

/// One origin of the topology: id, domain_name, the inside of its custom_origin_config.
struct OriginSpec {
    id: &'static str,
    domain: &'static str,
    config: String,
}

/// The edge (`http` and `https`, certificate `certs/edge.pem`), and distribution `site` with
/// `origins`, the default behavior to `good`, `behaviors` as (pattern, target), and `extra` keys.
fn topology(
    http: &str,
    https: &str,
    extra: &str,
    origins: &[OriginSpec],
    behaviors: &[(&str, &str)],
) -> String {
    let mut t = format!(
        r#"stack = "e2e-origin-https"

[edge]
http = "{http}"
https = "{https}"
default_certificate = {{ cert = "certs/edge.pem", key = "certs/edge.key" }}

[resolve]
"origin.internal" = ["127.0.0.1"]
"other.internal" = ["127.0.0.1"]

[[distributions]]
id = "site"
aliases = ["{WWW}"]
{extra}
"#
    );
    for o in origins {
        t.push_str(&format!(
            "\n  [[distributions.origins]]\n  id = \"{}\"\n  domain_name = \"{}\"\n  connection_attempts = 1\n  custom_origin_config = {{ {} }}\n",
            o.id, o.domain, o.config
        ));
    }
    t.push_str(
        "\n  [distributions.default_cache_behavior]\n  target_origin_id = \"good\"\n  viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n",
    );
    for (pattern, target) in behaviors {
        t.push_str(&format!(
            "\n  [[distributions.cache_behaviors]]\n  path_pattern = \"{pattern}\"\n  target_origin_id = \"{target}\"\n  viewer_protocol_policy = \"allow-all\"\n  cache_policy = \"Managed-CachingDisabled\"\n"
        ));
    }
    t
}

type Answer = (u16, Vec<(String, String)>, String);

/// A viewer over HTTPS that trusts `ca`: `GET path` with `Connection: close`, (status, headers
/// lowercased, body).
fn https_get(ca: &Ca, address: &str, path: &str) -> Answer {
    try_https_get(ca, address, path).unwrap_or_else(|e| panic!("GET {path} over HTTPS: {e}"))
}

fn try_https_get(ca: &Ca, address: &str, path: &str) -> Result<Answer, String> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der()).expect("CA into the root store");
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(WWW.to_string()).expect("name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {WWW}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, body.to_string()))
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Polls the edge's HTTPS listener until a request gets an answer.
fn wait_https(ca: &Ca, address: &str) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match try_https_get(ca, address, "/ready") {
            Ok(_) => return,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{address} never answered over HTTPS: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_file(dir: &Path, name: &str, contents: &str) {
    std::fs::create_dir_all(dir.join("certs")).expect("certs dir");
    std::fs::write(dir.join(name), contents).expect("write");
}

/// CloudFront's 502 for an origin certificate it refuses; the page says why.
fn assert_502(r: &Response, what: &str) {
    assert_eq!(r.status, 502, "{what}: {r:?}");
    assert_eq!(x_cache(r), "Error from cloudfront", "{what}: {r:?}");
    let body = r.body_text();
    assert!(
        body.contains("Generated by cloudfront (CloudFront)"),
        "{what}: CloudFront's error page: {r:?}"
    );
    assert!(
        body.contains("invalid peer certificate"),
        "{what}: the page names the certificate: {body}"
    );
}

// ---------------------------------------------------------------- tests

#[test]
fn https_origins_are_verified_against_the_ca_bundle_by_their_domain_name() {
    let ca = Ca::new("ferry origin test CA");
    let stranger = Ca::new("a CA nobody trusts");
    let good = TlsOrigin::start("good", &ca.leaf(&["origin.internal"], false));
    let other_ca = TlsOrigin::start("other-ca", &stranger.leaf(&["origin.internal"], false));
    let wrong_name = TlsOrigin::start("wrong-name", &ca.leaf(&["other.internal"], false));
    let expired = TlsOrigin::start("expired", &ca.leaf(&["origin.internal"], true));

    let https_only = |port: u16, bundle: bool| {
        format!(
            "https_port = {port}, origin_protocol_policy = \"https-only\"{}",
            if bundle {
                ", ca_bundle = \"certs/ca.pem\""
            } else {
                ""
            }
        )
    };
    let origins = [
        OriginSpec {
            id: "good",
            domain: "origin.internal",
            config: https_only(good.port, true),
        },
        OriginSpec {
            id: "no-bundle",
            domain: "origin.internal",
            config: https_only(good.port, false),
        },
        OriginSpec {
            id: "other-ca",
            domain: "origin.internal",
            config: https_only(other_ca.port, true),
        },
        // The certificate is for other.internal; the origin is reached as origin.internal.
        OriginSpec {
            id: "wrong-name",
            domain: "origin.internal",
            config: https_only(wrong_name.port, true),
        },
        OriginSpec {
            id: "expired",
            domain: "origin.internal",
            config: https_only(expired.port, true),
        },
    ];
    let behaviors = [
        ("/no-bundle/*", "no-bundle"),
        ("/other-ca/*", "other-ca"),
        ("/wrong-name/*", "wrong-name"),
        ("/expired/*", "expired"),
        ("/group/*", "g"),
    ];
    let ports = free_ports(2);
    let (http, https) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    );
    let topology = Topology::write(
        "origin-https",
        &topology(
            &http,
            &https,
            "origin_groups = [{ id = \"g\", members = [\"wrong-name\", \"good\"], failover_criteria = { status_codes = [503] } }]",
            &origins,
            &behaviors,
        ),
    );
    let dir = topology.dir().path();
    let edge = ca.leaf(&[WWW], false);
    write_file(dir, "certs/edge.pem", &format!("{}{}", edge.pem, ca.pem()));
    write_file(dir, "certs/edge.key", &edge.key_pem);
    write_file(dir, "certs/ca.pem", &ca.pem());
    let ferry = Ferry::up(&topology, &[&http]);
    let c = Client::with_timeout(Duration::from_secs(15));
    let get = |path: &str| {
        c.try_request(&http, "GET", path, &[("Host", WWW)], b"")
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", ferry.output_report()))
    };

    // Verified against the bundle, by the origin's domain name: 200, over TLS.
    let r = get("/hello");
    assert_eq!(r.status, 200, "{r:?}\n{}", ferry.output_report());
    assert_eq!(r.body_text(), "origin good: GET /hello");
    assert_eq!(good.origin.count_path("/hello"), 1);
    assert!(
        good.sni()
            .iter()
            .all(|n| n.as_deref() == Some("origin.internal")),
        "SNI is the origin's domain_name: {:?}",
        good.sni()
    );
    let handshakes = good.handshakes();
    assert!(handshakes >= 1);

    // Without the bundle the private CA is unknown: 502, and the origin never gets the request.
    let r = get("/no-bundle/x");
    assert_502(&r, "an origin certificate from an unknown CA (no bundle)");
    assert_eq!(good.origin.count_path("/no-bundle/x"), 0);

    // A certificate from another CA than the bundle's.
    let r = get("/other-ca/x");
    assert_502(&r, "an origin certificate from another CA");
    assert_eq!(other_ca.origin.count(), 0);
    assert_eq!(other_ca.handshakes(), 0, "the edge refused the handshake");

    // A certificate for another name.
    let r = get("/wrong-name/x");
    assert_502(&r, "an origin certificate for another name");
    assert_eq!(wrong_name.origin.count(), 0);

    // An expired certificate.
    let r = get("/expired/x");
    assert_502(&r, "an expired origin certificate");
    assert_eq!(expired.origin.count(), 0);

    // A primary whose certificate fails is a connection failure: the group fails over.
    let r = get("/group/x");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_text(), "origin good: GET /group/x");

    // And the good origin still works, its connection reused or not.
    let r = get("/again");
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn match_viewer_speaks_https_to_the_origin_only_for_https_viewers() {
    let ca = Ca::new("ferry match-viewer CA");
    let tls = TlsOrigin::start("over-https", &ca.leaf(&["origin.internal"], false));
    let plain = Origin::start("over-http");
    let origins = [
        OriginSpec {
            id: "good",
            domain: "origin.internal",
            config: format!(
                "http_port = {}, https_port = {}, origin_protocol_policy = \"match-viewer\", ca_bundle = \"certs/ca.pem\"",
                plain.port(),
                tls.port
            ),
        },
        OriginSpec {
            id: "https",
            domain: "origin.internal",
            config: format!(
                "http_port = {}, https_port = {}, origin_protocol_policy = \"https-only\", ca_bundle = \"certs/ca.pem\"",
                plain.port(),
                tls.port
            ),
        },
        OriginSpec {
            id: "http",
            domain: "origin.internal",
            config: format!(
                "http_port = {}, https_port = {}, origin_protocol_policy = \"http-only\"",
                plain.port(),
                tls.port
            ),
        },
    ];
    let behaviors = [("/https-only/*", "https"), ("/http-only/*", "http")];
    let ports = free_ports(2);
    let (http, https) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    );
    let topology = Topology::write(
        "origin-match-viewer",
        &topology(&http, &https, "", &origins, &behaviors),
    );
    let dir = topology.dir().path();
    let edge = ca.leaf(&[WWW], false);
    write_file(dir, "certs/edge.pem", &format!("{}{}", edge.pem, ca.pem()));
    write_file(dir, "certs/edge.key", &edge.key_pem);
    write_file(dir, "certs/ca.pem", &ca.pem());
    let ferry = Ferry::up(&topology, &[&http]);
    wait_https(&ca, &https);
    tls.origin.clear();
    plain.clear();

    // match-viewer: HTTP viewer -> HTTP origin; HTTPS viewer -> HTTPS origin.
    let r = Client::new().get(&http, "/mv/plain", &[("Host", WWW)]);
    assert_eq!(r.status, 200, "{r:?}\n{}", ferry.output_report());
    assert_eq!(r.body_text(), "origin over-http: GET /mv/plain");
    let (status, headers, body) = https_get(&ca, &https, "/mv/secure");
    assert_eq!(status, 200, "{headers:?} {body}");
    assert_eq!(body, "origin over-https: GET /mv/secure");
    assert_eq!(header(&headers, "x-cache"), Some("Miss from cloudfront"));
    assert_eq!(plain.count_path("/mv/secure"), 0);
    assert_eq!(tls.origin.count_path("/mv/plain"), 0);

    // https-only: HTTPS to the origin for both; http-only: HTTP for both.
    let r = Client::new().get(&http, "/https-only/a", &[("Host", WWW)]);
    assert_eq!(
        r.body_text(),
        "origin over-https: GET /https-only/a",
        "{r:?}"
    );
    let (_, _, body) = https_get(&ca, &https, "/https-only/b");
    assert_eq!(body, "origin over-https: GET /https-only/b");
    let r = Client::new().get(&http, "/http-only/a", &[("Host", WWW)]);
    assert_eq!(r.body_text(), "origin over-http: GET /http-only/a", "{r:?}");
    let (_, _, body) = https_get(&ca, &https, "/http-only/b");
    assert_eq!(body, "origin over-http: GET /http-only/b");
}

// ---------------------------------------------------------------- HTTPS target groups

#[test]
fn https_target_groups_are_checked_and_served_over_tls_without_verifying_the_certificate() {
    // ALB does not validate target certificates: one from a CA ferry does not know, for another
    // name, is fine.
    let stranger = Ca::new("stranger");
    let target = TlsOrigin::start("tls-target", &stranger.leaf(&["whatever.internal"], false));
    let port = free_port();
    let listener = r#"  default_actions = [{ type = "forward", target_group = "g" }]"#;
    let mut toml = String::from("stack = \"e2e-https-targets\"\n\n");
    toml.push_str(&lb_block(
        "alb",
        &[("a", "127.0.0.1")],
        "",
        &[(port, listener)],
    ));
    // The health check's protocol is the group's (HTTPS) when not given.
    toml.push_str(&format!(
        "[[target_groups]]\nname = \"g\"\nprotocol = \"HTTPS\"\nport = {p}\nhealth_check = {{ path = \"/hc\", interval_seconds = 5, timeout_seconds = 2, healthy_threshold_count = 2, unhealthy_threshold_count = 2 }}\ntargets = [{{ id = \"127.0.0.1\", port = {p}, zone = \"a\" }}]\n",
        p = target.port
    ));
    let node = format!("127.0.0.1:{port}");
    let alb = Alb::up("https-targets", &toml, &[&node]);
    alb.wait_state("g", target.port, "healthy", Duration::from_secs(16));
    assert!(
        target.origin.count_path("/hc") >= 2,
        "the checks reached the target through TLS: {:#?}",
        target.origin.requests()
    );

    let r = Client::new().get(&node, "/over-tls", &[]);
    assert_eq!(r.status, 200, "{r:?}\n{}", alb.ferry.output_report());
    assert_eq!(r.body_text(), "origin tls-target: GET /over-tls");
    assert!(
        target.sni().iter().all(Option::is_none),
        "ALB sends no SNI to targets: {:?}",
        target.sni()
    );
}

#[test]
fn validate_locates_a_ca_bundle_that_is_missing_or_holds_no_certificate() {
    let text = r#"stack = "e2e-origin-https-validate"

[edge]
http = "127.0.0.1:18080"

[[distributions]]
id = "site"
aliases = ["www.example.test"]
origins = [
  { id = "missing", domain_name = "a.internal", custom_origin_config = { origin_protocol_policy = "https-only", ca_bundle = "certs/missing.pem" } },
  { id = "key-only", domain_name = "b.internal", custom_origin_config = { origin_protocol_policy = "https-only", ca_bundle = "certs/key.pem" } },
  { id = "not-pem", domain_name = "c.internal", custom_origin_config = { origin_protocol_policy = "https-only", ca_bundle = "certs/notes.txt" } },
  { id = "fine", domain_name = "d.internal", custom_origin_config = { origin_protocol_policy = "https-only", ca_bundle = "certs/ca.pem" } },
]
default_cache_behavior = { target_origin_id = "fine", viewer_protocol_policy = "allow-all", cache_policy = "Managed-CachingDisabled" }
"#;
    let topology = Topology::write("origin-https-validate", text);
    let dir = topology.dir().path();
    let ca = Ca::new("validate CA");
    write_file(dir, "certs/ca.pem", &ca.pem());
    write_file(dir, "certs/key.pem", &ca.key.serialize_pem());
    write_file(dir, "certs/notes.txt", "not a certificate\n");

    let out = ferry_cmd(&["validate", topology.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = topology.path_str();
    let expect = |token: &str, index: usize, words: &[&str]| {
        let (line, column) = position(text, token);
        let prefix = format!(
            "{file}:{line}:{column}: error: distributions[0].origins[{index}].custom_origin_config.ca_bundle: "
        );
        let found = stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no error starting {prefix:?} in:\n{stderr}"));
        for w in words {
            assert!(found.contains(w), "{found:?} lacks {w:?}");
        }
    };
    expect(
        "ca_bundle = \"certs/missing.pem\"",
        0,
        &["certs/missing.pem", "cannot read"],
    );
    expect(
        "ca_bundle = \"certs/key.pem\"",
        1,
        &["certs/key.pem", "no certificate"],
    );
    expect(
        "ca_bundle = \"certs/notes.txt\"",
        2,
        &["certs/notes.txt", "no certificate"],
    );
    assert_eq!(
        stderr.matches("ca_bundle").count(),
        3,
        "the good bundle is accepted: {stderr}"
    );
    assert!(!stderr.to_lowercase().contains("panicked"), "{stderr}");
}

/// (line, column), 1-based, of the first occurrence of `token` in `text`.
fn position(text: &str, token: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(at) = line.find(token) {
            return (i + 1, line[..at].chars().count() + 1);
        }
    }
    panic!("{token:?} not found");
}
