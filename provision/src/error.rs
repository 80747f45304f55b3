//! The provisioner's errors: what failed, on which resource, and what AWS said.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProvisionError {
    /// The topology asks for something AWS would refuse; found before anything is changed.
    #[error("{0}")]
    Invalid(String),
    /// A live resource does not have the shape ferry expects (a field AWS always returns is missing).
    #[error("{resource}: unexpected answer from AWS: {detail}")]
    Shape { resource: String, detail: String },
    /// An AWS call failed.
    #[error("{operation} {resource}: {message}")]
    Aws {
        operation: &'static str,
        resource: String,
        message: String,
    },
    #[error("{0}")]
    Build(String),
}

impl ProvisionError {
    pub fn shape(resource: impl Into<String>, detail: impl Into<String>) -> ProvisionError {
        ProvisionError::Shape {
            resource: resource.into(),
            detail: detail.into(),
        }
    }
}

impl From<aws_smithy_types::error::operation::BuildError> for ProvisionError {
    fn from(e: aws_smithy_types::error::operation::BuildError) -> ProvisionError {
        ProvisionError::Build(e.to_string())
    }
}

pub type Result<T, E = ProvisionError> = std::result::Result<T, E>;
