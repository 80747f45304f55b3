//! The identifiers CloudFront puts in headers: the request id (`X-Amz-Cf-Id`) and the Via host.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub struct IdSource {
    counter: AtomicU64,
    seed: u64,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: cheap and well spread; these ids need uniqueness, not secrecy.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl IdSource {
    pub fn new() -> IdSource {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        IdSource {
            counter: AtomicU64::new(0),
            seed: mix(now ^ u64::from(std::process::id())),
        }
    }

    /// A 56-character request id in CloudFront's alphabet.
    pub fn request_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut state = self.seed ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let mut out = String::with_capacity(56);
        for _ in 0..56 / 8 {
            state = mix(state);
            for k in 0..8 {
                out.push(ALPHABET[((state >> (k * 6)) & 63) as usize] as char);
            }
        }
        out
    }

    /// The `<32 hex>.cloudfront.net` host this edge names itself in Via.
    pub fn via_host(&self, pop: &str) -> String {
        let h = pop
            .bytes()
            .fold(self.seed, |acc, b| mix(acc ^ u64::from(b)));
        format!("{:016x}{:016x}.cloudfront.net", h, mix(h))
    }
}
