//! ferry's CloudFront edge on pingora: distributions by Host, ordered cache behaviors, origins
//! reached through the topology's names, and CloudFront's headers and error pages.

mod admin;
pub mod cache;
mod caching;
mod error_pages;
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

/// The sockets the edge listens on: (what, address).
pub fn listeners(topology: &Topology) -> Vec<(&'static str, SocketAddr)> {
    let Some(e) = &topology.edge else {
        return Vec::new();
    };
    let mut out: Vec<(&'static str, SocketAddr)> = Vec::new();
    out.extend(e.http.map(|a| ("edge", a)));
    out.extend(e.https.map(|a| ("edge (https)", a)));
    out.extend(e.admin.map(|a| ("edge admin", a)));
    out
}

/// The pingora services of the edge (none when the topology has no edge).
pub fn services(
    topology: &Topology,
    conf: &Arc<ServerConf>,
) -> Vec<Box<dyn ServiceWithDependents>> {
    let Some(edge) = &topology.edge else {
        return Vec::new();
    };
    let cache = Arc::new(cache::EdgeCache::new(
        edge.cache_size,
        edge.cache_max_object_size,
    ));
    let proxy = EdgeProxy::new(topology, cache.clone());
    let mut service = pingora::proxy::http_proxy_service_with_name(conf, proxy, "edge");
    if let Some(http) = edge.http {
        service.add_tcp(&http.to_string());
    }
    service.threads = Some(edge.threads);
    let mut services: Vec<Box<dyn ServiceWithDependents>> = vec![Box::new(service)];
    if let Some(address) = edge.admin {
        let admin = admin::Admin {
            cache,
            distributions: topology
                .distributions
                .iter()
                .map(|d| d.id.clone())
                .collect(),
            token: edge.admin_token.clone(),
        };
        let mut admin_service =
            pingora::services::listening::Service::new("edge admin".to_string(), admin);
        admin_service.add_tcp(&address.to_string());
        admin_service.threads = Some(1);
        services.push(Box::new(admin_service));
    }
    services
}
