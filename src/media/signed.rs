//! Expiring signed URLs for stored media, so a platform can fetch a file without an API key.
//!
//! The signature covers the key and the expiry, separated by a newline that a key cannot contain
//! unnoticed (keys are `ab/cdef…` hex), so neither can be swapped without the secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], key: &str, exp: i64) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    mac.update(b"\n");
    mac.update(exp.to_string().as_bytes());
    mac
}

/// The query string `exp=<unix>&sig=<base64url>` that grants access to `key` until `expires_at_unix`.
pub fn sign(secret: &[u8], key: &str, expires_at_unix: i64) -> String {
    let sig = URL_SAFE_NO_PAD.encode(mac(secret, key, expires_at_unix).finalize().into_bytes());
    format!("exp={expires_at_unix}&sig={sig}")
}

/// Whether `sig` is the signature of `key` and `exp`, and `exp` is not yet past at `now_unix`.
pub fn verify(secret: &[u8], key: &str, exp: i64, sig: &str, now_unix: i64) -> bool {
    if exp <= now_unix {
        return false;
    }
    let Ok(tag) = URL_SAFE_NO_PAD.decode(sig.as_bytes()) else {
        return false;
    };
    // verify_slice compares in constant time, so timing does not leak how much of a guess matched.
    mac(secret, key, exp).verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a secret of the server, 32 bytes";
    const KEY: &str = "ab/cdef0123456789abcdef0123456789";

    fn parts(query: &str) -> (i64, String) {
        let mut exp = None;
        let mut sig = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().ok(),
                Some(("sig", v)) => sig = Some(v.to_string()),
                _ => panic!("unexpected part {pair}"),
            }
        }
        (exp.expect("exp"), sig.expect("sig"))
    }

    #[test]
    fn good_signature_verifies_until_expiry() {
        let q = sign(SECRET, KEY, 1_700_000_600);
        let (exp, sig) = parts(&q);
        assert_eq!(exp, 1_700_000_600);
        // 32 bytes of HMAC-SHA256 in unpadded base64url.
        assert_eq!(sig.len(), 43);
        assert!(sig.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(verify(SECRET, KEY, exp, &sig, 1_700_000_000));
        assert!(verify(SECRET, KEY, exp, &sig, 1_700_000_599));
        // Deterministic: the same inputs sign the same.
        assert_eq!(q, sign(SECRET, KEY, 1_700_000_600));
    }

    #[test]
    fn expired_is_refused() {
        let (exp, sig) = parts(&sign(SECRET, KEY, 1_700_000_600));
        assert!(!verify(SECRET, KEY, exp, &sig, 1_700_000_600));
        assert!(!verify(SECRET, KEY, exp, &sig, 1_800_000_000));
    }

    #[test]
    fn tampering_is_refused() {
        let (exp, sig) = parts(&sign(SECRET, KEY, 1_700_000_600));
        let now = 1_700_000_000;
        assert!(!verify(SECRET, "ab/cdef0123456789abcdef012345678a", exp, &sig, now));
        assert!(!verify(SECRET, "", exp, &sig, now));
        assert!(!verify(SECRET, KEY, exp + 1, &sig, now));
        assert!(!verify(b"another secret", KEY, exp, &sig, now));
        // The separator keeps key/exp boundaries from sliding.
        let (exp2, sig2) = parts(&sign(SECRET, "ab/1", 23));
        assert!(!verify(SECRET, "ab/12", 3, &sig2, 0));
        assert!(verify(SECRET, "ab/1", exp2, &sig2, 0));
    }

    #[test]
    fn garbage_signatures_are_refused() {
        let (exp, sig) = parts(&sign(SECRET, KEY, 1_700_000_600));
        let now = 1_700_000_000;
        for bad in [
            "",
            "!!!!",
            "a",
            "AAAA",
            &sig[..42],
            &format!("{sig}A"),
            &format!("{sig}="),
            "ééé",
            &"A".repeat(10_000),
        ] {
            assert!(!verify(SECRET, KEY, exp, bad, now), "{bad:?}");
        }
        // One flipped character.
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert!(!verify(SECRET, KEY, exp, &flipped, now));
        // Extreme expiries do not overflow anything.
        assert!(!verify(SECRET, KEY, i64::MIN, &sig, now));
        let (max, max_sig) = parts(&sign(SECRET, KEY, i64::MAX));
        assert!(verify(SECRET, KEY, max, &max_sig, i64::MAX - 1));
    }
}
