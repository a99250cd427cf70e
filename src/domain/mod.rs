//! Domain types and rules. No I/O here: everything is a pure function of its inputs.

pub mod access;
pub mod connection;
pub mod field;
pub mod platform;
pub mod post;
pub mod profile_group;
pub mod rules;
