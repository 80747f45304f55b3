//! ferry's Application Load Balancer on pingora: one node per zone, listeners by port, rules by
//! priority, forward / redirect / fixed-response, target groups with health checks, algorithms,
//! stickiness, slow start and draining.

pub mod access_log;
pub mod admin;
mod errors;
mod forwarded;
mod health;
pub mod metrics;
mod proxy;
mod respond;
pub mod select;
mod sticky;
pub mod targets;
mod tls;

pub use proxy::ListenerProxy;

use ferry_config::Topology;
use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;

/// A write buffer that holds a typical small response whole, so that its header and body leave in
/// one `send` (pingora's default buffer is one MSS).
const WRITE_BUFFER: usize = 16 * 1024;

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

/// The balancer of one process: its pingora services and its part of the admin API.
pub struct Balancer {
    pub services: Vec<Box<dyn ServiceWithDependents>>,
    pub admin: admin::BalancerAdmin,
}

/// The balancer node(s) of `zone` (`None` = every zone): one service per listener socket, one
/// health checker, all sharing the target groups' live state.
pub fn balancer(topology: &Topology, zone: Option<&str>, conf: &Arc<ServerConf>) -> Balancer {
    let groups = Arc::new(select::Groups::new(&topology.target_groups));
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    for lb in &topology.load_balancers {
        for node in lb.nodes.iter().filter(|n| zone.is_none_or(|z| z == n.zone)) {
            for listener in &lb.listeners {
                let address = SocketAddr::new(node.address, listener.port);
                let proxy = ListenerProxy::new(
                    lb.clone(),
                    listener.clone(),
                    node.zone.clone(),
                    groups.clone(),
                );
                let name = format!("balancer {} zone {} {}", lb.name, node.zone, address);
                let mut service = pingora::proxy::http_proxy_service_with_name(conf, proxy, &name);
                tls::listen(
                    &mut service,
                    ListenerConfig::tcp(address.to_string())
                        .l4_buffer(L4BufferSettings::default().write(WRITE_BUFFER)),
                    listener,
                );
                services.push(Box::new(service));
            }
        }
    }
    if !services.is_empty() {
        services.push(Box::new(background_service(
            "health checks",
            health::HealthChecker {
                groups: groups.clone(),
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
    Balancer {
        services,
        admin: admin::BalancerAdmin::new(groups, region, topology, zone),
    }
}
