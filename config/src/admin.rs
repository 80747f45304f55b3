//! What the admin listener's handlers answer: the edge and the balancer each handle their part of
//! the admin API, and the process serving it ties them together.

/// The `status_class` label of the metrics: `2xx`, `4xx`, ...; `-` when no response was sent.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "-",
    }
}

/// One admin answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body,
            location: None,
        }
    }
}

/// One admin request, already read whole.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a str,
}

/// A part of the admin API: `None` when the request is not for it.
pub trait Handler: Send + Sync {
    fn handle(&self, request: &Request<'_>) -> Option<Reply>;

    /// Brings the handler's gauges up to date, just before `/metrics` is gathered.
    fn refresh(&self) {}
}

/// A handler that a topology reload replaces. Each request is answered by the handler current when
/// it arrives; a reload and admin requests take turns, so that a change made through the admin API
/// (a registered target) is never made on a handler that a reload is replacing.
pub struct Reloadable<H> {
    current: arc_swap::ArcSwap<H>,
    turns: std::sync::Mutex<()>,
}

impl<H> Reloadable<H> {
    pub fn new(handler: H) -> std::sync::Arc<Reloadable<H>> {
        std::sync::Arc::new(Reloadable {
            current: arc_swap::ArcSwap::from_pointee(handler),
            turns: std::sync::Mutex::new(()),
        })
    }

    /// Runs `change`, which applies a reload and builds the next handler from the current one,
    /// with admin requests held off until the next handler is in place.
    pub fn reload(&self, change: impl FnOnce(&H) -> H) {
        let _turn = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let next = change(&self.current.load());
        self.current.store(std::sync::Arc::new(next));
    }

    pub fn current(&self) -> std::sync::Arc<H> {
        self.current.load_full()
    }
}

impl<H: Handler> Handler for std::sync::Arc<Reloadable<H>> {
    fn handle(&self, request: &Request<'_>) -> Option<Reply> {
        let _turn = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        self.current.load().handle(request)
    }

    fn refresh(&self) {
        self.current.load().refresh();
    }
}
