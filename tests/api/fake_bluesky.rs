//! A fake of Bluesky's side, in the AT Protocol's formats: the service (`resolveHandle`, and
//! `createSession` for accounts it hosts, by handle, email or DID), a PLC directory at
//! `{base}/plc/<did>` serving DID documents whose `#atproto_pds` names the account's PDS, and the
//! PDS itself (`createSession`, `refreshSession` rotating its refresh tokens, `getProfile`,
//! `uploadBlob` with the 1,000,000-byte limit, `createRecord` / `getRecord` / `deleteRecord`).
//! Access tokens are JWTs (`sub`, `exp`); errors are `{"error", "message"}`. `createRecord`
//! checks a post as the PDS and the app view would: 300 graphemes, `createdAt`, facets on UTF-8
//! byte boundaries inside the text with mentions of known DIDs, images of uploaded blobs, and
//! replies whose `root` and `parent` name existing records by uri and cid. A second instance can
//! be an account's own PDS (`add_account_on`). Pages for link cards: `{base}/pages/card.html`
//! (Open Graph tags) and `{base}/pages/thumb.jpg`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use unicode_segmentation::UnicodeSegmentation;

use crate::fake_provider::{JPEG, sniff_image};

#[derive(Debug, Clone)]
pub struct Account {
    pub did: String,
    pub handle: String,
    pub email: String,
    pub display_name: String,
    pub app_passwords: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub did: String,
    pub rkey: String,
    pub cid: String,
    pub value: Value,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub cid: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    base: String,
    accounts: Vec<Account>,
    /// The PLC directory: DID → PDS base.
    plc: HashMap<String, String>,
    /// Valid access tokens → DID; refresh tokens → DID.
    access: HashMap<String, String>,
    refresh: HashMap<String, String>,
    /// Every token minted, for "never logged" checks.
    minted: Vec<String>,
    counter: u64,
    blobs: Vec<Blob>,
    records: Vec<Record>,
    /// The next createRecord stores the record, then answers 500 (an unknown outcome).
    lose_next_create: bool,
    /// The next writes answer 429 with `ratelimit-reset` this many seconds ahead.
    rate_limited: Vec<i64>,
    /// Every XRPC call: (nsid, query and body).
    calls: Vec<(String, Value)>,
}

pub struct FakeBluesky {
    base: String,
    inner: Arc<Mutex<Inner>>,
    task: JoinHandle<()>,
}

impl Drop for FakeBluesky {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn jwt(sub: &str, exp_in: i64, n: u64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = postproxy::clock::now_ms() / 1000 + exp_in;
    format!(
        "{}.{}.sig{n}",
        b64(json!({"typ": "at+jwt", "alg": "ES256K"})),
        b64(json!({"scope": "com.atproto.appPass", "sub": sub, "exp": exp, "jti": n}))
    )
}

impl FakeBluesky {
    pub async fn start() -> FakeBluesky {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            ..Inner::default()
        }));
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake bluesky: serve");
        });
        FakeBluesky { base, inner, task }
    }

    /// `POSTPROXY_BLUESKY_SERVICE_URL`.
    pub fn service_url(&self) -> String {
        self.base.clone()
    }

    /// `POSTPROXY_BLUESKY_PLC_URL`.
    pub fn plc_url(&self) -> String {
        format!("{}/plc", self.base)
    }

    pub fn page_url(&self) -> String {
        format!("{}/pages/card.html", self.base)
    }

    /// An account hosted here (this instance is its PDS); its DID.
    pub fn add_account(&self, handle: &str, display_name: &str, app_password: &str) -> String {
        self.add_account_on(self, handle, display_name, app_password)
    }

    /// An account whose PDS is `pds` (another instance), registered in this one's directory
    /// and resolvable through this one as the service.
    pub fn add_account_on(&self, pds: &FakeBluesky, handle: &str, display_name: &str, app_password: &str) -> String {
        let did = {
            let mut s = self.inner.lock().unwrap();
            s.counter += 1;
            format!("did:plc:fake{:020}", s.counter + (handle.len() as u64) * 1000)
        };
        let account = Account {
            did: did.clone(),
            handle: handle.into(),
            email: format!("{}@example.com", handle.split('.').next().unwrap()),
            display_name: display_name.into(),
            app_passwords: vec![app_password.into()],
        };
        pds.inner.lock().unwrap().accounts.push(account.clone());
        let mut s = self.inner.lock().unwrap();
        s.plc.insert(did.clone(), pds.base.clone());
        if !std::ptr::eq(self, pds) {
            s.accounts.push(Account {
                app_passwords: vec![],
                ..account
            }); // known to the service for resolveHandle only
        }
        did
    }

    /// Revokes an app password: it no longer signs in, and its sessions end.
    pub fn revoke_app_password(&self, did: &str) {
        let mut s = self.inner.lock().unwrap();
        for a in s.accounts.iter_mut().filter(|a| a.did == did) {
            a.app_passwords.clear();
        }
        s.access.retain(|_, d| d != did);
        s.refresh.retain(|_, d| d != did);
    }

    /// Every access token expires (the refresh tokens still work).
    pub fn expire_access_tokens(&self) {
        self.inner.lock().unwrap().access.clear();
    }

    /// Every refresh token expires too.
    pub fn expire_sessions(&self) {
        let mut s = self.inner.lock().unwrap();
        s.access.clear();
        s.refresh.clear();
    }

    pub fn lose_next_create(&self) {
        self.inner.lock().unwrap().lose_next_create = true;
    }

    pub fn rate_limit_next(&self, reset_in_s: i64) {
        self.inner.lock().unwrap().rate_limited.push(reset_in_s);
    }

    /// Every session token this fake handed out.
    pub fn minted(&self) -> Vec<String> {
        self.inner.lock().unwrap().minted.clone()
    }

    pub fn records(&self) -> Vec<Record> {
        self.inner.lock().unwrap().records.clone()
    }

    pub fn blobs(&self) -> Vec<Blob> {
        self.inner.lock().unwrap().blobs.clone()
    }

    pub fn calls(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().calls.clone()
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn err(status: u16, error: &str, message: &str) -> Response {
    answer(
        StatusCode::from_u16(status).unwrap(),
        json!({"error": error, "message": message}),
    )
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn is_tid(s: &str) -> bool {
    s.len() == 13
        && s.bytes().all(|b| b"234567abcdefghijklmnopqrstuvwxyz".contains(&b))
        && b"234567abcdefghij".contains(&s.as_bytes()[0])
}

impl Inner {
    fn mint(&mut self, did: &str) -> (String, String) {
        self.counter += 1;
        let access = jwt(did, 7200, self.counter);
        let refresh = format!("refresh-{}-{did}", self.counter);
        self.access.insert(access.clone(), did.into());
        self.refresh.insert(refresh.clone(), did.into());
        self.minted.extend([access.clone(), refresh.clone()]);
        (access, refresh)
    }

    fn session(&mut self, a: &Account) -> Value {
        let (access, refresh) = self.mint(&a.did);
        json!({"accessJwt": access, "refreshJwt": refresh, "handle": a.handle, "did": a.did,
               "email": a.email, "emailConfirmed": true, "active": true})
    }

    fn did_doc(&self, did: &str) -> Option<Value> {
        let pds = self.plc.get(did)?;
        let handle = self.accounts.iter().find(|a| a.did == did).map(|a| a.handle.clone());
        Some(json!({
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": handle.map(|h| vec![format!("at://{h}")]).unwrap_or_default(),
            "verificationMethod": [],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}]
        }))
    }

    /// The DID of a valid access token.
    #[allow(clippy::result_large_err)] // a fake: the error is the answer itself
    fn authed(&self, headers: &HeaderMap) -> Result<String, Response> {
        let Some(token) = bearer(headers) else {
            return Err(err(401, "AuthenticationRequired", "Authentication Required"));
        };
        self.access
            .get(&token)
            .cloned()
            .ok_or_else(|| err(400, "ExpiredToken", "Token has expired"))
    }

    /// What the PDS and the app view check of a post record.
    fn check_post(&self, did: &str, record: &Value) -> Result<(), String> {
        if record["$type"] != "app.bsky.feed.post" {
            return Err("Invalid $type".into());
        }
        let text = record["text"].as_str().ok_or("Record/text must be a string")?;
        if text.graphemes(true).count() > 300 {
            return Err("Record/text must not be longer than 300 graphemes".into());
        }
        if record["createdAt"].as_str().is_none() {
            return Err("Record/createdAt must be a datetime".into());
        }
        for f in record["facets"].as_array().into_iter().flatten() {
            let s = f["index"]["byteStart"].as_u64().ok_or("facet without byteStart")? as usize;
            let e = f["index"]["byteEnd"].as_u64().ok_or("facet without byteEnd")? as usize;
            if s >= e || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
                return Err(format!("facet {s}..{e} is not a range of the text's bytes"));
            }
            for feature in f["features"].as_array().into_iter().flatten() {
                if feature["$type"] == "app.bsky.richtext.facet#mention" {
                    let target = feature["did"].as_str().unwrap_or_default();
                    if !self.accounts.iter().any(|a| a.did == target) {
                        return Err(format!("mention of unknown {target}"));
                    }
                }
            }
        }
        let embed = &record["embed"];
        if embed["$type"] == "app.bsky.embed.images" {
            let images = embed["images"].as_array().ok_or("images must be a list")?;
            if images.len() > 4 {
                return Err("Record/embed/images must not have more than 4 elements".into());
            }
            for i in images {
                let cid = i["image"]["ref"]["$link"].as_str().unwrap_or_default();
                if !self.blobs.iter().any(|b| b.cid == cid) || i["alt"].as_str().is_none() {
                    return Err("Record/embed/images: unknown blob or no alt".into());
                }
            }
        }
        if embed["$type"] == "app.bsky.embed.video" {
            let cid = embed["video"]["ref"]["$link"].as_str().unwrap_or_default();
            if !self.blobs.iter().any(|b| b.cid == cid && b.mime.starts_with("video/")) {
                return Err("Record/embed/video: unknown video blob".into());
            }
        }
        if let Some(reply) = record.get("reply") {
            for k in ["root", "parent"] {
                let (uri, cid) = (
                    reply[k]["uri"].as_str().unwrap_or(""),
                    reply[k]["cid"].as_str().unwrap_or(""),
                );
                if !self
                    .records
                    .iter()
                    .any(|r| format!("at://{}/app.bsky.feed.post/{}", r.did, r.rkey) == uri && r.cid == cid)
                {
                    return Err(format!("reply {k} {uri} {cid} is not a record"));
                }
            }
        }
        let _ = did;
        Ok(())
    }
}

async fn serve(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query: HashMap<String, String> = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    match path.as_str() {
        "/pages/card.html" => {
            let base = inner.lock().unwrap().base.clone();
            let html = format!(
                "<html><head><title>Fallback</title><meta property=\"og:title\" content=\"Launch &amp; more\">\
                 <meta name='description' content='The whole story'><meta property=\"og:image\" content=\"{base}/pages/thumb.jpg\">\
                 </head><body>hi</body></html>"
            );
            return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        }
        "/pages/thumb.jpg" => return ([(header::CONTENT_TYPE, "image/jpeg")], JPEG).into_response(),
        "/pages/big.jpg" => {
            let mut big = JPEG[..JPEG.len() - 2].to_vec();
            big.resize(1_100_000, 0);
            big.extend_from_slice(&[0xFF, 0xD9]);
            return ([(header::CONTENT_TYPE, "image/jpeg")], big).into_response();
        }
        "/pages/clip.mp4" => {
            return ([(header::CONTENT_TYPE, "video/mp4")], crate::fake_telegram::MP4).into_response();
        }
        _ => {}
    }
    let mut s = inner.lock().unwrap();
    if let Some(did) = path.strip_prefix("/plc/") {
        return match s.did_doc(did) {
            Some(doc) => answer(StatusCode::OK, doc),
            None => answer(
                StatusCode::NOT_FOUND,
                json!({"message": format!("DID not registered: {did}")}),
            ),
        };
    }
    let Some(nsid) = path.strip_prefix("/xrpc/") else {
        return err(404, "NotFound", "Not Found");
    };
    let params: Value = if body.is_empty() || nsid == "com.atproto.repo.uploadBlob" {
        json!(query)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    s.calls.push((nsid.to_string(), params.clone()));
    let writes = matches!(nsid, "com.atproto.repo.createRecord" | "com.atproto.repo.uploadBlob");
    if writes && !s.rate_limited.is_empty() {
        let reset = postproxy::clock::now_ms() / 1000 + s.rate_limited.remove(0);
        let mut r = err(429, "RateLimitExceeded", "Rate Limit Exceeded");
        r.headers_mut()
            .insert("ratelimit-reset", reset.to_string().parse().unwrap());
        r.headers_mut().insert("ratelimit-remaining", "0".parse().unwrap());
        return r;
    }
    match (method.as_str(), nsid) {
        ("GET", "com.atproto.identity.resolveHandle") => {
            let handle = query.get("handle").cloned().unwrap_or_default();
            match s.accounts.iter().find(|a| a.handle == handle) {
                Some(a) => answer(StatusCode::OK, json!({"did": a.did})),
                None => err(400, "InvalidRequest", "Unable to resolve handle"),
            }
        }
        ("POST", "com.atproto.server.createSession") => {
            let id = params["identifier"].as_str().unwrap_or_default().to_string();
            let password = params["password"].as_str().unwrap_or_default().to_string();
            let found = s
                .accounts
                .iter()
                .find(|a| (a.handle == id || a.email == id || a.did == id) && a.app_passwords.contains(&password))
                .cloned();
            match found {
                Some(a) => {
                    let mut session = s.session(&a);
                    // Only a login at the account's own PDS carries the DID document.
                    if let Some(doc) = s.did_doc(&a.did) {
                        session["didDoc"] = doc;
                    }
                    answer(StatusCode::OK, session)
                }
                None => err(401, "AuthenticationRequired", "Invalid identifier or password"),
            }
        }
        ("POST", "com.atproto.server.refreshSession") => {
            let token = bearer(&headers).unwrap_or_default();
            let Some(did) = s.refresh.remove(&token) else {
                return err(400, "ExpiredToken", "Token has expired");
            };
            let a = s.accounts.iter().find(|a| a.did == did).cloned().unwrap();
            let session = s.session(&a);
            answer(StatusCode::OK, session)
        }
        ("GET", "app.bsky.actor.getProfile") => {
            if let Err(r) = s.authed(&headers) {
                return r;
            }
            let actor = query.get("actor").cloned().unwrap_or_default();
            match s.accounts.iter().find(|a| a.did == actor || a.handle == actor) {
                Some(a) => answer(
                    StatusCode::OK,
                    json!({"did": a.did, "handle": a.handle, "displayName": a.display_name,
                           "avatar": format!("https://cdn.bsky.app/img/avatar/plain/{}/a@jpeg", a.did),
                           "followersCount": 10, "postsCount": 3}),
                ),
                None => err(400, "InvalidRequest", "Profile not found"),
            }
        }
        ("POST", "com.atproto.repo.uploadBlob") => {
            if let Err(r) = s.authed(&headers) {
                return r;
            }
            let mime = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let video = mime.starts_with("video/");
            if body.len() > if video { 100_000_000 } else { 1_000_000 } {
                return err(400, "BlobTooLarge", "This file is too large");
            }
            let matches = if video {
                crate::fake_telegram::is_mp4(&body)
            } else {
                sniff_image(&body) == Some(mime.as_str())
            };
            if !matches {
                return err(400, "InvalidRequest", &format!("blob is not a {mime}"));
            }
            s.counter += 1;
            let cid = format!("bafkreifake{}", s.counter);
            let size = body.len();
            s.blobs.push(Blob {
                cid: cid.clone(),
                mime: mime.clone(),
                bytes: body.to_vec(),
            });
            answer(
                StatusCode::OK,
                json!({"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": size}}),
            )
        }
        ("POST", "com.atproto.repo.createRecord") => {
            let did = match s.authed(&headers) {
                Ok(d) => d,
                Err(r) => return r,
            };
            if params["repo"] != json!(did) || params["collection"] != "app.bsky.feed.post" {
                return err(400, "InvalidRequest", "repo or collection not allowed");
            }
            let rkey = params["rkey"].as_str().unwrap_or_default().to_string();
            if !is_tid(&rkey) {
                return err(400, "InvalidRequest", "Invalid rkey: not a TID");
            }
            if s.records.iter().any(|r| r.did == did && r.rkey == rkey) {
                return err(400, "InvalidRequest", "Record already exists");
            }
            if let Err(e) = s.check_post(&did, &params["record"]) {
                return err(400, "InvalidRecord", &e);
            }
            s.counter += 1;
            let cid = format!("bafyreifake{}", s.counter);
            s.records.push(Record {
                did: did.clone(),
                rkey: rkey.clone(),
                cid: cid.clone(),
                value: params["record"].clone(),
                deleted: false,
            });
            if std::mem::take(&mut s.lose_next_create) {
                return err(500, "InternalServerError", "Internal Server Error");
            }
            answer(
                StatusCode::OK,
                json!({"uri": format!("at://{did}/app.bsky.feed.post/{rkey}"), "cid": cid,
                       "commit": {"cid": "bafyreicommit", "rev": "3l"}, "validationStatus": "valid"}),
            )
        }
        ("GET", "com.atproto.repo.getRecord") => {
            let (repo, rkey) = (
                query.get("repo").cloned().unwrap_or_default(),
                query.get("rkey").cloned().unwrap_or_default(),
            );
            match s.records.iter().find(|r| r.did == repo && r.rkey == rkey && !r.deleted) {
                Some(r) => answer(
                    StatusCode::OK,
                    json!({"uri": format!("at://{}/app.bsky.feed.post/{}", r.did, r.rkey), "cid": r.cid, "value": r.value}),
                ),
                None => err(
                    400,
                    "RecordNotFound",
                    &format!("Could not locate record: at://{repo}/app.bsky.feed.post/{rkey}"),
                ),
            }
        }
        ("POST", "com.atproto.repo.deleteRecord") => {
            let did = match s.authed(&headers) {
                Ok(d) => d,
                Err(r) => return r,
            };
            let rkey = params["rkey"].as_str().unwrap_or_default().to_string();
            for r in s.records.iter_mut().filter(|r| r.did == did && r.rkey == rkey) {
                r.deleted = true;
            }
            answer(StatusCode::OK, json!({"commit": {"cid": "bafyreicommit", "rev": "3m"}}))
        }
        _ => err(501, "MethodNotImplemented", "Method Not Implemented"),
    }
}
