//! Platforms connected with credentials the customer gives (`Connect::Credentials`): no OAuth
//! app, no consent screen. What a sign-in takes and gives, and how placements that appear later
//! (Telegram's chats) are reported.

use super::{Identity, PlacementInfo, TokenSet};

/// The credentials given to `initialize_connection`, by field name (each checked non-blank).
pub struct Given<'a> {
    pub fields: &'a [(&'static str, String)],
    /// The guarded client, for hosts the user's identity names (a Bluesky PDS).
    pub outbound: &'a crate::outbound::Outbound,
}

impl Given<'_> {
    /// A field's value (fields the spec asks for are always present).
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// A successful sign-in: the account, its tokens, and what to keep to sign in again.
pub struct SignedIn {
    pub identity: Identity,
    /// The session (Bluesky) or the bot token itself (Telegram), sealed as the access token.
    pub tokens: TokenSet,
    /// A secret kept to sign in again without the user (Bluesky's app password).
    pub credential: Option<String>,
    /// The account's own API host when it is not the configured one (a Bluesky PDS).
    pub endpoint: Option<String>,
    /// What the user must do before the first post (Telegram: make the bot an administrator).
    pub next_step: Option<String>,
}

/// Placements that appeared or went since the last look, and where to look from next time.
#[derive(Debug, Default)]
pub struct PlacementChanges {
    pub added: Vec<PlacementInfo>,
    /// External ids of placements the account can no longer post to.
    pub removed: Vec<String>,
    /// The cursor to store for the next look (Telegram's update offset).
    pub next_offset: Option<i64>,
}
