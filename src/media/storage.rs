//! Where media bytes live: a local directory or an S3-compatible bucket, behind one interface.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt};

/// Bytes a writer holds before it switches to a multipart upload, and the size of each part.
/// Above S3's 5 MiB minimum part; most images fit and go up in a single PUT.
const WRITE_CAPACITY: usize = 8 * 1024 * 1024;
/// Parts in flight per writer: with the buffer, bounds a writer's memory to about 3 × capacity.
const WRITE_CONCURRENCY: usize = 2;
/// Longest key accepted; S3 allows 1024 bytes including our prefix.
const MAX_KEY_LEN: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("The media storage URL {0:?} is not a local path, file:// URL or s3:// URL")]
    UnsupportedUrl(String),
    #[error("The media storage location could not be opened: {0}")]
    Open(String),
    #[error("The media key {0:?} is not valid")]
    InvalidKey(String),
    #[error("No stored media has the key {0:?}")]
    NotFound(String),
    #[error("The media storage failed: {0}")]
    Backend(#[source] object_store::Error),
    #[error("The media storage failed: {0}")]
    Io(#[source] std::io::Error),
}

impl StorageError {
    fn from_store(key: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound(key.to_string()),
            e => StorageError::Backend(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    S3,
}

/// A handle on the media store; cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    backend: Backend,
}

impl Storage {
    /// Opens `file:///abs/dir`, a plain directory path (created when missing), or
    /// `s3://bucket/optional/prefix` (credentials, region and endpoint from the `AWS_*`
    /// environment variables, e.g. `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for MinIO or moto).
    pub fn open(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("s3://") || url.starts_with("s3a://") {
            return Self::open_s3(url);
        }
        let dir = if url.starts_with("file:") {
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| StorageError::UnsupportedUrl(url.to_string()))?
        } else if url.contains("://") || url.is_empty() {
            return Err(StorageError::UnsupportedUrl(url.to_string()));
        } else {
            std::path::PathBuf::from(url)
        };
        std::fs::create_dir_all(&dir).map_err(|e| StorageError::Open(format!("{}: {e}", dir.display())))?;
        let local = LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| StorageError::Open(e.to_string()))?
            // Deleting the last file of an `ab/` directory removes the directory too.
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(local),
            prefix: Path::default(),
            backend: Backend::Local,
        })
    }

    fn open_s3(url: &str) -> Result<Self, StorageError> {
        let parsed = url::Url::parse(url).map_err(|_| StorageError::UnsupportedUrl(url.to_string()))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(StorageError::UnsupportedUrl(url.to_string()));
        }
        let prefix = Path::parse(parsed.path().trim_matches('/'))
            .map_err(|e| StorageError::Open(format!("the prefix in {url}: {e}")))?;
        // The S3 client uses reqwest built without a default TLS provider.
        crate::crypto::install_crypto_provider();
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .build()
            .map_err(|e| StorageError::Open(e.to_string()))?;
        Ok(Storage {
            store: Arc::new(s3),
            prefix,
            backend: Backend::S3,
        })
    }

    /// Wraps any object store, e.g. `object_store::memory::InMemory` in a caller's tests.
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Self {
        Storage {
            store,
            prefix: Path::default(),
            backend: Backend::Local,
        }
    }

    /// The object path for a key, after checking the key is a plain relative path of safe
    /// characters (no `..`, no empty segments), so a key can never escape the prefix.
    fn path(&self, key: &str) -> Result<Path, StorageError> {
        let invalid = || StorageError::InvalidKey(key.chars().take(80).collect());
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(invalid());
        }
        for segment in key.split('/') {
            let safe = segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if segment.is_empty() || segment == "." || segment == ".." || !safe {
                return Err(invalid());
            }
        }
        let key_path = Path::parse(key).map_err(|_| invalid())?;
        Ok(self.prefix.parts().chain(key_path.parts()).collect())
    }

    /// A writer for a new object at `key`; nothing is visible until [`ObjectWriter::finish`].
    pub async fn writer(&self, key: &str, content_type: Option<&str>) -> Result<ObjectWriter, StorageError> {
        self.writer_with_capacity(key, content_type, WRITE_CAPACITY)
    }

    fn writer_with_capacity(
        &self,
        key: &str,
        content_type: Option<&str>,
        capacity: usize,
    ) -> Result<ObjectWriter, StorageError> {
        let path = self.path(key)?;
        let mut writer =
            BufWriter::with_capacity(Arc::clone(&self.store), path, capacity).with_max_concurrency(WRITE_CONCURRENCY);
        // The local store refuses attributes; a bucket keeps the type for whoever reads it.
        if let (Backend::S3, Some(ct)) = (self.backend, content_type) {
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, ct.to_string().into());
            writer = writer.with_attributes(attributes);
        }
        Ok(ObjectWriter {
            inner: Some(writer),
            key: key.to_string(),
        })
    }

    /// Stores a small object in one request.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let path = self.path(key)?;
        self.store
            .put(&path, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_store(key, e))
    }

    /// The size of the object and a stream of its bytes.
    pub async fn get_stream(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StorageError>>), StorageError> {
        let path = self.path(key)?;
        let got = self
            .store
            .get(&path)
            .await
            .map_err(|e| StorageError::from_store(key, e))?;
        let size = got.meta.size;
        let key = key.to_string();
        let stream = got
            .into_stream()
            .map(move |chunk| chunk.map_err(|e| StorageError::from_store(&key, e)))
            .boxed();
        Ok((size, stream))
    }

    /// Bytes `range` of the object (end exclusive).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StorageError> {
        let path = self.path(key)?;
        self.store
            .get_range(&path, range)
            .await
            .map_err(|e| StorageError::from_store(key, e))
    }

    /// The object's size, or `None` when there is no such object.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::Backend(e)),
        }
    }

    /// Removes the object; removing one that is not there succeeds, so cleanup can be retried.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::Backend(e)),
        }
    }
}

/// A streaming upload of one object; memory stays bounded whatever the object's size.
/// Dropping it without [`finish`](Self::finish) leaves no object, but call
/// [`abort`](Self::abort) so a bucket also drops the parts of a multipart upload.
pub struct ObjectWriter {
    inner: Option<BufWriter>,
    key: String,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter").field("key", &self.key).finish()
    }
}

impl ObjectWriter {
    pub async fn put(&mut self, bytes: Bytes) -> Result<(), StorageError> {
        // `inner` is only taken by finish/abort, which consume self.
        let Some(w) = self.inner.as_mut() else {
            return Err(StorageError::Io(std::io::Error::other("writer closed")));
        };
        w.put(bytes).await.map_err(|e| StorageError::from_store(&self.key, e))
    }

    /// Completes the upload; the object becomes visible whole, never partly written.
    pub async fn finish(mut self) -> Result<(), StorageError> {
        let Some(mut w) = self.inner.take() else {
            return Ok(());
        };
        // AsyncWrite::poll_shutdown is BufWriter's "complete the upload"; polled directly so we
        // need no tokio io-util feature.
        std::future::poll_fn(|cx| tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut w), cx))
            .await
            .map_err(StorageError::Io)
    }

    /// Discards what was written, including parts already uploaded.
    pub async fn abort(mut self) -> Result<(), StorageError> {
        let Some(mut w) = self.inner.take() else {
            return Ok(());
        };
        w.abort().await.map_err(|e| StorageError::from_store(&self.key, e))
    }
}

/// A fresh random key, `ab/` + 30 hex digits: 128 bits, and the two-digit directory keeps any
/// one directory of a local store small.
pub fn new_key() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut key = String::with_capacity(33);
    for (i, b) in bytes.iter().enumerate() {
        if i == 1 {
            key.push('/');
        }
        key.push_str(&format!("{b:02x}"));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn read_all(storage: &Storage, key: &str) -> (u64, Vec<u8>) {
        let (size, stream) = storage.get_stream(key).await.expect("get_stream");
        let chunks: Vec<Bytes> = stream.try_collect().await.expect("stream");
        (size, chunks.concat())
    }

    /// Files under `dir`, relative, sorted; to prove nothing is left behind.
    fn files(dir: &std::path::Path) -> Vec<String> {
        fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
                let p = entry.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).expect("prefix").display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    #[test]
    fn new_keys_are_random_hex_in_two_levels() {
        let a = new_key();
        assert_eq!(a.len(), 33);
        assert_eq!(a.as_bytes()[2], b'/');
        assert!(
            a.bytes()
                .enumerate()
                .all(|(i, b)| i == 2 || matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        let keys: std::collections::HashSet<String> = (0..1000).map(|_| new_key()).collect();
        assert_eq!(keys.len(), 1000);
    }

    #[test]
    fn open_accepts_paths_and_file_urls_and_refuses_other_schemes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let nested = tmp.path().join("a/b/media");
        Storage::open(nested.to_str().expect("utf-8")).expect("plain path");
        assert!(nested.is_dir(), "the directory is created");
        let url = url::Url::from_directory_path(tmp.path().join("via-url")).expect("url");
        Storage::open(url.as_str()).expect("file url");
        assert!(tmp.path().join("via-url").is_dir());
        for bad in ["", "http://example.com/x", "gs://bucket", "s3://", "file://relative"] {
            assert!(Storage::open(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_cannot_escape_or_be_odd() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(tmp.path().to_str().expect("utf-8")).expect("open");
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/",
            "../x",
            "a/../../x",
            ".",
            "a/./b",
            "a b",
            "a#1",
            "a\0b",
            "a\\b",
            "é",
            &"a".repeat(MAX_KEY_LEN + 1),
        ] {
            assert!(matches!(s.path(bad), Err(StorageError::InvalidKey(_))), "{bad:?}");
        }
        for good in ["ab/cdef", "x", "uploads/2024-01/a_b.c"] {
            assert_eq!(s.path(good).expect(good).as_ref(), good);
        }
    }

    #[tokio::test]
    async fn local_round_trip() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(tmp.path().to_str().expect("utf-8")).expect("open");
        let key = new_key();
        assert_eq!(s.size(&key).await.expect("size"), None);
        assert!(matches!(s.get_stream(&key).await, Err(StorageError::NotFound(_))));
        assert!(matches!(s.get_range(&key, 0..1).await, Err(StorageError::NotFound(_))));
        s.delete(&key).await.expect("deleting a missing object is fine");

        s.put_bytes(&key, Bytes::from_static(b"hello, world"))
            .await
            .expect("put");
        assert_eq!(s.size(&key).await.expect("size"), Some(12));
        assert_eq!(read_all(&s, &key).await, (12, b"hello, world".to_vec()));
        assert_eq!(s.get_range(&key, 7..12).await.expect("range").as_ref(), b"world");
        assert!(tmp.path().join(&key).is_file(), "stored under its key");

        s.delete(&key).await.expect("delete");
        assert_eq!(s.size(&key).await.expect("size"), None);
        s.delete(&key).await.expect("delete again");
        assert!(files(tmp.path()).is_empty(), "{:?}", files(tmp.path()));
    }

    #[tokio::test]
    async fn streaming_writer_switches_to_multipart_and_abort_leaves_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(tmp.path().to_str().expect("utf-8")).expect("open");
        // A small capacity forces the multipart path that large videos take.
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let key = new_key();
        let mut w = s.writer_with_capacity(&key, Some("video/mp4"), 4096).expect("writer");
        for chunk in data.chunks(1000) {
            w.put(Bytes::copy_from_slice(chunk)).await.expect("put");
        }
        assert_eq!(s.size(&key).await.expect("size"), None, "not visible before finish");
        w.finish().await.expect("finish");
        assert_eq!(read_all(&s, &key).await, (50_000, data.clone()));
        assert_eq!(files(tmp.path()), vec![key.clone()]);

        // Aborted after several parts: no object and no staging files.
        let other = new_key();
        let mut w = s.writer_with_capacity(&other, None, 4096).expect("writer");
        for chunk in data.chunks(1000).take(20) {
            w.put(Bytes::copy_from_slice(chunk)).await.expect("put");
        }
        w.abort().await.expect("abort");
        assert_eq!(s.size(&other).await.expect("size"), None);
        assert_eq!(files(tmp.path()), vec![key.clone()]);

        // Aborted while still buffered: nothing was ever sent.
        let small = new_key();
        let mut w = s.writer(&small, Some("image/png")).await.expect("writer");
        w.put(Bytes::from_static(b"abc")).await.expect("put");
        w.abort().await.expect("abort");
        assert_eq!(s.size(&small).await.expect("size"), None);

        // Small objects go up whole on finish.
        let mut w = s.writer(&small, Some("image/png")).await.expect("writer");
        w.put(Bytes::from_static(b"abc")).await.expect("put");
        w.finish().await.expect("finish");
        assert_eq!(read_all(&s, &small).await, (3, b"abc".to_vec()));
    }

    /// Runs against a real bucket: moto or MinIO in CI (see the media module docs for the setup).
    #[tokio::test]
    #[ignore = "needs TEST_S3_URL (a moto or MinIO bucket); run by CI with --include-ignored"]
    async fn s3_round_trip() {
        let url = std::env::var("TEST_S3_URL").unwrap_or_default();
        assert!(
            !url.is_empty(),
            "TEST_S3_URL is not set: start moto (`moto_server -p 5055`), create a bucket, and set \
             TEST_S3_URL=s3://bucket AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_ALLOW_HTTP=true \
             AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
        );
        let s = Storage::open(&format!("{}/postproxy-test", url.trim_end_matches('/'))).expect("open the bucket");
        let key = new_key();
        assert_eq!(s.size(&key).await.expect("size"), None);
        s.delete(&key).await.expect("deleting a missing object is fine");

        s.put_bytes(&key, Bytes::from_static(b"hello, bucket"))
            .await
            .expect("put");
        assert_eq!(read_all(&s, &key).await, (13, b"hello, bucket".to_vec()));
        assert_eq!(s.get_range(&key, 7..13).await.expect("range").as_ref(), b"bucket");
        s.delete(&key).await.expect("delete");
        assert_eq!(s.size(&key).await.expect("size"), None);

        // Over 5 MiB parts: a real multipart upload, with the content type set.
        let big: Vec<u8> = (0..(12 * 1024 * 1024u32)).map(|i| (i % 251) as u8).collect();
        let mut w = s.writer(&key, Some("video/mp4")).await.expect("writer");
        for chunk in big.chunks(256 * 1024) {
            w.put(Bytes::copy_from_slice(chunk)).await.expect("put");
        }
        w.finish().await.expect("finish");
        let (size, got) = read_all(&s, &key).await;
        assert_eq!(size, big.len() as u64);
        assert!(got == big, "multipart content differs");
        let stored = s.store.get(&s.path(&key).expect("path")).await.expect("get");
        assert_eq!(
            stored.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()),
            Some("video/mp4")
        );
        s.delete(&key).await.expect("delete");

        // The upload pipeline against the bucket: sniffed, stored, typed.
        let mut gif = b"GIF89a\x01\0\x01\0\x80\0\0".to_vec();
        gif.resize(70_000, 0);
        let limits = crate::media::Limits {
            max_image_bytes: 100_000,
            max_video_bytes: 100_000,
        };
        let parts = gif
            .chunks(4096)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>();
        let got = crate::media::ingest(&s, &key, &limits, futures::stream::iter(parts))
            .await
            .expect("ingest");
        assert_eq!((got.content_type.as_str(), got.size_bytes), ("image/gif", 70_000));
        let stored = s.store.get(&s.path(&key).expect("path")).await.expect("get");
        assert_eq!(
            stored.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()),
            Some("image/gif")
        );
        s.delete(&key).await.expect("delete");

        // An aborted multipart upload leaves no object.
        let mut w = s.writer(&key, None).await.expect("writer");
        for chunk in big.chunks(256 * 1024) {
            w.put(Bytes::copy_from_slice(chunk)).await.expect("put");
        }
        w.abort().await.expect("abort");
        assert_eq!(s.size(&key).await.expect("size"), None);
    }
}
