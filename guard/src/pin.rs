//! `[edge] pin_threads`: each per-thread service pinned to a CPU of its own, and each new
//! connection handed by the kernel to the thread on the CPU that received it (`SO_INCOMING_CPU`
//! on that thread's `SO_REUSEPORT` socket, honoured by Linux ≥ 6.2).
//!
//! Why: without it the kernel hashes connections over the threads, so most connections live on a
//! CPU other than the one their packets arrive on, and every request wakes a thread across CPUs.
//! When the machine is busy, every CPU then runs a client or softirq work and a ferry thread that
//! both always have work, which the scheduler time-slices at its tick (4 ms at HZ=250): wrk
//! beside ferry on 2 cores measured a p99 of 7.9 ms at a p50 of 0.1 ms. With the connection on
//! the thread of the CPU where it arrived, the two take turns as each runs out of work. It
//! suits NICs with a queue per CPU (RSS) and local clients. It is not the default: with one queue
//! whose interrupts land on one CPU, or a client that opens its connections from one CPU, every
//! connection goes to that CPU's thread; and a large response's copy and its reader, on one CPU,
//! lose the parallelism of two (100 KiB hits beside wrk: 0.88× nginx's rate instead of 1.09×).

use async_trait::async_trait;
use pingora::server::{ListenFds, RuntimeOpts, ShutdownWatch};
use pingora::services::{ServiceReadyNotifier, ServiceWithDependents};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

/// pingora's backlog for the listening sockets it binds.
const BACKLOG: libc::c_int = 65535;

/// `inner`, the service of thread `thread` on `address`, pinned to that thread's CPU.
pub fn pinned(
    inner: Box<dyn ServiceWithDependents>,
    address: SocketAddr,
    thread: usize,
) -> Box<dyn ServiceWithDependents> {
    Box::new(Pinned {
        inner,
        address,
        key: crate::thread_address(address, thread),
        cpu: cpu_of(thread),
    })
}

struct Pinned {
    inner: Box<dyn ServiceWithDependents>,
    address: SocketAddr,
    /// Its listening socket's key in pingora's table (see [`crate::thread_address`]).
    key: String,
    cpu: usize,
}

#[async_trait]
impl ServiceWithDependents for Pinned {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
        ready_notifier: ServiceReadyNotifier,
    ) {
        // The service runs on a runtime of one thread, the one running this: everything of its
        // connections runs here.
        if let Err(e) = pin_current_thread(self.cpu) {
            tracing::warn!(
                cpu = self.cpu,
                "{}: not pinned to its CPU: {e}",
                self.inner.name()
            );
        }
        if let Some(fds) = &fds {
            if let Err(e) = self.steer(fds) {
                tracing::warn!(
                    cpu = self.cpu,
                    "{} on {}: connections spread by hash, not by CPU: {e}",
                    self.inner.name(),
                    self.address
                );
            }
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd, ready_notifier)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn runtime_opts_override(&self, global: &RuntimeOpts) -> Option<RuntimeOpts> {
        self.inner.runtime_opts_override(global)
    }

    fn on_startup_delay(&self, time_waited: Duration) {
        self.inner.on_startup_delay(time_waited)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}

impl Pinned {
    /// Marks this thread's listening socket with its CPU. The socket is bound here, as pingora
    /// would bind it, and put in pingora's table, where pingora finds it; one handed over by an
    /// `--upgrade` is already there and is marked as it is.
    fn steer(&self, fds: &ListenFds) -> io::Result<()> {
        let existing = fds.lock().get(&self.key).copied();
        let fd = match existing {
            Some(fd) => fd,
            None => {
                let fd = bind(self.address)?;
                fds.lock().add(self.key.clone(), fd);
                fd
            }
        };
        set_incoming_cpu(fd, self.cpu)
    }
}

/// A listening socket as pingora binds one (`SO_REUSEADDR`, `SO_REUSEPORT`, its backlog).
fn bind(address: SocketAddr) -> io::Result<RawFd> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    // listen() here rather than tokio's: that would register the socket with this runtime's
    // reactor, and pingora registers it itself when it takes it from the table.
    let fd = socket.into_raw_fd();
    // SAFETY: fd is the socket just bound, owned by nothing else yet.
    if unsafe { libc::listen(fd, BACKLOG) } != 0 {
        let e = io::Error::last_os_error();
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(fd)
}

/// The CPU of thread `thread`: the CPUs this process may run on, taken in turn.
fn cpu_of(thread: usize) -> usize {
    static CPUS: OnceLock<Vec<usize>> = OnceLock::new();
    let cpus = CPUS.get_or_init(|| allowed_cpus().unwrap_or_default());
    match cpus.len() {
        0 => thread,
        n => cpus[thread % n],
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is an empty set, and sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("CPU {cpu} is beyond CPU_SETSIZE")));
    }
    // SAFETY: as above; CPU_SET is given a CPU below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_setaffinity(0, size, &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_incoming_cpu(fd: RawFd, cpu: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(cpu).map_err(io::Error::other)?;
    // SAFETY: fd is a socket this process holds open, and the option is a c_int as Linux expects.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_INCOMING_CPU,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_the_allowed_cpus_in_turn() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        for thread in 0..cpus.len() * 2 {
            assert_eq!(cpu_of(thread), cpus[thread % cpus.len()]);
        }
    }

    #[test]
    fn a_listening_socket_takes_its_cpu() {
        let fd = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        set_incoming_cpu(fd, cpu_of(0)).unwrap();
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_INCOMING_CPU,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(value as usize, cpu_of(0));
        unsafe { libc::close(fd) };
    }
}
