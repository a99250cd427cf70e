//! Per-account publishing quotas the platforms publish (Instagram `content_publishing_limit`,
//! Threads `threads_publishing_limit`), remembered for a while so that reading one does not
//! cost a call per post.
//!
//! The platform stays the judge: its cap answer (Instagram 9 / 2207042) is honoured whatever
//! this says. What the read buys is that an account at its cap waits before any container is
//! made, with the numbers in its note, and that accounts near the cap are read before each post.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a read is trusted while the account is well under its cap.
const FRESH: Duration = Duration::from_secs(600);
/// Closer than this to the cap, every post reads the quota again (other replicas and posts
/// made outside postproxy count too).
const MARGIN: i64 = 3;

/// What the platform said about one account's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub used: i64,
    pub total: i64,
}

#[derive(Default)]
pub struct Quotas {
    /// Key: API base + user + quota kind. `None`: the last read failed (not asked again until
    /// it goes stale).
    seen: Mutex<HashMap<String, (Instant, Option<Reading>)>>,
}

/// What to do before a post.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on without asking the platform.
    Go,
    /// Ask the platform, then [`Quotas::record`] the answer.
    Read,
}

impl Quotas {
    /// Whether the quota behind `key` must be read before one more post. A `Go` counts the post.
    pub fn before_post(&self, key: &str) -> Verdict {
        let mut seen = self.seen.lock().expect("quota cache poisoned");
        match seen.get_mut(key) {
            Some((at, reading)) if at.elapsed() < FRESH => match reading {
                None => Verdict::Go,
                Some(r) if r.total - r.used > MARGIN => {
                    r.used += 1;
                    Verdict::Go
                }
                Some(_) => Verdict::Read,
            },
            _ => Verdict::Read,
        }
    }

    /// Remembers a read (`None`: the platform could not be asked). Returns the reading, with the
    /// post about to be made counted when there is room for it.
    pub fn record(&self, key: &str, reading: Option<Reading>) -> Option<Reading> {
        let counted = reading.map(|r| {
            if r.used < r.total {
                Reading { used: r.used + 1, ..r }
            } else {
                r
            }
        });
        let mut seen = self.seen.lock().expect("quota cache poisoned");
        if seen.len() > 100_000 {
            seen.retain(|_, (at, _)| at.elapsed() < FRESH);
        }
        seen.insert(key.to_string(), (Instant::now(), counted));
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_then_counts_posts_until_near_the_cap() {
        let q = Quotas::default();
        assert_eq!(q.before_post("k"), Verdict::Read);
        q.record("k", Some(Reading { used: 44, total: 50 }));
        // 45 used after the post that read; 46 is still more than MARGIN under 50.
        assert_eq!(q.before_post("k"), Verdict::Go);
        assert_eq!(q.before_post("k"), Verdict::Go);
        // 47 used: 3 left, so the next post asks again.
        assert_eq!(q.before_post("k"), Verdict::Read);
        assert_eq!(q.before_post("other"), Verdict::Read);
    }

    #[test]
    fn a_failed_read_is_not_repeated_for_every_post() {
        let q = Quotas::default();
        assert_eq!(q.before_post("k"), Verdict::Read);
        q.record("k", None);
        assert_eq!(q.before_post("k"), Verdict::Go);
    }

    #[test]
    fn an_account_at_its_cap_is_read_again_each_time() {
        let q = Quotas::default();
        q.record("k", Some(Reading { used: 50, total: 50 }));
        assert_eq!(q.before_post("k"), Verdict::Read);
    }
}
