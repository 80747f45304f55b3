//! ferry's CloudFront edge on pingora: distributions by Host, ordered cache behaviors, origins
//! reached through the topology's names, and CloudFront's headers and error pages.

mod hosts;
mod ids;
mod pages;
mod proxy;
mod resolve;

pub use proxy::EdgeProxy;

use ferry_config::Topology;
use pingora::server::configuration::ServerConf;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;
use std::sync::Arc;

/// The sockets the edge listens on.
pub fn listeners(topology: &Topology) -> Vec<SocketAddr> {
    topology
        .edge
        .iter()
        .flat_map(|e| e.http.iter().chain(e.https.iter()).copied())
        .collect()
}

/// The pingora services of the edge (none when the topology has no edge).
pub fn services(
    topology: &Topology,
    conf: &Arc<ServerConf>,
) -> Vec<Box<dyn ServiceWithDependents>> {
    let Some(edge) = &topology.edge else {
        return Vec::new();
    };
    let proxy = EdgeProxy::new(topology);
    let mut service = pingora::proxy::http_proxy_service_with_name(conf, proxy, "edge");
    if let Some(http) = edge.http {
        service.add_tcp(&http.to_string());
    }
    service.threads = Some(edge.threads);
    vec![Box::new(service)]
}
