//! Authentication: password hashing, JWT issue/verify, and the authenticated-caller extractor.

pub mod caller;
pub mod password;
pub mod token;

pub use caller::{Caller, PrincipalKind};
