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

pub use crate::outbound::is_public_ip;
pub use fetch::{Downloaded, FetchConfig, FetchError, Fetcher, Limits, ingest};
pub use sniff::{MediaKind, sniff};
pub use storage::{ObjectWriter, Storage, StorageError, new_key};

use std::time::Duration;

/// Largest image and video the server stores (platforms' own, smaller limits are checked
/// before publishing).
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
pub const MAX_VIDEO_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// How long a signed media URL stays valid: long enough for a platform to fetch it while it
/// processes a container (Meta: up to hours).
pub const SIGNED_URL_TTL: Duration = Duration::from_secs(24 * 3600);

/// Everything the server needs to take in, keep and hand out media.
pub struct Media {
    pub storage: Storage,
    pub fetcher: Fetcher,
    pub limits: Limits,
    secret: Vec<u8>,
}

impl Media {
    /// `storage_url`: a directory, `file:///…` or `s3://bucket/prefix`. `allow_private`
    /// lets downloads reach private addresses (closed networks, tests).
    pub fn open(storage_url: &str, allow_private: bool, secret: &[u8]) -> anyhow::Result<Media> {
        let storage = Storage::open(storage_url)
            .map_err(|e| anyhow::anyhow!("cannot open the media store {storage_url:?}: {e}"))?;
        let fetcher = Fetcher::new(FetchConfig {
            allow_private,
            ..FetchConfig::default()
        })
        .map_err(|e| anyhow::anyhow!("cannot build the media downloader: {e}"))?;
        Ok(Media {
            storage,
            fetcher,
            limits: Limits {
                max_image_bytes: MAX_IMAGE_BYTES,
                max_video_bytes: MAX_VIDEO_BYTES,
            },
            secret: secret.to_vec(),
        })
    }

    /// The path and signed query under which the stored object `key` is served.
    pub fn signed_path(&self, key: &str, now_unix: i64) -> String {
        let exp = now_unix + SIGNED_URL_TTL.as_secs() as i64;
        format!("/media/{key}?{}", signed::sign(&self.secret, key, exp))
    }

    pub fn verify(&self, key: &str, exp: i64, sig: &str, now_unix: i64) -> bool {
        signed::verify(&self.secret, key, exp, sig, now_unix)
    }
}
