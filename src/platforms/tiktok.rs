//! TikTok Login Kit: the client id is called `client_key`, scopes are comma-separated, and the
//! user-info answer wraps data and an error object in one envelope.

use super::{App, ClientAuth, Identity, TokenSet, send_json, str_field};

use super::{Connect, Counting, Network, OAuthSpec, Rules, Spec};
use crate::domain::rules::MB;

/// TikTok: `client_key` instead of `client_id`, the Content Posting API.
pub struct Tiktok;

pub const SPEC: Spec = Spec {
    platform: Platform::Tiktok,
    authorize_url: "https://www.tiktok.com/v2/auth/authorize/",
    token_url: "https://open.tiktokapis.com/v2/oauth/token/",
    api_url: "https://open.tiktokapis.com",
    scopes: &["user.info.basic", "user.info.profile", "video.publish", "video.upload"],
    connect: Connect::OAuth2(OAuthSpec {
        client_id_param: "client_key",
        scope_separator: ",",
        pkce: false,
        extra_authorize_params: &[],
        client_auth: ClientAuth::Body,
    }),
    refresh_lead: std::time::Duration::from_secs(2 * 3600),
    self_renewing: false,
    can_look_up: true,
    can_delete: false,
    rules: Rules {
        text_limit: 4_000,
        counting: Counting::Chars,
        caption_limit: None,
        max_images: 35,
        image_types: &["image/jpeg", "image/webp"],
        max_image_bytes: 20 * MB,
        video_types: &[],
        max_video_bytes: 0,
        mixed_media: false,
        video_only: false,
        needs_media: true,
        needs_text_or_media: false,
        threads: false,
    },
};

#[async_trait::async_trait]
impl Network for Tiktok {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let App { http, cfg } = app;
        let body = send_json(
            http.get(format!("{}/v2/user/info/", cfg.api_url))
                .query(&[("fields", "open_id,union_id,avatar_url,display_name,username")])
                .bearer_auth(&tokens.access_token),
        )
        .await?;
        if let Some(code) = body["error"]["code"].as_str().filter(|c| *c != "ok") {
            return Err(Failure::new(FailureKind::Refused, format!("user info error {code}")));
        }
        let user = &body["data"]["user"];
        let username = str_field(&user["username"]);
        Ok(Identity {
            external_id: super::required(&user["open_id"], "open_id")?,
            name: str_field(&user["display_name"])
                .or_else(|| username.clone())
                .unwrap_or_default(),
            username,
            avatar_url: str_field(&user["avatar_url"]),
            placements: vec![],
        })
    }
    async fn revoke(&self, app: App<'_>, access_token: &str) -> Result<(), Failure> {
        let url = format!("{}/v2/oauth/revoke/", app.cfg.api_url);
        super::oauth::revoke_token(app, &url, access_token, &[]).await
    }
    /// Photo post (pull-only): `creator_info` first (the privacy level must be one the creator
    /// allows), then `content/init` with our signed URLs, then `status/fetch` until it is public.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        if item.media.is_empty() {
            return Err(
                Failure::new(FailureKind::Refused, "TikTok posts need photos or a video")
                    .note("Add media to the post."),
            );
        }
        let creator = call(http, account, "/v2/post/publish/creator_info/query/", &json!({}), false).await?;
        let tiktok = item.params.tiktok.as_ref();
        let privacy = tiktok
            .and_then(|t| t.privacy_status)
            .map_or("SELF_ONLY", |p| p.as_str());
        let allowed: Vec<&str> = creator.body["data"]["privacy_level_options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !allowed.contains(&privacy) {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "This TikTok account does not allow privacy level {privacy}; it allows {}",
                    allowed.join(", ")
                ),
            )
            .code(Some("privacy_level_option_mismatch".into()))
            .note("Set platforms.tiktok.privacy_status to one of the levels the account allows."));
        }
        let username = creator.body["data"]["creator_username"].as_str().map(str::to_string);
        let title = tiktok
            .and_then(|t| t.title.clone())
            .unwrap_or_else(|| item.text.chars().take(90).collect());
        let body = json!({
            "media_type": "PHOTO",
            "post_mode": "DIRECT_POST",
            "post_info": {
                "title": title,
                "description": item.text,
                "privacy_level": privacy,
                "disable_comment": tiktok.and_then(|t| t.disable_comment).is_some_and(|f| f.0),
                "auto_add_music": tiktok.and_then(|t| t.auto_add_music).is_none_or(|f| f.0),
            },
            "source_info": {
                "source": "PULL_FROM_URL",
                "photo_cover_index": tiktok.and_then(|t| t.photo_cover_index).map_or(0, |i| i.0.max(0)),
                "photo_images": item.media.iter().map(|m| m.url.as_str()).collect::<Vec<_>>(),
            },
        });
        guard.arm(None).await?;
        let init = call(http, account, "/v2/post/publish/content/init/", &body, true).await?;
        let publish_id = init.body["data"]["publish_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Failure::protocol(Platform::Tiktok, "no data.publish_id in the answer to content/init"))?;
        // From here the post exists on TikTok; what is left is waiting for its id. The publish_id
        // is kept with the send, so an interruption from here on can be looked up.
        guard.remember(&publish_id).await;
        let started = tokio::time::Instant::now();
        let mut pause = account.poll;
        loop {
            let status = fetch_status(http, account, &publish_id).await;
            let status = match status {
                Ok(s) => s,
                Err(f) if f.kind == FailureKind::Transient && started.elapsed() < STATUS_DEADLINE => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                Err(f) => {
                    return Err(Failure {
                        kind: FailureKind::Unknown,
                        ..f
                    });
                }
            };
            let data = &status.body["data"];
            match data["status"].as_str().unwrap_or("") {
                "PUBLISH_COMPLETE" => return Ok(completed(data, &publish_id, username.as_deref())),
                "FAILED" => {
                    let reason = data["fail_reason"].as_str().unwrap_or("unknown");
                    return Err(Failure::new(
                        FailureKind::Refused,
                        format!("TikTok could not publish the post: {reason}"),
                    )
                    .code(Some(reason.to_string()))
                    .note("TikTok pulls photos from this server's public URL; JPEG or WebP up to 1080p only."));
                }
                _ => {}
            }
            if started.elapsed() + pause > STATUS_DEADLINE {
                return Err(Failure::new(
                    FailureKind::Unknown,
                    format!(
                        "TikTok was still processing the post after {} minutes",
                        STATUS_DEADLINE.as_secs() / 60
                    ),
                )
                .note("The post may still appear on TikTok; postproxy looks it up by its publish_id before deciding anything."));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(20));
        }
    }
    /// Looks up an interrupted publish by the `publish_id` stored with it: complete → found,
    /// failed → not there, still processing → look again later.
    async fn look_up(
        &self,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let http = &account.http;
        let _ = (item, since_ms);
        let publish_id = reference;
        let Some(publish_id) = publish_id else {
            return Ok(Lookup::Unavailable(
                "the request was interrupted before TikTok named the publish".into(),
            ));
        };
        let status = fetch_status(http, account, publish_id).await?;
        let data = &status.body["data"];
        match data["status"].as_str().unwrap_or("") {
            "PUBLISH_COMPLETE" => Ok(Lookup::Found(completed(data, publish_id, account.username.as_deref()))),
            "FAILED" => Ok(Lookup::Absent),
            other => Err(Failure::new(
                FailureKind::Unknown,
                format!("TikTok is still processing the post ({other})"),
            )),
        }
    }
    fn awaits_final_id(&self, id: &str) -> bool {
        awaits_public_id(id)
    }
    /// Asks TikTok once more for the public id of a completed publish; `None` while it has none.
    async fn final_id(&self, account: &Account, provisional: &str) -> Result<Option<Published>, Failure> {
        let http = &account.http;
        let publish_id = provisional;
        let status = fetch_status(http, account, publish_id).await?;
        let found = completed(&status.body["data"], publish_id, account.username.as_deref());
        Ok((!awaits_public_id(&found.id)).then_some(found))
    }
}

// ---- publishing (Content Posting API: photo posts) ------------------------------------------

use std::time::Duration;

use serde_json::{Value, json};

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, Lookup, Published, SendGuard};
use crate::domain::platform::Platform;

/// How long TikTok may take to pull and publish the photos before we stop waiting.
const STATUS_DEADLINE: Duration = Duration::from_secs(10 * 60);

async fn call(
    http: &reqwest::Client,
    account: &Account,
    path: &str,
    body: &Value,
    creates: bool,
) -> Result<Answer, Failure> {
    let answer = publish::send(
        Platform::Tiktok,
        http.post(format!("{}{path}", account.cfg.api_url))
            .bearer_auth(&account.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(body.to_string()),
        creates,
    )
    .await?;
    let code = answer.body["error"]["code"].as_str().unwrap_or("");
    if answer.ok() && code == "ok" {
        return Ok(answer);
    }
    Err(classify(&answer, creates))
}

/// A completed publish: the public post id when TikTok has named it (an int64 number, kept
/// exact), otherwise the `publish_id` and the profile's URL until it does (see `public_id`).
fn completed(data: &Value, publish_id: &str, username: Option<&str>) -> Published {
    let id = data["publicaly_available_post_id"].get(0).and_then(publish::id_of);
    let permalink = match (&id, username) {
        (Some(id), Some(u)) => Some(format!("https://www.tiktok.com/@{u}/photo/{id}")),
        (None, Some(u)) => Some(format!("https://www.tiktok.com/@{u}")),
        _ => None,
    };
    Published {
        note: None,
        id: id.unwrap_or_else(|| publish_id.to_string()),
        permalink,
    }
}

/// `status/fetch` of one publish (the publish loop, the lookup and the public-id wait).
async fn fetch_status(http: &reqwest::Client, account: &Account, publish_id: &str) -> Result<Answer, Failure> {
    call(
        http,
        account,
        "/v2/post/publish/status/fetch/",
        &json!({"publish_id": publish_id}),
        false,
    )
    .await
}

/// Whether a published id is still TikTok's provisional `publish_id` (public ids are numbers).
pub fn awaits_public_id(id: &str) -> bool {
    !id.bytes().all(|b| b.is_ascii_digit())
}

/// TikTok's `error` object rides on every answer: classify by its `code`.
pub fn classify(answer: &Answer, creates: bool) -> Failure {
    let code = answer.body["error"]["code"].as_str().unwrap_or("").to_string();
    let message = answer.body["error"]["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("HTTP {} {code}", answer.status));
    let failure =
        |kind| Failure::new(kind, publish::excerpt(&message)).code(Some(code.clone()).filter(|c| !c.is_empty()));
    match code.as_str() {
        "access_token_invalid" | "token_not_authorized_for_specified_endpoint" => failure(FailureKind::TokenRejected),
        "rate_limit_exceeded" => failure(FailureKind::Transient).retry_after(Some(Duration::from_secs(60))),
        c if c.starts_with("spam_risk") => {
            failure(FailureKind::Refused).note("TikTok limits how often this account may post; try again later.")
        }
        "unaudited_client_can_only_post_to_private_accounts" => failure(FailureKind::Refused)
            .note("TikTok apps that have not passed TikTok's audit may only post SELF_ONLY to private accounts."),
        _ if answer.status == 429 => failure(FailureKind::Transient),
        _ => publish::by_status(Platform::Tiktok, failure(FailureKind::Refused), answer.status, creates),
    }
}
