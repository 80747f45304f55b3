//! ferry's Application Load Balancer on pingora: one node per zone, listeners by port, rules by
//! priority, forward / redirect / fixed-response, target groups and their targets.

mod errors;
mod forwarded;
mod proxy;
mod respond;
mod select;

pub use proxy::ListenerProxy;

use ferry_config::Topology;
use pingora::server::configuration::ServerConf;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// The pingora services for the balancer nodes of `zone` (`None` = every zone), one per listener
/// socket, sharing target-group state within the process.
pub fn services(
    topology: &Topology,
    zone: Option<&str>,
    conf: &Arc<ServerConf>,
) -> Vec<Box<dyn ServiceWithDependents>> {
    let groups = Arc::new(select::GroupStates::new(&topology.target_groups));
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    for lb in &topology.load_balancers {
        for node in lb.nodes.iter().filter(|n| zone.is_none_or(|z| z == n.zone)) {
            for listener in &lb.listeners {
                let address = SocketAddr::new(node.address, listener.port);
                let proxy = ListenerProxy::new(
                    lb.clone(),
                    listener.clone(),
                    node.zone.clone(),
                    topology.target_groups.clone(),
                    groups.clone(),
                );
                let name = format!("balancer {} zone {} {}", lb.name, node.zone, address);
                let mut service = pingora::proxy::http_proxy_service_with_name(conf, proxy, &name);
                service.add_tcp(&address.to_string());
                services.push(Box::new(service));
            }
        }
    }
    services
}
