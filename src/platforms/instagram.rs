//! Instagram (Instagram Login): containers from pulled image URLs, then `media_publish`.

use super::meta_graph;
use super::publish::{Account, Failure, Item, Lookup, Published, SendGuard};
use super::{App, ClientAuth, Code, Connect, Counting, Held, Identity, Network, OAuthSpec, Rules, Spec, TokenSet};
use crate::domain::platform::Platform;
use crate::domain::rules::MB;

/// Instagram: Business and Creator accounts, through Instagram Login.
pub struct Instagram;

pub const SPEC: Spec = Spec {
    platform: Platform::Instagram,
    authorize_url: "https://www.instagram.com/oauth/authorize",
    token_url: "https://api.instagram.com/oauth/access_token",
    api_url: "https://graph.instagram.com",
    // manage_comments: the post's first_comment.
    scopes: &[
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
    ],
    connect: Connect::OAuth2(OAuthSpec {
        client_id_param: "client_id",
        scope_separator: ",",
        pkce: false,
        extra_authorize_params: &[],
        client_auth: ClientAuth::Body,
    }),
    // Long-lived tokens (≈60 days) that renew themselves.
    refresh_lead: std::time::Duration::from_secs(7 * 24 * 3600),
    self_renewing: true,
    can_look_up: true,
    can_delete: false,
    rules: Rules {
        text_limit: 2_200,
        counting: Counting::Chars,
        caption_limit: None,
        max_images: 10,
        image_types: &["image/jpeg"],
        max_image_bytes: 8 * MB,
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
impl Network for Instagram {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn exchange_code(&self, app: App<'_>, code: Code<'_>) -> Result<TokenSet, Failure> {
        meta_graph::login_exchange(app, code, "ig_exchange_token").await
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        meta_graph::login_identity(app, tokens, "/me", &["user_id", "id"], "profile_picture_url").await
    }
    async fn refresh(&self, app: App<'_>, held: Held<'_>) -> Result<TokenSet, Failure> {
        meta_graph::renew(app, held.access_token, "ig_refresh_token").await
    }
    /// Instagram (Instagram Login): one image or a carousel of 2–10. Containers are created from our
    /// signed URLs (Instagram pulls the files), each waited on until `FINISHED`, then published;
    /// `first_comment` follows as a comment (a failure there does not unpublish the post).
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let p = Platform::Instagram;
        let ig = item.params.instagram.as_ref();
        let api = &account.cfg.api_url;
        let user = &account.user_id;
        let create = |body: Value| async move {
            let answer = publish::send(
                p,
                http.post(format!("{api}/{user}/media"))
                    .query(&[("access_token", account.token.as_str())])
                    .json(&body),
                false,
            )
            .await?;
            if !answer.ok() {
                return Err(classify(p, &answer, false));
            }
            publish::id_of(&answer.body["id"])
                .ok_or_else(|| Failure::protocol(p, "no id in the answer to POST /{user}/media"))
        };
        let container = match item.media {
            [] => {
                return Err(
                    Failure::new(FailureKind::Refused, "Instagram posts need an image or a video")
                        .note("Add media to the post."),
                );
            }
            [image] => {
                check_quota(http, account, false).await?;
                let mut body = json!({"image_url": image.url, "caption": item.text});
                extend_instagram(&mut body, ig, true);
                create(body).await?
            }
            images => {
                check_quota(http, account, false).await?;
                let mut children = Vec::new();
                for image in images {
                    let mut body = json!({"image_url": image.url, "is_carousel_item": true});
                    extend_instagram(&mut body, ig, false);
                    children.push(create(body).await?);
                }
                for child in &children {
                    wait_for_container(http, account, child, "status_code").await?;
                }
                let mut body = json!({"media_type": "CAROUSEL", "children": children.join(","), "caption": item.text});
                if let Some(c) = ig.and_then(|p| p.collaborators.as_ref()) {
                    body["collaborators"] = json!(c);
                }
                create(body).await?
            }
        };
        wait_for_container(http, account, &container, "status_code").await?;
        guard.arm(Some(&container)).await?;
        let published = publish::send(
            p,
            http.post(format!("{api}/{user}/media_publish"))
                .query(&[("access_token", account.token.as_str())])
                .json(&json!({ "creation_id": container })),
            true,
        )
        .await?;
        if !published.ok() {
            return Err(classify(p, &published, true));
        }
        let id = publish::id_of(&published.body["id"])
            .ok_or_else(|| Failure::protocol(p, "no id in the answer to POST /{user}/media_publish"))?;
        let note = match ig.and_then(|p| p.first_comment.as_deref()).filter(|c| !c.is_empty()) {
            Some(comment) => {
                first_comment(
                    http,
                    p,
                    api,
                    &id,
                    &account.token,
                    comment,
                    "instagram_business_manage_comments",
                )
                .await
            }
            None => None,
        };
        let permalink = read_field(http, account, &id, "permalink").await;
        Ok(Published { note, id, permalink })
    }
    async fn look_up(
        &self,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let http = &account.http;
        meta_graph::lookup_container(http, account, item, since_ms, reference).await
    }
}

// ---- OAuth: a form exchange, then a long-lived token that renews itself ---------------------

// ---- publishing -----------------------------------------------------------------------------

use serde_json::{Value, json};

use super::meta_graph::{check_quota, classify, first_comment, read_field, wait_for_container};
use super::publish::{self, FailureKind};
use crate::domain::post::InstagramParams;

/// An Instagram image container's optional keys: `alt_text` on every image, `collaborators` on
/// the container that is published (`top`).
fn extend_instagram(body: &mut Value, params: Option<&InstagramParams>, top: bool) {
    if let Some(alt) = params.and_then(|p| p.alt_text.as_deref()) {
        body["alt_text"] = json!(alt);
    }
    if top && let Some(c) = params.and_then(|p| p.collaborators.as_ref()) {
        body["collaborators"] = json!(c);
    }
}
