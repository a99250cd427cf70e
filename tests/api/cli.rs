//! The `postproxy` binary: admin commands, migrate, and serve (first start, shutdown).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

const BIN: &str = env!("CARGO_BIN_EXE_postproxy");

fn run(db_url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("POSTPROXY_DATABASE_URL", db_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("run postproxy")
}

fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

app_test!(admin_list_accounts_and_accounts_by_name, |t: TestApp| async move {
    let db = t.db_url.clone();
    let made = json_out(&run(&db, &["admin", "create-account", "--name", "Acme Agency"]));
    let id = made["account_id"].as_str().unwrap();
    let listed = json_out(&run(&db, &["admin", "list-accounts"]));
    let acme = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Acme Agency")
        .unwrap_or_else(|| panic!("{listed}"))
        .clone();
    assert_eq!(acme["id"], id);
    assert_eq!(acme["key_count"], 1);
    assert!(acme["created_at"].as_str().unwrap().ends_with('Z'), "{acme}");
    // --account takes the name as well as the id.
    let key = json_out(&run(&db, &["admin", "create-key", "--account", "Acme Agency"]));
    assert!(key["token"].as_str().unwrap().starts_with("pp_"));
    let listed = json_out(&run(&db, &["admin", "list-keys", "--account", id]));
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    // A name two accounts share, or none has, is refused in one line that says what to do.
    json_out(&run(&db, &["admin", "create-account", "--name", "Acme Agency"]));
    let err = one_line_failure(&run(&db, &["admin", "list-keys", "--account", "Acme Agency"]));
    assert!(
        err.contains("several accounts") && err.contains("list-accounts"),
        "{err}"
    );
    let err = one_line_failure(&run(&db, &["admin", "list-keys", "--account", "Nobody"]));
    assert!(err.contains("no account"), "{err}");
});

#[test]
fn help_names_the_platform_variables_and_every_command() {
    let out = Command::new(BIN).arg("--help").output().expect("run postproxy --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("POSTPROXY_<PLATFORM>_CLIENT_ID") && help.contains("TWITTER"),
        "{help}"
    );
    let out = Command::new(BIN).args(["admin", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "create-account",
        "list-accounts",
        "create-key",
        "list-keys",
        "revoke-key",
    ] {
        let described = help
            .lines()
            .any(|l| l.trim_start().starts_with(line) && l.trim().len() > line.len() + 5);
        assert!(described, "{line} has no help line:\n{help}");
    }
}

fn one_line_failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, got {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one-line reason expected: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    err
}

app_test!(admin_create_account_and_keys, |t: TestApp| async move {
    let db = t.db_url.clone();
    let acct = json_out(&run(&db, &["admin", "create-account", "--name", "Acme Agency"]));
    let obj = acct.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["account_id", "api_key", "api_key_id", "profile_group_id"]);
    let full = acct["api_key"].as_str().unwrap().to_string();
    let account = acct["account_id"].as_str().unwrap().to_string();
    let group = acct["profile_group_id"].as_str().unwrap().to_string();

    // The new key works against the same database, and sees the "Default" group.
    let r = t.get("/api/profile_groups", &full).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["data"],
        serde_json::json!([{"id": group, "name": "Default", "profiles_count": 0}])
    );

    // A scoped key.
    let other_group = t.create_group(&full, "Client").await;
    let scoped = json_out(&run(
        &db,
        &[
            "admin",
            "create-key",
            "--account",
            &account,
            "--profile-group",
            &other_group,
            "--name",
            "client",
        ],
    ));
    assert_eq!(scoped["profile_group_id"], other_group.as_str());
    let token = scoped["token"].as_str().unwrap().to_string();
    let r = t.get("/api/profile_groups", &token).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], other_group.as_str());

    // A full-access key.
    let second = json_out(&run(&db, &["admin", "create-key", "--account", &account]));
    assert_eq!(second["profile_group_id"], Value::Null);
    assert_eq!(
        t.get("/api/profile_groups", second["token"].as_str().unwrap())
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // list-keys: three keys, no secrets.
    let out = run(&db, &["admin", "list-keys", "--account", &account]);
    let listed = json_out(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&full) && !text.contains(&token));
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[1]["id"], scoped["id"]);
    assert_eq!(data[1]["profile_group_id"], other_group.as_str());
    assert_eq!(data[1]["revoked_at"], Value::Null);
    assert!(data[1]["created_at"].as_str().unwrap().ends_with('Z'));

    // revoke-key: the key stops working at once.
    let revoked = json_out(&run(&db, &["admin", "revoke-key", scoped["id"].as_str().unwrap()]));
    assert_eq!(revoked["revoked"], true);
    assert_eq!(
        t.get("/api/profile_groups", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let listed = json_out(&run(&db, &["admin", "list-keys", "--account", &account]));
    assert!(listed["data"][1]["revoked_at"].is_string());
    assert_eq!(t.get("/api/profile_groups", &full).await.status, StatusCode::OK);
});

app_test!(admin_rejects_foreign_and_unknown_ids, |t: TestApp| async move {
    let db = t.db_url.clone();
    let a = json_out(&run(&db, &["admin", "create-account", "--name", "A"]));
    let b = json_out(&run(&db, &["admin", "create-account", "--name", "B"]));
    // B's group is not A's.
    let err = one_line_failure(&run(
        &db,
        &[
            "admin",
            "create-key",
            "--account",
            a["account_id"].as_str().unwrap(),
            "--profile-group",
            b["profile_group_id"].as_str().unwrap(),
        ],
    ));
    assert!(err.contains("no profile group"), "{err}");
    // An id of another type is not an account.
    let err = one_line_failure(&run(
        &db,
        &[
            "admin",
            "list-keys",
            "--account",
            a["profile_group_id"].as_str().unwrap(),
        ],
    ));
    assert!(err.contains("no account"), "{err}");
    one_line_failure(&run(&db, &["admin", "revoke-key", "nonexistent"]));
    one_line_failure(&run(&db, &["admin", "revoke-key", a["account_id"].as_str().unwrap()]));
    one_line_failure(&run(&db, &["admin", "create-account", "--name", "  "]));
    // Bad arguments.
    for args in [
        &["admin", "create-key"][..],
        &["admin", "frobnicate"],
        &["serve", "--bogus"],
        &["admin", "create-account"],
    ] {
        let out = run(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        one_line_failure(&out);
    }
    let out = run(&db, &["serve", "--listen", "not-an-address"]);
    assert!(one_line_failure(&out).contains("invalid listen address"));
});

app_test!(migrate_is_idempotent, |t: TestApp| async move {
    for _ in 0..2 {
        assert_eq!(
            json_out(&run(&t.db_url, &["migrate"])),
            serde_json::json!({"migrated": true})
        );
    }
});

#[test]
fn sqlite_file_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let out = run(&format!("sqlite://{}", path.display()), &["migrate"]);
    assert!(out.status.success());
    assert!(path.exists());
    // A bare path works too.
    let bare = dir.path().join("bare.db");
    assert!(run(bare.to_str().unwrap(), &["migrate"]).status.success());
    assert!(bare.exists());
    // An unusable location fails with one line.
    one_line_failure(&run("sqlite:///nonexistent-dir/x/y.db", &["migrate"]));
}

#[test]
fn postgres_without_a_secret_key_refuses_to_serve() {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("POSTPROXY_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env_remove("POSTPROXY_SECRET_KEY")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(one_line_failure(&out).contains("POSTPROXY_SECRET_KEY is required"));
}

#[test]
fn unreachable_postgres_fails_fast_with_one_line() {
    let out = run("postgres://nobody@127.0.0.1:1/none", &["migrate"]);
    assert!(one_line_failure(&out).contains("PostgreSQL"));
}

/// A running `postproxy serve` child, killed on drop.
struct Server {
    child: std::process::Child,
    addr: String,
    /// Collects stdout until the process exits.
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(db_url: &str) -> Server {
    start_server_with(db_url, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &[])
}

fn start_server_with(db_url: &str, secret_key: &str, env: &[(String, String)]) -> Server {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &addr])
        .env("POSTPROXY_DATABASE_URL", db_url)
        .env("POSTPROXY_SECRET_KEY", secret_key)
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut pipe = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = pipe.read_to_string(&mut buf);
        buf
    });
    let server = Server {
        child,
        addr,
        stdout: Some(stdout),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((status, _)) = http_get(&server.addr, "/healthz", None) {
            assert_eq!(status, 200);
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server did not become healthy");
}

/// Sends SIGTERM, waits for a clean exit, and returns what the server printed on stdout.
fn stop(mut s: Server) -> (std::process::ExitStatus, String) {
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = s.stdout.take().unwrap().join().unwrap();
    (status, out)
}

fn http_get(addr: &str, path: &str, key: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut rest = String::new();
    reader.read_to_string(&mut rest)?;
    let body = rest.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_bootstraps_once_and_shuts_down_gracefully() {
    for backend in crate::helpers::backends() {
        // A database that has never been used.
        let (url, _dir) = crate::helpers::fresh_database_url(backend).await;
        let server = start_server(&url);
        let addr = server.addr.clone();
        let (status, body) = http_get(&addr, "/readyz", None).unwrap();
        assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));
        let (status, _) = http_get(&addr, "/api/profile_groups", Some("pp_wrong")).unwrap();
        assert_eq!(status, 401);
        let (exit, out) = stop(server);
        assert!(exit.success(), "{backend:?}: exit {exit:?}");
        // The first start printed the default account's key once, with a curl example.
        let key = out
            .split_whitespace()
            .find(|w| w.starts_with("pp_"))
            .unwrap_or_else(|| panic!("{backend:?}: no key printed: {out}"))
            .trim_matches('"')
            .to_string();
        assert!(out.contains("curl "), "{out}");
        // ... beside the account's and the group's ids.
        assert!(
            out.contains("Created account \"default\" (id ") && out.contains("with profile group \"Default\" (id "),
            "{out}"
        );

        // The printed key works; a second start prints no secret.
        let server = start_server(&url);
        let (status, body) = http_get(&server.addr, "/api/profile_groups/", Some(&key)).unwrap();
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"][0]["name"], "Default");
        let (exit, out) = stop(server);
        assert!(exit.success());
        assert!(!out.contains("pp_"), "second start printed a key: {out}");
    }
}

/// SIGKILL of a server between sending a post to X and recording X's answer: after an
/// immediate restart, the post is found on X and shown published, never sent twice, within
/// 30 s of the kill (SQLite: the new process takes the jobs back at start; PostgreSQL: when the
/// killed process's 15 s lease runs out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_publish_reconciles_after_restart() {
    use crate::fake_provider::{FakeProvider, Scripted};
    for backend in crate::helpers::backends() {
        let fake = FakeProvider::start().await;
        let t = TestApp::builder(backend).fake(&fake).spawn().await;
        crate::connect::connect(&t, &fake, "twitter").await;
        let secret = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            crate::helpers::TEST_SECRET_KEY,
        );
        let p = "TWITTER";
        let env: Vec<(String, String)> = vec![
            (format!("POSTPROXY_{p}_CLIENT_ID"), FakeProvider::client_id("twitter")),
            (
                format!("POSTPROXY_{p}_CLIENT_SECRET"),
                FakeProvider::client_secret("twitter"),
            ),
            (format!("POSTPROXY_{p}_AUTHORIZE_URL"), fake.authorize_url("twitter")),
            (format!("POSTPROXY_{p}_TOKEN_URL"), fake.token_url("twitter")),
            (format!("POSTPROXY_{p}_API_URL"), fake.api_url("twitter")),
        ];
        // X applies the post and then never answers in time.
        fake.script("twitter", Scripted::ApplyThenStall(Duration::from_secs(120)));
        let r = t
            .post(
                "/api/posts",
                &t.account.key,
                serde_json::json!({"post": {"body": "Sent, then the server died"}, "profiles": ["twitter"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let (url, media) = (t.db_url.clone(), tempfile::tempdir().unwrap());
        let mut env = env;
        env.push(("POSTPROXY_MEDIA_URL".into(), media.path().to_string_lossy().into()));
        let mut server = start_server_with(&url, &secret, &env);
        let deadline = Instant::now() + Duration::from_secs(20);
        while fake.posts("twitter").is_empty() {
            assert!(Instant::now() < deadline, "{backend:?}: the server never sent the post");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200)); // the send is armed and in flight
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        let killed = Instant::now();
        assert_eq!(
            t.count(
                "SELECT COUNT(*) FROM post_profiles WHERE sending_since_ms IS NOT NULL AND platform_post_id IS NULL"
            )
            .await,
            1,
            "{backend:?}: the send was armed and unrecorded when the server died"
        );
        let _server = start_server_with(&url, &secret, &env);
        let deadline = killed + Duration::from_secs(30);
        loop {
            let published = t
                .count("SELECT COUNT(*) FROM post_profiles WHERE status = 'published'")
                .await;
            if published == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: not reconciled within 30 s of the kill"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1, "{backend:?}: sent twice");
        let post = t.get(&format!("/api/posts/{id}"), &t.account.key).await;
        let entry = &post.body["platforms"][0];
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        eprintln!("{backend:?}: reconciled {:?} after the kill", killed.elapsed());
    }
}
