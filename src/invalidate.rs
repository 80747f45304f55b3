//! `ferry invalidate`: sends a CloudFront CreateInvalidation request to a running edge's admin
//! listener, exactly as the AWS CLI would with `--endpoint-url`.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}

pub fn invalidate(
    admin: &str,
    distribution: &str,
    paths: &[String],
    token: Option<&str>,
) -> Result<String> {
    let reference = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let items: String = paths
        .iter()
        .map(|p| format!("<Path>{}</Path>", escape(p)))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationBatch xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths><CallerReference>ferry-cli-{reference}</CallerReference></InvalidationBatch>",
        paths.len()
    );
    let mut request = format!(
        "POST /2020-05-31/distribution/{distribution}/invalidation HTTP/1.1\r\nHost: {admin}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);

    let mut stream = TcpStream::connect(admin).with_context(|| {
        format!("cannot reach the edge's admin listener at {admin}: is ferry running?")
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .context("reading the admin listener's answer")?;
    let answer = String::from_utf8_lossy(&answer);
    let status: u16 = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&status) {
        let why = element(&answer, "Message").unwrap_or(answer.as_ref());
        bail!("the edge refused the invalidation ({status}): {why}");
    }
    let id =
        element(&answer, "Id").context("the admin listener's answer has no invalidation Id")?;
    Ok(id.to_string())
}
