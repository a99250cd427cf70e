//! Calls the official SDKs and the MCP server make that this server does not implement (yet):
//! answered with the one error type and a message that names the feature, instead of a bare
//! "Not found" that reads like a wrong id. The list is in the README.

use axum::extract::{FromRequestParts, Request, State};

use crate::domain::access::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The feature behind an `/api/…` path this server has no route for, if the SDKs know it.
pub fn feature(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/api/")?.trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match segments.as_slice() {
        ["posts", "stats"] => "Post stats",
        ["posts", _, "comments", ..] | ["comments", ..] => "Comments",
        ["post_queues", ..] => "Queues",
        ["webhooks", ..] => "Webhooks",
        ["chats", ..] | ["messages", ..] => "Direct messages",
        ["placements", ..] => "Account placements",
        ["uploads", ..] => "Temporary uploads",
        ["profiles", _, "stats" | "daily_stats" | "follower_history"] => "Profile stats",
        ["profiles", _, "comments", ..] => "Profile comments (Google Business reviews)",
        [
            "profiles",
            _,
            "chats" | "backfill_chats" | "chat_syncs" | "ice_breakers" | "participants",
            ..,
        ] => "Direct messages",
        ["profiles", _, "backfill_posts" | "post_syncs", ..] => "Post import",
        ["profiles", _, "assign_to_group" | "assign_placement_to_group"] => "Moving profiles between groups",
        ["profiles", _, "google_business", ..] => "Google Business management",
        ["profiles", _, "whatsapp" | "templates", ..] => "WhatsApp management",
        ["profiles", _, "facebook" | "instagram" | "resolve_mention", ..] => "Platform passthrough calls",
        _ => return None,
    })
}

/// The router's fallback: a feature this server does not have (for a caller with a valid key),
/// else the usual 404.
pub async fn fallback(State(state): State<AppState>, req: Request) -> ApiError {
    let (mut parts, _) = req.into_parts();
    let Some(feature) = feature(parts.uri.path()) else {
        return ApiError::NotFound;
    };
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(_) => ApiError::NotAvailable(feature),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::feature;

    #[test]
    fn names_the_features_the_sdks_call() {
        assert_eq!(feature("/api/posts/stats"), Some("Post stats"));
        assert_eq!(feature("/api/posts/abc/comments/9/like"), Some("Comments"));
        assert_eq!(feature("/api/profiles/p1/stats"), Some("Profile stats"));
        assert_eq!(feature("/api/webhooks/"), Some("Webhooks"));
        assert_eq!(feature("/api/post_queues/q/next_slot"), Some("Queues"));
        assert_eq!(feature("/api/profiles/p1/chats"), Some("Direct messages"));
        // Real routes and unknown paths are not features.
        assert_eq!(feature("/api/posts/abc"), None);
        assert_eq!(feature("/api/nothing"), None);
        assert_eq!(feature("/healthz"), None);
    }
}
