//! The topology ↔ the CloudFront and ELBv2 API shapes, field for field, both ways.

pub mod attributes;
pub mod distribution;
pub mod elbv2;
pub mod keys;
pub mod policies;
