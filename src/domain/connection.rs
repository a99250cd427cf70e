//! Rules for starting a connection (an OAuth invitation) in a profile group.

use super::platform::Platform;

/// How long a trip to the platform's consent screen may take.
pub const OAUTH_STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// How long an invitation URL stays usable.
pub const INVITATION_TTL_MS: i64 = 60 * 60 * 1000;
pub const MAX_REDIRECT_URL_LEN: usize = 2048;

/// What a `redirect_url` must look like: an absolute http(s) URL with a plain host name (no user
/// info), no white space or control characters. Published as the OpenAPI pattern too, so the
/// document and the server agree on every input.
pub const REDIRECT_URL_PATTERN: &str = r"^https?://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$";

static REDIRECT_URL_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(REDIRECT_URL_PATTERN).expect("valid pattern"));

/// A validated `initialize_connection` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub platform: Platform,
    /// Where the browser returns; empty when the caller asked for none (`force_no_redirect`):
    /// the flow then ends on a page of ours that says how it went.
    pub redirect_url: String,
    pub refresh_connection: bool,
}

/// Validates the raw fields in the order the API documents its errors; the error is the
/// message for a 422 `{"error": …}`. `no_redirect` (`force_no_redirect`, what the MCP server
/// sends) makes `redirect_url` optional.
pub fn validate(
    platform: Option<&str>,
    redirect_url: Option<&str>,
    refresh_connection: bool,
    no_redirect: bool,
) -> Result<ConnectionRequest, String> {
    let redirect_url = match redirect_url {
        None | Some("") if no_redirect => "",
        None | Some("") => return Err("Missing redirect_url".into()),
        Some(u) if !is_absolute_http_url(u) => return Err("Invalid redirect_url".into()),
        Some(u) => u,
    };
    let platform = match platform {
        None | Some("") => return Err("Missing platform".into()),
        Some(p) => Platform::parse(p).ok_or_else(|| unsupported(p))?,
    };
    Ok(ConnectionRequest {
        platform,
        redirect_url: redirect_url.to_string(),
        refresh_connection,
    })
}

/// "Unsupported platform", saying which platforms this server has, and whether the one asked
/// for is a platform the SDKs know that is just not here yet.
fn unsupported(p: &str) -> String {
    let names = Platform::names();
    if super::platform::NOT_YET.contains(&p) {
        format!("Unsupported platform: {p} is not available on this server yet (available: {names})")
    } else {
        let shown: String = p.chars().take(40).collect();
        format!("Unsupported platform: {shown:?} is not a platform (available: {names})")
    }
}

/// When a fresh set of tokens stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// The access token's expiry: when a refresh is due.
    pub access_expires_at_ms: Option<i64>,
    /// When the connection dies without the user (what the API shows as `expires_at`):
    /// the refresh token's expiry where the platform gives one; the access token's where the
    /// token renews itself (Meta) or cannot be renewed; none for non-expiring refresh tokens.
    pub expires_at_ms: Option<i64>,
}

pub fn expiry(
    platform: Platform,
    now_ms: i64,
    expires_in_s: Option<i64>,
    refresh_expires_in_s: Option<i64>,
    has_refresh_token: bool,
) -> Expiry {
    let at = |s: i64| now_ms.saturating_add(s.saturating_mul(1000));
    let access = expires_in_s.filter(|s| *s > 0).map(at);
    let self_renewing = matches!(platform, Platform::Facebook | Platform::Instagram | Platform::Threads);
    let expires = match refresh_expires_in_s.filter(|s| *s > 0) {
        Some(r) if has_refresh_token => Some(at(r)),
        _ if self_renewing || !has_refresh_token => access,
        _ => None,
    };
    Expiry {
        access_expires_at_ms: access,
        expires_at_ms: expires,
    }
}

/// Adds `params` to a URL's query string, keeping what is there (and any fragment).
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(params.iter().copied());
            u.into()
        }
        Err(_) => base.to_string(),
    }
}

fn is_absolute_http_url(s: &str) -> bool {
    s.len() <= MAX_REDIRECT_URL_LEN && REDIRECT_URL_RE.is_match(s) && url::Url::parse(s).is_ok()
}

/// Whether a connected profile can publish: `active`, or `expired` (the user must reconnect: its
/// tokens ran out or were refused) or `inactive` (the user withdrew the app's access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStatus {
    Active,
    Expired,
    Inactive,
}

impl ProfileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileStatus::Active => "active",
            ProfileStatus::Expired => "expired",
            ProfileStatus::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<ProfileStatus> {
        [ProfileStatus::Active, ProfileStatus::Expired, ProfileStatus::Inactive]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_in_documented_order() {
        let err = |r: Result<ConnectionRequest, String>| r.unwrap_err();
        assert_eq!(err(validate(None, None, false, false)), "Missing redirect_url");
        assert_eq!(
            err(validate(Some("bogus"), Some(""), false, false)),
            "Missing redirect_url"
        );
        assert_eq!(
            err(validate(None, Some("/relative"), false, false)),
            "Invalid redirect_url"
        );
        assert_eq!(
            err(validate(None, Some("https://a.example/cb"), false, false)),
            "Missing platform"
        );
        assert_eq!(
            err(validate(Some("myspace"), Some("https://a.example/cb"), false, false)),
            "Unsupported platform: \"myspace\" is not a platform \
             (available: facebook, instagram, tiktok, linkedin, youtube, twitter, threads, telegram, bluesky)"
        );
        assert!(
            err(validate(Some("pinterest"), Some("https://a.example/cb"), false, false)).starts_with(
                "Unsupported platform: pinterest is not available on this server yet (available: facebook,"
            )
        );
        let ok = validate(Some("instagram"), Some("https://a.example/cb?x=1"), true, false).unwrap();
        assert_eq!(ok.platform, Platform::Instagram);
        assert!(ok.refresh_connection);
    }

    #[test]
    fn force_no_redirect_makes_the_redirect_optional_but_still_checks_one_given() {
        let ok = validate(Some("threads"), None, false, true).unwrap();
        assert_eq!(ok.redirect_url, "");
        assert_eq!(
            validate(Some("threads"), Some("nope"), false, true).unwrap_err(),
            "Invalid redirect_url"
        );
        assert_eq!(validate(None, None, false, true).unwrap_err(), "Missing platform");
    }

    #[test]
    fn expiry_rules() {
        let now = 1_000_000;
        // X: 2-hour access token, non-expiring rotating refresh token.
        let e = expiry(Platform::Twitter, now, Some(7200), None, true);
        assert_eq!(e.access_expires_at_ms, Some(now + 7_200_000));
        assert_eq!(e.expires_at_ms, None);
        // TikTok: the refresh token's own expiry.
        let e = expiry(Platform::Tiktok, now, Some(86400), Some(31_536_000), true);
        assert_eq!(e.expires_at_ms, Some(now + 31_536_000_000));
        // Meta: the long-lived token renews itself, so its expiry is the connection's.
        let e = expiry(Platform::Instagram, now, Some(5_184_000), None, false);
        assert_eq!(e.expires_at_ms, e.access_expires_at_ms);
        // LinkedIn without programmatic refresh: dies with the access token.
        let e = expiry(Platform::Linkedin, now, Some(5_184_000), None, false);
        assert_eq!(e.expires_at_ms, Some(now + 5_184_000_000));
    }

    #[test]
    fn appends_query_parameters() {
        assert_eq!(
            with_query(
                "https://a.example/cb?x=1#frag",
                &[("status", "success"), ("profile_id", "p 1")]
            ),
            "https://a.example/cb?x=1&status=success&profile_id=p+1#frag"
        );
    }

    #[test]
    fn only_absolute_http_urls() {
        for bad in [
            "ftp://a.example/x",
            "javascript:alert(1)",
            "https://",
            "mailto:a@b.c",
            "https://user:pw@a.example/",
            "https://a.example/\nx",
            " https://a.example/",
            "HTTPS://a.example/",
            "https://exa_mple.com/",
            "https://a.example:99999/",
            "https://a.example:65536/",
        ] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
        for good in [
            "http://localhost:3000/cb",
            "https://myapp.com/oauth/callback?x=1#f",
            "http://127.0.0.1:45123/done?ref=42",
            "https://a.example:65535/",
        ] {
            assert!(is_absolute_http_url(good), "{good}");
        }
    }
}
