//! Defences that pingora leaves to its users, shared by the edge and the balancer: a deadline for
//! a client's request head (slowloris), a deadline and a TLS version check for the ClientHello,
//! and the count of open client connections.

mod head;
mod hello;

pub use head::{active_connections, HeadDeadline, Timed, TimeoutHandle};
pub use hello::{Gate, HelloGate};
