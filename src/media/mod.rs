//! Media: fetching files from user-supplied URLs without reaching private networks, taking
//! uploads, sniffing their type, storing them (local directory or S3-compatible bucket), and
//! signing expiring URLs so platforms can fetch them.
//!
//! - [`sniff`]: the type from magic bytes, never from what the sender claims.
//! - [`fetch`]: the address policy, the [`Fetcher`] and the shared [`ingest`] pipeline.
//! - [`storage`]: [`Storage`] over `object_store`, and [`new_key`].
//! - [`signed`]: HMAC-signed, expiring query strings.
//!
//! The S3 test runs against a real bucket only with `--include-ignored` and `TEST_S3_URL` set,
//! e.g. a moto server: `moto_server -p 5055`, create the bucket with
//! `curl -X PUT http://127.0.0.1:5055/media-test`, then run with `TEST_S3_URL=s3://media-test`
//! `AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test`
//! `AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1`.

pub mod fetch;
pub mod signed;
pub mod sniff;
pub mod storage;

pub use fetch::{Downloaded, FetchConfig, FetchError, Fetcher, Limits, ingest, is_public_ip};
pub use sniff::{MediaKind, sniff};
pub use storage::{ObjectWriter, Storage, StorageError, new_key};
