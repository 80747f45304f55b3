//! Sends a response whose body is in a file without copying the body: the head with `MSG_MORE`,
//! the body with `sendfile`, on a plain TCP connection (TLS encrypts in user space, so it writes).
//!
//! The socket is non-blocking: what it does not take at once (a full send buffer), or a file the
//! kernel cannot splice, goes out through the stream's ordinary writes, which wait for the socket.

use crate::Timed;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use tokio::io::AsyncWriteExt;

/// Writes `head`, then `body`, whose bytes are also the first `body.len()` bytes of `file`.
pub async fn send_file(conn: &mut Timed, head: &[u8], file: &File, body: &[u8]) -> io::Result<()> {
    let Some(socket) = conn.plain_socket() else {
        return crate::front::write_both(conn, head, body).await;
    };
    // Bytes the stream still buffers go first.
    conn.flush().await?;
    let sent = send_now(socket, head, file, body.len())?;
    if sent > 0 {
        conn.sent_on_socket(head);
    }
    let from_head = sent.min(head.len());
    let rest = body.get(sent - from_head..).unwrap_or_default();
    crate::front::write_both(conn, &head[from_head..], rest).await
}

/// Sends what the socket takes now, without waiting: how many bytes of `head` then the file's
/// first `len` went out. An error is returned only when nothing can go out any more.
fn send_now(socket: RawFd, head: &[u8], file: &File, len: usize) -> io::Result<usize> {
    let mut sent = 0;
    while sent < head.len() {
        let rest = &head[sent..];
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
            Ok(n) => sent += n,
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => {}
                e if e.kind() == io::ErrorKind::WouldBlock => return Ok(sent),
                e => return Err(e),
            },
        }
    }
    let mut offset: libc::off_t = 0;
    while let Some(left) = len.checked_sub(sent - head.len()).filter(|l| *l > 0) {
        // SAFETY: `offset` is a valid off_t for the call; both descriptors are open (the file is
        // borrowed, the socket is the caller's).
        let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut offset, left) };
        match usize::try_from(n) {
            // The file ended early: the rest comes from memory.
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(_) => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::Interrupted => {}
                // A full send buffer, or a file the kernel cannot splice (EINVAL): the stream's
                // writes send the rest, and report a broken connection as any write does.
                _ => break,
            },
        }
    }
    Ok(sent)
}
