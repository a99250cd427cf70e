//! Telegram: a bot token from BotFather connects (no app, no consent screen); the bot posts to
//! the channels and groups it administers, which appear as placements through the bot's
//! `my_chat_member` updates. Bot API (`https://api.telegram.org/bot<token>/<method>`): every
//! answer is `{"ok": …, "result" | "description", "error_code", "parameters"}`.

use serde_json::{Value, json};

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, MediaFile, Published, SendGuard};
use super::{
    App, Connect, Counting, CredentialField, CredentialSpec, Given, Identity, Network, PlacementChanges, PlacementInfo,
    Rules, SignedIn, Spec, TokenSet,
};
use crate::domain::platform::Platform;
use crate::domain::rules::MB;

pub struct Telegram;

pub const SPEC: Spec = Spec {
    platform: Platform::Telegram,
    authorize_url: "",
    token_url: "",
    api_url: "https://api.telegram.org",
    scopes: &[],
    connect: Connect::Credentials(CredentialSpec {
        fields: &[CredentialField {
            name: "bot_token",
            what: "the bot's token from @BotFather (123456789:AA…)",
        }],
        api_url_var: "API_URL",
        urls: &[],
        placements_appear: true,
    }),
    refresh_lead: std::time::Duration::ZERO,
    self_renewing: false,
    // The Bot API cannot list a chat's messages.
    can_look_up: false,
    can_delete: true,
    rules: Rules {
        text_limit: 4096,
        counting: Counting::Chars,
        caption_limit: Some(1024),
        max_images: 10,
        image_types: &["image/jpeg", "image/png", "image/webp"],
        max_image_bytes: 10 * MB,
        video_types: &["video/mp4"],
        max_video_bytes: 50 * MB,
        mixed_media: true,
        video_only: false,
        needs_media: false,
        needs_text_or_media: true,
        threads: false,
    },
};

/// `123456789:AA…`: digits, a colon, then the secret. Checked before the token goes into a URL path.
fn is_bot_token(t: &str) -> bool {
    let Some((id, secret)) = t.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && (20..=100).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn method_url(api_url: &str, token: &str, method: &str) -> String {
    format!("{api_url}/bot{token}/{method}")
}

#[async_trait::async_trait]
impl Network for Telegram {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    async fn fetch_identity(&self, app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let me = call(
            app.http,
            &method_url(&app.cfg.api_url, &tokens.access_token, "getMe"),
            json!({}),
        )
        .await?;
        Ok(Identity {
            external_id: publish::id_of(&me["id"])
                .ok_or_else(|| Failure::protocol(Platform::Telegram, "no id in getMe"))?,
            name: me["first_name"].as_str().unwrap_or_default().to_string(),
            username: me["username"].as_str().map(String::from),
            avatar_url: None,
            placements: vec![],
        })
    }

    /// `getMe` validates the token; the chats the bot was added to lately (updates not yet
    /// read) are its first placements.
    async fn sign_in(&self, app: App<'_>, given: &Given<'_>) -> Result<SignedIn, Failure> {
        let token = given.get("bot_token").trim();
        if !is_bot_token(token) {
            return Err(Failure::new(
                FailureKind::Refused,
                "bot_token is not a Telegram bot token: it looks like 123456789:AA… (ask @BotFather for it)",
            ));
        }
        let tokens = TokenSet {
            access_token: token.to_string(),
            refresh_token: None,
            expires_in: None,
            refresh_expires_in: None,
            user_id: None,
        };
        let mut identity = self.fetch_identity(app, &tokens).await?;
        // Without an offset nothing is confirmed: the periodic look reads these again and
        // stores the offset (placements are upserts, so reading twice changes nothing).
        identity.placements = self.placement_changes(app, token, None).await?.added;
        let bot = identity.username.clone().unwrap_or_else(|| identity.name.clone());
        Ok(SignedIn {
            identity,
            tokens,
            credential: None,
            endpoint: None,
            next_step: Some(format!(
                "Add @{bot} as an administrator of your channel or group (with the right to post messages); \
                 it then appears in GET /api/profiles/{{id}}/placements, and its id is the chat_id to post to."
            )),
        })
    }

    /// `getUpdates` for `my_chat_member`: the bot made an administrator (or a member of a
    /// group) adds the chat; removed, demoted or kicked removes it. The last update per chat wins.
    async fn placement_changes(
        &self,
        app: App<'_>,
        token: &str,
        offset: Option<i64>,
    ) -> Result<PlacementChanges, Failure> {
        let mut body = json!({ "timeout": 0, "limit": 100, "allowed_updates": ["my_chat_member"] });
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        let updates = call(app.http, &method_url(&app.cfg.api_url, token, "getUpdates"), body).await?;
        let mut chats: Vec<(String, Option<PlacementInfo>)> = Vec::new();
        let mut next = offset;
        for u in updates.as_array().into_iter().flatten() {
            if let Some(id) = u["update_id"].as_i64() {
                next = Some(next.map_or(id + 1, |n: i64| n.max(id + 1)));
            }
            let m = &u["my_chat_member"];
            let chat = &m["chat"];
            let (Some(chat_id), Some(kind)) = (publish::id_of(&chat["id"]), chat["type"].as_str()) else {
                continue;
            };
            if kind == "private" {
                continue;
            }
            let member = &m["new_chat_member"];
            let can_post = match member["status"].as_str() {
                Some("creator") => true,
                Some("administrator") => kind != "channel" || member["can_post_messages"].as_bool() != Some(false),
                Some("member") => kind != "channel",
                _ => false,
            };
            let info = can_post.then(|| PlacementInfo {
                external_id: chat_id.clone(),
                name: chat["title"].as_str().unwrap_or(&chat_id).to_string(),
                avatar_url: None,
                access_token: None,
                username: chat["username"].as_str().map(String::from),
            });
            chats.retain(|(id, _)| *id != chat_id);
            chats.push((chat_id, info));
        }
        let mut changes = PlacementChanges {
            next_offset: next,
            ..PlacementChanges::default()
        };
        for (id, info) in chats {
            match info {
                Some(p) => changes.added.push(p),
                None => changes.removed.push(id),
            }
        }
        Ok(changes)
    }

    /// `sendMessage`, `sendPhoto`, `sendVideo` or `sendMediaGroup` (2–10 images, the caption on
    /// the first), files pushed as multipart uploads so the server need not be reachable from
    /// Telegram.
    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let chat = account.placement.as_ref().ok_or_else(|| {
            Failure::new(FailureKind::Refused, "No chat to post to")
                .note("Set platforms.telegram.chat_id to one of the profile's placements.")
        })?;
        let params = item.params.telegram.as_ref();
        let parse_mode = params.and_then(|p| p.parse_mode).map(|m| m.as_str());
        let silent = params.and_then(|p| p.disable_notification).is_some_and(|f| f.0);
        let no_preview = params.and_then(|p| p.disable_link_preview).is_some_and(|f| f.0);
        let api = &account.cfg.api_url;
        let req = match item.media {
            [] => {
                let mut body = json!({ "chat_id": chat.id, "text": item.text });
                if let Some(mode) = parse_mode {
                    body["parse_mode"] = json!(mode);
                }
                if silent {
                    body["disable_notification"] = json!(true);
                }
                if no_preview {
                    body["link_preview_options"] = json!({ "is_disabled": true });
                }
                account
                    .http
                    .post(method_url(api, &account.token, "sendMessage"))
                    .json(&body)
            }
            [file] if file.is_video() => {
                let part = video_part(account, file, 0).await?;
                let mut form = reqwest::multipart::Form::new()
                    .text("chat_id", chat.id.clone())
                    .text("supports_streaming", "true")
                    .part("video", part);
                form = caption_fields(form, item.text, parse_mode, silent);
                account
                    .http
                    .post(method_url(api, &account.token, "sendVideo"))
                    .multipart(form)
            }
            [file] => {
                let mut form = reqwest::multipart::Form::new()
                    .text("chat_id", chat.id.clone())
                    .part("photo", photo_part(account, file, 0).await?);
                form = caption_fields(form, item.text, parse_mode, silent);
                account
                    .http
                    .post(method_url(api, &account.token, "sendPhoto"))
                    .multipart(form)
            }
            files => {
                let mut media = Vec::new();
                let mut form = reqwest::multipart::Form::new().text("chat_id", chat.id.clone());
                for (i, file) in files.iter().enumerate() {
                    // Photos and videos mix in one album.
                    let (kind, part) = if file.is_video() {
                        ("video", video_part(account, file, i).await?)
                    } else {
                        ("photo", photo_part(account, file, i).await?)
                    };
                    let mut m = json!({ "type": kind, "media": format!("attach://file{i}") });
                    if i == 0 && !item.text.is_empty() {
                        m["caption"] = json!(item.text);
                        if let Some(mode) = parse_mode {
                            m["parse_mode"] = json!(mode);
                        }
                    }
                    media.push(m);
                    form = form.part(format!("file{i}"), part);
                }
                form = form.text("media", Value::Array(media).to_string());
                if silent {
                    form = form.text("disable_notification", "true");
                }
                account
                    .http
                    .post(method_url(api, &account.token, "sendMediaGroup"))
                    .multipart(form)
            }
        };
        guard.arm(None).await?;
        let answer = publish::send(Platform::Telegram, req, true).await?;
        let result = result_of(&answer, true)?;
        // One message, or the album's messages in order.
        let ids: Vec<String> = match result.as_array() {
            Some(msgs) => msgs.iter().filter_map(|m| publish::id_of(&m["message_id"])).collect(),
            None => publish::id_of(&result["message_id"]).into_iter().collect(),
        };
        let Some(first) = ids.first().cloned() else {
            return Err(Failure::protocol(Platform::Telegram, "no message_id in the answer"));
        };
        let permalink = account
            .placement
            .as_ref()
            .and_then(|p| p.username.as_deref())
            .map(|u| format!("https://t.me/{u}/{first}"));
        Ok(Published {
            id: ids.join(","),
            permalink,
            note: None,
        })
    }

    /// `deleteMessage` for each message of the post (an album is several).
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let chat = account
            .placement
            .as_ref()
            .ok_or_else(|| Failure::new(FailureKind::Refused, "The post's chat is unknown"))?;
        for message_id in id.split(',').filter(|s| !s.is_empty()) {
            let req = account
                .http
                .post(method_url(&account.cfg.api_url, &account.token, "deleteMessage"))
                .json(&json!({ "chat_id": chat.id, "message_id": message_id.parse::<i64>().unwrap_or_default() }));
            let answer = publish::send(Platform::Telegram, req, false).await?;
            match result_of(&answer, false) {
                Ok(_) => {}
                // Already gone (deleted in the app).
                Err(f) if f.message.contains("message to delete not found") => {}
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }
}

/// A stored image as an upload part.
async fn photo_part(account: &Account, file: &MediaFile, i: usize) -> Result<reqwest::multipart::Part, Failure> {
    let bytes = publish::read_file(Platform::Telegram, &account.storage, file).await?;
    reqwest::multipart::Part::bytes(bytes.to_vec())
        .file_name(format!("photo{i}"))
        .mime_str(&file.content_type)
        .map_err(|_| {
            Failure::new(
                FailureKind::Refused,
                format!("Telegram cannot take a file of type {}", file.content_type),
            )
        })
}

/// A stored video as an upload part, streamed from storage (up to 50 MB through the Bot API).
async fn video_part(account: &Account, file: &MediaFile, i: usize) -> Result<reqwest::multipart::Part, Failure> {
    let (size, body) = publish::file_body(Platform::Telegram, &account.storage, file).await?;
    reqwest::multipart::Part::stream_with_length(body, size)
        .file_name(format!("video{i}.mp4"))
        .mime_str(&file.content_type)
        .map_err(|_| {
            Failure::new(
                FailureKind::Refused,
                format!("Telegram cannot take a file of type {}", file.content_type),
            )
        })
}

fn caption_fields(
    mut form: reqwest::multipart::Form,
    text: &str,
    parse_mode: Option<&str>,
    silent: bool,
) -> reqwest::multipart::Form {
    if !text.is_empty() {
        form = form.text("caption", text.to_string());
        if let Some(mode) = parse_mode {
            form = form.text("parse_mode", mode.to_string());
        }
    }
    if silent {
        form = form.text("disable_notification", "true");
    }
    form
}

/// A call that creates nothing (`getMe`, `getUpdates`): its `result`.
async fn call(http: &reqwest::Client, url: &str, body: Value) -> Result<Value, Failure> {
    let answer = publish::send(Platform::Telegram, http.post(url).json(&body), false).await?;
    result_of(&answer, false)
}

/// The `result` of an `ok` answer, or the failure the answer describes.
fn result_of(answer: &Answer, creates: bool) -> Result<Value, Failure> {
    if answer.ok() && answer.body["ok"] == json!(true) {
        return Ok(answer.body["result"].clone());
    }
    if answer.ok() {
        return Err(Failure::protocol(Platform::Telegram, "an answer without \"ok\": true"));
    }
    Err(classify(answer, creates))
}

/// Telegram's error answers: `error_code` mirrors the status; `description` says what.
fn classify(answer: &Answer, creates: bool) -> Failure {
    let description = answer.body["description"]
        .as_str()
        .map(publish::excerpt)
        .unwrap_or_else(|| format!("HTTP {}", answer.status));
    let code = answer.body["error_code"]
        .as_i64()
        .map(|c| c.to_string())
        .or_else(|| Some(answer.status.to_string()));
    let failure = Failure::new(FailureKind::Refused, format!("Telegram: {description}")).code(code);
    let params = &answer.body["parameters"];
    match answer.status {
        // An unknown token answers 401 Unauthorized (404 Not Found when it is malformed).
        401 | 404 => Failure {
            kind: FailureKind::Revoked,
            ..failure
        }
        .note("Telegram no longer accepts the bot token (revoked or replaced in @BotFather). Connect the bot again with its current token."),
        429 => Failure {
            kind: FailureKind::Transient,
            ..failure
        }
        .retry_after(params["retry_after"].as_u64().map(std::time::Duration::from_secs))
        .note("Telegram limits how fast a bot posts (about 20 messages a minute in one chat); postproxy waits as long as Telegram says and tries again."),
        400 if params["migrate_to_chat_id"].is_i64() => failure.note(format!(
            "The group became a supergroup with chat_id {}; post to that placement instead.",
            params["migrate_to_chat_id"]
        )),
        403 | 400 if description.contains("chat not found") || description.contains("not a member") || description.contains("kicked") || answer.status == 403 => {
            failure.note("The bot cannot post in this chat: add it as an administrator with the right to post messages, then post again.")
        }
        409 => failure.note("Another program reads this bot's updates (a webhook or getUpdates): postproxy needs the bot to itself to see the chats it is added to."),
        status => publish::by_status(Platform::Telegram, failure, status, creates),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_tokens_are_checked_before_they_go_into_a_path() {
        assert!(is_bot_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!is_bot_token("123456789:AAH/../getMe?x=AAAAAAAAAAAAAA"));
        assert!(!is_bot_token("abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!is_bot_token("123456789AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!is_bot_token("123:short"));
    }
}
