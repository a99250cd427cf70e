//! Encryption at rest for OAuth credentials: XChaCha20-Poly1305 with a random 24-byte nonce per
//! value (large enough to draw at random with no practical collision risk, and no counter to keep).
//!
//! Sealed layout: `version (1 byte) || nonce (24) || ciphertext+tag`. The associated data binds a
//! ciphertext to its row and column, so a value copied elsewhere fails to open.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("sealed value cannot be opened (wrong key, wrong row, or corrupted)")]
pub struct OpenError;

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().map_err(|_| OpenError)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map_err(|_| OpenError)
    }

    pub fn seal_str(&self, plaintext: &str, aad: &str) -> Vec<u8> {
        self.seal(plaintext.as_bytes(), aad.as_bytes())
    }

    pub fn open_str(&self, sealed: &[u8], aad: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open(sealed, aad.as_bytes())?).map_err(|_| OpenError)
    }
}

/// Parses a 32-byte key given as 64 hex digits or base64 (standard or URL-safe).
pub fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .context("the secret key must be 32 bytes as 64 hex digits or base64")?
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("the secret key must be 32 bytes, got {}", b.len()))
}

/// Where the generated key of a SQLite database lives: `<database file>.key`.
pub fn key_file_for_sqlite(database_url: &str) -> PathBuf {
    let path = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    PathBuf::from(format!("{path}.key"))
}

/// Reads the key file, creating it (mode 0600) with a fresh random key when missing.
pub fn load_or_create_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(&text).with_context(|| format!("invalid key file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(path) {
                Ok(mut f) => {
                    writeln!(f, "{}", STANDARD.encode(key))
                        .and_then(|_| f.sync_all())
                        .with_context(|| format!("cannot write key file {}", path.display()))?;
                    tracing::info!(path = %path.display(), "generated a new secret key for OAuth tokens; back it up with the database");
                    Ok(key)
                }
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key_file(path),
                Err(e) => Err(e).with_context(|| format!("cannot create key file {}", path.display())),
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot read key file {}", path.display())),
    }
}

/// The sealing key: `POSTPROXY_SECRET_KEY` when given; otherwise, on SQLite only, a key file
/// beside the database. PostgreSQL deployments run several replicas, which must share one key,
/// so there the key must be explicit.
pub fn resolve_key(database_url: &str, explicit: Option<&str>) -> anyhow::Result<[u8; 32]> {
    if let Some(k) = explicit.filter(|k| !k.trim().is_empty()) {
        return parse_key(k).context("invalid POSTPROXY_SECRET_KEY");
    }
    if crate::db::Backend::of_url(database_url) == crate::db::Backend::Postgres {
        bail!(
            "POSTPROXY_SECRET_KEY is required with PostgreSQL (every replica must share it); \
             generate one with: openssl rand -base64 32"
        );
    }
    load_or_create_key_file(&key_file_for_sqlite(database_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new(&[7u8; 32]);
        let sealed = s.seal(b"token-123", b"profile:1:access");
        assert!(!sealed.windows(9).any(|w| w == b"token-123"));
        assert_eq!(s.open(&sealed, b"profile:1:access").unwrap(), b"token-123");
        assert!(s.open(&sealed, b"profile:2:access").is_err());
        assert!(Sealer::new(&[8u8; 32]).open(&sealed, b"profile:1:access").is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(s.open(&tampered, b"profile:1:access").is_err());
        assert_ne!(s.seal(b"x", b""), s.seal(b"x", b""), "fresh nonce every time");
    }

    #[test]
    fn parses_hex_and_base64_keys() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_key(&hex).unwrap()[31], 0xff);
        let b64 = STANDARD.encode([9u8; 32]);
        assert_eq!(parse_key(&b64).unwrap(), [9u8; 32]);
        assert!(parse_key("short").is_err());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        let path = key_file_for_sqlite(&url);
        let k1 = resolve_key(&url, None).unwrap();
        let k2 = resolve_key(&url, None).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(resolve_key("postgres://x@localhost/db", None).is_err());
        assert!(resolve_key("postgres://x@localhost/db", Some(&STANDARD.encode([1u8; 32]))).is_ok());
    }
}
