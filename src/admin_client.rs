//! The CLI's client for a running ferry's admin listener: one request, one answer, over plain
//! HTTP/1.1 on loopback (or wherever the admin listener is, with its token).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends one request; returns the status and the body.
pub fn call(
    admin: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    token: Option<&str>,
) -> Result<(u16, String)> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = TcpStream::connect(admin).with_context(|| {
        format!(
            "cannot reach the admin listener at {admin}: is ferry running with an admin listener?"
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .context("reading the admin listener's answer")?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET path`; the body when the answer is 200, an error saying why otherwise (with what to do
/// when the admin listener wants a token).
pub fn get(admin: &str, path: &str, token: Option<&str>) -> Result<String> {
    let (status, body) = call(admin, "GET", path, "text/plain", "", token)?;
    match status {
        200 => Ok(body),
        401 | 403 if token.is_none() => bail!(
            "the admin listener at {admin} needs its token: pass --token or set FERRY_ADMIN_TOKEN"
        ),
        401 | 403 => bail!("the admin listener at {admin} refused the token ({status})"),
        404 => bail!(
            "the admin listener at {admin} has no {path}: is it an older ferry? ({})",
            body.trim()
        ),
        _ => bail!(
            "the admin listener at {admin} answered {path} with {status}: {}",
            body.trim()
        ),
    }
}

/// The text of every `<tag>...</tag>` element, in order.
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    out
}
