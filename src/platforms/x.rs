//! X (Twitter) OAuth 2.0: a confidential client authenticates with HTTP Basic, PKCE is
//! mandatory, and refresh tokens rotate (the old one dies on use).

use super::{App, ClientAuth, Identity, TokenSet, send_json, str_field};

use super::{Connect, Counting, Network, OAuthSpec, Rules, Spec};
use crate::domain::rules::MB;

/// X (Twitter): OAuth 2 with PKCE, API v2.
pub struct X;

pub const SPEC: Spec = Spec {
    platform: Platform::Twitter,
    authorize_url: "https://x.com/i/oauth2/authorize",
    token_url: "https://api.x.com/2/oauth2/token",
    api_url: "https://api.x.com",
    scopes: &[
        "tweet.read",
        "tweet.write",
        "users.read",
        "offline.access",
        "media.write",
    ],
    connect: Connect::OAuth2(OAuthSpec {
        client_id_param: "client_id",
        scope_separator: " ",
        pkce: true,
        extra_authorize_params: &[],
        client_auth: ClientAuth::Basic,
    }),
    refresh_lead: std::time::Duration::from_secs(15 * 60),
    self_renewing: false,
    can_look_up: true,
    can_delete: true,
    rules: Rules {
        text_limit: 280,
        counting: Counting::XWeighted,
        caption_limit: None,
        max_images: 4,
        image_types: &["image/jpeg", "image/png", "image/gif", "image/webp"],
        max_image_bytes: 5 * MB,
        video_types: &[],
        max_video_bytes: 0,
        mixed_media: false,
        video_only: false,
        needs_media: false,
        needs_text_or_media: true,
        threads: true,
    },
};

#[async_trait::async_trait]
impl Network for X {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let App { http, cfg } = app;
        let body = send_json(
            http.get(format!("{}/2/users/me", cfg.api_url))
                .query(&[("user.fields", "profile_image_url")])
                .bearer_auth(&tokens.access_token),
        )
        .await?;
        let data = &body["data"];
        Ok(Identity {
            external_id: super::required(&data["id"], "id")?,
            name: str_field(&data["name"]).unwrap_or_default(),
            username: str_field(&data["username"]),
            avatar_url: str_field(&data["profile_image_url"]),
            placements: vec![],
        })
    }
    async fn revoke(&self, app: App<'_>, access_token: &str) -> Result<(), Failure> {
        let url = format!("{}/2/oauth2/revoke", app.cfg.api_url);
        super::oauth::revoke_token(app, &url, access_token, &[("token_type_hint", "access_token")]).await
    }
    /// `POST /2/tweets`; a thread part replies to the previous part.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let mut body = json!({ "text": item.text });
        if let Some(parent) = item.reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        if !item.media.is_empty() {
            let mut ids = Vec::new();
            for file in item.media {
                ids.push(upload_image(http, account, file).await?);
            }
            body["media"] = json!({ "media_ids": ids });
        }
        guard.arm(None).await?;
        let answer = publish::send(
            Platform::Twitter,
            http.post(format!("{}/2/tweets", account.cfg.api_url))
                .bearer_auth(&account.token)
                .json(&body),
            true,
        )
        .await?;
        if !answer.ok() {
            return Err(classify(&answer, true));
        }
        let id = publish::id_of(&answer.body["data"]["id"])
            .ok_or_else(|| Failure::protocol(Platform::Twitter, "no data.id in the answer to POST /2/tweets"))?;
        Ok(Published {
            note: None,
            permalink: Some(permalink(account.username.as_deref(), &id)),
            id,
        })
    }
    /// Looks for the item among the account's posts since `since_ms` (`GET /2/users/:id/tweets`):
    /// same text, and for a thread part, a reply to the same post.
    async fn look_up(
        &self,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        _reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let http = &account.http;
        // X refuses a start before its own epoch (2010-11-04).
        let since_ms = since_ms.max(1_288_834_974_657);
        let start = crate::clock::iso8601(since_ms - since_ms.rem_euclid(1000));
        // X wants whole seconds: `2024-01-15T10:30:00Z`.
        let start = format!("{}Z", &start[..19]);
        let answer = publish::send(
            Platform::Twitter,
            http.get(format!("{}/2/users/{}/tweets", account.cfg.api_url, account.user_id))
                .query(&[
                    ("start_time", start.as_str()),
                    ("max_results", "100"),
                    ("tweet.fields", "created_at,referenced_tweets"),
                ])
                .bearer_auth(&account.token),
            false,
        )
        .await?;
        if !answer.ok() {
            return publish::lookup_refused(
                classify(&answer, false),
                "X did not let postproxy read the account's recent posts",
            );
        }
        let found = answer.body["data"].as_array().into_iter().flatten().find(|t| {
            let replies_to = t["referenced_tweets"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["type"] == "replied_to")
                .and_then(|r| r["id"].as_str());
            t["text"]
                .as_str()
                .is_some_and(|text| publish::same_text(item.text, text))
                && (item.reply_to.is_none() || replies_to == item.reply_to)
        });
        Ok(match found.and_then(|t| publish::id_of(&t["id"])) {
            Some(id) => Lookup::Found(Published {
                note: None,
                permalink: Some(permalink(account.username.as_deref(), &id)),
                id,
            }),
            None => Lookup::Absent,
        })
    }
    /// `DELETE /2/tweets/:id`.
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let http = &account.http;
        let answer = publish::send(
            Platform::Twitter,
            http.delete(format!("{}/2/tweets/{id}", account.cfg.api_url))
                .bearer_auth(&account.token),
            false,
        )
        .await?;
        if answer.ok() || answer.status == 404 {
            return Ok(());
        }
        Err(classify(&answer, false))
    }
}

// ---- publishing (API v2) --------------------------------------------------------------------

use std::time::Duration;

use serde_json::{Value, json};

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, Lookup, Published, SendGuard};
use crate::domain::platform::Platform;

/// One-shot v2 upload of an image (`POST /2/media/upload`, multipart): its media id. An
/// uploaded image that is never used expires on its own, so this part may be redone.
async fn upload_image(http: &reqwest::Client, account: &Account, file: &publish::MediaFile) -> Result<String, Failure> {
    let p = Platform::Twitter;
    let bytes = publish::read_file(p, &account.storage, file).await?;
    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name("media")
        .mime_str(&file.content_type)
        .map_err(|_| {
            Failure::new(
                FailureKind::Refused,
                format!("X cannot take a file of type {}", file.content_type),
            )
        })?;
    let form = reqwest::multipart::Form::new()
        .text("media_category", "tweet_image")
        .text("media_type", file.content_type.clone())
        .part("media", part);
    let answer = publish::send(
        p,
        http.post(format!("{}/2/media/upload", account.cfg.api_url))
            .bearer_auth(&account.token)
            .multipart(form),
        false,
    )
    .await?;
    if !answer.ok() {
        return Err(classify(&answer, false));
    }
    publish::id_of(&answer.body["data"]["id"])
        .ok_or_else(|| Failure::protocol(p, "no data.id in the answer to POST /2/media/upload"))
}

/// `https://x.com/<username>/status/<id>`; `i/web` works without a username.
pub fn permalink(username: Option<&str>, id: &str) -> String {
    match username {
        Some(u) if !u.is_empty() => format!("https://x.com/{u}/status/{id}"),
        _ => format!("https://x.com/i/web/status/{id}"),
    }
}

/// Reads both of X's error shapes (RFC 7807 problems and `{"errors":[…]}`). `created` tells
/// whether the request may have created a post, which makes a 5xx an unknown outcome.
pub fn classify(answer: &Answer, creates: bool) -> Failure {
    let b = &answer.body;
    let text = |v: &Value| v.as_str().map(str::to_string);
    // The most specific words first: `errors[0].message` ("The Tweet contains an invalid URL.")
    // over the problem's generic `detail` ("One or more parameters … was invalid.").
    let message = text(&b["errors"][0]["message"])
        .or_else(|| text(&b["detail"]))
        .or_else(|| text(&b["title"]))
        .unwrap_or_else(|| format!("HTTP {}", answer.status));
    let title = text(&b["title"]).or_else(|| text(&b["type"]));
    let code = title
        .clone()
        .or_else(|| b["errors"][0]["code"].as_i64().map(|c| c.to_string()));
    let message = publish::excerpt(&message);
    let failure = |kind| Failure::new(kind, message.clone()).code(code.clone());
    match answer.status {
        401 => failure(FailureKind::TokenRejected),
        429 => {
            let capped = title
                .as_deref()
                .is_some_and(|t| t.contains("UsageCap") || t.contains("usage-capped"));
            let reset = answer
                .header("x-rate-limit-reset")
                .and_then(|s| s.parse::<i64>().ok())
                .map(|at| Duration::from_secs((at - crate::clock::now_ms() / 1000).clamp(1, 24 * 3600) as u64));
            if capped {
                failure(FailureKind::Refused).note(
                    "The X app has used up its API plan's posting allowance for this period. \
                     Raise the plan in the X developer portal, or wait for the period to reset.",
                )
            } else {
                failure(FailureKind::Transient)
                    .retry_after(reset.or_else(|| publish::retry_after_header(&answer.headers)))
                    .note("X's rate limit for this account was reached; postproxy retries after the limit resets.")
            }
        }
        403 if message.to_ascii_lowercase().contains("duplicate content") => failure(FailureKind::Refused).note(
            "X refuses a post whose text matches one of the account's recent posts. Change the text and post again.",
        ),
        403 if message.contains("Unsupported Authentication") => failure(FailureKind::TokenRejected),
        403 => failure(FailureKind::Refused).note(
            "X refused the post for this account (its app permissions, plan or reply restrictions). \
             The message above is X's own.",
        ),
        status => publish::by_status(Platform::Twitter, failure(FailureKind::Refused), status, creates),
    }
}

#[cfg(test)]
mod publish_tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: Default::default(),
            body,
        }
    }

    #[test]
    fn classifies_x_errors() {
        let dup = json!({"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403});
        let f = classify(&answer(403, dup), true);
        assert_eq!(f.kind, FailureKind::Refused);
        assert!(f.message.contains("duplicate content"));
        assert_eq!(
            classify(&answer(401, json!({"title":"Unauthorized"})), true).kind,
            FailureKind::TokenRejected
        );
        assert_eq!(
            classify(&answer(429, json!({"title":"Too Many Requests"})), true).kind,
            FailureKind::Transient
        );
        assert_eq!(
            classify(
                &answer(
                    429,
                    json!({"title":"UsageCapExceeded","type":"https://api.twitter.com/2/problems/usage-capped"})
                ),
                true
            )
            .kind,
            FailureKind::Refused
        );
        assert_eq!(classify(&answer(503, Value::Null), true).kind, FailureKind::Unknown);
        let invalid = json!({"errors":[{"parameters":{"text":["x"]},"message":"The Tweet contains an invalid URL."}],
            "title":"Invalid Request","detail":"One or more parameters to your request was invalid.",
            "type":"https://api.twitter.com/2/problems/invalid-request"});
        let f = classify(&answer(400, invalid), true);
        assert_eq!(f.message, "The Tweet contains an invalid URL.");
        assert_eq!(f.kind, FailureKind::Refused);
        assert_eq!(classify(&answer(503, Value::Null), false).kind, FailureKind::Transient);
        assert_eq!(permalink(Some("acme"), "1"), "https://x.com/acme/status/1");
        assert_eq!(permalink(None, "1"), "https://x.com/i/web/status/1");
    }
}
