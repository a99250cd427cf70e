//! The integration-test binary. Every test runs on SQLite and, when `TEST_POSTGRES_URL` is set,
//! on PostgreSQL too, each on a fresh database.

#[macro_use]
mod helpers;

mod auth;
mod bluesky;
mod browser;
mod cli;
mod clients;
mod connect;
mod fake_bluesky;
mod fake_provider;
mod fake_telegram;
mod http;
mod logs;
mod media;
mod openapi;
mod posts;
mod profile_groups;
mod publishing;
mod queue;
mod reliability;
mod sdk;
mod telegram;
