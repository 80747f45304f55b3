//! `ferry validate FILE`: exit 0 and a one-line summary for a valid file; exit 1 and every error
//! as `FILE:LINE:COLUMN: error: <dotted.path>: <message>` for an invalid one; exit 1 and one
//! clear message naming the file, never a panic, for input that is not a topology at all.
//!
//! The fixtures under tests/fixtures/invalid/ are tests/fixtures/valid/minimal.toml with one
//! mistake each. Expected positions are computed from the fixture text (the line and column where
//! a token is), so the fixtures can be edited; they are then asserted exactly.
//!
//! Convention asserted here (1-based lines and columns): a mistake is reported at the key of the
//! offending item (`key = value`, also inside an inline table); a mistake in an array element at
//! that element; a value of the wrong type at the value (where the TOML parser reports it). The
//! dotted path names the offending item itself (for an unknown field, it ends with that key).

mod common;

use common::*;
use std::path::PathBuf;

const INVALID: &str = "tests/fixtures/invalid";

/// One expected error line.
struct Expected {
    /// Find the `nth` (1-based) occurrence of `context` in the file (comment lines skipped)...
    context: &'static str,
    nth: usize,
    /// ...and the error is at `token` inside it.
    token: &'static str,
    /// The dotted path the error names.
    path: &'static str,
    /// The message (after `path: `) contains every one of these (case-insensitive)...
    all: &'static [&'static str],
    /// ...and at least one of these, when there are any.
    any: &'static [&'static str],
}

/// (line, column), 1-based, of `token` inside the `nth` occurrence of `context` outside comments.
fn locate(text: &str, context: &str, nth: usize, token: &str) -> (usize, usize) {
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut from = 0;
        while let Some(at) = line[from..].find(context) {
            let start = from + at;
            seen += 1;
            if seen == nth {
                let within = context
                    .find(token)
                    .unwrap_or_else(|| panic!("token {token:?} is not in context {context:?}"));
                return (i + 1, line[..start + within].chars().count() + 1);
            }
            from = start + context.len();
        }
    }
    panic!("occurrence {nth} of {context:?} not found in the fixture");
}

fn fixture(name: &str) -> (String, String) {
    let rel = format!("{INVALID}/{name}");
    let text = std::fs::read_to_string(project_dir().join(&rel))
        .unwrap_or_else(|e| panic!("read fixture {rel}: {e}"));
    (rel, text)
}

fn assert_no_panic(what: &str, stderr: &str) {
    let lower = stderr.to_lowercase();
    for bad in ["panicked", "stack backtrace", "rust_backtrace"] {
        assert!(
            !lower.contains(bad),
            "{what}: stderr shows a panic or a backtrace ({bad:?}):\n{stderr}"
        );
    }
}

/// Runs `ferry validate` on the fixture and asserts exit 1 and one error line per expectation.
fn check(name: &str, expected: &[Expected]) {
    let (rel, source) = fixture(name);
    let out = ferry_cmd(&["validate", &rel]);
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "ferry validate {rel} should exit 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_no_panic(&rel, &stderr);
    for e in expected {
        let (line, col) = locate(&source, e.context, e.nth, e.token);
        let prefix = format!("{name}:{line}:{col}: error: {}: ", e.path);
        let found = stderr.lines().find(|l| l.contains(&prefix));
        let Some(found) = found else {
            panic!(
                "ferry validate {rel}: no stderr line contains {prefix:?}\n\
                 (the mistake is {:?} at line {line}, column {col})\nstderr:\n{stderr}",
                e.token
            );
        };
        let message = &found[found.find(&prefix).expect("found") + prefix.len()..];
        let lower = message.to_lowercase();
        for phrase in e.all {
            assert!(
                lower.contains(&phrase.to_lowercase()),
                "{rel}: the message {message:?} should contain {phrase:?}\nstderr:\n{stderr}"
            );
        }
        assert!(
            e.any.is_empty() || e.any.iter().any(|p| lower.contains(&p.to_lowercase())),
            "{rel}: the message {message:?} should contain one of {:?}\nstderr:\n{stderr}",
            e.any
        );
    }
}

#[test]
fn the_valid_fixture_validates() {
    let out = ferry_cmd(&["validate", "tests/fixtures/valid/minimal.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn the_embedded_default_example_validates() {
    let out = ferry_cmd(&["validate", "examples/default.toml"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "validate prints a one-line summary on stdout, got:\n{stdout}"
    );
    assert!(!stdout.trim().is_empty());
}

#[test]
fn unknown_field_with_a_close_name() {
    check(
        "unknown_field_close_name.toml",
        &[Expected {
            context: "target_orgin_id",
            nth: 1,
            token: "target_orgin_id",
            path: "distributions[0].default_cache_behavior.target_orgin_id",
            all: &["unknown field", "did you mean `target_origin_id`?"],
            any: &[],
        }],
    );
}

#[test]
fn wrong_type() {
    check(
        "wrong_type.toml",
        &[Expected {
            context: "min_ttl = \"ten\"",
            nth: 1,
            token: "\"ten\"",
            path: "cache_policies[0].min_ttl",
            all: &[],
            any: &["invalid type", "expected", "integer", "number"],
        }],
    );
}

#[test]
fn a_custom_origin_header_value_with_a_line_break() {
    check(
        "custom_header_value.toml",
        &[Expected {
            context: "X-Origin-Verify = ",
            nth: 1,
            token: "X-Origin-Verify",
            path: "distributions[0].origins[0].custom_headers.X-Origin-Verify",
            all: &["visible ASCII"],
            any: &[],
        }],
    );
}

#[test]
fn dangling_origin_reference() {
    check(
        "dangling_origin.toml",
        &[Expected {
            context: "target_origin_id = \"nope\"",
            nth: 1,
            token: "target_origin_id",
            path: "distributions[0].cache_behaviors[0].target_origin_id",
            all: &["nope", "origin"],
            any: &[],
        }],
    );
}

#[test]
fn duplicate_rule_priority() {
    check(
        "duplicate_priority.toml",
        &[Expected {
            context: "priority = 10",
            nth: 2,
            token: "priority",
            path: "load_balancers[0].listeners[0].rules[1].priority",
            all: &["10"],
            any: &["duplicate", "already", "unique", "same priority"],
        }],
    );
}

#[test]
fn rule_priority_zero() {
    check(
        "priority_zero.toml",
        &[Expected {
            context: "priority = 0",
            nth: 1,
            token: "priority",
            path: "load_balancers[0].listeners[0].rules[0].priority",
            all: &["50000"],
            any: &[],
        }],
    );
}

#[test]
fn rule_priority_above_50000() {
    check(
        "priority_too_high.toml",
        &[Expected {
            context: "priority = 50001",
            nth: 1,
            token: "priority",
            path: "load_balancers[0].listeners[0].rules[1].priority",
            all: &["50000"],
            any: &[],
        }],
    );
}

#[test]
fn health_check_interval_above_300() {
    check(
        "health_check_interval.toml",
        &[Expected {
            context: "interval_seconds = 301",
            nth: 1,
            token: "interval_seconds",
            path: "target_groups[0].health_check.interval_seconds",
            all: &["300"],
            any: &[],
        }],
    );
}

#[test]
fn six_values_in_one_condition() {
    check(
        "too_many_condition_values.toml",
        &[Expected {
            context: "values = [\"/a/*\"",
            nth: 1,
            token: "values",
            path: "load_balancers[0].listeners[0].rules[0].conditions[0].values",
            all: &[],
            any: &["5", "five"],
        }],
    );
}

#[test]
fn cache_behavior_path_pattern_with_a_refused_character() {
    check(
        "cache_behavior_path_pattern.toml",
        &[Expected {
            context: "path_pattern = \"/static/<x>/*\"",
            nth: 1,
            token: "path_pattern",
            path: "distributions[0].cache_behaviors[0].path_pattern",
            all: &["/static/<x>/*"],
            any: &["character", "allowed", "valid", "accept"],
        }],
    );
}

#[test]
fn rule_path_pattern_with_a_space() {
    check(
        "rule_path_pattern.toml",
        &[Expected {
            context: "\"/api v1/*\"",
            nth: 1,
            token: "\"",
            path: "load_balancers[0].listeners[0].rules[0].conditions[0].values[0]",
            all: &["/api v1/*"],
            any: &["space", "character", "allowed", "valid"],
        }],
    );
}

#[test]
fn unknown_managed_policy() {
    check(
        "unknown_managed_policy.toml",
        &[Expected {
            context: "cache_policy = \"Managed-Nope\"",
            nth: 1,
            token: "cache_policy",
            path: "distributions[0].default_cache_behavior.cache_policy",
            all: &["Managed-Nope"],
            any: &[],
        }],
    );
}

#[test]
fn duplicate_distribution_id() {
    check(
        "duplicate_distribution_id.toml",
        &[Expected {
            context: "id = \"site\"",
            nth: 2,
            token: "id",
            path: "distributions[1].id",
            all: &["site"],
            any: &["duplicate", "already", "unique"],
        }],
    );
}

#[test]
fn two_independent_mistakes_are_both_reported() {
    check(
        "two_mistakes.toml",
        &[
            Expected {
                context: "cache_policy = \"Managed-Nope\"",
                nth: 1,
                token: "cache_policy",
                path: "distributions[0].default_cache_behavior.cache_policy",
                all: &["Managed-Nope"],
                any: &[],
            },
            Expected {
                context: "priority = 0",
                nth: 1,
                token: "priority",
                path: "load_balancers[0].listeners[0].rules[0].priority",
                all: &["50000"],
                any: &[],
            },
        ],
    );
}

/// Bad input that is not a topology: exit 1, a short message naming the file, no panic.
fn check_bad_input(what: &str, path: &std::path::Path) {
    let arg = path.to_str().expect("UTF-8 path");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let out = ferry_cmd(&["validate", arg]);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: ferry validate {arg} should exit 1\nstdout:\n{}\nstderr:\n{}",
        shorten(&text(&out.stdout), 2000),
        shorten(&stderr, 2000)
    );
    assert_no_panic(what, &stderr);
    assert!(
        stderr.contains(name),
        "{what}: the message should name the file {name:?}:\n{}",
        shorten(&stderr, 2000)
    );
    assert!(
        stderr.len() < 4096,
        "{what}: one clear message, not {} bytes of stderr:\n{}",
        stderr.len(),
        shorten(&stderr, 2000)
    );
}

#[test]
fn a_missing_file_is_one_clear_error() {
    let dir = TempDir::new("validate-missing");
    let path: PathBuf = dir.path().join("does-not-exist.toml");
    check_bad_input("missing file", &path);
}

#[test]
fn a_binary_file_is_one_clear_error() {
    let dir = TempDir::new("validate-binary");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    let path = dir.write("image.toml", &bytes);
    check_bad_input("binary file", &path);
}

#[test]
fn a_truncated_file_is_one_clear_error() {
    let dir = TempDir::new("validate-truncated");
    let valid = std::fs::read_to_string(project_dir().join("tests/fixtures/valid/minimal.toml"))
        .expect("read the valid fixture");
    let cut = valid
        .find("origin_protocol_policy")
        .expect("the valid fixture has an origin");
    let path = dir.write("truncated.toml", &valid[..cut + "origin_pro".len()]);
    check_bad_input("truncated file", &path);
}

#[test]
fn an_enormous_file_is_one_clear_error() {
    let dir = TempDir::new("validate-enormous");
    let mut big = String::from("stack = \"big\"\n");
    let line = format!("# {}\n", "x".repeat(1021));
    while big.len() <= 11 * 1024 * 1024 {
        big.push_str(&line);
    }
    let path = dir.write("enormous.toml", big);
    check_bad_input("file over 10 MiB", &path);
}
