//! Threads: text, image and carousel containers, reply chains.

use super::meta_graph;
use super::publish::{Account, Failure, Item, Lookup, Published, SendGuard};
use super::{App, ClientAuth, Code, Connect, Counting, Held, Identity, Network, OAuthSpec, Rules, Spec, TokenSet};
use crate::domain::platform::Platform;
use crate::domain::rules::MB;

/// Threads: a Threads profile.
pub struct Threads;

pub const SPEC: Spec = Spec {
    platform: Platform::Threads,
    authorize_url: "https://threads.net/oauth/authorize",
    token_url: "https://graph.threads.net/oauth/access_token",
    api_url: "https://graph.threads.net",
    // threads_delete: delete_on_platform.
    scopes: &["threads_basic", "threads_content_publish", "threads_delete"],
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
    can_delete: true,
    rules: Rules {
        text_limit: 500,
        counting: Counting::EmojiBytes,
        caption_limit: None,
        max_images: 20,
        image_types: &["image/jpeg", "image/png"],
        max_image_bytes: 8 * MB,
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
impl Network for Threads {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn exchange_code(&self, app: App<'_>, code: Code<'_>) -> Result<TokenSet, Failure> {
        meta_graph::login_exchange(app, code, "th_exchange_token").await
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        meta_graph::login_identity(app, tokens, "/v1.0/me", &["id"], "threads_profile_picture_url").await
    }
    async fn refresh(&self, app: App<'_>, held: Held<'_>) -> Result<TokenSet, Failure> {
        meta_graph::renew(app, held.access_token, "th_refresh_token").await
    }
    /// Threads text post: container → wait until it is `FINISHED` → `threads_publish` → permalink.
    /// A thread part replies to the previous part's media id.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let p = Platform::Threads;
        let api = &account.cfg.api_url;
        check_quota(http, account, item.reply_to.is_some()).await?;
        let make = |fields: Vec<(&'static str, String)>| {
            let mut form = fields;
            form.push(("access_token", account.token.clone()));
            async move {
                let answer = publish::send(
                    p,
                    http.post(format!("{api}/{}/threads", account.user_id)).form(&form),
                    false,
                )
                .await?;
                if !answer.ok() {
                    return Err(classify(p, &answer, false));
                }
                publish::id_of(&answer.body["id"])
                    .ok_or_else(|| Failure::protocol(p, "no id in the answer to POST /{user}/threads"))
            }
        };
        let threads = item.params.threads.as_ref();
        let alt_text = threads.and_then(|t| t.alt_text.clone());
        let with_alt = |mut f: Vec<(&'static str, String)>| {
            if let Some(alt) = &alt_text {
                f.push(("alt_text", alt.clone()));
            }
            f
        };
        let mut fields: Vec<(&'static str, String)> = match item.media {
            [] => vec![("media_type", "TEXT".into())],
            [image] => with_alt(vec![("media_type", "IMAGE".into()), ("image_url", image.url.clone())]),
            images => {
                let mut children = Vec::new();
                for image in images {
                    let id = make(with_alt(vec![
                        ("media_type", "IMAGE".into()),
                        ("image_url", image.url.clone()),
                        ("is_carousel_item", "true".into()),
                    ]))
                    .await?;
                    wait_for_container(http, account, &id, "status").await?;
                    children.push(id);
                }
                vec![("media_type", "CAROUSEL".into()), ("children", children.join(","))]
            }
        };
        if !item.text.is_empty() {
            fields.push(("text", item.text.to_string()));
        }
        if let Some(parent) = item.reply_to {
            fields.push(("reply_to_id", parent.to_string()));
        } else if let Some(tag) = threads.and_then(|t| t.topic_tag.as_deref()) {
            // The topic belongs to the post that opens the thread.
            fields.push(("topic_tag", tag.to_string()));
        }
        let container_id = make(fields).await?;
        wait_for_container(http, account, &container_id, "status").await?;
        guard.arm(Some(&container_id)).await?;
        let published = publish::send(
            p,
            http.post(format!("{api}/{}/threads_publish", account.user_id)).form(&[
                ("creation_id", container_id.as_str()),
                ("access_token", account.token.as_str()),
            ]),
            true,
        )
        .await?;
        if !published.ok() {
            return Err(classify(p, &published, true));
        }
        let id = publish::id_of(&published.body["id"])
            .ok_or_else(|| Failure::protocol(p, "no id in the answer to POST /{user}/threads_publish"))?;
        // The post is live; a missing permalink is no reason to fail it.
        let permalink = read_field(http, account, &id, "permalink").await;
        Ok(Published {
            note: None,
            id,
            permalink,
        })
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
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let http = &account.http;
        meta_graph::delete(http, account, id).await
    }
}

// ---- OAuth: a form exchange, then a long-lived token that renews itself ---------------------

// ---- publishing -----------------------------------------------------------------------------

use super::meta_graph::{check_quota, classify, read_field, wait_for_container};
use super::publish;
