//! ferry's topology model: the TOML file parsed with spans, validated as AWS validates it, and the
//! pure CloudFront and ALB semantics (patterns, TTLs, rule matching) that the edge, the balancer and
//! the provisioner share.

pub mod admin;
pub mod cache_key;
pub mod compression;
pub mod counter;
pub mod desync;
pub mod drain;
pub mod error;
pub mod failover;
pub mod geo;
pub mod grpc;
pub mod health;
pub mod invalidation;
pub mod log_sink;
pub mod managed;
pub mod model;
pub mod net;
pub mod origin_request;
mod parse;
pub mod pattern;
pub mod range;
pub mod redirect;
pub mod reload;
pub mod request_target;
pub mod response_headers;
pub mod rules;
pub mod signed;
mod source;
pub mod spec;
mod suggest;
pub mod time;
pub mod tls;
pub mod ttl;
mod validate;
pub mod viewer_headers;

pub use error::{ConfigError, Diagnostic};
pub use model::Topology;

use std::io::Read;
use std::path::Path;

/// Topology files larger than this are refused before parsing: no real topology comes near it.
pub const MAX_FILE_SIZE: u64 = 10 << 20;

/// The embedded default topology that `ferry up` runs with no file.
pub const DEFAULT_TOPOLOGY: &str = include_str!("../../examples/default.toml");

/// Reads, parses and validates a topology file.
pub fn load(path: &Path) -> Result<Topology, ConfigError> {
    let file = path.display().to_string();
    let read_error = |source| ConfigError::Read {
        file: file.clone(),
        source,
    };
    let handle = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        let size = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(bytes.len() as u64);
        return Err(ConfigError::TooLarge {
            file,
            size,
            limit: MAX_FILE_SIZE,
        });
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(ConfigError::NotText {
                file,
                offset: e.utf8_error().valid_up_to(),
            });
        }
    };
    if let Some(offset) = text.find('\0') {
        return Err(ConfigError::NotText { file, offset });
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse(&file, &text, base_dir)
}

/// Parses and validates topology text; `file` names it in errors and `base_dir` anchors relative paths.
pub fn parse(file: &str, text: &str, base_dir: &Path) -> Result<Topology, ConfigError> {
    let source = source::Source::new(file, text);
    let spec = parse::parse_spec(&source).map_err(|d| ConfigError::Invalid(vec![d]))?;
    validate::validate(spec, &source, base_dir).map_err(ConfigError::Invalid)
}
