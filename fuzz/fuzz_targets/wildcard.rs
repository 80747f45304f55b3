//! The `*`/`?` matcher of path patterns, host headers, header values and query strings against a
//! plain dynamic-programming matcher: both must agree on every pattern and input.
#![no_main]

use arbitrary::Arbitrary;
use ferry_config::pattern::{Case, Wildcard};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    pattern: String,
    input: String,
    insensitive: bool,
}

/// `matches[i][j]`: the first i pattern chars match the first j input chars.
fn reference(pattern: &[char], input: &[char], insensitive: bool) -> bool {
    let same = |p: char, c: char| {
        if insensitive {
            p.to_ascii_lowercase() == c.to_ascii_lowercase()
        } else {
            p == c
        }
    };
    let mut row = vec![false; input.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; input.len() + 1];
        if p == '*' {
            next[0] = row[0];
        }
        for j in 1..=input.len() {
            next[j] = match p {
                '*' => row[j] || next[j - 1],
                '?' => row[j - 1],
                p => row[j - 1] && same(p, input[j - 1]),
            };
        }
        row = next;
    }
    row[input.len()]
}

fuzz_target!(|x: Input| {
    let pattern: Vec<char> = x.pattern.chars().take(64).collect();
    let input: Vec<char> = x.input.chars().take(128).collect();
    let (pattern_text, input_text): (String, String) =
        (pattern.iter().collect(), input.iter().collect());
    let case = if x.insensitive {
        Case::Insensitive
    } else {
        Case::Sensitive
    };
    let got = Wildcard::new(&pattern_text, case).matches(&input_text);
    let want = reference(&pattern, &input, x.insensitive);
    assert_eq!(got, want, "pattern {pattern_text:?} input {input_text:?} {case:?}");
});
