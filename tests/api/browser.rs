//! A real browser through the hosted connection flow: Chromium, driven by ChromeDriver over the
//! W3C WebDriver HTTP API, opens the `/partner_connect/<token>` page, presses "Continue", allows
//! access on the fake provider's consent page and lands on the customer's `redirect_url`.
//!
//! Ignored by default: it needs `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! (`apt-get install -y chromium chromium-driver`). Run it with
//! `cargo test --test api browser -- --include-ignored`. Screenshots of the connection page (on a
//! phone-sized window) and ChromeDriver's log are written to `target/browser/`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::fake_provider::FakeProvider;
use crate::helpers::{TestApp, backends};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest any single wait (driver start-up, an element, a navigation) may take.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The viewport, in CSS pixels: a common Android phone.
const PHONE: (u32, u32) = (412, 915);

/// (platform, its label on our pages): X uses PKCE, Facebook swaps for a long-lived token.
const PLATFORMS: [(&str, &str); 2] = [("twitter", "X"), ("facebook", "Facebook")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and ChromeDriver; run by .ci/run with --include-ignored"]
async fn hosted_connection_flow_in_a_real_browser() {
    for bin in [CHROMEDRIVER, CHROMIUM] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: this test drives a real browser; install it with \
             `apt-get install -y chromium chromium-driver`"
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let out = output_dir();
    let browser = Browser::start(&out).await;
    for backend in backends() {
        let fake = FakeProvider::start().await;
        let t = TestApp::builder(backend).fake(&fake).listening().spawn().await;
        let base = t.base.clone();
        let customer = Customer::start().await;
        for (platform, label) in PLATFORMS {
            let flow = Flow {
                t: &t,
                base: &base,
                fake: &fake,
                customer: &customer,
                platform,
                label,
                out: &out,
            };
            flow.run(&browser).await;
        }
        let list = t.get("/api/profiles", &t.account.key).await;
        assert_eq!(
            list.body["data"].as_array().map(Vec::len),
            Some(PLATFORMS.len()),
            "{backend:?}: {}",
            list.text
        );
    }
    browser.quit().await;
}

/// One connection, from `initialize_connection` to the profile in the API.
struct Flow<'a> {
    t: &'a TestApp,
    base: &'a str,
    fake: &'a FakeProvider,
    customer: &'a Customer,
    platform: &'a str,
    label: &'a str,
    out: &'a Path,
}

impl Flow<'_> {
    async fn run(&self, b: &Browser) {
        let (t, platform, label) = (self.t, self.platform, self.label);
        let ctx = format!("{:?}/{platform}", t.backend);

        // The customer asks for a connection URL.
        let redirect_url = format!("{}/done?ref=42", self.customer.base);
        let r = t
            .post(
                &format!(
                    "/api/profile_groups/{}/initialize_connection",
                    t.account.group_public_id
                ),
                &t.account.key,
                json!({"platform": platform, "redirect_url": redirect_url}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{ctx}: {}", r.text);
        let url = r.body["url"].as_str().unwrap_or_default().to_string();
        assert!(
            url.starts_with(&format!("{}/partner_connect/", self.base)),
            "{ctx}: {url}"
        );

        // The connection page names the platform and the group.
        b.navigate(&url).await;
        let title = b.title().await;
        assert_eq!(title, format!("Connect {label}"), "{ctx}: title\n{}", b.dump().await);
        let body = b.find("body").await;
        let text = b.text(&body).await;
        for needle in [format!("Connect your {label} account"), "Default".to_string()] {
            assert!(
                text.contains(&needle),
                "{ctx}: {needle:?} not on the page\n{}",
                b.dump().await
            );
        }
        let button = b.find("#continue").await;
        assert_eq!(b.text(&button).await, format!("Continue to {label}"), "{ctx}");
        // It fits the phone: nothing wider than the viewport.
        let widths = b
            .must(
                Method::POST,
                "/execute/sync",
                Some(json!({"script": "return [document.documentElement.scrollWidth, window.innerWidth]", "args": []})),
            )
            .await;
        assert_eq!(
            widths,
            json!([PHONE.0, PHONE.0]),
            "{ctx}: (scroll width, viewport width)"
        );
        let png = b.screenshot().await;
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{ctx}: the screenshot is not a PNG"
        );
        let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        assert_eq!((size(16), size(20)), PHONE, "{ctx}: screenshot size (width, height)");
        let shot = self.out.join(format!("connect-page-{platform}.png"));
        std::fs::write(&shot, &png).unwrap_or_else(|e| panic!("writing {}: {e}", shot.display()));

        // "Continue" posts the form and lands on the platform's consent page.
        b.click(&button).await;
        let approve = b.wait_for("#approve", &ctx).await;
        let consent = b.current_url().await;
        assert!(
            consent.starts_with(&format!("{}/{platform}/authorize?", self.fake.base())),
            "{ctx}: consent page at {consent}"
        );

        // "Allow" goes to our callback, which sends the browser on to the customer.
        b.click(&approve).await;
        let landed = b.wait_for_url(&format!("{}/done?", self.customer.base), &ctx).await;
        let q: HashMap<String, String> = url::Url::parse(&landed)
            .unwrap_or_else(|e| panic!("{ctx}: {landed}: {e}"))
            .query_pairs()
            .into_owned()
            .collect();
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
        assert_eq!(get("ref"), "42", "{ctx}: the customer's own query is kept: {landed}");
        assert_eq!(get("status"), "success", "{ctx}: {landed}");
        assert_eq!(get("platform"), platform, "{ctx}: {landed}");
        let profile_id = get("profile_id");
        assert!(!profile_id.is_empty(), "{ctx}: no profile_id in {landed}");
        let done = b.wait_for("#connected", &ctx).await;
        assert_eq!(b.text(&done).await, "Connected", "{ctx}");
        assert!(
            self.customer
                .hits()
                .iter()
                .any(|h| h.contains(&format!("profile_id={profile_id}"))),
            "{ctx}: the customer's server never saw the redirect: {:?}",
            self.customer.hits()
        );

        // The profile exists and is active.
        let list = t.get("/api/profiles", &t.account.key).await;
        assert_eq!(list.status, StatusCode::OK, "{ctx}: {}", list.text);
        let profile = list.body["data"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == profile_id))
            .unwrap_or_else(|| panic!("{ctx}: profile {profile_id} not listed: {}", list.text));
        assert_eq!(profile["status"], "active", "{ctx}: {profile}");
        assert_eq!(profile["platform"], platform, "{ctx}: {profile}");
        assert_eq!(
            profile["profile_group_id"],
            t.account.group_public_id.as_str(),
            "{ctx}: {profile}"
        );
    }
}

/// `target/browser/` (next to `target/tmp`, the test binary's scratch directory).
fn output_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The customer's site: `GET /done` answers a small "Connected" page and records its query.
struct Customer {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Customer {
    async fn start() -> Customer {
        async fn done(State(hits): State<Arc<Mutex<Vec<String>>>>, RawQuery(q): RawQuery) -> Html<&'static str> {
            hits.lock().unwrap().push(q.unwrap_or_default());
            Html(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
                 <title>Connected</title></head><body><h1 id=\"connected\">Connected</h1></body></html>",
            )
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("customer: bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/done", get(done)).with_state(hits.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Customer { base, hits, task }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Customer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A ChromeDriver process with one headless Chromium session. Dropping it (also on a panic) ends
/// the session, which closes Chromium, and kills ChromeDriver.
struct Browser {
    http: reqwest::Client,
    addr: SocketAddr,
    session: Option<String>,
    driver: Child,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(out: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = out.join("chromedriver.log");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let profile = tempfile::tempdir().expect("a Chromium profile directory");
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut b = Browser {
            http,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
            driver,
            log,
            _profile: profile,
        };
        b.wait_until_ready().await;
        b.new_session().await;
        b
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("{CHROMEDRIVER} exited with {status}; see {}", self.log.display());
            }
            let status = self.http.get(self.url("/status")).send().await;
            let last = match status {
                Ok(r) => match r.json::<Value>().await {
                    Ok(v) if v["value"]["ready"] == true => return,
                    Ok(v) => v.to_string(),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                panic!(
                    "{CHROMEDRIVER} not ready after {WAIT:?}: {last}; see {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn new_session(&mut self) {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 15_000, "script": 5_000},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--window-size={},{}", PHONE.0, PHONE.1),
                    format!("--user-data-dir={}", self._profile.path().display()),
                ],
                // Headless Chromium keeps windows at least 500 px wide: emulate the phone's
                // viewport itself.
                "mobileEmulation": {"deviceMetrics": {"width": PHONE.0, "height": PHONE.1, "pixelRatio": 1.0}},
            },
        }}});
        let r = self
            .http
            .post(self.url("/session"))
            .json(&caps)
            .send()
            .await
            .unwrap_or_else(|e| panic!("new session: {e}; see {}", self.log.display()));
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        match v["value"]["sessionId"].as_str() {
            Some(id) if status.is_success() => self.session = Some(id.to_string()),
            _ => panic!("new session: {status} {v}; see {}", self.log.display()),
        }
    }

    /// One WebDriver command on the session; `Err` carries the driver's error.
    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let session = self.session.as_deref().expect("a session");
        let what = format!("{method} /session/{session}{path}");
        let mut req = self
            .http
            .request(method, self.url(&format!("/session/{session}{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| format!("{what}: {status}, not JSON: {e}"))?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            // (Not ChromeDriver's own stack trace: it is only addresses.)
            Err(format!(
                "{what}: {status} {}: {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    /// A command that must succeed; panics with the browser's URL and page source if not.
    async fn must(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        match self.cmd(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("{e}\n{}", self.dump().await),
        }
    }

    /// The current URL and page source, for failure messages.
    async fn dump(&self) -> String {
        let url = self.cmd(Method::GET, "/url", None).await;
        let source = self.cmd(Method::GET, "/source", None).await;
        let show = |r: Result<Value, String>| match r {
            Ok(v) => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
            Err(e) => format!("<{e}>"),
        };
        let mut source = show(source);
        if source.len() > 8000 {
            let mut end = 8000;
            while !source.is_char_boundary(end) {
                end -= 1;
            }
            source.truncate(end);
            source.push('…');
        }
        format!("current URL: {}\npage source:\n{source}", show(url))
    }

    async fn navigate(&self, url: &str) {
        self.must(Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn current_url(&self) -> String {
        self.must(Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn title(&self) -> String {
        self.must(Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn try_find(&self, css: &str) -> Result<String, String> {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{css}: {v}"))
    }

    async fn find(&self, css: &str) -> String {
        match self.try_find(css).await {
            Ok(id) => id,
            Err(e) => panic!("{e}\n{}", self.dump().await),
        }
    }

    /// Polls for an element (e.g. on the page a click navigates to), for at most `WAIT`.
    async fn wait_for(&self, css: &str, ctx: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_find(css).await {
                Ok(id) => return id,
                Err(e) if Instant::now() > deadline => {
                    panic!("{ctx}: no {css} after {WAIT:?}: {e}\n{}", self.dump().await)
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Polls until the browser is on a URL starting with `prefix`, for at most `WAIT`.
    async fn wait_for_url(&self, prefix: &str, ctx: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.cmd(Method::GET, "/url", None).await;
            match url.as_ref().ok().and_then(Value::as_str) {
                Some(u) if u.starts_with(prefix) => return u.to_string(),
                _ if Instant::now() > deadline => {
                    panic!("{ctx}: not on {prefix}… after {WAIT:?}\n{}", self.dump().await)
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    }

    async fn text(&self, element: &str) -> String {
        let v = self.must(Method::GET, &format!("/element/{element}/text"), None).await;
        v.as_str().unwrap_or_default().to_string()
    }

    async fn click(&self, element: &str) {
        self.must(Method::POST, &format!("/element/{element}/click"), Some(json!({})))
            .await;
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> Vec<u8> {
        let v = self.must(Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 screenshot")
    }

    /// Ends the session (closing Chromium), then the driver (by dropping).
    async fn quit(mut self) {
        if let Some(id) = self.session.take() {
            let r = self.http.delete(self.url(&format!("/session/{id}"))).send().await;
            if !r.is_ok_and(|r| r.status().is_success()) {
                // Try once more the blocking way in `drop`.
                self.session = Some(id);
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // No runtime to lean on here (we may be unwinding): a plain blocking HTTP request.
        if let Some(id) = self.session.take() {
            delete_session_blocking(self.addr, &id);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn delete_session_blocking(addr: SocketAddr, session: &str) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let request =
        format!("DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return;
    }
    // Wait for the whole answer (ChromeDriver answers once Chromium is closed), but not for the
    // connection to close: ChromeDriver keeps it open.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut chunk) {
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return;
        }
    }
}
