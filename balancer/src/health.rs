//! ALB health checks: each target group's targets checked every interval over HTTP, results fed to
//! the state machine in `ferry_config::health`, draining targets swept when their delay is over.

use crate::select::Groups;
use crate::targets::{now_ms, Group, TargetState};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use ferry_config::health::{Check, State};
use ferry_config::spec::ProtocolVersion;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

pub struct HealthChecker {
    pub groups: Arc<ArcSwap<Groups>>,
    /// Told when a reload has replaced the groups: the checks start over on the new ones.
    pub reloaded: Arc<Notify>,
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let mut tasks = self.spawn(&shutdown);
            tokio::select! {
                _ = shutdown.changed() => {
                    tasks.abort_all();
                    return;
                }
                _ = self.reloaded.notified() => tasks.abort_all(),
            }
        }
    }
}

impl HealthChecker {
    /// One task per target group, each checking its group every interval.
    fn spawn(&self, shutdown: &ShutdownWatch) -> tokio::task::JoinSet<()> {
        let mut tasks = tokio::task::JoinSet::new();
        let current = self.groups.load_full();
        for index in 0..current.groups.len() {
            let groups = current.clone();
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                let Some(group) = groups.groups.get(index) else {
                    return;
                };
                let interval = group.config.health_check.interval;
                loop {
                    check_group(group).await;
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(interval) => {}
                    }
                }
            });
        }
        tasks
    }
}

/// One round: every registered target checked at once, then finished drains removed.
async fn check_group(group: &Group) {
    let hc = &group.config.health_check;
    if !group.config.in_use {
        // ALB checks no target of a group that no listener uses.
        group.sweep(now_ms());
        return;
    }
    let targets: Vec<Arc<TargetState>> = group
        .targets()
        .iter()
        .filter(|t| !t.is_draining())
        .cloned()
        .collect();
    if hc.enabled {
        let mut round = tokio::task::JoinSet::new();
        for target in targets {
            let path = hc.path.clone();
            let timeout = hc.timeout;
            let port = hc.port.unwrap_or(target.target.port);
            let matcher = hc.matcher.clone();
            let tls = hc.protocol == ferry_config::spec::TargetProtocol::HTTPS;
            let version = hc.protocol_version;
            let name = group.config.name.clone();
            let (healthy, unhealthy) = (hc.healthy_threshold, hc.unhealthy_threshold);
            round.spawn(async move {
                let address = std::net::SocketAddr::new(target.target.address, port);
                let check = match probe(address, &path, timeout, tls, version).await {
                    Ok(code) if matcher.iter().any(|(lo, hi)| (*lo..=*hi).contains(&code)) => Check::Success,
                    Ok(code) => Check::Mismatch(code),
                    Err(check) => check,
                };
                crate::metrics::health_check(&name, &check);
                let state = match target.tracker.lock() {
                    Ok(mut tracker) => {
                        if tracker.observe(check, healthy, unhealthy) {
                            tracing::info!(target = %target.address, state = tracker.state.as_str(), "target health changed");
                        }
                        tracker.state
                    }
                    Err(_) => State::Unhealthy,
                };
                target.set_state(state);
            });
        }
        while round.join_next().await.is_some() {}
    }
    group.sweep(now_ms());
}

/// One health check request: the status code (the `grpc-status` for a gRPC group), or why there
/// is none. Over TLS for an HTTPS check, as ALB checks HTTPS targets (their certificate
/// unverified, see `ferry_guard::unverified_tls`); over HTTP/2 for an HTTP/2 or gRPC group.
async fn probe(
    address: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
    tls: bool,
    version: ProtocolVersion,
) -> Result<u16, Check> {
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|_| Check::Failed)?;
        let name = || rustls::pki_types::ServerName::IpAddress(address.ip().into());
        match (version, tls) {
            (ProtocolVersion::HTTP1, false) => exchange(stream, address, path).await,
            (ProtocolVersion::HTTP1, true) => {
                let stream = ferry_guard::unverified_tls::connect(stream, name())
                    .await
                    .map_err(|_| Check::Failed)?;
                exchange(stream, address, path).await
            }
            (_, false) => exchange_h2(stream, address, path, version, "http").await,
            (_, true) => {
                let stream = ferry_guard::unverified_tls::connect_h2(stream, name())
                    .await
                    .map_err(|_| Check::Failed)?;
                exchange_h2(stream, address, path, version, "https").await
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(Check::Timeout))
}

/// Sends the check's request and reads the status code of the answer.
async fn exchange<S>(mut stream: S, address: std::net::SocketAddr, path: &str) -> Result<u16, Check>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: ELB-HealthChecker/2.0\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|_| Check::Failed)?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream
            .read(&mut head[read..])
            .await
            .map_err(|_| Check::Failed)?;
        if n == 0 {
            return Err(Check::Failed);
        }
        read += n;
    }
    let line = std::str::from_utf8(&head[..read]).map_err(|_| Check::Failed)?;
    if !line.starts_with("HTTP/1.") {
        return Err(Check::Failed);
    }
    line.get(9..12)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(Check::Failed)
}

/// The check over HTTP/2: a GET for an HTTP/2 group (its status code); for a gRPC group, a gRPC
/// call with an empty message (its `grpc-status`, from the headers of a trailers-only answer or
/// from the trailers).
async fn exchange_h2<S>(
    stream: S,
    address: std::net::SocketAddr,
    path: &str,
    version: ProtocolVersion,
    scheme: &str,
) -> Result<u16, Check>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut client, connection) = h2::client::handshake(stream)
        .await
        .map_err(|_| Check::Failed)?;
    // The connection runs beside the call, and ends with it (dropped with the check).
    let grpc = version == ProtocolVersion::GRPC;
    let call = async move {
        let mut request = http::Request::builder()
            .uri(format!("{scheme}://{address}{path}"))
            .header(http::header::USER_AGENT, "ELB-HealthChecker/2.0");
        request = if grpc {
            request
                .method(http::Method::POST)
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .header(http::header::TE, "trailers")
        } else {
            request
                .method(http::Method::GET)
                .header(http::header::ACCEPT, "*/*")
        };
        let request = request.body(()).map_err(|_| Check::Failed)?;
        let (response, mut body) = client
            .send_request(request, !grpc)
            .map_err(|_| Check::Failed)?;
        if grpc {
            // An empty message: no compression flag, length 0.
            body.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
                .map_err(|_| Check::Failed)?;
        }
        let response = response.await.map_err(|_| Check::Failed)?;
        if !grpc {
            return Ok(response.status().as_u16());
        }
        let status = |headers: &http::HeaderMap| {
            headers
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u16>().ok())
        };
        if let Some(code) = status(response.headers()) {
            return Ok(code);
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|_| Check::Failed)?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        let trailers = body.trailers().await.map_err(|_| Check::Failed)?;
        trailers.as_ref().and_then(status).ok_or(Check::Failed)
    };
    tokio::pin!(call);
    tokio::select! {
        biased;
        answer = &mut call => return answer,
        _ = connection => {}
    }
    // The connection ended (the target closed it): what the call got before that.
    call.await
}
