//! Credentials at rest, in one place: how each sealed secret is bound to its row and column
//! (the associated data), and the sealing and opening of profile tokens, Page tokens and PKCE
//! verifiers. The connect flow, the jobs and the profile routes go through here; nothing else
//! builds associated data.

use std::collections::HashSet;

use crate::db::profiles::{Connected, CredentialRow, NewPlacement};
use crate::domain::connection::expiry;
use crate::domain::platform::Platform;
use crate::platforms::{Identity, TokenSet};
use crate::sealing::{OpenError, Sealer};

/// The profile a token belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ProfileKey<'a> {
    pub account_id: i64,
    pub platform: Platform,
    /// The platform's id of the account.
    pub external_id: &'a str,
}

/// A profile's sealed columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    AccessToken,
    RefreshToken,
    /// A secret kept to sign in again (Bluesky's app password).
    Credential,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::AccessToken => "access_token",
            Column::RefreshToken => "refresh_token",
            Column::Credential => "credential",
        }
    }
}

impl ProfileKey<'_> {
    fn aad(&self, column: Column) -> String {
        format!(
            "profile:{}:{}:{}:{}",
            self.account_id,
            self.platform.as_str(),
            self.external_id,
            column.name()
        )
    }

    fn placement_aad(&self, placement_id: &str) -> String {
        format!(
            "placement:{}:{}:{}:{placement_id}:access_token",
            self.account_id,
            self.platform.as_str(),
            self.external_id
        )
    }

    pub fn seal(&self, sealer: &Sealer, column: Column, plaintext: &str) -> Vec<u8> {
        sealer.seal_str(plaintext, &self.aad(column))
    }

    pub fn open(&self, sealer: &Sealer, column: Column, sealed: &[u8]) -> Result<String, OpenError> {
        sealer.open_str(sealed, &self.aad(column))
    }

    /// A placement's own token (a Facebook Page token).
    pub fn seal_placement(&self, sealer: &Sealer, placement_id: &str, plaintext: &str) -> Vec<u8> {
        sealer.seal_str(plaintext, &self.placement_aad(placement_id))
    }

    pub fn open_placement(&self, sealer: &Sealer, placement_id: &str, sealed: &[u8]) -> Result<String, OpenError> {
        sealer.open_str(sealed, &self.placement_aad(placement_id))
    }
}

impl<'a> ProfileKey<'a> {
    pub fn of(row: &'a CredentialRow) -> ProfileKey<'a> {
        ProfileKey {
            account_id: row.account_id,
            platform: row.platform,
            external_id: &row.external_id,
        }
    }
}

/// One sealed column of a loaded profile, opened (`None`: nothing is stored there).
pub fn open_column(sealer: &Sealer, row: &CredentialRow, column: Column) -> Result<Option<String>, OpenError> {
    let sealed = match column {
        Column::AccessToken => &row.access_token_enc,
        Column::RefreshToken => &row.refresh_token_enc,
        Column::Credential => &row.credential_enc,
    };
    let key = ProfileKey::of(row);
    sealed.as_ref().map(|s| key.open(sealer, column, s)).transpose()
}

fn verifier_aad(invitation_id: i64) -> String {
    format!("oauth_state:{invitation_id}:pkce_verifier")
}

/// The PKCE verifier kept while the user is on the platform's consent screen.
pub fn seal_verifier(sealer: &Sealer, invitation_id: i64, verifier: &str) -> Vec<u8> {
    sealer.seal_str(verifier, &verifier_aad(invitation_id))
}

pub fn open_verifier(sealer: &Sealer, invitation_id: i64, sealed: &[u8]) -> Result<String, OpenError> {
    sealer.open_str(sealed, &verifier_aad(invitation_id))
}

/// Where a connection lands: the group, and the invitation it consumes (none for a sign-in with
/// credentials, which happens within the API call).
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub invitation_id: Option<i64>,
    pub account_id: i64,
    pub profile_group_id: i64,
    pub refresh_connection: bool,
}

/// What a finished connection writes: the profile with its sealed tokens (and the credential
/// kept to sign in again, if any), and its placements with theirs.
pub fn seal_connection(
    sealer: &Sealer,
    target: Target,
    platform: Platform,
    tokens: &TokenSet,
    credential: Option<&str>,
    identity: Identity,
    now: i64,
) -> Connected {
    let key = ProfileKey {
        account_id: target.account_id,
        platform,
        external_id: &identity.external_id,
    };
    let exp = expiry(
        platform,
        now,
        tokens.expires_in,
        tokens.refresh_expires_in,
        tokens.refresh_token.is_some(),
    );
    let mut seen = HashSet::new();
    let placements = identity
        .placements
        .iter()
        .filter(|p| seen.insert(p.external_id.clone()))
        .map(|p| NewPlacement {
            external_id: p.external_id.clone(),
            name: p.name.clone(),
            avatar_url: p.avatar_url.clone(),
            username: p.username.clone(),
            access_token_enc: p
                .access_token
                .as_deref()
                .map(|t| key.seal_placement(sealer, &p.external_id, t)),
        })
        .collect();
    Connected {
        invitation_id: target.invitation_id,
        account_id: target.account_id,
        profile_group_id: target.profile_group_id,
        platform,
        refresh_connection: target.refresh_connection,
        name: identity.name.clone(),
        username: identity.username.clone(),
        avatar_url: identity.avatar_url.clone(),
        external_id: identity.external_id.clone(),
        access_token_enc: key.seal(sealer, Column::AccessToken, &tokens.access_token),
        refresh_token_enc: tokens
            .refresh_token
            .as_deref()
            .map(|t| key.seal(sealer, Column::RefreshToken, t)),
        credential_enc: credential.map(|c| key.seal(sealer, Column::Credential, c)),
        endpoint: None,
        access_expires_at_ms: exp.access_expires_at_ms,
        expires_at_ms: exp.expires_at_ms,
        placements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_for_its_own_row_and_column() {
        let sealer = Sealer::new(&[7; 32]);
        let key = ProfileKey {
            account_id: 1,
            platform: Platform::Twitter,
            external_id: "42",
        };
        let sealed = key.seal(&sealer, Column::AccessToken, "secret");
        assert_eq!(key.open(&sealer, Column::AccessToken, &sealed).unwrap(), "secret");
        assert!(key.open(&sealer, Column::RefreshToken, &sealed).is_err());
        let other = ProfileKey { account_id: 2, ..key };
        assert!(other.open(&sealer, Column::AccessToken, &sealed).is_err());
        let page = key.seal_placement(&sealer, "p1", "page-token");
        assert_eq!(key.open_placement(&sealer, "p1", &page).unwrap(), "page-token");
        assert!(key.open_placement(&sealer, "p2", &page).is_err());
    }

    #[test]
    fn associated_data_is_what_existing_rows_were_sealed_with() {
        // Rows sealed by earlier releases must still open: the formats never change.
        let sealer = Sealer::new(&[7; 32]);
        let old = sealer.seal_str("t", "profile:1:twitter:42:access_token");
        let key = ProfileKey {
            account_id: 1,
            platform: Platform::Twitter,
            external_id: "42",
        };
        assert_eq!(key.open(&sealer, Column::AccessToken, &old).unwrap(), "t");
        let page = sealer.seal_str("p", "placement:1:facebook:42:p1:access_token");
        let fb = ProfileKey {
            platform: Platform::Facebook,
            ..key
        };
        assert_eq!(fb.open_placement(&sealer, "p1", &page).unwrap(), "p");
        let v = sealer.seal_str("v", "oauth_state:9:pkce_verifier");
        assert_eq!(open_verifier(&sealer, 9, &v).unwrap(), "v");
    }
}
