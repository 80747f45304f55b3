//! Topology reload for a running process (SIGHUP, `POST /ferry/reload`): read and validate the
//! file again, check that it needs no restart, then swap it into the edge and the balancer. A file
//! that fails either check changes nothing: the old topology keeps serving.

use ferry_config::reload::{needs_restart, Scope};
use ferry_config::{ConfigError, Topology};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not load or validate: `ferry validate`'s lines.
    #[error("{0}")]
    Invalid(String),
    /// The file changes what only a restart can change.
    #[error("the new topology changes what only a restart applies:\n{}", .0.join("\n"))]
    NeedsRestart(Vec<String>),
}

impl ReloadError {
    pub fn lines(&self) -> Vec<String> {
        match self {
            ReloadError::Invalid(text) => text.lines().map(str::to_string).collect(),
            ReloadError::NeedsRestart(why) => why.clone(),
        }
    }
}

/// The parts of a process a reload reaches.
pub struct Reloader {
    /// `None`: the embedded default topology, which never changes.
    file: Option<PathBuf>,
    current: Mutex<Arc<Topology>>,
    edge: Option<ferry_edge::Reload>,
    balancer: Option<ferry_balancer::Reload>,
    zone: Option<Option<String>>,
    demo_targets: bool,
    /// `--threads` was given: the topology's threads do not count.
    threads_from_cli: bool,
    /// `--pin-threads` was given: the topology's `pin_threads` does not count.
    pinned_by_cli: bool,
}

impl Reloader {
    pub fn new(
        file: Option<PathBuf>,
        topology: Arc<Topology>,
        edge: Option<ferry_edge::Reload>,
        balancer: Option<(ferry_balancer::Reload, Option<String>)>,
        demo_targets: bool,
        lifecycle: &crate::run::Lifecycle,
    ) -> Reloader {
        let (balancer, zone) = match balancer {
            Some((reload, zone)) => (Some(reload), Some(zone)),
            None => (None, None),
        };
        Reloader {
            file,
            current: Mutex::new(topology),
            edge,
            balancer,
            zone,
            demo_targets,
            threads_from_cli: lifecycle.threads.is_some(),
            pinned_by_cli: lifecycle.pin_threads,
        }
    }

    pub fn current(&self) -> Arc<Topology> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the file again and, when it is valid and needs no restart, makes it the topology of
    /// new requests. One reload at a time.
    pub fn reload(&self) -> Result<Arc<Topology>, ReloadError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let new = match &self.file {
            Some(file) => ferry_config::load(file),
            None => ferry_config::parse(
                "(embedded default topology)",
                ferry_config::DEFAULT_TOPOLOGY,
                std::path::Path::new("."),
            ),
        }
        .map_err(|e: ConfigError| ReloadError::Invalid(e.to_string()))?;
        let scope = Scope {
            edge: self.edge.is_some(),
            zone: self.zone.as_ref().map(|z| z.as_deref()),
            demo_targets: self.demo_targets,
            threads_from_cli: self.threads_from_cli,
            pinned_by_cli: self.pinned_by_cli,
        };
        let why = needs_restart(&current, &new, scope);
        if !why.is_empty() {
            return Err(ReloadError::NeedsRestart(why));
        }
        if let Some(edge) = &self.edge {
            edge.apply(&current, &new);
        }
        if let Some(balancer) = &self.balancer {
            balancer.apply(&new);
        }
        let new = Arc::new(new);
        *current = new.clone();
        Ok(new)
    }

    /// Reloads and logs the outcome (SIGHUP has no one to answer).
    pub fn reload_and_log(&self) {
        match self.reload() {
            Ok(t) => tracing::warn!(
                stack = %t.spec.stack,
                distributions = t.distributions.len(),
                target_groups = t.target_groups.len(),
                "topology reloaded"
            ),
            Err(e) => {
                tracing::error!("topology reload refused; the old topology keeps serving: {e}")
            }
        }
    }
}

/// Reloads the topology on every SIGHUP.
pub struct OnHangup(pub Arc<Reloader>);

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for OnHangup {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot install the SIGHUP handler: reload through the admin API");
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = hangup.recv() => {
                    if got.is_none() {
                        return;
                    }
                    let reloader = self.0.clone();
                    // Reading the file and certificates blocks; keep it off the runtime's thread.
                    let _ = tokio::task::spawn_blocking(move || reloader.reload_and_log()).await;
                }
            }
        }
    }
}
