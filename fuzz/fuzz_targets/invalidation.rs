//! CloudFront invalidation paths: a path that parses invalidates the object at that very path, and
//! a wildcard invalidates everything under its prefix.
#![no_main]

use ferry_config::invalidation::InvalidationPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|x: (String, String)| {
    let (path, object) = x;
    let Ok(parsed) = InvalidationPath::parse(&path) else {
        return;
    };
    if parsed.is_wildcard() {
        let prefix = path.trim_end_matches('*');
        assert!(parsed.matches(&format!("{prefix}{object}")), "{path:?} {object:?}");
    } else {
        assert!(parsed.matches(&path), "{path:?}");
    }
});
