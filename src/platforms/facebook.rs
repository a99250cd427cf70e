//! Facebook Pages: Facebook Login for Business; the Pages become placements, published to with
//! their Page tokens.

use super::meta_graph;
use super::publish::{Account, Failure, Item, Lookup, Published, SendGuard};
use super::{
    App, ClientAuth, Code, Connect, Counting, Held, Identity, Network, OAuthSpec, ProviderConfig, Rules, Spec, TokenSet,
};
use crate::domain::platform::Platform;
use crate::domain::rules::MB;

/// Facebook: a user's Pages, each published to as the Page.
pub struct Facebook;

pub const SPEC: Spec = Spec {
    platform: Platform::Facebook,
    authorize_url: "https://www.facebook.com/v21.0/dialog/oauth",
    token_url: "https://graph.facebook.com/v21.0/oauth/access_token",
    api_url: "https://graph.facebook.com/v21.0",
    // pages_manage_engagement: first_comment, as the Page.
    scopes: &[
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "business_management",
        "pages_manage_engagement",
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
    can_delete: true,
    rules: Rules {
        text_limit: 63_206,
        counting: Counting::Chars,
        caption_limit: None,
        max_images: 10,
        image_types: &["image/jpeg", "image/png", "image/gif"],
        max_image_bytes: 4 * MB,
        video_types: &[],
        max_video_bytes: 0,
        mixed_media: false,
        video_only: false,
        needs_media: false,
        needs_text_or_media: true,
        threads: false,
    },
};

#[async_trait::async_trait]
impl Network for Facebook {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn exchange_code(&self, app: App<'_>, code: Code<'_>) -> Result<TokenSet, Failure> {
        let App { http, cfg } = app;
        let (code, redirect_uri) = (code.code, code.redirect_uri);
        // Facebook's token endpoint takes a GET with query parameters.
        let short = token_set(
            &send_json(http.get(&cfg.token_url).query(&[
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.as_str()),
                ("redirect_uri", redirect_uri),
                ("code", code),
            ]))
            .await?,
        )?;
        let mut long = long_lived(http, cfg, &short.access_token).await?;
        long.user_id = long.user_id.or(short.user_id);
        Ok(long)
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let App { http, cfg } = app;
        let token = tokens.access_token.as_str();
        let me = send_json(
            http.get(format!("{}/me", cfg.api_url))
                .query(&[("fields", "id,name,picture"), ("access_token", token)]),
        )
        .await?;
        let pages = send_json(
            http.get(format!("{}/me/accounts", cfg.api_url))
                .query(&[("fields", "id,name,access_token,picture"), ("access_token", token)]),
        )
        .await?;
        let placements = pages["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| {
                        Some(PlacementInfo {
                            external_id: str_field(&p["id"])?,
                            name: str_field(&p["name"]).unwrap_or_default(),
                            avatar_url: str_field(&p["picture"]["data"]["url"]),
                            access_token: str_field(&p["access_token"]),
                            username: None,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Identity {
            external_id: super::required(&me["id"], "id")?,
            name: str_field(&me["name"]).unwrap_or_default(),
            username: None,
            avatar_url: str_field(&me["picture"]["data"]["url"]),
            placements,
        })
    }
    async fn refresh(&self, app: App<'_>, held: Held<'_>) -> Result<TokenSet, Failure> {
        let App { http, cfg } = app;
        let access_token = held.access_token;
        // A long-lived Facebook user token is renewed by exchanging it again.
        long_lived(http, cfg, access_token).await
    }
    /// Removes the app's permissions for the user.
    async fn revoke(&self, app: App<'_>, access_token: &str) -> Result<(), Failure> {
        let App { http, cfg } = app;
        send_json(
            http.delete(format!("{}/me/permissions", cfg.api_url))
                .query(&[("access_token", access_token)]),
        )
        .await
        .map(|_| ())
    }
    /// Facebook Page feed post: `POST /{page-id}/feed` with the Page token; `fields` on the create
    /// returns the permalink in the same round trip.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let page = account.placement.as_ref().ok_or_else(|| {
            Failure::new(FailureKind::Refused, "No Facebook Page was chosen for this post").note(
                "Set platforms.facebook.page_id to one of the profile's Pages (GET /api/profiles/:id/placements).",
            )
        })?;
        let token = page.token.as_deref().ok_or_else(|| {
            Failure::new(
                FailureKind::TokenRejected,
                "No Page access token is stored for this Page",
            )
            .note("Reconnect the Facebook profile so that postproxy receives the Page's token.")
        })?;
        let api = &account.cfg.api_url;
        let p = Platform::Facebook;
        let answer = match item.media {
            // One photo: the photo post itself (Facebook pulls the file from our signed URL).
            [photo] => {
                guard.arm(None).await?;
                publish::send(
                    p,
                    http.post(format!("{api}/{}/photos", page.id)).json(
                        &json!({"url": photo.url, "message": item.text, "published": true, "access_token": token}),
                    ),
                    true,
                )
                .await?
            }
            // No photo, or several: a feed post (several photos are uploaded unpublished first and
            // attached; an unpublished photo shows nowhere, so that part may be redone).
            photos => {
                let mut body = json!({ "message": item.text, "access_token": token });
                if let Some(link) = item.params.facebook.as_ref().and_then(|f| f.link.as_deref()) {
                    body["link"] = json!(link);
                }
                let mut attached = Vec::new();
                for photo in photos {
                    let up = publish::send(
                        p,
                        http.post(format!("{api}/{}/photos", page.id))
                            .json(&json!({"url": photo.url, "published": false, "access_token": token})),
                        false,
                    )
                    .await?;
                    if !up.ok() {
                        return Err(classify(p, &up, false));
                    }
                    let id = publish::id_of(&up.body["id"])
                        .ok_or_else(|| Failure::protocol(p, "no id for an uploaded photo"))?;
                    attached.push(json!({ "media_fbid": id }));
                }
                if !attached.is_empty() {
                    body["attached_media"] = json!(attached);
                }
                guard.arm(None).await?;
                publish::send(
                    p,
                    http.post(format!("{api}/{}/feed", page.id))
                        .query(&[("fields", "id,permalink_url")])
                        .json(&body),
                    true,
                )
                .await?
            }
        };
        if !answer.ok() {
            return Err(classify(Platform::Facebook, &answer, true));
        }
        // A photo answers its own id and the feed story's `post_id`: the story is the post.
        let id = publish::id_of(&answer.body["post_id"])
            .or_else(|| publish::id_of(&answer.body["id"]))
            .ok_or_else(|| Failure::protocol(Platform::Facebook, "no id in the answer to the Page post"))?;
        // As the Page; a refusal leaves the post live and says so.
        let comment = item.params.facebook.as_ref().and_then(|f| f.first_comment.as_deref());
        let note = match comment.filter(|c| !c.is_empty()) {
            Some(comment) => first_comment(http, p, api, &id, token, comment, "pages_manage_engagement").await,
            None => None,
        };
        let permalink = answer.body["permalink_url"]
            .as_str()
            .map(absolute_facebook_url)
            .unwrap_or_else(|| facebook_permalink(&id));
        Ok(Published {
            note,
            id,
            permalink: Some(permalink),
        })
    }
    /// Looks for the item among the Page's posts since `since_ms` (`GET /{page}/feed`), by its text.
    async fn look_up(
        &self,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let http = &account.http;
        let _ = reference;
        let p = Platform::Facebook;
        let (Some(page), Some(token)) = (
            account.placement.as_ref(),
            account.placement.as_ref().and_then(|pl| pl.token.as_deref()),
        ) else {
            return Ok(Lookup::Unavailable("no Page or Page token to look with".into()));
        };
        let since = (since_ms / 1000).max(0).to_string();
        let answer = publish::send(
            p,
            http.get(format!("{}/{}/feed", account.cfg.api_url, page.id)).query(&[
                ("fields", "id,message,created_time,permalink_url"),
                ("since", since.as_str()),
                ("limit", "100"),
                ("access_token", token),
            ]),
            false,
        )
        .await?;
        if !answer.ok() {
            return publish::lookup_refused(
                classify(p, &answer, false),
                "Facebook did not let postproxy read the Page's posts",
            );
        }
        let found = answer.body["data"].as_array().into_iter().flatten().find(|post| {
            post["message"].as_str().unwrap_or("") == item.text
                || post["message"]
                    .as_str()
                    .is_some_and(|m| publish::same_text(item.text, m))
        });
        Ok(
            match found.and_then(|post| publish::id_of(&post["id"]).map(|id| (id, post))) {
                Some((id, post)) => Lookup::Found(Published {
                    note: None,
                    permalink: Some(
                        post["permalink_url"]
                            .as_str()
                            .map(absolute_facebook_url)
                            .unwrap_or_else(|| facebook_permalink(&id)),
                    ),
                    id,
                }),
                None => Lookup::Absent,
            },
        )
    }
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let http = &account.http;
        meta_graph::delete(http, account, id).await
    }
}

// ---- OAuth: a GET token endpoint, a long-lived user token, the Pages as placements ----------

use super::{PlacementInfo, send_json, str_field, token_set};

/// A long-lived user token (`fb_exchange_token`); exchanging it again renews it.
async fn long_lived(http: &reqwest::Client, cfg: &ProviderConfig, token: &str) -> Result<TokenSet, Failure> {
    token_set(
        &send_json(http.get(&cfg.token_url).query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
            ("fb_exchange_token", token),
        ]))
        .await?,
    )
}

// ---- publishing -----------------------------------------------------------------------------

use serde_json::json;

use super::meta_graph::{classify, first_comment};
use super::publish::{self, FailureKind};

fn facebook_permalink(id: &str) -> String {
    match id.split_once('_') {
        Some((page_id, post)) => format!("https://www.facebook.com/{page_id}/posts/{post}"),
        None => format!("https://www.facebook.com/{id}"),
    }
}

/// Video nodes answer relative permalinks (`/{page}/videos/{id}/`).
fn absolute_facebook_url(u: &str) -> String {
    if u.starts_with('/') {
        format!("https://www.facebook.com{u}")
    } else {
        u.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn video_permalinks_become_absolute() {
        assert_eq!(
            super::absolute_facebook_url("/1/videos/2/"),
            "https://www.facebook.com/1/videos/2/"
        );
    }
}
