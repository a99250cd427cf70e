//! Secrets we hand out: API keys and single-use URL tokens. Only their SHA-256 is ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Every API key starts with this, so leaked keys are easy to recognise (and to scan for).
pub const API_KEY_PREFIX: &str = "pp_";

/// A freshly generated secret: the plaintext (shown once) and the hash that is stored.
pub struct NewSecret {
    pub plaintext: String,
    pub hash: Vec<u8>,
}

/// 32 bytes from the OS CSPRNG, base64url without padding.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a high-entropy secret. A fast hash is right here: the input is 256 random bits,
/// so there is nothing to brute-force, and every request pays for it.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub fn new_api_key() -> NewSecret {
    let plaintext = format!("{API_KEY_PREFIX}{}", random_token());
    let hash = hash_secret(&plaintext);
    NewSecret { plaintext, hash }
}

/// The non-secret part of a key shown in listings, e.g. `pp_AbCd1234`.
pub fn display_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 8).collect()
}

pub fn new_url_token() -> NewSecret {
    let plaintext = random_token();
    let hash = hash_secret(&plaintext);
    NewSecret { plaintext, hash }
}

/// Installs ring as rustls' process-wide crypto provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_long_unique_and_hashed() {
        let a = new_api_key();
        let b = new_api_key();
        assert!(a.plaintext.starts_with(API_KEY_PREFIX));
        assert_eq!(a.plaintext.len(), API_KEY_PREFIX.len() + 43);
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.hash, hash_secret(&a.plaintext));
        assert_eq!(a.hash.len(), 32);
        assert_eq!(display_prefix(&a.plaintext).len(), 11);
    }
}
