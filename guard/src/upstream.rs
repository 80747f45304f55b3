//! The fast paths' connections to upstreams (the balancer's targets, the edge's origins): opened
//! within a connect timeout, and kept alive between requests, per address and thread, most
//! recently used first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Idle connections kept per target: more are closed (the oldest first).
const MAX_IDLE: usize = 128;

/// Why a connection to a target could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    Refused,
    TimedOut,
    NoRoute,
    Other,
}

/// Opens a connection to `target` within `timeout`.
pub async fn connect(target: SocketAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
        Err(_) => return Err(ConnectError::TimedOut),
        Ok(Err(e)) => {
            return Err(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ConnectError::Refused,
                std::io::ErrorKind::TimedOut => ConnectError::TimedOut,
                std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
                    ConnectError::NoRoute
                }
                _ => ConnectError::Other,
            })
        }
        Ok(Ok(stream)) => stream,
    };
    // Requests leave in one write each: nothing to gain from Nagle's delay.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Whether an idle connection is still open and has sent nothing: a target that closed it, or
/// sent bytes no request asked for (a 408 before closing, a stray response), must not have them
/// read as the answer to the next request.
fn quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Idle kept-alive connections by thread and target, oldest first: a connection is used only on
/// the thread (the runtime) that opened it, whose reactor it is registered with. Each is closed
/// when its idle time is up, as pingora's pool closes them (an origin's keep-alive timeout, a load
/// balancer's idle timeout): by a sweeper task that runs while the pool holds any.
#[derive(Default)]
pub struct Pool {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    idle: Mutex<Kept>,
    /// Wakes the sweeper when a connection is kept whose time is up before it would wake.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Kept {
    lists: HashMap<(std::thread::ThreadId, SocketAddr), Vec<Idle>, BuildAddrHasher>,
    /// When the running sweeper wakes next (`None`: no sweeper runs).
    sweep_at: Option<Instant>,
}

/// A kept connection and when its idle time is up.
type Idle = (TcpStream, Instant);

/// A hasher for upstream addresses, cheaper than the default SipHash (which guards against keys an
/// attacker picks; addresses come from the topology, registrations and name resolution).
#[derive(Default, Clone, Copy)]
pub struct BuildAddrHasher;

pub struct AddrHasher(u64);

impl std::hash::BuildHasher for BuildAddrHasher {
    type Hasher = AddrHasher;
    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    /// FNV-1a.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Pool {
    /// The most recently used idle connection to `target` of this thread whose idle time is not
    /// up and that is still quiet (the others on the way are closed).
    pub fn take(&self, target: SocketAddr) -> Option<TcpStream> {
        let mut kept = self.shared.idle.lock().ok()?;
        let list = kept.lists.get_mut(&(std::thread::current().id(), target))?;
        let now = Instant::now();
        while let Some((stream, until)) = list.pop() {
            if now < until && quiet(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps `stream` for the next request to `target` from this thread, for `max_idle` at most.
    pub fn put(&self, target: SocketAddr, stream: TcpStream, max_idle: Duration) {
        let Ok(mut kept) = self.shared.idle.lock() else {
            return;
        };
        let now = Instant::now();
        let until = now + max_idle;
        let list = kept
            .lists
            .entry((std::thread::current().id(), target))
            .or_default();
        if list.len() >= MAX_IDLE {
            list.remove(0);
        }
        list.push((stream, until));
        match kept.sweep_at {
            Some(at) if at <= until => {}
            Some(_) => {
                kept.sweep_at = Some(until);
                self.shared.wake.notify_one();
            }
            None => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    kept.sweep_at = Some(until);
                    runtime.spawn(sweep(Arc::downgrade(&self.shared)));
                }
            }
        }
    }
}

/// Closes each kept connection of a pool when its idle time is up; ends when the pool holds none
/// (the next one kept starts another) or is gone.
async fn sweep(pool: Weak<Shared>) {
    loop {
        let next = {
            let Some(shared) = pool.upgrade() else {
                return;
            };
            let Ok(mut kept) = shared.idle.lock() else {
                return;
            };
            let now = Instant::now();
            kept.lists.retain(|_, list| {
                list.retain(|(_, until)| now < *until);
                !list.is_empty()
            });
            let next = kept.lists.values().flatten().map(|(_, until)| *until).min();
            kept.sweep_at = next;
            next
        };
        let Some(at) = next else {
            return;
        };
        let Some(shared) = pool.upgrade() else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at.into()) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// Shuts a connection down both ways from outside the code that reads and writes it (its owner's
/// reads then end and its writes fail): how a request in flight is cut, as ALB cuts those to a
/// target whose deregistration delay is over.
pub fn cut(connection: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is borrowed, so open for the call; shutdown(2) touches only the
    // socket's state, not memory.
    unsafe {
        libc::shutdown(connection.as_raw_fd(), libc::SHUT_RDWR);
    }
}

/// [`cut`]s the socket `fd` (what pingora shows of its upstream connection) once `when`
/// resolves, from a task of its own; stops watching when dropped, at the request's end. It holds
/// a descriptor of its own for the socket, so that the number never names another one meanwhile.
pub struct CutWhen(tokio::task::AbortHandle);

impl CutWhen {
    /// Errs when the descriptor cannot be held (out of descriptors): nothing is then cut.
    pub fn spawn<F>(fd: std::os::fd::RawFd, when: F) -> std::io::Result<CutWhen>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        // SAFETY: pingora hands `fd` to the callback for the duration of the call, open; it is
        // only duplicated here.
        let held = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let task = tokio::spawn(async move {
            when.await;
            cut(std::os::fd::AsFd::as_fd(&held));
        });
        Ok(CutWhen(task.abort_handle()))
    }
}

impl Drop for CutWhen {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_come_back_most_recent_first_until_they_idle_too_long() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("address");
        let pool = Pool::default();
        let hour = Duration::from_secs(3600);
        assert!(pool.take(target).is_none());
        let a = connect(target, hour).await.expect("connect");
        let b = connect(target, hour).await.expect("connect");
        let (a_port, b_port) = (a.local_addr().ok(), b.local_addr().ok());
        pool.put(target, a, hour);
        pool.put(target, b, hour);
        let first = pool.take(target).expect("kept");
        assert_eq!(
            first.local_addr().ok(),
            b_port,
            "the last one kept comes first"
        );
        // Kept again for a moment only: once that is up, it is closed, and the one kept for an
        // hour comes next.
        pool.put(target, first, Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(40)).await;
        let next = pool.take(target).expect("the one kept for an hour");
        assert_eq!(next.local_addr().ok(), a_port, "idle too long: closed");
        assert!(pool.take(target).is_none());
        // A kept connection the target has written to (or closed) is not handed out.
        let other = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let talker = other.local_addr().expect("address");
        let c = connect(talker, hour).await.expect("connect");
        let (mut served, _) = other.accept().await.expect("accept");
        pool.put(talker, c, hour);
        use tokio::io::AsyncWriteExt;
        served
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(pool.take(talker).is_none(), "stray bytes: not reused");
        drop(listener);
        assert_eq!(
            connect(target, hour).await.err(),
            Some(ConnectError::Refused)
        );
    }

    #[tokio::test]
    async fn a_kept_connection_is_closed_when_its_idle_time_is_up_without_another_call() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let target = listener.local_addr().expect("address");
        let pool = Pool::default();
        let stream = connect(target, Duration::from_secs(5))
            .await
            .expect("connect");
        let (mut served, _) = listener.accept().await.expect("accept");
        // One kept for a minute first: the sweeper then sleeps until it is due, and the one kept
        // for 200 ms after it must wake it up.
        let long = connect(target, Duration::from_secs(5))
            .await
            .expect("connect");
        let (_long_served, _) = listener.accept().await.expect("accept");
        pool.put(target, long, Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let kept_at = std::time::Instant::now();
        pool.put(target, stream, Duration::from_millis(200));
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), served.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0))),
            "the upstream sees the close: {read:?}"
        );
        let after = kept_at.elapsed();
        assert!(
            after >= Duration::from_millis(190) && after < Duration::from_secs(2),
            "closed {after:?} after it was kept for 200 ms"
        );
    }
}
