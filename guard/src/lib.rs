//! Defences that pingora leaves to its users, shared by the edge and the balancer: a deadline for
//! a client's request head (slowloris), a deadline and a TLS version check for the ClientHello,
//! TLS terminated on every thread with one shared acceptor (`terminate`), and the count of
//! open client connections and of what they are doing, for a graceful stop; and the fast paths
//! both proxies put in front of pingora (`front`), with the HTTP/1 client side their forwards
//! share (`relay`, `upstream`, `chunked`, `wire`), the zero-copy send of a body kept in a file
//! (`zero_copy`), and a TLS client that does not verify certificates (`unverified_tls`).

mod chunked;
pub mod front;
mod head;
mod hello;
mod http2;
pub mod pin;
pub mod relay;
mod terminate;
mod threads;
pub mod unverified_tls;
pub mod upstream;
pub mod wire;
pub mod zero_copy;

pub use head::{
    active_connections, connection_phases, ConnectionPhases, HeadDeadline, OverdueReply, Timed,
    TimeoutHandle,
};
pub use hello::{Gate, HelloGate};
pub use terminate::{acceptor, Terminate};
pub use threads::{thread_address, thread_service};

use pingora::listeners::L4BufferSettings;

/// The socket buffers of a client connection: a write buffer that holds a typical small response
/// whole, so that its header and body leave in one `send` (pingora's default is one MSS), and no
/// read buffer, as the HTTP layer reads into its own (pingora's default 64 KiB per connection
/// would cost 640 MB for 10,000 idle connections).
pub fn client_buffers() -> L4BufferSettings {
    L4BufferSettings::new(0, 16 * 1024)
}
