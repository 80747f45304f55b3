//! A non-blocking line sink for access logs: a destination named by an environment variable (a file
//! path, appended to, or `-` for stdout), a bounded queue, and a writer thread, so that a request
//! never waits for the log; a full queue drops the line and says so.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

/// Lines queued and not yet written, over every sink of the process.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Waits until every queued line is written (or `limit` passes): before the process exits.
pub fn wait_written(limit: Duration) {
    let start = Instant::now();
    while PENDING.load(Ordering::Acquire) > 0 && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Lines the writer may be behind by before lines are dropped.
const QUEUE: usize = 8192;

pub struct LogSink {
    sender: SyncSender<String>,
}

impl LogSink {
    /// Opens the destination named by `env` and starts the writer (`name` names its thread and
    /// its errors), which writes `header` first. `None` when the variable is unset or empty, or the
    /// destination cannot be opened (logged).
    pub fn from_env(env: &str, name: &str, header: String) -> Option<LogSink> {
        let destination = std::env::var(env).ok().filter(|d| !d.is_empty())?;
        let out: Box<dyn Write + Send> = if destination == "-" {
            Box::new(std::io::stdout())
        } else {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&destination)
            {
                Ok(file) => Box::new(file),
                Err(e) => {
                    tracing::error!("{env}={destination}: cannot open the access log: {e}");
                    return None;
                }
            }
        };
        let (sender, receiver) = sync_channel(QUEUE);
        let thread_name = name.to_string();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || write_lines(out, &header, receiver, &thread_name));
        if let Err(e) = spawned {
            tracing::error!("cannot start the {name} writer: {e}");
            return None;
        }
        Some(LogSink { sender })
    }

    /// Queues one line without waiting; false when it was dropped.
    pub fn send(&self, line: String) -> bool {
        PENDING.fetch_add(1, Ordering::AcqRel);
        let sent = self.sender.try_send(line).is_ok();
        if !sent {
            PENDING.fetch_sub(1, Ordering::AcqRel);
        }
        sent
    }
}

/// The writer thread: the header, then every line, flushed whenever the queue is empty.
fn write_lines(out: Box<dyn Write + Send>, header: &str, lines: Receiver<String>, name: &str) {
    let mut out = std::io::BufWriter::new(out);
    if !header.is_empty() && (out.write_all(header.as_bytes()).is_err() || out.flush().is_err()) {
        tracing::warn!("the {name} cannot be written");
    }
    while let Ok(line) = lines.recv() {
        let mut ok = writeln!(out, "{line}").is_ok();
        let mut written = 1;
        while let Ok(line) = lines.try_recv() {
            ok &= writeln!(out, "{line}").is_ok();
            written += 1;
        }
        if !(ok && out.flush().is_ok()) {
            tracing::warn!("the {name} cannot be written");
        }
        PENDING.fetch_sub(written, Ordering::AcqRel);
    }
}
