//! Defences that pingora leaves to its users, shared by the edge and the balancer: a deadline for
//! a client's request head (slowloris), and the count of open client connections.

mod head;

pub use head::{active_connections, HeadDeadline, Timed, TimeoutHandle};
