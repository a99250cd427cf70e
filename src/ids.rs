//! Public identifiers: opaque sqids strings, one codec per resource type.
//!
//! Each installation draws a random secret on first start (stored in `server_settings`, shared by
//! every replica); each resource type's alphabet is a shuffle of the base alphabet keyed by that
//! secret and the type's name. So ids reveal no counts to outsiders, and a profile id never
//! decodes as a profile-group id.

use sha2::{Digest, Sha256};
use sqids::Sqids;

const BASE_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const MIN_LENGTH: u8 = 9;

/// The resource types that have public ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Account,
    ProfileGroup,
    Profile,
    ApiKey,
    Post,
    PostProfile,
    Media,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Account,
        Kind::ProfileGroup,
        Kind::Profile,
        Kind::ApiKey,
        Kind::Post,
        Kind::PostProfile,
        Kind::Media,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::ProfileGroup => "profile_group",
            Kind::Profile => "profile",
            Kind::ApiKey => "api_key",
            Kind::Post => "post",
            Kind::PostProfile => "post_profile",
            Kind::Media => "media",
        }
    }
}

/// Encoders/decoders for every resource type.
pub struct Ids {
    codecs: Vec<(Kind, Sqids)>,
    /// Encoding checks each candidate against sqids' profanity blocklist (hundreds of
    /// comparisons, a fifth of a list request's CPU when measured); ids never change, so
    /// remember them. Bounded: cleared when full.
    encoded: std::sync::Mutex<std::collections::HashMap<(Kind, i64), String>>,
}

const ENCODE_CACHE_MAX: usize = 100_000;

impl Ids {
    pub fn new(secret: &str) -> Self {
        let codecs = Kind::ALL
            .iter()
            .map(|&kind| {
                let alphabet = keyed_shuffle(BASE_ALPHABET, secret, kind.label());
                let sqids = Sqids::builder()
                    .alphabet(alphabet)
                    .min_length(MIN_LENGTH)
                    .build()
                    .expect("static alphabet is valid");
                (kind, sqids)
            })
            .collect();
        Ids {
            codecs,
            encoded: Default::default(),
        }
    }

    fn codec(&self, kind: Kind) -> &Sqids {
        &self
            .codecs
            .iter()
            .find(|(k, _)| *k == kind)
            .expect("every kind has a codec")
            .1
    }

    pub fn encode(&self, kind: Kind, id: i64) -> String {
        if let Some(s) = self.encoded.lock().ok().and_then(|m| m.get(&(kind, id)).cloned()) {
            return s;
        }
        // Database ids are positive; sqids can encode any u64.
        let s = self
            .codec(kind)
            .encode(&[id as u64])
            .expect("a single u64 always encodes");
        if let Ok(mut m) = self.encoded.lock() {
            if m.len() >= ENCODE_CACHE_MAX {
                m.clear();
            }
            m.insert((kind, id), s.clone());
        }
        s
    }

    /// `None` for anything that is not the canonical encoding of exactly one id of this type.
    pub fn decode(&self, kind: Kind, s: &str) -> Option<i64> {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let codec = self.codec(kind);
        let numbers = codec.decode(s);
        let [n] = numbers.as_slice() else {
            return None;
        };
        let id = i64::try_from(*n).ok().filter(|id| *id > 0)?;
        // Several strings can decode to the same number; accept only the canonical one.
        (self.encode(kind, id) == s).then_some(id)
    }
}

/// Deterministic Fisher-Yates shuffle driven by SHA-256(secret, label, counter).
fn keyed_shuffle(alphabet: &str, secret: &str, label: &str) -> Vec<char> {
    let mut chars: Vec<char> = alphabet.chars().collect();
    let mut stream = Vec::new();
    let mut counter: u32 = 0;
    for i in (1..chars.len()).rev() {
        if stream.len() < 4 {
            let mut h = Sha256::new();
            h.update(secret.as_bytes());
            h.update([0u8]);
            h.update(label.as_bytes());
            h.update(counter.to_le_bytes());
            counter += 1;
            stream.extend_from_slice(&h.finalize());
        }
        let word: [u8; 4] = stream.drain(..4).collect::<Vec<_>>().try_into().unwrap();
        let j = (u32::from_le_bytes(word) as usize) % (i + 1);
        chars.swap(i, j);
    }
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_canonical() {
        let ids = Ids::new("test-secret");
        for id in [1i64, 2, 9, 10, 1000, 123_456_789, i64::MAX] {
            let s = ids.encode(Kind::ProfileGroup, id);
            assert!(s.len() >= 9, "{s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
            assert_eq!(ids.decode(Kind::ProfileGroup, &s), Some(id));
        }
    }

    #[test]
    fn types_do_not_cross() {
        let ids = Ids::new("test-secret");
        let group = ids.encode(Kind::ProfileGroup, 1);
        let profile = ids.encode(Kind::Profile, 1);
        assert_ne!(group, profile);
        assert_eq!(ids.decode(Kind::Profile, &group), None);
        assert_eq!(ids.decode(Kind::ProfileGroup, &profile), None);
    }

    #[test]
    fn secrets_change_ids() {
        let a = Ids::new("one").encode(Kind::ProfileGroup, 1);
        let b = Ids::new("two").encode(Kind::ProfileGroup, 1);
        assert_ne!(a, b);
    }

    #[test]
    fn rejects_garbage() {
        let ids = Ids::new("s");
        for s in [
            "",
            "abc",
            "ABCDEFGHIJ",
            "../../etc",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "0",
        ] {
            assert_eq!(ids.decode(Kind::ProfileGroup, s), None, "{s}");
        }
    }
}
