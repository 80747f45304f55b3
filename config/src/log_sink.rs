//! A non-blocking line sink for access logs: a destination named by an environment variable (a file
//! path, appended to, or `-` for stdout), a bounded queue, and a writer thread, so that a request
//! never waits for the log; a full queue drops the line and says so.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

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
        self.sender.try_send(line).is_ok()
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
        while let Ok(line) = lines.try_recv() {
            ok &= writeln!(out, "{line}").is_ok();
        }
        if !(ok && out.flush().is_ok()) {
            tracing::warn!("the {name} cannot be written");
        }
    }
}
