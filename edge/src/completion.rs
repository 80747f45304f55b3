//! CloudFront's `response_completion_timeout`: the whole origin response is due within it, from
//! the moment the connection to the origin is ready ("If the complete response isn't received from
//! the origin by this time, CloudFront ends the connection"). pingora has no such deadline, so the
//! origin connection is shut at the deadline (`ferry_guard::upstream::CutWhen`); pingora's path
//! then ends as on any broken connection (a 504 before the viewer got a head, a cut body after).

use ferry_guard::upstream::CutWhen;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Watches one origin connection; stops watching when dropped, at the request's end.
pub struct CompletionCut {
    _cut: CutWhen,
    fired: Arc<AtomicBool>,
}

impl CompletionCut {
    /// Cuts the connection `fd` (pingora's, open for the request) after `within`. `None` when the
    /// descriptor cannot be held (out of descriptors): the response then has no deadline.
    pub fn watch(fd: std::os::fd::RawFd, within: Duration) -> Option<CompletionCut> {
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let cut = CutWhen::spawn(fd, async move {
            tokio::time::sleep(within).await;
            flag.store(true, Ordering::Release);
        });
        match cut {
            Ok(cut) => Some(CompletionCut { _cut: cut, fired }),
            Err(e) => {
                tracing::warn!(
                    "cannot watch the origin connection for its completion timeout: {e}"
                );
                None
            }
        }
    }

    /// Whether the deadline passed and the connection was cut.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}
