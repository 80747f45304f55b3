//! CloudFront's reading of a viewer's `Range` header: which ranges it refuses to honour and answers
//! with the whole object instead (RangeGETs, CloudFront Developer Guide: "If the requested ranges
//! are not in ascending order, overlap, or are negative, CloudFront returns the whole object").

/// True when CloudFront ignores this Range header and returns 200 with the whole object.
pub fn ignored(range: &str) -> bool {
    let Some(specs) = range.trim().strip_prefix("bytes=") else {
        return true;
    };
    let mut last_end: Option<u64> = None;
    for spec in specs.split(',').map(str::trim) {
        let Some((start, end)) = spec.split_once('-') else {
            return true;
        };
        let (start, end) = (start.trim(), end.trim());
        if start.is_empty() {
            // A suffix range (`-500`): the last bytes; fine alone, never "ascending" with others.
            if end.is_empty() || end.parse::<u64>().is_err() {
                return true;
            }
            if last_end.is_some() {
                return true;
            }
            last_end = Some(u64::MAX);
            continue;
        }
        let Ok(start) = start.parse::<u64>() else {
            return true;
        };
        let end = if end.is_empty() {
            u64::MAX
        } else {
            match end.parse::<u64>() {
                Ok(e) if e >= start => e,
                _ => return true,
            }
        };
        if last_end.is_some_and(|previous| start <= previous) {
            return true;
        }
        last_end = Some(end);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_rules() {
        for (range, expected) in [
            ("bytes=0-9", false),
            ("bytes=10-", false),
            ("bytes=-5", false),
            ("bytes=0-9, 20-29", false),
            ("bytes=9-2", true),
            ("bytes=20-29,0-9", true),
            ("bytes=0-9,5-20", true),
            ("bytes=0-9,9-20", true),
            ("bytes=abc", true),
            ("bytes=--5", true),
            ("items=0-9", true),
            ("bytes=0-9,-5", true),
        ] {
            assert_eq!(ignored(range), expected, "{range}");
        }
    }
}
