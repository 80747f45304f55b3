//! ferry's Application Load Balancer on pingora: one node per zone, listeners by port, rules by
//! priority, forward / redirect / fixed-response, target groups with health checks, algorithms,
//! stickiness, slow start and draining.

pub mod access_log;
pub mod admin;
mod errors;
pub mod fast_forward;
mod forwarded;
mod health;
pub mod metrics;
mod proxy;
mod respond;
pub mod select;
mod sticky;
pub mod targets;
mod tls;

pub use proxy::{ListenerProxy, ListenerState};

use arc_swap::ArcSwap;
use ferry_config::admin::Reloadable;
use ferry_config::Topology;
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Notify;

/// One listening socket of one balancer node.
#[derive(Debug, Clone)]
pub struct NodeListener {
    pub load_balancer: String,
    pub zone: String,
    pub address: SocketAddr,
}

/// Every (node, listener) socket of the zones wanted (`None` = every zone).
pub fn listeners(topology: &Topology, zone: Option<&str>) -> Vec<NodeListener> {
    let mut out = Vec::new();
    for lb in &topology.load_balancers {
        for node in lb.nodes.iter().filter(|n| zone.is_none_or(|z| z == n.zone)) {
            for listener in &lb.listeners {
                out.push(NodeListener {
                    load_balancer: lb.name.clone(),
                    zone: node.zone.clone(),
                    address: SocketAddr::new(node.address, listener.port),
                });
            }
        }
    }
    out
}

/// The balancer of one process: its pingora services, its part of the admin API, and the handle
/// a reload goes through.
pub struct Balancer {
    pub services: Vec<Box<dyn ServiceWithDependents>>,
    pub admin: Arc<Reloadable<admin::BalancerAdmin>>,
    pub reload: Reload,
}

/// One listening socket's reloadable parts.
struct Socket {
    load_balancer: String,
    port: u16,
    head_timeout: ferry_guard::TimeoutHandle,
    client_keepalive: ferry_guard::TimeoutHandle,
    state: Arc<ArcSwap<ListenerState>>,
    tls: Option<tls::Reloadable>,
}

/// Swaps a new topology into a running balancer.
pub struct Reload {
    zone: Option<String>,
    region: String,
    groups: Arc<ArcSwap<select::Groups>>,
    sockets: Vec<Socket>,
    health: Arc<Notify>,
    admin: Arc<Reloadable<admin::BalancerAdmin>>,
}

impl Reload {
    /// Makes `new` the topology of new requests (requests under way finish with the old one).
    /// `new` was validated and has the same listening sockets in this process's zone(s)
    /// (`ferry_config::reload::needs_restart`); target groups keep their targets' health and
    /// in-flight counts (`Groups::reconfigured`).
    pub fn apply(&self, new: &Topology) {
        self.admin.reload(|_| {
            let groups = Arc::new(self.groups.load().reconfigured(&new.target_groups));
            for socket in &self.sockets {
                let found = new
                    .load_balancers
                    .iter()
                    .find(|lb| lb.name == socket.load_balancer)
                    .and_then(|lb| {
                        lb.listeners
                            .iter()
                            .find(|l| l.port == socket.port)
                            .map(|l| (lb, l))
                    });
                let Some((lb, listener)) = found else {
                    // Not reached: needs_restart refuses a topology without this socket.
                    tracing::error!(load_balancer = %socket.load_balancer, port = socket.port, "reload: the listener is gone; it keeps its old rules");
                    continue;
                };
                socket.head_timeout.set(lb.idle_timeout);
                socket.client_keepalive.set(lb.client_keepalive);
                socket.state.store(Arc::new(ListenerState::new(
                    lb.clone(),
                    listener.clone(),
                    groups.clone(),
                )));
                if let Some(tls) = &socket.tls {
                    tls.replace(listener, lb.idle_timeout);
                }
            }
            self.groups.store(groups.clone());
            self.health.notify_one();
            admin::BalancerAdmin::new(groups, self.region.clone(), new, self.zone.as_deref())
        });
    }
}

/// The balancer node(s) of `zone` (`None` = every zone): one service per listener socket, one
/// health checker, all sharing the target groups' live state.
///
/// `conf.threads` threads serve each listener, pinned to CPUs when `pin_threads` (the process's
/// setting: `[edge]`'s or the command line's).
pub fn balancer(
    topology: &Topology,
    zone: Option<&str>,
    conf: &Arc<ServerConf>,
    pin_threads: bool,
) -> Balancer {
    let groups = Arc::new(select::Groups::new(&topology.target_groups));
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    let mut sockets = Vec::new();
    let threads = conf.threads.max(1);
    let fast_forwards = fast_forward::enabled_by_env();
    for lb in &topology.load_balancers {
        for node in lb.nodes.iter().filter(|n| zone.is_none_or(|z| z == n.zone)) {
            for listener in &lb.listeners {
                let address = SocketAddr::new(node.address, listener.port);
                let state = Arc::new(ArcSwap::from_pointee(ListenerState::new(
                    lb.clone(),
                    listener.clone(),
                    groups.clone(),
                )));
                let head_timeout = ferry_guard::TimeoutHandle::new(lb.idle_timeout);
                let client_keepalive = ferry_guard::TimeoutHandle::new(lb.client_keepalive);
                let tls = tls::Reloadable::new(listener, lb.idle_timeout);
                // One service per thread (see ferry_guard::thread_service), HTTP and HTTPS.
                for copy in 0..threads {
                    let proxy =
                        ListenerProxy::new(state.clone(), node.zone.clone(), (copy, threads));
                    let fast = fast_forward::FastForwards::new(proxy.shared());
                    // ALB closes a connection that does not send its request within the idle
                    // timeout, or that takes nothing of its response for as long.
                    let app = ferry_guard::HeadDeadline::new(
                        // ALB keeps an idle connection open for its idle timeout.
                        ferry_guard::front::Front::new(
                            pingora::proxy::http_proxy(conf, proxy),
                            fast,
                            fast_forwards,
                            &head_timeout,
                        )
                        .with_max_age(&client_keepalive),
                        &head_timeout,
                        &head_timeout,
                    )
                    .with_overdue_reply(overdue_reply(state.clone()));
                    let name = format!("balancer {} zone {} {}", lb.name, node.zone, address);
                    let slot = (address, copy, pin_threads);
                    services.extend(tls::service(name, app, slot, listener, tls.as_ref()));
                }
                sockets.push(Socket {
                    load_balancer: lb.name.clone(),
                    port: listener.port,
                    head_timeout,
                    client_keepalive,
                    state,
                    tls,
                });
            }
        }
    }
    let live = Arc::new(ArcSwap::new(groups.clone()));
    let health = Arc::new(Notify::new());
    if !services.is_empty() {
        services.push(Box::new(background_service(
            "health checks",
            health::HealthChecker {
                groups: live.clone(),
                reloaded: health.clone(),
            },
        )));
    }
    let region = topology
        .spec
        .aws
        .as_ref()
        .map(|a| a.region.clone())
        .unwrap_or_else(|| "us-east-1".into());
    metrics::init();
    let _ = access_log::REGION.set(region.clone());
    let admin = Reloadable::new(admin::BalancerAdmin::new(
        groups,
        region.clone(),
        topology,
        zone,
    ));
    Balancer {
        services,
        admin: admin.clone(),
        reload: Reload {
            zone: zone.map(str::to_string),
            region,
            groups: live,
            sockets,
            health,
            admin,
        },
    }
}

/// ALB's 408, for a request head not complete within the idle timeout ("the client did not send
/// data before the idle timeout period expired"), with the listener's response header settings.
fn overdue_reply(state: Arc<ArcSwap<ListenerState>>) -> ferry_guard::OverdueReply {
    Arc::new(move || {
        let mut out = bytes::BytesMut::new();
        let edits = &state.load().listener.response_headers;
        let page = (
            408,
            "Request Timeout",
            "the request head was not complete within the idle timeout",
        );
        match respond::error_wire(&mut out, edits, page, false, false) {
            Ok(_) => out.freeze(),
            // Not reached (the page's headers are valid); the connection then just closes.
            Err(_) => bytes::Bytes::new(),
        }
    })
}
