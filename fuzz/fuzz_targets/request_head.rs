//! What ferry reads of a request head itself: the request-target check and ALB's desync
//! classification of the raw head, on any bytes. Never a panic; the same bytes, the same verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let method = data
        .split(|b| *b == b' ')
        .next()
        .and_then(|m| std::str::from_utf8(m).ok())
        .unwrap_or("GET");
    let _ = ferry_config::request_target::check(method, data);
    let verdict = ferry_config::desync::classify_head(data);
    assert_eq!(
        format!("{verdict:?}"),
        format!("{:?}", ferry_config::desync::classify_head(data))
    );
});
