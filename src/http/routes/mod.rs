//! One module per resource; handlers translate HTTP to domain calls and back, nothing more.

pub mod health;
pub mod profile_groups;
