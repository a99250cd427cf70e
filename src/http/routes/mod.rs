//! One module per resource; handlers translate HTTP to domain calls and back, nothing more.

pub mod api_keys;
pub mod connect;
pub mod health;
pub mod media;
pub mod posts;
pub mod profile_groups;
pub mod profiles;
pub mod unavailable;
