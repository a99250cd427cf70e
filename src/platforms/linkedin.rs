//! LinkedIn: OpenID Connect userinfo for the member; administered organisations (when the
//! Community Management scopes are granted) become placements.

use super::{App, ClientAuth, Identity, PlacementInfo, ProviderConfig, TokenSet, send_json, str_field};

use super::{Connect, Counting, Network, OAuthSpec, Rules, Spec};
use crate::domain::rules::MB;

/// LinkedIn: members and the organisations they administer; the Posts API.
pub struct Linkedin;

pub const SPEC: Spec = Spec {
    platform: Platform::Linkedin,
    authorize_url: "https://www.linkedin.com/oauth/v2/authorization",
    token_url: "https://www.linkedin.com/oauth/v2/accessToken",
    api_url: "https://api.linkedin.com",
    scopes: &["openid", "profile", "w_member_social"],
    connect: Connect::OAuth2(OAuthSpec {
        client_id_param: "client_id",
        scope_separator: " ",
        pkce: false,
        extra_authorize_params: &[],
        client_auth: ClientAuth::Body,
    }),
    refresh_lead: std::time::Duration::from_secs(7 * 24 * 3600),
    self_renewing: false,
    can_look_up: true,
    can_delete: true,
    rules: Rules {
        text_limit: 3_000,
        counting: Counting::Chars,
        caption_limit: None,
        max_images: 20,
        image_types: &["image/jpeg", "image/png", "image/gif"],
        max_image_bytes: 20 * MB,
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
impl Network for Linkedin {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }
    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let App { http, cfg } = app;
        let me = send_json(
            http.get(format!("{}/v2/userinfo", cfg.api_url))
                .bearer_auth(&tokens.access_token),
        )
        .await?;
        Ok(Identity {
            external_id: super::required(&me["sub"], "sub")?,
            name: str_field(&me["name"]).unwrap_or_default(),
            username: None,
            avatar_url: str_field(&me["picture"]),
            placements: organisations(http, cfg, &tokens.access_token).await?,
        })
    }
    async fn revoke(&self, app: App<'_>, access_token: &str) -> Result<(), Failure> {
        let url = app.cfg.token_url.replace("accessToken", "revoke");
        super::oauth::revoke_token(app, &url, access_token, &[]).await
    }
    /// `POST /rest/posts`; the new post's URN comes back in `x-restli-id`.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let http = &account.http;
        let owner = author(account);
        let alt_text = item.params.linkedin.as_ref().and_then(|l| l.alt_text.as_deref());
        let mut images = Vec::new();
        for file in item.media {
            images.push(upload_image(http, account, &owner, file).await?);
        }
        let mut body = json!({
            "author": owner,
            "commentary": escape_commentary(item.text),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        });
        match images.as_slice() {
            [] => {}
            [one] => {
                let mut media = json!({ "id": one });
                if let Some(alt) = alt_text {
                    media["altText"] = json!(alt);
                }
                body["content"] = json!({ "media": media })
            }
            many => {
                let images: Vec<Value> = many
                    .iter()
                    .map(|id| match alt_text {
                        Some(alt) => json!({ "id": id, "altText": alt }),
                        None => json!({ "id": id }),
                    })
                    .collect();
                body["content"] = json!({ "multiImage": { "images": images } })
            }
        }
        guard.arm(None).await?;
        let answer = publish::send(
            Platform::Linkedin,
            rest(
                http,
                reqwest::Method::POST,
                format!("{}/rest/posts", account.cfg.api_url),
                &account.token,
            )
            .json(&body),
            true,
        )
        .await?;
        if !answer.ok() {
            return Err(classify(&answer, true));
        }
        let urn = answer
            .header("x-restli-id")
            .or_else(|| answer.header("location").and_then(|l| l.rsplit('/').next()))
            .map(|s| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .map(|(_, v)| v.into_owned())
                    .collect::<String>()
            })
            .filter(|s| s.starts_with("urn:li:"))
            .ok_or_else(|| {
                Failure::protocol(
                    Platform::Linkedin,
                    "no x-restli-id header in the answer to POST /rest/posts",
                )
            })?;
        Ok(Published {
            note: None,
            permalink: Some(format!("https://www.linkedin.com/feed/update/{urn}")),
            id: urn,
        })
    }
    /// Looks for the item among the author's recent posts (`GET /rest/posts?q=author`), by its
    /// commentary, created since `since_ms`. Reading posts needs `r_member_social` (members) or
    /// `r_organization_social` (organisations), which apps rarely hold: without it LinkedIn answers
    /// 403 and there is no way to look.
    async fn look_up(
        &self,
        account: &Account,
        item: &Item<'_>,
        since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let http = &account.http;
        let _ = reference;
        let owner = author(account);
        let answer = publish::send(
            Platform::Linkedin,
            rest(
                http,
                reqwest::Method::GET,
                format!("{}/rest/posts", account.cfg.api_url),
                &account.token,
            )
            .header("X-RestLi-Method", "FINDER")
            .query(&[
                ("q", "author"),
                ("author", owner.as_str()),
                ("count", "20"),
                ("sortBy", "LAST_MODIFIED"),
            ]),
            false,
        )
        .await?;
        if !answer.ok() {
            return publish::lookup_refused(
                classify(&answer, false),
                "LinkedIn did not let postproxy read the author's posts (it needs r_member_social or r_organization_social)",
            );
        }
        let sent = escape_commentary(item.text);
        let found = answer.body["elements"].as_array().into_iter().flatten().find(|p| {
            p["createdAt"].as_i64().is_none_or(|at| at >= since_ms)
                && p["commentary"]
                    .as_str()
                    .is_some_and(|c| c == sent || publish::same_text(item.text, c))
        });
        Ok(match found.and_then(|p| p["id"].as_str()) {
            Some(urn) => Lookup::Found(Published {
                note: None,
                permalink: Some(format!("https://www.linkedin.com/feed/update/{urn}")),
                id: urn.to_string(),
            }),
            None => Lookup::Absent,
        })
    }
    /// `DELETE /rest/posts/{urn}` → 204 (idempotent).
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let http = &account.http;
        let urn = id;
        let encoded: String = url::form_urlencoded::byte_serialize(urn.as_bytes()).collect();
        let answer = publish::send(
            Platform::Linkedin,
            rest(
                http,
                reqwest::Method::DELETE,
                format!("{}/rest/posts/{encoded}", account.cfg.api_url),
                &account.token,
            ),
            false,
        )
        .await?;
        if answer.ok() || answer.status == 404 {
            return Ok(());
        }
        Err(classify(&answer, false))
    }
}

/// LinkedIn retires each monthly version after about a year (then answers 426); 202609 is live
/// until autumn 2027.
const LINKEDIN_VERSION: &str = "202609";

/// Organisations the member administers. Without the organisation scopes LinkedIn answers 403,
/// which simply means there are none to offer.
async fn organisations(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    token: &str,
) -> Result<Vec<PlacementInfo>, Failure> {
    let rest = |path: String| {
        http.get(format!("{}{path}", cfg.api_url))
            .bearer_auth(token)
            .header("LinkedIn-Version", LINKEDIN_VERSION)
            .header("X-Restli-Protocol-Version", "2.0.0")
    };
    let acls = match send_json(rest(
        "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED".into(),
    ))
    .await
    {
        Ok(v) => v,
        Err(f) if matches!(f.kind, FailureKind::Refused | FailureKind::Revoked) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for el in acls["elements"].as_array().into_iter().flatten() {
        let Some(id) = el["organization"].as_str().and_then(|u| u.rsplit(':').next()) else {
            continue;
        };
        let org = send_json(rest(format!("/rest/organizations/{id}"))).await?;
        out.push(PlacementInfo {
            external_id: id.to_string(),
            name: str_field(&org["localizedName"]).unwrap_or_else(|| id.to_string()),
            avatar_url: None,
            access_token: None,
            username: None,
        });
    }
    Ok(out)
}

// ---- publishing (Posts API) -----------------------------------------------------------------

use serde_json::{Value, json};

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, Lookup, Published, SendGuard};
use crate::domain::platform::Platform;

fn rest(http: &reqwest::Client, method: reqwest::Method, url: String, token: &str) -> reqwest::RequestBuilder {
    http.request(method, url)
        .bearer_auth(token)
        .header("LinkedIn-Version", LINKEDIN_VERSION)
        .header("X-Restli-Protocol-Version", "2.0.0")
}

/// The post's author: the chosen organisation, else the member.
pub fn author(account: &Account) -> String {
    match &account.placement {
        Some(org) => format!("urn:li:organization:{}", org.id),
        None => format!("urn:li:person:{}", account.user_id),
    }
}

/// Images API: `initializeUpload` for the author, then the whole file in one `PUT` to the
/// upload URL LinkedIn returns (used as given). Returns the image URN.
async fn upload_image(
    http: &reqwest::Client,
    account: &Account,
    owner: &str,
    file: &publish::MediaFile,
) -> Result<String, Failure> {
    let p = Platform::Linkedin;
    let init = publish::send(
        p,
        rest(
            http,
            reqwest::Method::POST,
            format!("{}/rest/images?action=initializeUpload", account.cfg.api_url),
            &account.token,
        )
        .json(&json!({ "initializeUploadRequest": { "owner": owner } })),
        false,
    )
    .await?;
    if !init.ok() {
        return Err(classify(&init, false));
    }
    let (Some(upload_url), Some(urn)) = (
        init.body["value"]["uploadUrl"].as_str(),
        init.body["value"]["image"].as_str(),
    ) else {
        return Err(Failure::protocol(
            p,
            "no value.uploadUrl / value.image in the answer to initializeUpload",
        ));
    };
    let bytes = publish::read_file(p, &account.storage, file).await?;
    let put = publish::send(
        p,
        http.put(upload_url)
            .bearer_auth(&account.token)
            .header(reqwest::header::CONTENT_TYPE, file.content_type.as_str())
            .body(bytes.to_vec()),
        false,
    )
    .await?;
    if !put.ok() {
        return Err(classify(&put, false));
    }
    Ok(urn.to_string())
}

/// LinkedIn parses `commentary` as "little" text: an unescaped reserved character makes it
/// silently cut the post short, so every one of them is escaped.
pub fn escape_commentary(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '|' | '{' | '}' | '@' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '*' | '_' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Rest.li errors: `{"status","serviceErrorCode","code","message"}`.
pub fn classify(answer: &Answer, creates: bool) -> Failure {
    let b = &answer.body;
    let message = publish::excerpt(
        b["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", answer.status))
            .as_str(),
    );
    let code = b["code"]
        .as_str()
        .map(str::to_string)
        .or_else(|| b["serviceErrorCode"].as_i64().map(|c| c.to_string()));
    let subcode = b["serviceErrorCode"].as_i64().map(|c| c.to_string());
    let duplicate = b["errorDetails"]["inputErrors"]
        .as_array()
        .is_some_and(|a| a.iter().any(|e| e["code"] == "DUPLICATE_POST"))
        || message.contains("duplicate");
    let failure = |kind| {
        Failure::new(kind, message.clone())
            .code(code.clone())
            .subcode(subcode.clone())
    };
    match answer.status {
        401 if code.as_deref() == Some("REVOKED_ACCESS_TOKEN") || b["serviceErrorCode"] == 65601 => {
            failure(FailureKind::Revoked)
        }
        401 => failure(FailureKind::TokenRejected),
        429 => failure(FailureKind::Transient)
            .retry_after(publish::retry_after_header(&answer.headers))
            .note("LinkedIn's daily limit for this app or member was reached; postproxy retries later."),
        422 if duplicate => failure(FailureKind::Refused)
            .note("LinkedIn refuses a post identical to a recent one. Change the text and post again."),
        403 => failure(FailureKind::Refused).note(
            "LinkedIn refused: the member lacks the permission or the organisation role this post needs \
             (posting as an organisation needs an administrator or content admin). Reconnect with the right scopes.",
        ),
        426 => failure(FailureKind::Refused)
            .note("LinkedIn no longer accepts the API version this server uses; upgrade postproxy."),
        status => publish::by_status(Platform::Linkedin, failure(FailureKind::Refused), status, creates),
    }
}

#[cfg(test)]
mod publish_tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn escapes_every_reserved_character() {
        assert_eq!(escape_commentary("Hi (all) #1 @x_y"), r"Hi \(all\) \#1 \@x\_y");
        assert_eq!(escape_commentary("plain text, é ✓"), "plain text, é ✓");
    }

    #[test]
    fn classifies_linkedin_errors() {
        let a = |status, body: Value| Answer {
            status,
            headers: Default::default(),
            body,
        };
        let dup = json!({"message":"Content is a duplicate of urn:li:share:1","errorDetails":{"inputErrors":[{"code":"DUPLICATE_POST"}]},"status":422});
        assert_eq!(classify(&a(422, dup), true).kind, FailureKind::Refused);
        assert_eq!(
            classify(
                &a(
                    401,
                    json!({"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"revoked"})
                ),
                true
            )
            .kind,
            FailureKind::Revoked
        );
        assert_eq!(
            classify(&a(401, json!({"serviceErrorCode":65600})), true).kind,
            FailureKind::TokenRejected
        );
        assert_eq!(classify(&a(429, json!({})), true).kind, FailureKind::Transient);
        assert_eq!(classify(&a(500, json!({})), true).kind, FailureKind::Unknown);
    }
}
