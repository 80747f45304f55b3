//! ALB redirect placeholder expansion on any templates and request parts: never a panic, and never
//! a CR or LF in the Location unless an input had one (a header injection).
#![no_main]

use arbitrary::Arbitrary;
use ferry_config::model::Redirect;
use ferry_config::redirect::{location, Original};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    protocol: String,
    port: String,
    host: String,
    path: String,
    query: String,
    https: bool,
    request_host: String,
    request_port: u16,
    request_path: String,
    request_query: String,
}

fuzz_target!(|x: Input| {
    let redirect = Redirect {
        protocol: x.protocol,
        port: x.port,
        host: x.host,
        path: x.path,
        query: x.query,
        status: 301,
    };
    let original = Original {
        protocol: if x.https { "HTTPS" } else { "HTTP" },
        host: &x.request_host,
        port: x.request_port,
        path: &x.request_path,
        query: &x.request_query,
    };
    let url = location(&redirect, &original);
    let inputs = [
        &redirect.protocol,
        &redirect.port,
        &redirect.host,
        &redirect.path,
        &redirect.query,
        &x.request_host,
        &x.request_path,
        &x.request_query,
    ];
    if !inputs.iter().any(|s| s.contains(['\r', '\n'])) {
        assert!(!url.contains(['\r', '\n']), "{url:?}");
    }
});
