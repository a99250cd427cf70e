//! A fake of Telegram's Bot API (`{base}/bot<token>/<method>`), in its real formats: every
//! answer `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
//! "parameters"}`; 404 "Not Found" for a malformed token, 401 "Unauthorized" for an unknown or
//! revoked one; parameters as JSON, a form or multipart (files as parts, `attach://<name>` in
//! `sendMediaGroup`); `getUpdates` with offsets that confirm; chats where a bot may post only
//! as an administrator (channels) or member (groups); limits of 4,096 characters of text and
//! 1,024 of caption; 429 with `parameters.retry_after` when scripted.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::fake_provider::{JPEG, multipart_parts, sniff_image};

/// A minimal MP4 (an `ftyp` box and an empty `mdat`), served at `{base}/files/clip.mp4`.
pub const MP4: &[u8] = &[
    0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, b'i', b's', b'o', b'm', b'm', b'p',
    b'4', b'1', 0, 0, 0, 8, b'm', b'd', b'a', b't',
];

pub fn is_mp4(b: &[u8]) -> bool {
    b.len() >= 12 && &b[4..8] == b"ftyp"
}

#[derive(Debug, Clone)]
pub struct Bot {
    pub token: String,
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub revoked: bool,
    /// A webhook set with `setWebhook`: `getUpdates` then answers 409.
    pub webhook: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Chat {
    pub id: i64,
    pub title: String,
    pub username: Option<String>,
    /// `channel`, `group` or `supergroup`.
    pub kind: &'static str,
    /// Each bot's membership status (`administrator`, `member`, `left`, `kicked`).
    pub members: HashMap<i64, String>,
}

/// A message a bot sent, as the fake keeps it.
#[derive(Debug, Clone)]
pub struct Message {
    pub bot_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    /// The text of a text message or the caption of a photo.
    pub text: String,
    pub parse_mode: Option<String>,
    pub disable_notification: bool,
    pub link_preview_disabled: bool,
    /// The uploaded photo's bytes.
    pub photo: Option<Vec<u8>>,
    /// The uploaded video's bytes.
    pub video: Option<Vec<u8>>,
    /// The album's first message id, for the messages of a `sendMediaGroup`.
    pub album: Option<i64>,
    pub deleted: bool,
}

#[derive(Default)]
struct Inner {
    bots: Vec<Bot>,
    chats: HashMap<i64, Chat>,
    /// Pending updates per bot id: (update_id, update).
    updates: HashMap<i64, Vec<(i64, Value)>>,
    next_update_id: i64,
    next_message_id: HashMap<i64, i64>,
    messages: Vec<Message>,
    /// The next sends answer 429 with this `retry_after`.
    rate_limited: Vec<u64>,
    /// The next sends answer 500.
    failing: usize,
    /// Every call: (method, the parameters as JSON).
    calls: Vec<(String, Value)>,
}

pub struct FakeTelegram {
    base: String,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            next_update_id: 500_000_000,
            ..Inner::default()
        }));
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake telegram: serve");
        });
        FakeTelegram { base, inner, task }
    }

    /// What `POSTPROXY_TELEGRAM_API_URL` is set to.
    pub fn api_url(&self) -> String {
        self.base.clone()
    }

    /// A JPEG this fake serves, for posts' media.
    pub fn photo_url(&self) -> String {
        format!("{}/files/photo.jpg", self.base)
    }

    /// An MP4 this fake serves.
    pub fn video_url(&self) -> String {
        format!("{}/files/clip.mp4", self.base)
    }

    /// Creates a bot as @BotFather would; its token.
    pub fn add_bot(&self, first_name: &str, username: &str) -> String {
        let mut s = self.inner.lock().unwrap();
        let id = 7_000_000_000 + s.bots.len() as i64 + 1;
        let token = format!("{id}:AAH{}x{}", "q".repeat(30), s.bots.len());
        s.bots.push(Bot {
            token: token.clone(),
            id,
            username: username.into(),
            first_name: first_name.into(),
            revoked: false,
            webhook: None,
        });
        token
    }

    /// Points a bot's updates at a webhook of another program.
    pub fn set_webhook(&self, token: &str, url: &str) {
        let mut s = self.inner.lock().unwrap();
        s.bots.iter_mut().find(|b| b.token == token).expect("known bot").webhook = Some(url.into());
    }

    /// Revokes a bot's token in @BotFather; its new token.
    pub fn revoke(&self, token: &str) -> String {
        let mut s = self.inner.lock().unwrap();
        let bot = s.bots.iter_mut().find(|b| b.token == token).expect("known bot");
        bot.revoked = true;
        let mut renewed = bot.clone();
        renewed.revoked = false;
        renewed.token = format!("{}:AAN{}", bot.id, "r".repeat(32));
        let new = renewed.token.clone();
        s.bots.push(renewed);
        new
    }

    /// Sets a bot's status in a chat (creating the chat), with the `my_chat_member` update
    /// Telegram sends the bot.
    pub fn set_member(
        &self,
        token: &str,
        chat_id: i64,
        title: &str,
        username: Option<&str>,
        kind: &'static str,
        status: &str,
    ) {
        let mut s = self.inner.lock().unwrap();
        let bot = s.bots.iter().find(|b| b.token == token).expect("known bot").clone();
        let chat = s.chats.entry(chat_id).or_insert_with(|| Chat {
            id: chat_id,
            title: title.into(),
            username: username.map(String::from),
            kind,
            members: HashMap::new(),
        });
        let old = chat
            .members
            .insert(bot.id, status.into())
            .unwrap_or_else(|| "left".into());
        let chat_json = chat_json(chat);
        s.next_update_id += 1;
        let update_id = s.next_update_id;
        let member = |status: &str| {
            let mut m = json!({"user": {"id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username}, "status": status});
            if status == "administrator" {
                m["can_post_messages"] = json!(true);
                m["can_delete_messages"] = json!(true);
            }
            m
        };
        let update = json!({"update_id": update_id, "my_chat_member": {
            "chat": chat_json, "from": {"id": 1, "is_bot": false, "first_name": "Owner"}, "date": 1_700_000_000,
            "old_chat_member": member(&old), "new_chat_member": member(status)}});
        s.updates.entry(bot.id).or_default().push((update_id, update));
    }

    pub fn rate_limit_next(&self, retry_after: u64) {
        self.inner.lock().unwrap().rate_limited.push(retry_after);
    }

    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().failing = n;
    }

    pub fn messages(&self) -> Vec<Message> {
        self.inner.lock().unwrap().messages.clone()
    }

    /// Every call's method and parameters.
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Updates still unconfirmed for a bot.
    pub fn pending_updates(&self, token: &str) -> usize {
        let s = self.inner.lock().unwrap();
        let id = s.bots.iter().find(|b| b.token == token).unwrap().id;
        s.updates.get(&id).map_or(0, Vec::len)
    }
}

fn chat_json(c: &Chat) -> Value {
    let mut v = json!({"id": c.id, "title": c.title, "type": c.kind});
    if let Some(u) = &c.username {
        v["username"] = json!(u);
    }
    v
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    r
}

fn ok(result: Value) -> Response {
    answer(StatusCode::OK, json!({"ok": true, "result": result}))
}

fn err(code: u16, description: &str) -> Response {
    answer(
        StatusCode::from_u16(code).unwrap(),
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

/// The parameters of a call, whatever the encoding, and its files by part name.
async fn params(
    headers: &HeaderMap,
    uri: &Uri,
    body: Bytes,
) -> (serde_json::Map<String, Value>, HashMap<String, Vec<u8>>) {
    let mut out = serde_json::Map::new();
    let mut files = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        out.insert(k.into_owned(), json!(v));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if ct.starts_with("application/json") {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&body) {
            out.extend(m);
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(&body) {
            out.insert(k.into_owned(), json!(v));
        }
    } else if ct.starts_with("multipart/form-data") {
        for (name, part_type, data) in multipart_parts(Some(&ct), body).await {
            if part_type.is_some() {
                files.insert(name, data);
            } else {
                out.insert(name, json!(String::from_utf8_lossy(&data)));
            }
        }
    }
    (out, files)
}

/// A parameter as text (numbers arrive as JSON numbers or as text).
fn text(p: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    match p.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

fn flag(p: &serde_json::Map<String, Value>, k: &str) -> bool {
    matches!(p.get(k), Some(Value::Bool(true))) || text(p, k).as_deref() == Some("true")
}

async fn serve(State(inner): State<Arc<Mutex<Inner>>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    if path == "/files/photo.jpg" {
        return ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response();
    }
    if path == "/files/clip.mp4" {
        return ([(header::CONTENT_TYPE, "video/mp4")], MP4).into_response();
    }
    let mut segs = path.trim_start_matches('/').splitn(2, '/');
    let (Some(bot_seg), Some(method)) = (segs.next(), segs.next()) else {
        return err(404, "Not Found");
    };
    let Some(token) = bot_seg.strip_prefix("bot").filter(|t| t.contains(':')) else {
        return err(404, "Not Found");
    };
    let (p, files) = params(&headers, &uri, body).await;
    let mut s = inner.lock().unwrap();
    s.calls.push((method.to_string(), Value::Object(p.clone())));
    let Some(bot) = s.bots.iter().find(|b| b.token == token && !b.revoked).cloned() else {
        return err(401, "Unauthorized");
    };
    let sends = matches!(method, "sendMessage" | "sendPhoto" | "sendVideo" | "sendMediaGroup");
    if sends && !s.rate_limited.is_empty() {
        let after = s.rate_limited.remove(0);
        return answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {after}"),
                   "parameters": {"retry_after": after}}),
        );
    }
    if sends && s.failing > 0 {
        s.failing -= 1;
        return err(500, "Internal Server Error");
    }
    match method {
        "getMe" => ok(
            json!({"id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username,
                             "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false}),
        ),
        "getUpdates" if bot.webhook.is_some() => err(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        ),
        "getUpdates" => {
            let offset = text(&p, "offset").and_then(|o| o.parse::<i64>().ok());
            let list = s.updates.entry(bot.id).or_default();
            if let Some(o) = offset {
                list.retain(|(id, _)| *id >= o); // confirmed
            }
            let limit = text(&p, "limit").and_then(|l| l.parse().ok()).unwrap_or(100usize);
            let result: Vec<Value> = list.iter().take(limit).map(|(_, u)| u.clone()).collect();
            ok(Value::Array(result))
        }
        "sendMessage" | "sendPhoto" | "sendVideo" | "sendMediaGroup" => {
            let Some(chat_id) = text(&p, "chat_id").and_then(|c| c.parse::<i64>().ok()) else {
                return err(400, "Bad Request: chat_id is empty");
            };
            let Some(chat) = s.chats.get(&chat_id).cloned() else {
                return err(400, "Bad Request: chat not found");
            };
            let status = chat.members.get(&bot.id).map(String::as_str).unwrap_or("left");
            let may_post =
                status == "administrator" || status == "creator" || (status == "member" && chat.kind != "channel");
            if !may_post {
                let what = if chat.kind == "channel" {
                    "channel chat"
                } else {
                    "group chat"
                };
                return err(403, &format!("Forbidden: bot is not a member of the {what}"));
            }
            let parse_mode = text(&p, "parse_mode");
            if let Some(m) = &parse_mode
                && !["HTML", "MarkdownV2", "Markdown"].contains(&m.as_str())
            {
                return err(400, &format!("Bad Request: unsupported parse_mode \"{m}\""));
            }
            let silent = flag(&p, "disable_notification");
            let no_preview = p
                .get("link_preview_options")
                .is_some_and(|o| o["is_disabled"] == json!(true));
            let mut sent = Vec::new();
            match method {
                "sendMessage" => {
                    let t = text(&p, "text").unwrap_or_default();
                    if t.trim().is_empty() {
                        return err(400, "Bad Request: message text is empty");
                    }
                    if t.chars().count() > 4096 {
                        return err(400, "Bad Request: message is too long");
                    }
                    sent.push((t, parse_mode.clone(), None, None));
                }
                "sendVideo" => {
                    let caption = text(&p, "caption").unwrap_or_default();
                    if caption.chars().count() > 1024 {
                        return err(400, "Bad Request: message caption is too long");
                    }
                    let Some(video) = files.get("video").filter(|b| is_mp4(b)) else {
                        return err(400, "Bad Request: wrong type of the web page content");
                    };
                    sent.push((caption, parse_mode.clone(), None, Some(video.clone())));
                }
                "sendPhoto" => {
                    let caption = text(&p, "caption").unwrap_or_default();
                    if caption.chars().count() > 1024 {
                        return err(400, "Bad Request: message caption is too long");
                    }
                    let Some(photo) = files.get("photo").filter(|b| sniff_image(b).is_some()) else {
                        return err(400, "Bad Request: IMAGE_PROCESS_FAILED");
                    };
                    sent.push((caption, parse_mode.clone(), Some(photo.clone()), None));
                }
                _ => {
                    let media: Vec<Value> = text(&p, "media")
                        .and_then(|m| serde_json::from_str(&m).ok())
                        .unwrap_or_default();
                    if !(2..=10).contains(&media.len()) {
                        return err(400, "Bad Request: media must include 2-10 items");
                    }
                    for m in &media {
                        let name = m["media"]
                            .as_str()
                            .and_then(|a| a.strip_prefix("attach://"))
                            .unwrap_or("");
                        let is_video = m["type"] == "video";
                        let fits = |b: &&Vec<u8>| if is_video { is_mp4(b) } else { sniff_image(b).is_some() };
                        let Some(file) = files.get(name).filter(fits) else {
                            return err(400, "Bad Request: wrong file identifier/HTTP URL specified");
                        };
                        let caption = m["caption"].as_str().unwrap_or_default().to_string();
                        if caption.chars().count() > 1024 {
                            return err(400, "Bad Request: message caption is too long");
                        }
                        let (photo, video) = if is_video {
                            (None, Some(file.clone()))
                        } else {
                            (Some(file.clone()), None)
                        };
                        sent.push((caption, m["parse_mode"].as_str().map(String::from), photo, video));
                    }
                }
            }
            let album = method == "sendMediaGroup";
            let mut results = Vec::new();
            let mut first = None;
            for (t, mode, photo, video) in sent {
                let next = s.next_message_id.entry(chat_id).or_insert(100);
                *next += 1;
                let message_id = *next;
                let first_id = *first.get_or_insert(message_id);
                let mut msg = json!({"message_id": message_id, "date": 1_700_000_000, "chat": chat_json(&chat)});
                if video.is_some() {
                    msg["video"] = json!({"file_id": format!("V{message_id}"), "file_unique_id": format!("W{message_id}"), "width": 1, "height": 1, "duration": 1});
                    if !t.is_empty() {
                        msg["caption"] = json!(t);
                    }
                } else if photo.is_some() {
                    msg["photo"] = json!([{"file_id": format!("F{message_id}"), "file_unique_id": format!("U{message_id}"), "width": 1, "height": 1}]);
                    if !t.is_empty() {
                        msg["caption"] = json!(t);
                    }
                } else {
                    msg["text"] = json!(t);
                }
                if album {
                    msg["media_group_id"] = json!(format!("G{first_id}"));
                }
                results.push(msg);
                s.messages.push(Message {
                    bot_id: bot.id,
                    chat_id,
                    message_id,
                    text: t,
                    parse_mode: mode,
                    disable_notification: silent,
                    link_preview_disabled: no_preview,
                    photo,
                    video,
                    album: album.then_some(first_id),
                    deleted: false,
                });
            }
            if album {
                ok(Value::Array(results))
            } else {
                ok(results.remove(0))
            }
        }
        "deleteMessage" => {
            let chat_id = text(&p, "chat_id").and_then(|c| c.parse::<i64>().ok());
            let message_id = text(&p, "message_id").and_then(|c| c.parse::<i64>().ok());
            let found = s.messages.iter_mut().find(|m| {
                Some(m.chat_id) == chat_id && Some(m.message_id) == message_id && !m.deleted && m.bot_id == bot.id
            });
            match found {
                Some(m) => {
                    m.deleted = true;
                    ok(json!(true))
                }
                None => err(400, "Bad Request: message to delete not found"),
            }
        }
        _ => err(404, "Not Found"),
    }
}
