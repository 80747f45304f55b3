//! One pingora service per thread, each with its own listening socket (`SO_REUSEPORT`), as nginx
//! runs workers with `reuseport`: the kernel spreads connections over the threads, and a connection
//! lives on the thread that accepted it.
//!
//! Why not one service with N threads: pingora registers an accepted socket with the accepting
//! thread's reactor and then runs its task on a random thread, so half the connections had every
//! read and write readiness cross threads (an eventfd write and a wakeup of the other thread per
//! event); pooled upstream connections did the same, as pingora also parks their idle watch on a
//! random thread. With one thread per service, everything of a connection stays on one thread.
//!
//! HTTPS ports are laid out the same way, TLS terminated by [`crate::Terminate`].

use pingora::apps::ServerApp;
use pingora::listeners::{ListenerConfig, TcpSocketOptions};
use pingora::services::listening::Service;
use pingora::services::ServiceWithDependents;
use std::net::SocketAddr;

/// The service of thread `thread` on `address`: `app` on one runtime thread and its own socket,
/// and with `pin`, that thread pinned to a CPU of its own (see [`crate::pin`]).
pub fn thread_service<A: ServerApp + Send + Sync + 'static>(
    name: String,
    app: A,
    address: SocketAddr,
    thread: usize,
    pin: bool,
) -> Box<dyn ServiceWithDependents> {
    let mut service = Service::new(name, app);
    service.add_listener(thread_listener(address, thread));
    service.threads = Some(1);
    if pin {
        crate::pin::pinned(Box::new(service), address, thread)
    } else {
        Box::new(service)
    }
}

/// The listener of `address` for thread `thread`: its own `SO_REUSEPORT` socket, with
/// [`crate::client_buffers`].
fn thread_listener(address: SocketAddr, thread: usize) -> ListenerConfig {
    let mut options = TcpSocketOptions::default();
    options.so_reuseport = Some(true);
    ListenerConfig::tcp(thread_address(address, thread))
        .tcp_socket_options(options)
        .l4_buffer(crate::client_buffers())
}

/// `address` spelled with `thread` leading zeros in its port. pingora keys its listening sockets
/// by the address as written (that table is what a `--upgrade` hands over to the new process), so
/// each thread's socket needs its own spelling of the same address; a port with leading zeros
/// parses to the same port.
pub fn thread_address(address: SocketAddr, thread: usize) -> String {
    let ip = match address {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!("{ip}:{}{}", "0".repeat(thread), address.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::ToSocketAddrs;

    #[test]
    fn every_spelling_is_the_same_address_and_a_different_key() {
        for address in ["127.0.0.1:8080", "[::1]:443", "0.0.0.0:1"] {
            let address: SocketAddr = address.parse().unwrap();
            let spellings: Vec<String> = (0..4).map(|t| thread_address(address, t)).collect();
            assert_eq!(spellings[0], address.to_string());
            for spelling in &spellings {
                let parsed: Vec<SocketAddr> = spelling.to_socket_addrs().unwrap().collect();
                assert_eq!(parsed, vec![address], "{spelling}");
            }
            let mut unique = spellings.clone();
            unique.dedup();
            assert_eq!(unique.len(), spellings.len());
        }
    }
}
