//! postproxy: a self-hosted server for the Postproxy social-publishing API.
//!
//! The map of modules and the path of a request through them is in `docs/architecture.md`.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod connect;
pub mod credentials;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod media;
pub mod outbound;
pub mod platforms;
pub mod posts;
pub mod sealing;
pub mod startup;
pub mod state;
pub mod telemetry;
