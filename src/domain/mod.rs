//! Pure domain rules: validators, newtypes and role checks. No actix, no diesel, no I/O.

pub mod organization;
pub mod region;
pub mod role;
pub mod uscc;
