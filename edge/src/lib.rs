//! ferry's CloudFront edge on pingora: distributions by Host, ordered cache behaviors, origins
//! reached through the topology's names, and CloudFront's headers and error pages.

pub mod access_log;
pub mod admin;
pub mod cache;
mod caching;
mod completion;
mod compress;
mod error_pages;
pub mod fast_forward;
pub mod fast_hit;
mod hosts;
mod ids;
pub mod metrics;
mod origin_tls;
mod pages;
mod proxy;
mod resolve;
mod response_policy;
mod tls;

pub use proxy::EdgeProxy;

use ferry_config::admin::Reloadable;
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
    out
}

/// The edge of one process: its pingora services, its part of the admin API, and the handle a
/// reload goes through.
pub struct Edge {
    pub services: Vec<Box<dyn ServiceWithDependents>>,
    pub admin: Arc<Reloadable<admin::Admin>>,
    pub reload: Reload,
}

/// Swaps a new topology into a running edge.
pub struct Reload {
    cache: Arc<cache::EdgeCache>,
    head_timeout: Option<ferry_guard::TimeoutHandle>,
    send_timeout: Option<ferry_guard::TimeoutHandle>,
    admin: Arc<Reloadable<admin::Admin>>,
    proxy: Option<proxy::StateHandle>,
    tls: Option<tls::Reloadable>,
}

impl Reload {
    /// Makes `new` the topology of new requests (requests under way finish with `old`'s), re-reads
    /// nothing: `new` was loaded and validated, its certificates with it. Cached objects are
    /// kept, as CloudFront keeps them across a distribution update, except those of distributions
    /// `new` no longer has.
    pub fn apply(&self, old: &Topology, new: &Topology) {
        self.admin.reload(|_| self.swap(old, new));
    }

    fn swap(&self, old: &Topology, new: &Topology) -> admin::Admin {
        if let (Some(handle), Some(edge)) = (&self.head_timeout, &new.edge) {
            handle.set(edge.client_header_timeout);
        }
        if let (Some(handle), Some(edge)) = (&self.send_timeout, &new.edge) {
            handle.set(edge.send_timeout);
        }
        if let Some(proxy) = &self.proxy {
            proxy.replace(new);
        }
        if let Some(tls) = &self.tls {
            tls.replace(new);
        }
        for gone in old
            .distributions
            .iter()
            .filter(|d| !new.distributions.iter().any(|n| n.id == d.id))
        {
            let prefix = format!("{}\n", gone.id);
            let removed = self
                .cache
                .store
                .invalidate_where(|tag| tag.starts_with(&prefix));
            tracing::info!(distribution = %gone.id, removed, "reload: distribution removed, its cached objects dropped");
        }
        admin::Admin::new(self.cache.clone(), new)
    }
}

/// Says which of the topology's behaviors associate CloudFront Functions or Lambda@Edge: ferry
/// provisions them but does not run them, so their requests reach the origin unchanged.
fn warn_not_run(topology: &Topology) {
    for d in &topology.spec.distributions {
        let behaviors = std::iter::once(&d.default_cache_behavior).chain(&d.cache_behaviors);
        for b in behaviors {
            let functions = b.function_associations.len() + b.lambda_function_associations.len();
            if functions > 0 {
                tracing::warn!(
                    distribution = %d.id,
                    path_pattern = b.path_pattern.as_deref().unwrap_or("*"),
                    "{functions} function association(s) are provisioned to CloudFront but not run by ferry's edge: these requests and responses pass unchanged"
                );
            }
        }
    }
}

/// The edge's pingora services (none when the topology has no edge) and its admin handler:
/// `conf.threads` threads serve each listener, pinned to CPUs when `pin_threads` (the process's
/// setting: `[edge]`'s or the command line's).
pub fn edge(topology: &Topology, conf: &Arc<ServerConf>, pin_threads: bool) -> Edge {
    let (capacity, max_object) = topology
        .edge
        .as_ref()
        .map(|e| (e.cache_size, e.cache_max_object_size))
        .unwrap_or((1 << 20, 1 << 18));
    metrics::init();
    warn_not_run(topology);
    let cache = Arc::new(cache::EdgeCache::new(capacity, max_object));
    let admin = Reloadable::new(admin::Admin::new(cache.clone(), topology));
    let Some(edge) = &topology.edge else {
        return Edge {
            services: Vec::new(),
            admin: admin.clone(),
            reload: Reload {
                cache,
                head_timeout: None,
                send_timeout: None,
                admin,
                proxy: None,
                tls: None,
            },
        };
    };
    let (proxy, handle) = EdgeProxy::new(topology, cache.clone());
    let head_timeout = ferry_guard::TimeoutHandle::new(edge.client_header_timeout);
    let send_timeout = ferry_guard::TimeoutHandle::new(edge.send_timeout);
    let https = tls::Https::new(topology, edge);
    let threads = conf.threads.max(1);
    let fast_hits = fast_hit::enabled_by_env();
    let fast_forwards = fast_forward::enabled_by_env();
    let keepalive = ferry_guard::TimeoutHandle::new(ferry_guard::front::KEEPALIVE);
    let new_app = || {
        let thread_proxy = proxy.for_thread();
        let source = thread_proxy.hit_source();
        ferry_guard::HeadDeadline::new(
            ferry_guard::front::Front::new(
                pingora::proxy::http_proxy(conf, thread_proxy),
                fast_hit::FastHits::new(source, fast_hits, fast_forwards),
                fast_hits || fast_forwards,
                &keepalive,
            ),
            &head_timeout,
            &send_timeout,
        )
    };
    let mut services: Vec<Box<dyn ServiceWithDependents>> = Vec::new();
    if let Some(http) = edge.http {
        // One service per thread (see ferry_guard::thread_service).
        for thread in 0..threads {
            services.push(ferry_guard::thread_service(
                "edge".into(),
                new_app(),
                http,
                thread,
                pin_threads,
            ));
        }
    }
    if let Some(https) = &https {
        services.extend(https.services(threads, pin_threads, new_app));
    }
    Edge {
        services,
        admin: admin.clone(),
        reload: Reload {
            cache,
            head_timeout: Some(head_timeout),
            send_timeout: Some(send_timeout),
            admin,
            proxy: Some(handle),
            tls: https.map(|h| h.reloadable),
        },
    }
}
