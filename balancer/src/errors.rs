//! Mapping failures on the way to a target to the status an ALB answers with, and a reason a person
//! can act on.

use pingora::{Error, ErrorType};

/// (status, reason phrase, why) for an error that ended a forward.
pub fn classify(error: &Error) -> (u16, &'static str, String) {
    let what = match error.etype() {
        ErrorType::ConnectRefused => "connection refused".to_string(),
        ErrorType::ConnectTimedout => {
            return (
                504,
                "Gateway Time-out",
                "the target did not accept the connection within 10 seconds".into(),
            )
        }
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => {
            return (
                504,
                "Gateway Time-out",
                "the target did not respond within the idle timeout".into(),
            )
        }
        ErrorType::ConnectNoRoute => "no route to the target".to_string(),
        ErrorType::ConnectionClosed => "the target closed the connection".to_string(),
        ErrorType::InvalidHTTPHeader | ErrorType::H1Error | ErrorType::H2Error => {
            "the target sent a malformed response".to_string()
        }
        ErrorType::HTTPStatus(code) if *code < 500 => {
            return (*code, "Bad Request", "the request was refused".into())
        }
        other => other.as_str().to_ascii_lowercase().replace('_', " "),
    };
    (502, "Bad Gateway", what)
}
