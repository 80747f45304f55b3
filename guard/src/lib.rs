//! Defences that pingora leaves to its users, shared by the edge and the balancer: a deadline for
//! a client's request head (slowloris).

mod head;

pub use head::{HeadDeadline, Timed, TimeoutHandle};
