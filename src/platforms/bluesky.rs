//! Bluesky (AT Protocol): a handle and an app password connect, no app to register. The handle
//! resolves to a DID (`com.atproto.identity.resolveHandle` at the configured service), the DID
//! document (PLC directory, or `did:web`) names the account's PDS, and the PDS holds the session
//! (`createSession`, `refreshSession`) and the records. Posts are `app.bsky.feed.post` records
//! with facets at UTF-8 byte offsets; each is created under a record key chosen before the send,
//! so an unknown outcome is looked up exactly (`getRecord`).
//!
//! Hosts: the configured service and PLC directory are the operator's; a PDS (named by the
//! account's DID document) and a link card's page are the user's, reached through the guarded
//! client only.

use std::sync::LazyLock;
use std::time::Duration;

use base64::Engine;
use regex::Regex;
use reqwest::Method;
use serde_json::{Value, json};

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, Lookup, Published, SendGuard};
use super::{
    App, Connect, Counting, CredentialField, CredentialSpec, Given, Held, Identity, Network, ProviderConfig, Rules,
    SignedIn, Spec, TokenSet,
};
use crate::domain::platform::Platform;
use crate::outbound::Outbound;

pub struct Bluesky;

const P: Platform = Platform::Bluesky;
const POST: &str = "app.bsky.feed.post";
/// The PDS's blob limit for images.
const MAX_BLOB: u64 = 1_000_000;

pub const SPEC: Spec = Spec {
    platform: P,
    authorize_url: "",
    token_url: "",
    api_url: "https://bsky.social",
    scopes: &[],
    connect: Connect::Credentials(CredentialSpec {
        fields: &[
            CredentialField {
                name: "identifier",
                what: "the account's handle (name.bsky.social), DID or email",
            },
            CredentialField {
                name: "app_password",
                what: "an app password (Bluesky: Settings → Privacy and security → App passwords)",
            },
        ],
        api_url_var: "SERVICE_URL",
        urls: &[("PLC_URL", "https://plc.directory")],
        placements_appear: false,
    }),
    // Access tokens live about two hours.
    refresh_lead: Duration::from_secs(15 * 60),
    // A lost session is signed in again with the kept app password.
    self_renewing: true,
    can_look_up: true,
    can_delete: true,
    rules: Rules {
        text_limit: 300,
        counting: Counting::Graphemes,
        caption_limit: None,
        max_images: 4,
        image_types: &["image/jpeg", "image/png", "image/webp", "image/gif"],
        max_image_bytes: MAX_BLOB,
        video_types: &["video/mp4", "video/quicktime", "video/webm", "video/mpeg"],
        max_video_bytes: 100_000_000,
        mixed_media: false,
        video_only: false,
        needs_media: false,
        needs_text_or_media: true,
        threads: true,
    },
};

// ---- hosts --------------------------------------------------------------------------------

/// A request to an XRPC method at `host`: the operator's hosts directly, any other through the
/// guarded client.
fn xrpc(
    http: &reqwest::Client,
    outbound: &Outbound,
    cfg: &ProviderConfig,
    method: Method,
    host: &str,
    nsid: &str,
) -> Result<reqwest::RequestBuilder, Failure> {
    let url = format!("{}/xrpc/{nsid}", host.trim_end_matches('/'));
    if host == cfg.api_url || host == cfg.url("PLC_URL") {
        return Ok(http.request(method, url));
    }
    outbound.request(method, &url).map_err(|r| {
        Failure::new(
            FailureKind::Refused,
            format!("Bluesky: the account's server {host} cannot be reached from this server ({r})"),
        )
    })
}

/// The PDS of an account, with its client.
struct Pds<'a> {
    http: &'a reqwest::Client,
    outbound: &'a Outbound,
    cfg: &'a ProviderConfig,
    host: &'a str,
}

impl Pds<'_> {
    fn of(account: &Account) -> Pds<'_> {
        Pds {
            http: &account.http,
            outbound: &account.outbound,
            cfg: &account.cfg,
            host: account.endpoint.as_deref().unwrap_or(&account.cfg.api_url),
        }
    }

    fn call(&self, method: Method, nsid: &str) -> Result<reqwest::RequestBuilder, Failure> {
        xrpc(self.http, self.outbound, self.cfg, method, self.host, nsid)
    }
}

/// Sends an XRPC call and reads its JSON answer, or the failure it describes.
async fn send(req: reqwest::RequestBuilder, creates: bool) -> Result<Value, Failure> {
    let answer = publish::send(P, req, creates).await?;
    if answer.ok() {
        return Ok(answer.body);
    }
    Err(classify(&answer, creates))
}

/// XRPC errors: `{"error": "ExpiredToken", "message": "…"}`.
fn classify(answer: &Answer, creates: bool) -> Failure {
    let error = answer.body["error"].as_str().unwrap_or_default();
    let message = answer.body["message"].as_str().unwrap_or(error);
    let text = if message.is_empty() {
        format!("Bluesky: HTTP {}", answer.status)
    } else {
        format!("Bluesky: {}", publish::excerpt(message))
    };
    let failure = Failure::new(FailureKind::Refused, text).code((!error.is_empty()).then(|| error.to_string()));
    match (answer.status, error) {
        (429, _) => Failure {
            kind: FailureKind::Transient,
            ..failure
        }
        .retry_after(rate_limit_reset(answer).or_else(|| publish::retry_after_header(&answer.headers)))
        .note("Bluesky limits how fast an account writes; postproxy waits until Bluesky says and tries again."),
        (_, "ExpiredToken" | "InvalidToken") | (401, _) => Failure {
            kind: FailureKind::TokenRejected,
            ..failure
        },
        (_, "AccountTakedown" | "AccountDeactivated") => Failure {
            kind: FailureKind::Revoked,
            ..failure
        }
        .note("The Bluesky account is suspended or deactivated; reconnect once it is back."),
        (status, _) => publish::by_status(P, failure, status, creates),
    }
}

/// `ratelimit-reset` (epoch seconds), as the PDS sends it.
fn rate_limit_reset(answer: &Answer) -> Option<Duration> {
    let reset: i64 = answer.header("ratelimit-reset")?.trim().parse().ok()?;
    let now = crate::clock::now_ms() / 1000;
    Some(Duration::from_secs(reset.saturating_sub(now).clamp(1, 86_400) as u64))
}

// ---- identity -----------------------------------------------------------------------------

/// A handle to its DID, at the configured service (which does the DNS and well-known lookups).
async fn resolve_handle(
    http: &reqwest::Client,
    outbound: &Outbound,
    cfg: &ProviderConfig,
    handle: &str,
) -> Result<String, Failure> {
    let req = xrpc(
        http,
        outbound,
        cfg,
        Method::GET,
        &cfg.api_url,
        "com.atproto.identity.resolveHandle",
    )?
    .query(&[("handle", handle)]);
    let body = send(req, false).await.map_err(|f| match f.kind {
        FailureKind::Transient | FailureKind::Unknown => f,
        _ => Failure::new(
            FailureKind::Refused,
            format!("the handle {handle} does not resolve to a Bluesky account"),
        ),
    })?;
    body["did"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Failure::new(FailureKind::Transient, "Bluesky answered resolveHandle without a did"))
}

/// The account's PDS, from its DID document: `did:plc` at the PLC directory, `did:web` at its host.
async fn pds_of(
    http: &reqwest::Client,
    outbound: &Outbound,
    cfg: &ProviderConfig,
    did: &str,
) -> Result<String, Failure> {
    let req = if let Some(host) = did.strip_prefix("did:web:") {
        if host.contains(['/', '?', '#', '@']) {
            return Err(Failure::new(
                FailureKind::Refused,
                format!("{did} is not a valid did:web"),
            ));
        }
        outbound
            .request(Method::GET, &format!("https://{host}/.well-known/did.json"))
            .map_err(|r| {
                Failure::new(
                    FailureKind::Refused,
                    format!("{did} cannot be resolved from this server ({r})"),
                )
            })?
    } else if did.starts_with("did:plc:") && did.len() <= 64 && did[8..].bytes().all(|b| b.is_ascii_alphanumeric()) {
        http.get(format!("{}/{did}", cfg.url("PLC_URL")))
    } else {
        return Err(Failure::new(
            FailureKind::Refused,
            format!("{did:?} is not a DID Bluesky uses"),
        ));
    };
    let doc = send(req, false).await.map_err(|f| match f.kind {
        FailureKind::Transient | FailureKind::Unknown => f,
        _ => Failure::new(
            FailureKind::Refused,
            format!("the DID document of {did} could not be read: {}", f.message),
        ),
    })?;
    pds_in(&doc).ok_or_else(|| Failure::new(FailureKind::Refused, format!("the DID document of {did} names no PDS")))
}

/// The `#atproto_pds` service of a DID document.
fn pds_in(doc: &Value) -> Option<String> {
    doc["service"].as_array()?.iter().find_map(|s| {
        let id = s["id"].as_str()?;
        (id.ends_with("#atproto_pds") && s["type"] == "AtprotoPersonalDataServer").then(|| {
            s["serviceEndpoint"]
                .as_str()
                .map(|e| e.trim_end_matches('/').to_string())
        })?
    })
}

/// A session's tokens; the access token's lifetime is read from its `exp` claim.
fn session_tokens(body: &Value) -> Result<TokenSet, Failure> {
    let access = body["accessJwt"]
        .as_str()
        .ok_or_else(|| Failure::new(FailureKind::Transient, "Bluesky answered without accessJwt"))?;
    let expires_in = jwt_claim(access, "exp")
        .and_then(|v| v.as_i64())
        .map(|exp| exp - crate::clock::now_ms() / 1000);
    Ok(TokenSet {
        access_token: access.to_string(),
        refresh_token: body["refreshJwt"].as_str().map(String::from),
        expires_in,
        refresh_expires_in: None,
        user_id: body["did"].as_str().map(String::from),
    })
}

/// A claim of a JWT's payload (read, not verified: the PDS verifies its own tokens).
fn jwt_claim(jwt: &str, claim: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get(claim).cloned()
}

/// `createSession`: a wrong identifier or password is refused in Bluesky's words.
async fn create_session(
    http: &reqwest::Client,
    outbound: &Outbound,
    cfg: &ProviderConfig,
    host: &str,
    identifier: &str,
    password: &str,
) -> Result<Value, Failure> {
    let req = xrpc(
        http,
        outbound,
        cfg,
        Method::POST,
        host,
        "com.atproto.server.createSession",
    )?
    .json(&json!({ "identifier": identifier, "password": password }));
    send(req, false).await.map_err(|f| match f.kind {
        // A refused sign-in is a password that no longer works: revoked.
        FailureKind::TokenRejected => Failure {
            kind: FailureKind::Revoked,
            ..f
        }
        .note(
            "Bluesky refused the app password (revoked, or a wrong identifier). Connect again with a new app password.",
        ),
        _ => f,
    })
}

#[async_trait::async_trait]
impl Network for Bluesky {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    /// Not used: `sign_in` reads the identity with the session.
    async fn fetch_identity(&self, _app: App<'_>, tokens: &TokenSet) -> Result<Identity, Failure> {
        let did = tokens.user_id.clone().unwrap_or_default();
        Ok(Identity {
            external_id: did.clone(),
            name: did,
            username: None,
            avatar_url: None,
            placements: vec![],
        })
    }

    async fn sign_in(&self, app: App<'_>, given: &Given<'_>) -> Result<SignedIn, Failure> {
        let App { http, cfg } = app;
        let outbound = given.outbound;
        let identifier = given
            .get("identifier")
            .trim()
            .trim_start_matches('@')
            .to_ascii_lowercase();
        let password = given.get("app_password").trim();
        // An email is known only to the service the account signed up at; a handle or DID
        // names its PDS through its DID document.
        let known_pds = if identifier.contains('@') {
            None
        } else {
            let did = if identifier.starts_with("did:") {
                identifier.clone()
            } else {
                resolve_handle(http, outbound, cfg, &identifier).await?
            };
            Some(pds_of(http, outbound, cfg, &did).await?)
        };
        let host = known_pds.clone().unwrap_or_else(|| cfg.api_url.clone());
        let session = create_session(http, outbound, cfg, &host, &identifier, password)
            .await
            .map_err(|f| match f.kind {
                FailureKind::Revoked => Failure {
                    kind: FailureKind::Refused,
                    message: format!("{} (check the identifier and the app password)", f.message),
                    note: None,
                    ..f
                },
                _ => f,
            })?;
        let tokens = session_tokens(&session)?;
        let did = tokens
            .user_id
            .clone()
            .ok_or_else(|| Failure::new(FailureKind::Transient, "Bluesky answered createSession without a did"))?;
        let pds = match known_pds {
            Some(p) => p,
            None => match pds_in(&session["didDoc"]) {
                Some(p) => p,
                None => pds_of(http, outbound, cfg, &did).await?,
            },
        };
        let handle = session["handle"].as_str().unwrap_or(&identifier).to_string();
        // The profile's display name and avatar, best effort (the PDS proxies to the app view).
        let profile = match xrpc(http, outbound, cfg, Method::GET, &pds, "app.bsky.actor.getProfile") {
            Ok(req) => send(
                req.query(&[("actor", did.as_str())]).bearer_auth(&tokens.access_token),
                false,
            )
            .await
            .unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let name = profile["displayName"]
            .as_str()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&handle)
            .to_string();
        Ok(SignedIn {
            identity: Identity {
                external_id: did,
                name,
                username: Some(handle),
                avatar_url: profile["avatar"].as_str().map(String::from),
                placements: vec![],
            },
            tokens,
            credential: Some(password.to_string()),
            endpoint: Some(pds),
            next_step: None,
        })
    }

    /// `refreshSession` with the refresh token; when it is gone or refused, a new session from
    /// the kept app password. A refused app password is a revocation.
    async fn refresh(&self, app: App<'_>, held: Held<'_>) -> Result<TokenSet, Failure> {
        let App { http, cfg } = app;
        let host = held.endpoint.unwrap_or(&cfg.api_url);
        if let Some(refresh) = held.refresh_token {
            let req = xrpc(
                http,
                held.outbound,
                cfg,
                Method::POST,
                host,
                "com.atproto.server.refreshSession",
            )?
            .bearer_auth(refresh);
            match send(req, false).await {
                Ok(body) => return session_tokens(&body),
                Err(f) if matches!(f.kind, FailureKind::TokenRejected | FailureKind::Refused) => {
                    tracing::info!(error = %f.message, "Bluesky refresh token refused; signing in again");
                }
                Err(f) => return Err(f),
            }
        }
        let password = held
            .credential
            .ok_or_else(|| Failure::new(FailureKind::Refused, "no app password is kept for this profile"))?;
        let did = jwt_claim(held.access_token, "sub")
            .and_then(|v| v.as_str().map(String::from))
            .ok_or_else(|| Failure::new(FailureKind::Refused, "the stored session names no account"))?;
        let session = create_session(http, held.outbound, cfg, host, &did, password).await?;
        session_tokens(&session)
    }

    async fn publish(&self, account: &Account, item: &Item<'_>, guard: &dyn SendGuard) -> Result<Published, Failure> {
        let pds = Pds::of(account);
        let mut record = json!({
            "$type": POST,
            "text": item.text,
            "createdAt": crate::clock::iso8601(crate::clock::now_ms()),
        });
        let facets = facets(&pds, account, item.text).await;
        if !facets.is_empty() {
            record["facets"] = Value::Array(facets);
        }
        if let [video] = item.media
            && video.is_video()
        {
            // The simple method: a blob on the PDS, processed by Bluesky after the post is made.
            let (size, body) = publish::file_body(P, &account.storage, video).await?;
            let req = pds
                .call(Method::POST, "com.atproto.repo.uploadBlob")?
                .bearer_auth(&account.token)
                .header(reqwest::header::CONTENT_TYPE, &video.content_type)
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(body);
            let blob = blob_of(send(req, false).await?)?;
            let mut embed = json!({ "$type": "app.bsky.embed.video", "video": blob });
            if let Some(alt) = item.params.bluesky.as_ref().and_then(|b| b.alt_text.as_ref()) {
                embed["alt"] = json!(alt.of(0));
            }
            record["embed"] = embed;
        } else if !item.media.is_empty() {
            let alt = item.params.bluesky.as_ref().and_then(|b| b.alt_text.as_ref());
            let mut images = Vec::new();
            for (i, file) in item.media.iter().enumerate() {
                let bytes = publish::read_file(P, &account.storage, file).await?;
                let blob = upload_blob(&pds, account, bytes.to_vec(), &file.content_type).await?;
                images.push(json!({ "image": blob, "alt": alt.map(|a| a.of(i)).unwrap_or_default() }));
            }
            record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
        } else if let Some(url) = first_link(item.text)
            && let Some(card) = link_card(&pds, account, &url).await
        {
            record["embed"] = card;
        }
        if let Some(parent) = item.reply_to {
            record["reply"] = reply_refs(&pds, account, parent).await?;
        }
        let rkey = tid(crate::clock::now_ms());
        guard.arm(Some(&rkey)).await?;
        let req = pds
            .call(Method::POST, "com.atproto.repo.createRecord")?
            .bearer_auth(&account.token)
            .json(&json!({ "repo": account.user_id, "collection": POST, "rkey": rkey, "record": record }));
        let body = send(req, true).await?;
        let uri = body["uri"]
            .as_str()
            .ok_or_else(|| Failure::protocol(P, "no uri in the answer to createRecord"))?;
        Ok(published(account, uri))
    }

    /// The record under the key the send was armed with (`getRecord`): there, or certainly not.
    async fn look_up(
        &self,
        account: &Account,
        _item: &Item<'_>,
        _since_ms: i64,
        reference: Option<&str>,
    ) -> Result<Lookup, Failure> {
        let Some(rkey) = reference else {
            return Ok(Lookup::Unavailable("the send's record key was not recorded".into()));
        };
        let req = Pds::of(account)
            .call(Method::GET, "com.atproto.repo.getRecord")?
            .query(&[("repo", account.user_id.as_str()), ("collection", POST), ("rkey", rkey)]);
        let answer = publish::send(P, req, false).await?;
        if answer.ok() {
            let uri = answer.body["uri"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("at://{}/{POST}/{rkey}", account.user_id));
            return Ok(Lookup::Found(published(account, &uri)));
        }
        if answer.body["error"] == "RecordNotFound" || answer.status == 404 {
            return Ok(Lookup::Absent);
        }
        publish::lookup_refused(
            classify(&answer, false),
            "Bluesky did not let postproxy read the record",
        )
    }

    /// `deleteRecord` by the post's record key.
    async fn delete(&self, account: &Account, id: &str) -> Result<(), Failure> {
        let rkey = id.rsplit('/').next().unwrap_or(id);
        let req = Pds::of(account)
            .call(Method::POST, "com.atproto.repo.deleteRecord")?
            .bearer_auth(&account.token)
            .json(&json!({ "repo": account.user_id, "collection": POST, "rkey": rkey }));
        send(req, false).await.map(|_| ())
    }
}

fn published(account: &Account, uri: &str) -> Published {
    let rkey = uri.rsplit('/').next().unwrap_or_default();
    let who = account.username.as_deref().unwrap_or(&account.user_id);
    Published {
        id: uri.to_string(),
        permalink: Some(format!("https://bsky.app/profile/{who}/post/{rkey}")),
        note: None,
    }
}

/// A record key (TID): microseconds since the epoch and a random clock id, base32-sortable.
fn tid(now_ms: i64) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let micros = (now_ms.max(0) as u64) * 1000 + u64::from(rand::random::<u16>() % 1000);
    let mut v = ((micros & ((1 << 53) - 1)) << 10) | u64::from(rand::random::<u16>() & 0x3ff);
    let mut out = [0u8; 13];
    for c in out.iter_mut().rev() {
        *c = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `root` and `parent` of a reply: the parent's cid, and its own root (or itself).
async fn reply_refs(pds: &Pds<'_>, account: &Account, parent: &str) -> Result<Value, Failure> {
    let rkey = parent.rsplit('/').next().unwrap_or(parent);
    let req = pds.call(Method::GET, "com.atproto.repo.getRecord")?.query(&[
        ("repo", account.user_id.as_str()),
        ("collection", POST),
        ("rkey", rkey),
    ]);
    let body = send(req, false).await?;
    let cid = body["cid"]
        .as_str()
        .ok_or_else(|| Failure::new(FailureKind::Transient, "Bluesky answered getRecord without a cid"))?;
    let parent_ref = json!({ "uri": parent, "cid": cid });
    let root = match &body["value"]["reply"]["root"] {
        Value::Object(r) => Value::Object(r.clone()),
        _ => parent_ref.clone(),
    };
    Ok(json!({ "root": root, "parent": parent_ref }))
}

/// `uploadBlob`: the blob reference to embed.
async fn upload_blob(pds: &Pds<'_>, account: &Account, bytes: Vec<u8>, content_type: &str) -> Result<Value, Failure> {
    let req = pds
        .call(Method::POST, "com.atproto.repo.uploadBlob")?
        .bearer_auth(&account.token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(bytes);
    blob_of(send(req, false).await?)
}

fn blob_of(body: Value) -> Result<Value, Failure> {
    match &body["blob"] {
        Value::Object(b) => Ok(Value::Object(b.clone())),
        _ => Err(Failure::new(
            FailureKind::Transient,
            "Bluesky answered uploadBlob without a blob",
        )),
    }
}

// ---- rich text ----------------------------------------------------------------------------

static LINK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"https?://[^\s<>\x22]+").expect("valid"));
static MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s(])(@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?))")
        .expect("valid")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:^|\s)([#＃](\S+))").expect("valid"));

fn trim_trailing(s: &str) -> &str {
    s.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"', '…'])
}

/// A facet over a byte range of the text.
fn facet(start: usize, end: usize, feature: Value) -> Value {
    json!({ "index": { "byteStart": start, "byteEnd": end }, "features": [feature] })
}

/// Links and hashtags, at UTF-8 byte offsets (what Bluesky indexes by).
fn text_facets(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for m in LINK.find_iter(text) {
        let uri = trim_trailing(m.as_str());
        out.push(facet(
            m.start(),
            m.start() + uri.len(),
            json!({ "$type": "app.bsky.richtext.facet#link", "uri": uri }),
        ));
    }
    for c in TAG.captures_iter(text) {
        let (Some(whole), Some(tag)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let tag_text = trim_trailing(tag.as_str());
        if tag_text.is_empty() || tag_text.chars().all(|ch| ch.is_ascii_digit()) || tag_text.chars().count() > 64 {
            continue;
        }
        let end = tag.start() + tag_text.len();
        out.push(facet(
            whole.start(),
            end,
            json!({ "$type": "app.bsky.richtext.facet#tag", "tag": tag_text }),
        ));
    }
    out
}

/// Every facet of a post: mentions resolved to DIDs (an unknown handle stays plain text),
/// links and hashtags.
async fn facets(pds: &Pds<'_>, account: &Account, text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for c in MENTION.captures_iter(text) {
        let (Some(whole), Some(handle)) = (c.get(1), c.get(2)) else {
            continue;
        };
        let Ok(req) = pds.call(Method::GET, "com.atproto.identity.resolveHandle") else {
            continue;
        };
        let req = req
            .query(&[("handle", handle.as_str().to_ascii_lowercase())])
            .bearer_auth(&account.token);
        if let Ok(body) = send(req, false).await
            && let Some(did) = body["did"].as_str()
        {
            out.push(facet(
                whole.start(),
                whole.end(),
                json!({ "$type": "app.bsky.richtext.facet#mention", "did": did }),
            ));
        }
    }
    out.extend(text_facets(text));
    out.sort_by_key(|f| f["index"]["byteStart"].as_u64());
    out
}

fn first_link(text: &str) -> Option<String> {
    LINK.find(text).map(|m| trim_trailing(m.as_str()).to_string())
}

// ---- link cards ---------------------------------------------------------------------------

static META: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"(?is)<meta\s[^>]*>"#).expect("valid"));
static ATTR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)([a-z:_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("valid"));
static TITLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?is)<title[^>]*>(.*?)</title>").expect("valid"));

/// The Open Graph `property`/`name` → `content` pairs of a page.
fn meta_tags(html: &str) -> Vec<(String, String)> {
    META.find_iter(html)
        .filter_map(|m| {
            let mut key = None;
            let mut content = None;
            for a in ATTR.captures_iter(m.as_str()) {
                let value = a
                    .get(2)
                    .or(a.get(3))
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                match a[1].to_ascii_lowercase().as_str() {
                    "property" | "name" => key = Some(value.to_ascii_lowercase()),
                    "content" => content = Some(value),
                    _ => {}
                }
            }
            Some((key?, content?))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .trim()
        .to_string()
}

/// A link card for the first link of a post without media, from the page's Open Graph tags
/// (through the guarded client). Best effort: a page that cannot be read gets no card.
async fn link_card(pds: &Pds<'_>, account: &Account, url: &str) -> Option<Value> {
    let resp = account.outbound.request(Method::GET, url).ok()?.send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let html_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("html"));
    if !html_type || resp.content_length().is_some_and(|n| n > 2_000_000) {
        return None;
    }
    let body = resp.bytes().await.ok()?;
    let html = String::from_utf8_lossy(&body[..body.len().min(2_000_000)]);
    let tags = meta_tags(&html);
    let tag = |k: &str| tags.iter().find(|(key, _)| key == k).map(|(_, v)| unescape(v));
    let title = tag("og:title")
        .or_else(|| TITLE.captures(&html).map(|c| unescape(&c[1])))
        .unwrap_or_default();
    let description = tag("og:description").or_else(|| tag("description")).unwrap_or_default();
    let mut external = json!({ "uri": url, "title": title, "description": description });
    if let Some(image) = tag("og:image").and_then(|i| url::Url::parse(url).ok()?.join(&i).ok())
        && let Some(thumb) = thumbnail(pds, account, image.as_str()).await
    {
        external["thumb"] = thumb;
    }
    Some(json!({ "$type": "app.bsky.embed.external", "external": external }))
}

/// The card's image, uploaded as a blob when it is an image within the blob limit.
async fn thumbnail(pds: &Pds<'_>, account: &Account, url: &str) -> Option<Value> {
    let resp = account.outbound.request(Method::GET, url).ok()?.send().await.ok()?;
    if !resp.status().is_success() || resp.content_length().is_some_and(|n| n > MAX_BLOB) {
        return None;
    }
    let bytes = resp.bytes().await.ok()?;
    let (content_type, _) = crate::media::sniff::sniff(&bytes)?;
    if bytes.len() as u64 > MAX_BLOB || !SPEC.rules.image_types.contains(&content_type) {
        return None;
    }
    upload_blob(pds, account, bytes.to_vec(), content_type).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facets_index_utf8_bytes() {
        let text = "Café ☕ 日本 see https://example.com/a?b=1. #rust #123 end";
        let f = text_facets(text);
        let link = &f[0];
        let start = link["index"]["byteStart"].as_u64().unwrap() as usize;
        let end = link["index"]["byteEnd"].as_u64().unwrap() as usize;
        assert_eq!(&text.as_bytes()[start..end], b"https://example.com/a?b=1");
        assert_eq!(link["features"][0]["uri"], "https://example.com/a?b=1");
        let tag = &f[1];
        let (s, e) = (
            tag["index"]["byteStart"].as_u64().unwrap() as usize,
            tag["index"]["byteEnd"].as_u64().unwrap() as usize,
        );
        assert_eq!(&text[s..e], "#rust");
        assert_eq!(tag["features"][0]["tag"], "rust");
        assert_eq!(f.len(), 2, "a number is not a tag: {f:?}");
    }

    #[test]
    fn record_keys_are_tids() {
        let a = tid(1_700_000_000_000);
        assert_eq!(a.len(), 13);
        assert!(a.bytes().all(|b| b"234567abcdefghijklmnopqrstuvwxyz".contains(&b)));
        assert!(b"234567abcdefghij".contains(&a.as_bytes()[0]));
        assert!(tid(1_800_000_000_000) > a, "sortable by time");
    }

    #[test]
    fn reads_the_pds_and_og_tags() {
        let doc = json!({"id": "did:plc:x", "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example/"}]});
        assert_eq!(pds_in(&doc).as_deref(), Some("https://pds.example"));
        let tags = meta_tags(r#"<meta property="og:title" content="A &amp; B"><meta content='D' name="description">"#);
        assert_eq!(
            tags,
            vec![
                ("og:title".into(), "A &amp; B".into()),
                ("description".into(), "D".into())
            ]
        );
    }
}
