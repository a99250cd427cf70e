//! The social platforms a profile can be connected to.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Facebook,
    Instagram,
    Tiktok,
    Linkedin,
    Youtube,
    Twitter,
    Threads,
    Telegram,
    Bluesky,
}

impl Platform {
    pub const ALL: [Platform; 9] = [
        Platform::Facebook,
        Platform::Instagram,
        Platform::Tiktok,
        Platform::Linkedin,
        Platform::Youtube,
        Platform::Twitter,
        Platform::Threads,
        Platform::Telegram,
        Platform::Bluesky,
    ];

    /// The wire name (`"facebook"`, …), also what is stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            Platform::Tiktok => "tiktok",
            Platform::Linkedin => "linkedin",
            Platform::Youtube => "youtube",
            Platform::Twitter => "twitter",
            Platform::Threads => "threads",
            Platform::Telegram => "telegram",
            Platform::Bluesky => "bluesky",
        }
    }

    /// The wire names, comma-separated, for messages.
    pub fn names() -> String {
        Platform::ALL.map(Platform::as_str).join(", ")
    }

    /// Exact, case-sensitive match on the wire name, as the SDKs send it.
    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Platforms the official SDKs know that this server does not serve yet: refused by name, as
/// "not available on this server yet", rather than as unknown.
pub const NOT_YET: &[&str] = &["pinterest", "google_business", "whatsapp"];

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_wire_name() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
        }
        assert_eq!(Platform::parse("x"), None);
        assert_eq!(Platform::parse("Facebook"), None);
        assert_eq!(Platform::parse("pinterest"), None);
    }
}
