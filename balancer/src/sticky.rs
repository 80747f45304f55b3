//! ALB's stickiness cookies: `AWSALB`/`AWSALBCORS` (lb_cookie), `AWSALBAPP-0` (app_cookie) name a
//! target; `AWSALBTG`/`AWSALBTGCORS` name a target group. Values are opaque to clients.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

pub const LB: &str = "AWSALB";
pub const LB_CORS: &str = "AWSALBCORS";
pub const APP: &str = "AWSALBAPP-0";
pub const TG: &str = "AWSALBTG";
pub const TG_CORS: &str = "AWSALBTGCORS";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The cookie value naming `target` of `group`.
pub fn target_value(group: &str, target: SocketAddr) -> String {
    hex(format!("1|{group}|{target}").as_bytes())
}

/// The target a cookie value names, if it is of `group`.
pub fn target_of(value: &str, group: &str) -> Option<SocketAddr> {
    let text = String::from_utf8(unhex(value)?).ok()?;
    let mut parts = text.splitn(3, '|');
    (parts.next()? == "1" && parts.next()? == group).then_some(())?;
    parts.next()?.parse().ok()
}

pub fn group_value(group: &str) -> String {
    hex(format!("1|{group}").as_bytes())
}

pub fn group_of(value: &str) -> Option<String> {
    let text = String::from_utf8(unhex(value)?).ok()?;
    text.strip_prefix("1|").map(str::to_string)
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn find<'a>(cookie_headers: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    cookie_headers
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` values for a cookie and its CORS twin, as ALB sends them.
pub fn set_cookies(
    name: &str,
    cors_name: Option<&str>,
    value: &str,
    duration: Duration,
) -> Vec<String> {
    let expires = ferry_config::time::http_date(SystemTime::now() + duration);
    let mut out = vec![format!("{name}={value}; Expires={expires}; Path=/")];
    if let Some(cors) = cors_name {
        out.push(format!(
            "{cors}={value}; Expires={expires}; Path=/; SameSite=None; Secure"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t: SocketAddr = "127.0.0.1:9001".parse().expect("addr");
        let v = target_value("web", t);
        assert_eq!(target_of(&v, "web"), Some(t));
        assert_eq!(target_of(&v, "api"), None);
        assert_eq!(target_of("zz", "web"), None);
        assert_eq!(group_of(&group_value("api")), Some("api".into()));
        assert_eq!(
            find(["a=1; AWSALB=XYZ", "b=2"].into_iter(), "AWSALB"),
            Some("XYZ")
        );
        assert_eq!(find(["AWSALBCORS=1"].into_iter(), "AWSALB"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(
            ferry_config::time::http_date(SystemTime::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            ferry_config::time::http_date(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_028_800)
            ),
            "Tue, 25 Nov 2025 00:00:00 GMT"
        );
        let c = set_cookies(LB, Some(LB_CORS), "AB", Duration::from_secs(60));
        assert!(c[0].starts_with("AWSALB=AB; Expires=") && c[0].ends_with("; Path=/"));
        assert!(c[1].starts_with("AWSALBCORS=AB;") && c[1].ends_with("SameSite=None; Secure"));
    }
}
