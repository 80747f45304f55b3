//! Loading a topology for the CLI and running its parts under one pingora server.

use anyhow::{anyhow, bail, Context, Result};
use ferry_config::{ConfigError, Topology};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::ServiceWithDependents;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// How logs are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
    Pretty,
}

/// Warnings and errors; of pingora's own log (bridged from the `log` crate), only its server's
/// lifecycle (the socket hand-over, the shutdown), as ferry reports request, connection and TLS
/// failures itself, with request ids. Waiting for the sockets of an upgrade is not an error (ferry
/// says it is waiting). `FERRY_LOG` replaces all of it, pingora's targets included.
const DEFAULT_LOG_FILTER: &str = "warn,pingora_core=off,pingora_core::server=warn,\
    pingora_core::server::transfer_fd=off,pingora_proxy=off,pingora_cache=off,pingora_pool=off,\
    pingora_load_balancing=off,pingora_http=off";

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
    };
}

/// How the process runs, starts and stops: its threads (over the topology's), taking the
/// listening sockets over from a running ferry (pingora's graceful upgrade), and how long a
/// graceful stop waits for requests in flight.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// `--threads`, over `[edge] threads`.
    pub threads: Option<usize>,
    /// `--pin-threads`, or'ed with `[edge] pin_threads`.
    pub pin_threads: bool,
    pub upgrade: bool,
    pub socket: Option<PathBuf>,
    pub grace_period: std::time::Duration,
}

impl Lifecycle {
    /// The hand-over socket: as given, or one per stack and command, so that the old and the new
    /// process agree without being told.
    fn socket(&self, stack: &str, part: &str) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| {
            let safe: String = format!("ferry-{stack}-{part}")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            std::env::temp_dir().join(format!("{safe}.sock"))
        })
    }
}

fn load(file: &Path) -> std::result::Result<Topology, ConfigError> {
    ferry_config::load(file)
}

pub fn validate(file: &Path) -> ExitCode {
    match load(file) {
        Ok(t) => {
            let rules: usize = t
                .load_balancers
                .iter()
                .flat_map(|lb| &lb.listeners)
                .map(|l| l.rules.len())
                .sum();
            let behaviors: usize = t.distributions.iter().map(|d| d.behaviors.len()).sum();
            println!(
                "{}: ok: stack {:?}, {} distribution(s) with {} cache behavior(s), {} load balancer(s) with {} rule(s), {} target group(s)",
                file.display(),
                t.spec.stack,
                t.distributions.len(),
                behaviors,
                t.load_balancers.len(),
                rules,
                t.target_groups.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            if let ConfigError::Invalid(d) = &e {
                eprintln!("{}: {} error(s)", file.display(), d.len());
            }
            ExitCode::from(1)
        }
    }
}

fn load_or_default(file: Option<&Path>) -> Result<Topology> {
    match file {
        Some(f) => load(f).map_err(|e| anyhow!("{e}")),
        None => ferry_config::parse(
            "(embedded default topology)",
            ferry_config::DEFAULT_TOPOLOGY,
            Path::new("."),
        )
        .map_err(|e| anyhow!("{e}")),
    }
}

/// What one process runs.
struct Parts<'a> {
    /// Names the hand-over socket: `up`, `edge` or `balancer-<zone>`.
    name: String,
    lifecycle: Lifecycle,
    edge: bool,
    zone: Option<Option<&'a str>>,
    demo_targets: bool,
    admin: Option<SocketAddr>,
}

pub fn up(
    file: Option<&Path>,
    admin: Option<SocketAddr>,
    lifecycle: Lifecycle,
) -> Result<ExitCode> {
    let topology = load_or_default(file)?;
    let admin = admin.or(topology.edge.as_ref().and_then(|e| e.admin));
    serve(
        topology,
        file,
        Parts {
            name: "up".into(),
            lifecycle,
            edge: true,
            zone: Some(None),
            demo_targets: true,
            admin,
        },
    )
}

pub fn edge(file: &Path, admin: Option<SocketAddr>, lifecycle: Lifecycle) -> Result<ExitCode> {
    let topology = load_or_default(Some(file))?;
    if topology.edge.is_none() || topology.distributions.is_empty() {
        bail!(
            "{}: the topology has no distributions: the edge would have nothing to serve",
            file.display()
        );
    }
    let admin = admin.or(topology.edge.as_ref().and_then(|e| e.admin));
    serve(
        topology,
        Some(file),
        Parts {
            name: "edge".into(),
            lifecycle,
            edge: true,
            zone: None,
            demo_targets: false,
            admin,
        },
    )
}

pub fn balancer(
    file: &Path,
    zone: &str,
    admin: Option<SocketAddr>,
    lifecycle: Lifecycle,
) -> Result<ExitCode> {
    let topology = load_or_default(Some(file))?;
    let zones = topology.zones();
    if !zones.iter().any(|z| z == zone) {
        bail!(
            "{}: no load balancer has a node in zone `{zone}` (zones: {})",
            file.display(),
            if zones.is_empty() {
                "none".to_string()
            } else {
                zones.join(", ")
            }
        );
    }
    serve(
        topology,
        Some(file),
        Parts {
            name: format!("balancer-{zone}"),
            lifecycle,
            edge: false,
            zone: Some(Some(zone)),
            demo_targets: false,
            admin,
        },
    )
}

/// Binds and releases every address first, so that a taken port is reported by name before
/// anything starts (pingora itself would only log it from a worker thread).
fn check_free(addresses: &[(String, SocketAddr)]) -> Result<()> {
    for (what, address) in addresses {
        TcpListener::bind(address).with_context(|| {
            format!("cannot listen on {address} for the {what}: the port is taken or the address is not on this machine. Stop what uses it, or change the address in the topology")
        })?;
    }
    Ok(())
}

fn serve(topology: Topology, file: Option<&Path>, parts: Parts<'_>) -> Result<ExitCode> {
    let topology = Arc::new(topology);
    let upgrade_sock = parts.lifecycle.socket(&topology.spec.stack, &parts.name);
    let conf = ServerConf {
        // Where a new process started with --upgrade waits for the listening sockets, and where
        // this one sends them on SIGQUIT; the new one waits up to 30 s for them.
        upgrade_sock: upgrade_sock.display().to_string(),
        upgrade_sock_connect_accept_max_retries: Some(30),
        // Requests in flight get up to the grace period (the drain service below exits as soon as
        // none is left); then the runtimes are stopped.
        grace_period_seconds: Some(parts.lifecycle.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(1),
        // One single-threaded runtime per thread, as nginx runs workers: no cross-thread wakeups.
        work_stealing: false,
        // Every timeout on the runtime's own timer wheel: pingora's shared timer thread would wake
        // tasks across threads on every request.
        fast_timeout_to_tokio_threshold_seconds: Some(0),
        threads: parts
            .lifecycle
            .threads
            .unwrap_or_else(|| match &topology.edge {
                Some(edge) => edge.threads,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            }),
        ..ServerConf::default()
    };
    let opt = pingora::server::configuration::Opt {
        upgrade: parts.lifecycle.upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    let conf: Arc<ServerConf> = server.configuration.clone();
    let mut addresses: Vec<(String, SocketAddr)> = Vec::new();
    let pin_threads =
        parts.lifecycle.pin_threads || topology.edge.as_ref().is_some_and(|e| e.pin_threads);
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    let mut handlers: Vec<Box<dyn ferry_config::admin::Handler>> = Vec::new();
    let mut edge_reload = None;
    let mut balancer_reload = None;
    if parts.edge {
        for (what, a) in ferry_edge::listeners(&topology) {
            addresses.push((what.into(), a));
        }
        let edge = ferry_edge::edge(&topology, &conf, pin_threads);
        services.extend(edge.services);
        handlers.push(Box::new(edge.admin));
        edge_reload = Some(edge.reload);
    }
    if let Some(zone) = parts.zone {
        for l in ferry_balancer::listeners(&topology, zone) {
            addresses.push((
                format!("load balancer {} (zone {})", l.load_balancer, l.zone),
                l.address,
            ));
        }
        let balancer = ferry_balancer::balancer(&topology, zone, &conf, pin_threads);
        services.extend(balancer.services);
        handlers.push(Box::new(balancer.admin));
        balancer_reload = Some((balancer.reload, zone.map(str::to_string)));
    }
    let reloader = Arc::new(crate::reload::Reloader::new(
        file.map(Path::to_path_buf),
        topology.clone(),
        edge_reload,
        balancer_reload,
        parts.demo_targets,
        &parts.lifecycle,
    ));
    services.push(Box::new(pingora::services::background::background_service(
        "drain on stop",
        Drain {
            grace_period: parts.lifecycle.grace_period,
        },
    )));
    services.push(Box::new(pingora::services::background::background_service(
        "reload on SIGHUP",
        crate::reload::OnHangup(reloader.clone()),
    )));
    if let Some(address) = parts.admin {
        let token = topology
            .edge
            .as_ref()
            .and_then(|e| e.admin_token.clone())
            .or_else(|| std::env::var("FERRY_ADMIN_TOKEN").ok());
        if !address.ip().is_loopback() && token.as_deref().unwrap_or("").is_empty() {
            bail!("the admin listener {address} is not on loopback: set [edge] admin_token or FERRY_ADMIN_TOKEN so that it is not open to anyone");
        }
        addresses.push(("admin".into(), address));
        let mut admin = pingora::services::listening::Service::new(
            "admin".to_string(),
            crate::admin::Admin {
                handlers,
                token,
                reloader: Some(reloader.clone()),
            },
        );
        admin.add_tcp(&address.to_string());
        admin.threads = Some(1);
        services.push(Box::new(admin));
    }
    if parts.demo_targets {
        for d in &topology.demo_targets {
            addresses.push((format!("demo target {}", d.name), d.listen));
            services.push(Box::new(crate::demo::service(&d.name, d.listen)));
        }
    }
    // Only the drain and reload services: nothing to run.
    if services.len() == 2 {
        bail!("the topology has nothing to run here");
    }
    if parts.lifecycle.upgrade {
        println!(
            "ferry: waiting for the running ferry's listening sockets on {}: send it SIGQUIT",
            upgrade_sock.display()
        );
    } else {
        check_free(&addresses)?;
    }
    ignore_hangup_until_served();

    server.bootstrap();
    for s in services {
        server.add_boxed_service(s);
    }
    for (what, address) in &addresses {
        let scheme = if what.contains("https") {
            "https"
        } else {
            "http"
        };
        println!("ferry: {what} listening on {scheme}://{address}");
    }
    println!(
        "ferry: ready (stack {:?}); SIGHUP reloads the topology, Ctrl-C stops",
        topology.spec.stack
    );
    server.run(pingora::server::RunArgs {
        shutdown_signal: Box::new(Signals),
    });
    Ok(ExitCode::SUCCESS)
}

/// Once a stop has begun (pingora's listeners are closed), exits as soon as no request is in
/// flight, no connection is in a request or just accepted ([`ferry_config::drain::verdict`]), and
/// the access logs are written, instead of sleeping out the whole grace period.
struct Drain {
    grace_period: std::time::Duration,
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Drain {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                return;
            }
        }
        let start = std::time::Instant::now();
        // Done only when two checks 20 ms apart agree: a count moves from a connection's head to
        // its request, and the per-thread counts are summed one after the other, so one reading
        // can fall between the two.
        let mut quiet = false;
        loop {
            let phases = ferry_guard::connection_phases();
            let load = ferry_config::drain::Load {
                requests: ferry_config::drain::in_flight(),
                in_request: phases.in_request,
                fresh: phases.fresh,
            };
            match ferry_config::drain::verdict(start.elapsed(), self.grace_period, load) {
                ferry_config::drain::Verdict::Wait => quiet = false,
                ferry_config::drain::Verdict::Done if quiet => break,
                ferry_config::drain::Verdict::Done => quiet = true,
                ferry_config::drain::Verdict::GraceOver => {
                    tracing::warn!(
                        requests = load.requests,
                        connections = load.in_request,
                        "the grace period is over with requests still in flight"
                    );
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        ferry_config::log_sink::wait_written(std::time::Duration::from_secs(2));
        tracing::info!(after = ?start.elapsed(), "stopped: no request in flight");
        std::process::exit(0);
    }
}

/// SIGHUP's default action ends the process; it means "reload" to ferry from the moment ferry says
/// it is ready. Registering a handler once overrides the default for the life of the process (the
/// reload service's own handler is only installed when pingora starts its services).
fn ignore_hangup_until_served() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(async {
            if let Err(e) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                tracing::error!("cannot install the SIGHUP handler: {e}");
            }
        }),
        Err(e) => tracing::error!("cannot install the SIGHUP handler: {e}"),
    }
}

/// SIGINT and SIGTERM both stop ferry gracefully: listeners close, in-flight requests get up to
/// the graceful shutdown timeout. (pingora's own SIGINT path shuts runtimes down with no signal to
/// the accept loops, which can leave one spinning on a closed listener and the process hung.)
/// SIGQUIT keeps pingora's meaning: hand the listeners to an upgrading process.
struct Signals;

#[async_trait::async_trait]
impl pingora::server::ShutdownSignalWatch for Signals {
    async fn recv(&self) -> pingora::server::ShutdownSignal {
        use pingora::server::ShutdownSignal;
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut quit), Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers; stopping");
            return ShutdownSignal::GracefulTerminate;
        };
        tokio::select! {
            _ = quit.recv() => ShutdownSignal::GracefulUpgrade,
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::GracefulTerminate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_log_filter_parses() {
        let filter = tracing_subscriber::EnvFilter::try_new(DEFAULT_LOG_FILTER);
        assert!(filter.is_ok(), "{filter:?}");
    }
}
