//! The topology's enums as the API's strings and back: both spell AWS's values, so serde's own
//! names are the mapping.

use crate::error::{ProvisionError, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The API string of a topology enum value (`ViewerProtocolPolicy::RedirectToHttps` → `redirect-to-https`).
pub fn api_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// The topology enum value of an API string, or an error naming the field and the value.
pub fn from_api_name<T: DeserializeOwned>(field: &str, value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        ProvisionError::shape(field, format!("value {value:?} is not one ferry knows"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_config::spec::{HttpVersion, MinimumProtocolVersion, ViewerProtocolPolicy};

    #[test]
    fn enums_round_trip_through_api_strings() {
        assert_eq!(
            api_name(&ViewerProtocolPolicy::RedirectToHttps),
            "redirect-to-https"
        );
        assert_eq!(api_name(&HttpVersion::Http2And3), "http2and3");
        assert_eq!(
            api_name(&MinimumProtocolVersion::TLSv1_2_2021),
            "TLSv1.2_2021"
        );
        let back: MinimumProtocolVersion = from_api_name("x", "TLSv1.3_2025").unwrap();
        assert_eq!(back, MinimumProtocolVersion::TLSv1_3_2025);
        assert!(from_api_name::<HttpVersion>("http_version", "http9").is_err());
    }
}
