//! The headers an ALB adds to what it forwards: X-Forwarded-For (per the xff processing mode),
//! X-Forwarded-Proto, X-Forwarded-Port and X-Amzn-Trace-Id.

use ferry_config::model::XffMode;
use pingora::http::RequestHeader;
use pingora::Result;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn apply(
    request: &mut RequestHeader,
    mode: XffMode,
    client: Option<IpAddr>,
    proto: &str,
    port: u16,
    trace_id: &str,
) -> Result<()> {
    match mode {
        XffMode::Append => {
            if let Some(ip) = client {
                let value = match request
                    .headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(existing) if !existing.trim().is_empty() => format!("{existing}, {ip}"),
                    _ => ip.to_string(),
                };
                request.insert_header("X-Forwarded-For", value)?;
            }
        }
        XffMode::Preserve => {}
        XffMode::Remove => {
            request.remove_header("x-forwarded-for");
        }
    }
    request.insert_header("X-Forwarded-Proto", proto)?;
    request.insert_header("X-Forwarded-Port", port.to_string())?;
    let trace = match request
        .headers
        .get("x-amzn-trace-id")
        .and_then(|v| v.to_str().ok())
    {
        // An existing trace: ALB updates its Self field, or adds one.
        Some(existing) if existing.contains("Root=") => {
            let mut fields: Vec<String> = existing
                .split(';')
                .filter(|f| !f.trim().is_empty() && !f.trim().starts_with("Self="))
                .map(|f| f.trim().to_string())
                .collect();
            fields.insert(0, format!("Self={trace_id}"));
            fields.join(";")
        }
        _ => format!("Root={trace_id}"),
    };
    request.insert_header("X-Amzn-Trace-Id", trace)?;
    Ok(())
}

/// `1-<8 hex seconds>-<24 hex>` as ALB writes trace ids.
pub fn new_trace_id(counter: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    static PID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let pid = *PID.get_or_init(|| u64::from(std::process::id()));
    let mix = (counter.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ u64::from(nanos) ^ (pid << 32);
    format!("1-{:08x}-{:016x}{:08x}", now as u32, mix, counter as u32)
}
