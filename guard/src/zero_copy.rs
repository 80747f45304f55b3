//! Sends a response whose body is in a file without copying the body: the head with `MSG_MORE`,
//! the body with `sendfile`, on a plain TCP connection (TLS encrypts in user space, so it writes).
//!
//! The socket is non-blocking. When it is full, a page written and flushed through the stream
//! waits for room (the stream is what the runtime watches), and `sendfile` takes over again after
//! it. A file
//! the kernel cannot splice has the rest written from memory.

use crate::Timed;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::AsyncWriteExt;

/// What a wait for room writes through the stream.
const PAGE: usize = 4096;

/// Writes `head`, then `body`, whose bytes are also the first `body.len()` bytes of `file`.
pub async fn send_file(conn: &mut Timed, head: &[u8], file: &File, body: &[u8]) -> io::Result<()> {
    let Some(socket) = conn.plain_socket() else {
        return crate::front::write_both(conn, head, body).await;
    };
    // Bytes the stream still buffers go first.
    conn.flush().await?;
    let total = head.len() + body.len();
    let mut at = 0;
    while at < total {
        let (now, stop) = send_now(socket, head, file, body.len(), at)?;
        at = now;
        let (rest_of_head, rest_of_body) = match head.get(at..) {
            Some(h) => (h, body),
            None => (&[][..], body.get(at - head.len()..).unwrap_or_default()),
        };
        match stop {
            Stop::Done => break,
            Stop::Unspliceable => {
                return crate::front::write_both(conn, rest_of_head, rest_of_body).await;
            }
            Stop::Full => {
                let piece = if rest_of_head.is_empty() {
                    &rest_of_body[..rest_of_body.len().min(PAGE)]
                } else {
                    rest_of_head
                };
                // Through the stream's buffer and out of it before the socket is written again.
                conn.write_all(piece).await?;
                conn.flush().await?;
                at += piece.len();
            }
        }
    }
    Ok(())
}

/// Why [`send_now`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done,
    /// The socket takes no more now.
    Full,
    /// The file cannot be spliced (or ended early): the rest must come from memory.
    Unspliceable,
}

/// Sends what the socket takes now of `head` then the file's first `len` bytes, from position
/// `at` of the two, without waiting: the position reached, and why it stopped there. An error
/// means the connection is broken.
fn send_now(
    socket: RawFd,
    head: &[u8],
    file: &File,
    len: usize,
    mut at: usize,
) -> io::Result<(usize, Stop)> {
    while let Some(rest) = head.get(at..).filter(|r| !r.is_empty()) {
        // SAFETY: `rest` is valid for `rest.len()` bytes for the whole call, and `socket` is the
        // caller's open socket. MSG_MORE holds the head back to leave with the body's first
        // segment; MSG_NOSIGNAL makes a closed peer an EPIPE, not a signal.
        let n = unsafe {
            libc::send(
                socket,
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_MORE | libc::MSG_NOSIGNAL,
            )
        };
        match usize::try_from(n) {
            Ok(n) => at += n,
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => {}
                e if e.kind() == io::ErrorKind::WouldBlock => return Ok((at, Stop::Full)),
                e => return Err(e),
            },
        }
    }
    let Ok(mut offset) = libc::off_t::try_from(at - head.len()) else {
        return Ok((at, Stop::Unspliceable));
    };
    while at < head.len() + len {
        // SAFETY: `offset` is a valid off_t for the call to update; both descriptors are open
        // (the file is borrowed, the socket is the caller's). A closed peer gives EPIPE here as
        // well: Rust's runtime ignores SIGPIPE.
        let n =
            unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut offset, head.len() + len - at) };
        match usize::try_from(n) {
            // The file ended early.
            Ok(0) => return Ok((at, Stop::Unspliceable)),
            Ok(n) => at += n,
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => {}
                e if e.kind() == io::ErrorKind::WouldBlock => return Ok((at, Stop::Full)),
                e if e.raw_os_error() == Some(libc::EINVAL)
                    || e.raw_os_error() == Some(libc::ENOSYS) =>
                {
                    return Ok((at, Stop::Unspliceable))
                }
                e => return Err(e),
            },
        }
    }
    Ok((at, Stop::Done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// A connected pair whose sending side is non-blocking, with a small send buffer.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let small: libc::c_int = 16 * 1024;
        // SAFETY: a valid c_int option value for the call; the socket is open.
        let set = unsafe {
            libc::setsockopt(
                server.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&small as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0);
        (server, client)
    }

    fn file_of(body: &[u8]) -> File {
        let mut file = tempfile();
        file.write_all(body).unwrap();
        file
    }

    fn tempfile() -> File {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(std::env::temp_dir())
            .or_else(|_| {
                let path = std::env::temp_dir().join(format!("ferry-zc-{}", std::process::id()));
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path);
                let _ = std::fs::remove_file(&path);
                f
            })
            .unwrap()
    }

    /// Sends everything with `send_now` from `start` (waiting a moment whenever the socket is
    /// full, while a reader drains the other side), and returns what arrived and how many times
    /// the socket was full.
    fn send_all(head: &[u8], body: &[u8], start: usize) -> (Vec<u8>, usize) {
        let (server, mut client) = pair();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).map(|_| got)
        });
        let file = file_of(body);
        let total = head.len() + body.len();
        let mut at = start;
        let mut full = 0;
        while at < total {
            let (now, stop) = send_now(server.as_raw_fd(), head, &file, body.len(), at).unwrap();
            assert!(now >= at);
            at = now;
            assert_ne!(stop, Stop::Unspliceable);
            if stop == Stop::Full {
                full += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        drop(server);
        (reader.join().unwrap().unwrap(), full)
    }

    #[test]
    fn head_then_file_arrive_whole_across_full_socket_rounds() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n".to_vec();
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let (got, full) = send_all(&head, &body, 0);
        assert!(full > 0, "the socket never filled: the test proves nothing");
        let mut want = head.clone();
        want.extend_from_slice(&body);
        assert!(
            got == want,
            "{} bytes arrived, {} sent",
            got.len(),
            want.len()
        );
    }

    #[test]
    fn a_send_resumes_from_inside_the_head_or_the_body() {
        let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut all = head.clone();
        all.extend_from_slice(&body);
        for start in [5, head.len(), head.len() + 7, head.len() + 65_536] {
            let (got, _) = send_all(&head, &body, start);
            assert!(got == all[start..], "from {start}: {} bytes", got.len());
        }
    }
}
