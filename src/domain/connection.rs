//! Rules for starting a connection (an OAuth invitation) in a profile group.

use super::platform::Platform;

/// How long an invitation URL stays usable.
pub const INVITATION_TTL_MS: i64 = 60 * 60 * 1000;
const MAX_REDIRECT_URL_LEN: usize = 2048;

/// A validated `initialize_connection` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequest {
    pub platform: Platform,
    pub redirect_url: String,
    pub refresh_connection: bool,
}

/// Validates the raw fields in the order the API documents its errors; the error is the
/// message for a 422 `{"error": …}`.
pub fn validate(
    platform: Option<&str>,
    redirect_url: Option<&str>,
    refresh_connection: bool,
) -> Result<ConnectionRequest, &'static str> {
    let redirect_url = match redirect_url.map(str::trim) {
        None | Some("") => return Err("Missing redirect_url"),
        Some(u) => u,
    };
    if !is_absolute_http_url(redirect_url) {
        return Err("Invalid redirect_url");
    }
    let platform = match platform.map(str::trim) {
        None | Some("") => return Err("Missing platform"),
        Some(p) => Platform::parse(p).ok_or("Unsupported platform")?,
    };
    Ok(ConnectionRequest {
        platform,
        redirect_url: redirect_url.to_string(),
        refresh_connection,
    })
}

fn is_absolute_http_url(s: &str) -> bool {
    if s.len() > MAX_REDIRECT_URL_LEN || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    match url::Url::parse(s) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_in_documented_order() {
        assert_eq!(validate(None, None, false), Err("Missing redirect_url"));
        assert_eq!(
            validate(Some("bogus"), Some(""), false),
            Err("Missing redirect_url")
        );
        assert_eq!(
            validate(None, Some("/relative"), false),
            Err("Invalid redirect_url")
        );
        assert_eq!(
            validate(None, Some("https://a.example/cb"), false),
            Err("Missing platform")
        );
        assert_eq!(
            validate(Some("myspace"), Some("https://a.example/cb"), false),
            Err("Unsupported platform")
        );
        let ok = validate(Some("instagram"), Some("https://a.example/cb?x=1"), true).unwrap();
        assert_eq!(ok.platform, Platform::Instagram);
        assert!(ok.refresh_connection);
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
        ] {
            assert!(!is_absolute_http_url(bad), "{bad}");
        }
        for good in [
            "http://localhost:3000/cb",
            "https://myapp.com/oauth/callback?x=1#f",
        ] {
            assert!(is_absolute_http_url(good), "{good}");
        }
    }
}
