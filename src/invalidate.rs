//! `ferry invalidate`: sends a CloudFront CreateInvalidation request to a running edge's admin
//! listener, exactly as the AWS CLI would with `--endpoint-url`.

use crate::admin_client::{call, elements};
use anyhow::{bail, Context, Result};
use std::time::{SystemTime, UNIX_EPOCH};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
    let path = format!("/2020-05-31/distribution/{distribution}/invalidation");
    let (status, answer) = call(admin, "POST", &path, "text/xml", &body, token)?;
    if !(200..300).contains(&status) {
        let why = elements(&answer, "Message")
            .first()
            .copied()
            .unwrap_or(answer.as_str())
            .to_string();
        bail!("the edge refused the invalidation ({status}): {why}");
    }
    let id = elements(&answer, "Id")
        .first()
        .copied()
        .context("the admin listener's answer has no invalidation Id")?;
    Ok(id.to_string())
}
