//! Origin failover, as CloudFront does it ("Optimize high availability with CloudFront origin
//! failover"): an origin group sends every request to its primary first, with no sticky failover;
//! a GET, HEAD or OPTIONS request then goes to the secondary when the primary answers one of the
//! group's `failover_criteria.status_codes`, or cannot be reached (connection refused, TLS failure,
//! connect or response timeout) after the primary's `connection_attempts`. Requests with any other
//! method (POST, PUT, PATCH, DELETE) never fail over: the viewer gets the primary's answer or
//! error. The viewer gets the secondary's answer, whatever it is (there is no third try).

/// The status codes CloudFront accepts in `FailoverCriteria.StatusCodes`.
pub const CRITERIA_CODES: &[u16] = &[400, 403, 404, 416, 500, 502, 503, 504];

/// What the primary did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryOutcome {
    /// It answered with this status code.
    Status(u16),
    /// No usable answer: the connection was refused, reset or cut before a response head, the TLS
    /// handshake or the certificate check failed, or the response was not HTTP (after the
    /// primary's connection attempts).
    ConnectionFailed,
    /// The connection or the response timed out (after the primary's connection attempts).
    TimedOut,
}

/// Whether a request with this method can go to an origin group's secondary: GET, HEAD and
/// OPTIONS only (methods are case-sensitive).
pub fn method_can_fail_over(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Whether a request with `method`, to an origin group whose failover criteria are `criteria`,
/// goes to the secondary after the primary's `outcome`.
pub fn fails_over(method: &str, criteria: &[u16], outcome: PrimaryOutcome) -> bool {
    method_can_fail_over(method)
        && match outcome {
            PrimaryOutcome::Status(code) => criteria.contains(&code),
            PrimaryOutcome::ConnectionFailed | PrimaryOutcome::TimedOut => true,
        }
}

#[cfg(test)]
mod tests {
    use super::PrimaryOutcome::{ConnectionFailed, Status, TimedOut};
    use super::*;

    #[test]
    fn only_get_head_and_options_fail_over() {
        let table = [
            ("GET", true),
            ("HEAD", true),
            ("OPTIONS", true),
            ("POST", false),
            ("PUT", false),
            ("PATCH", false),
            ("DELETE", false),
            ("CONNECT", false),
            ("TRACE", false),
            // Methods are case-sensitive: `get` is not GET.
            ("get", false),
            ("", false),
        ];
        for (method, expected) in table {
            assert_eq!(method_can_fail_over(method), expected, "{method:?}");
        }
    }

    #[test]
    fn failover_by_method_criteria_and_outcome() {
        let criteria = [500, 502, 503, 504];
        let table: &[(&str, &[u16], PrimaryOutcome, bool)] = &[
            // A listed status code fails over for GET, HEAD and OPTIONS.
            ("GET", &criteria, Status(503), true),
            ("HEAD", &criteria, Status(500), true),
            ("OPTIONS", &criteria, Status(504), true),
            ("GET", &[404], Status(404), true),
            ("GET", &[403, 416], Status(416), true),
            // A status code not in the criteria passes through.
            ("GET", &criteria, Status(200), false),
            ("GET", &criteria, Status(404), false),
            ("GET", &criteria, Status(501), false),
            ("GET", &[404], Status(503), false),
            ("GET", &[], Status(503), false),
            // Connection failures and timeouts fail over whatever the criteria.
            ("GET", &criteria, ConnectionFailed, true),
            ("HEAD", &[404], TimedOut, true),
            ("OPTIONS", &[], ConnectionFailed, true),
            // Other methods never fail over.
            ("POST", &criteria, Status(503), false),
            ("PUT", &criteria, ConnectionFailed, false),
            ("PATCH", &criteria, TimedOut, false),
            ("DELETE", &criteria, Status(500), false),
        ];
        for (method, criteria, outcome, expected) in table {
            assert_eq!(
                fails_over(method, criteria, *outcome),
                *expected,
                "{method} with criteria {criteria:?} after {outcome:?}"
            );
        }
    }

    #[test]
    fn criteria_codes_are_cloudfronts() {
        for code in CRITERIA_CODES {
            assert!(fails_over("GET", CRITERIA_CODES, Status(*code)), "{code}");
        }
        assert!(!fails_over("GET", CRITERIA_CODES, Status(200)));
    }
}
