//! CloudFront's `response_completion_timeout`: the whole origin response is due within it, from
//! the moment the connection to the origin is ready ("If the complete response isn't received from
//! the origin by this time, CloudFront ends the connection"). pingora has no such deadline, so a
//! task of the request's own shuts the origin connection when it passes; pingora's path then ends
//! as on any broken connection (a 504 before the viewer got a head, a cut body after).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Watches one origin connection; stops watching when dropped, at the request's end.
pub struct CompletionCut {
    task: tokio::task::AbortHandle,
    fired: Arc<AtomicBool>,
}

impl CompletionCut {
    /// Cuts the connection `fd` (pingora's, open for the request) after `within`. `None` when the
    /// descriptor cannot be held (out of descriptors): the response then has no deadline.
    pub fn watch(fd: std::os::fd::RawFd, within: Duration) -> Option<CompletionCut> {
        let held = match ferry_guard::upstream::hold(fd) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(
                    "cannot watch the origin connection for its completion timeout: {e}"
                );
                return None;
            }
        };
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(within).await;
            flag.store(true, Ordering::Release);
            ferry_guard::upstream::cut(std::os::fd::AsFd::as_fd(&held));
        });
        Some(CompletionCut {
            task: task.abort_handle(),
            fired,
        })
    }

    /// Whether the deadline passed and the connection was cut.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

impl Drop for CompletionCut {
    fn drop(&mut self) {
        self.task.abort();
    }
}
