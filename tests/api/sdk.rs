//! Compatibility with the official Python SDK (`postproxy-sdk`) for the Profiles and Posts APIs,
//! and with the official Node SDK for profile groups, profiles and posts.
//!
//! Profiles only come from the OAuth connection flow, so the flow runs here against the fake
//! provider; the app also listens on a real socket, and `tests/sdk/python_sdk_profiles_test.py`
//! drives it with the SDK (installed into a virtualenv by `tests/sdk/venv.sh`).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::connect::connect_in;
use crate::fake_provider::FakeProvider;
use crate::helpers::{TestApp, backends};

/// Runs `bash <script>` (an SDK installer) off the runtime's workers → the path it prints,
/// which must exist.
async fn install(root: &Path, script: &'static str) -> String {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("bash")
            .arg(script)
            .current_dir(&root)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("run bash {script}: {e}"));
        assert!(out.status.success(), "{script} failed: {}", out.status);
        let path = String::from_utf8(out.stdout).expect("utf-8 path").trim().to_string();
        assert!(
            Path::new(&path).exists(),
            "{script} printed {path:?}, which does not exist"
        );
        path
    })
    .await
    .expect("installer task")
}

/// Runs an SDK check script against the live app, off the runtime's workers (which keep serving
/// the SDK's requests), prints its report and asserts it ran clean: `N passed, 0 failed`.
async fn run_checks(mut cmd: Command, what: &str, backend: crate::helpers::Backend) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("check task")
        .unwrap_or_else(|e| panic!("run the {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what} on {backend:?} ---\n{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- stderr ---\n{stderr}");
    }
    assert!(
        out.status.success(),
        "{backend:?}: {what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.trim_end().ends_with(" 0 failed"),
        "{backend:?}: unexpected summary:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the postproxy-sdk from PyPI; run by .ci/run with --include-ignored"]
async fn python_sdk_profiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let python = install(&root, "tests/sdk/venv.sh").await;

    for backend in backends() {
        let fake = FakeProvider::start().await;
        let t = TestApp::builder(backend).fake(&fake).listening().spawn().await;
        let base = t.base.clone();
        let group = t.account.group_public_id.clone();
        let facebook = connect_in(&t, &fake, &group, "facebook").await;
        let twitter = connect_in(&t, &fake, &group, "twitter").await;
        let other_group = t.create_group(&t.account.key, "SDK other group").await;
        let tiktok = connect_in(&t, &fake, &other_group, "tiktok").await;

        let mut cmd = Command::new(&python);
        cmd.arg("tests/sdk/python_sdk_profiles_test.py")
            .current_dir(&root)
            .env("POSTPROXY_BASE_URL", &base)
            .env("POSTPROXY_API_KEY", &t.account.key)
            .env("POSTPROXY_GROUP_ID", &group)
            .env("POSTPROXY_FACEBOOK_PROFILE_ID", &facebook)
            .env("POSTPROXY_TWITTER_PROFILE_ID", &twitter)
            .env("POSTPROXY_OTHER_GROUP_ID", &other_group)
            .env("POSTPROXY_TIKTOK_PROFILE_ID", &tiktok);
        run_checks(cmd, "python SDK profiles test", backend).await;
    }
}

/// The Posts API through the SDK, with the server's job worker publishing to the fake
/// platforms in the background (as `serve` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the postproxy-sdk from PyPI; run by .ci/run with --include-ignored"]
async fn python_sdk_posts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let python = install(&root, "tests/sdk/venv.sh").await;

    for backend in backends() {
        let fake = FakeProvider::start().await;
        let t = TestApp::builder(backend).fake(&fake).listening().spawn().await;
        let base = t.base.clone();
        let group = t.account.group_public_id.clone();
        let twitter = connect_in(&t, &fake, &group, "twitter").await;
        let linkedin = connect_in(&t, &fake, &group, "linkedin").await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = postproxy::jobs::spawn(t.state.clone(), shutdown.clone());

        let mut cmd = Command::new(&python);
        cmd.arg("tests/sdk/python_sdk_posts_test.py")
            .current_dir(&root)
            .env("POSTPROXY_BASE_URL", &base)
            .env("POSTPROXY_API_KEY", &t.account.key)
            .env("POSTPROXY_GROUP_ID", &group)
            .env("POSTPROXY_TWITTER_PROFILE_ID", &twitter)
            .env("POSTPROXY_LINKEDIN_PROFILE_ID", &linkedin);
        run_checks(cmd, "python SDK posts test", backend).await;
        shutdown.cancel();
        worker.await.expect("worker");
        // What the SDK published reached the platforms, once each.
        assert_eq!(
            fake.posts("twitter").len(),
            4,
            "a post, a thread of two and a photo post, on X"
        );
        assert_eq!(fake.posts("linkedin").len(), 1);
    }
}

/// Bluesky and Telegram connected through the Python SDK's `connect_bluesky` and
/// `connect_telegram` (no OAuth app), then posts to both, published by the job worker to the
/// fake PDS and the fake Bot API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the postproxy-sdk from PyPI; run by .ci/run with --include-ignored"]
async fn python_sdk_connects_bluesky_and_telegram() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let python = install(&root, "tests/sdk/venv.sh").await;

    for backend in backends() {
        let fake = FakeProvider::start().await;
        let bsky = crate::fake_bluesky::FakeBluesky::start().await;
        let tg = crate::fake_telegram::FakeTelegram::start().await;
        let t = TestApp::builder(backend)
            .fake(&fake)
            .bluesky(&bsky)
            .telegram(&tg)
            .listening()
            .spawn()
            .await;
        bsky.add_account("sdk.test", "SDK", "sdkp-assw-ord1-2345");
        let bot = tg.add_bot("SDK Bot", "sdk_bot");
        tg.set_member(
            &bot,
            -100_123,
            "SDK Channel",
            Some("sdkchannel"),
            "channel",
            "administrator",
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = postproxy::jobs::spawn(t.state.clone(), shutdown.clone());

        let mut cmd = Command::new(&python);
        cmd.arg("tests/sdk/python_sdk_connect_test.py")
            .current_dir(&root)
            .env("POSTPROXY_BASE_URL", &t.base)
            .env("POSTPROXY_API_KEY", &t.account.key)
            .env("POSTPROXY_GROUP_ID", &t.account.group_public_id)
            .env("BLUESKY_HANDLE", "sdk.test")
            .env("BLUESKY_APP_PASSWORD", "sdkp-assw-ord1-2345")
            .env("TELEGRAM_BOT_TOKEN", &bot)
            .env("TELEGRAM_CHAT_ID", "-100123");
        run_checks(cmd, "python SDK Bluesky and Telegram test", backend).await;
        shutdown.cancel();
        worker.await.expect("worker");
        assert_eq!(bsky.records().len(), 2, "a post and its reply, once each");
        assert_eq!(tg.messages().len(), 1);
    }
}

/// Profile groups, profiles and posts through the official Node SDK, with the job worker
/// publishing to the fake platforms in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and postproxy-sdk from the npm registry; run by .ci/run with --include-ignored"]
async fn node_sdk_profile_groups_profiles_and_posts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    // The Node SDK's entry point, installed from the npm registry.
    let entry = install(&root, "tests/sdk/node.sh").await;

    for backend in backends() {
        let fake = FakeProvider::start().await;
        let t = TestApp::builder(backend).fake(&fake).listening().spawn().await;
        let base = t.base.clone();
        let group = t.account.group_public_id.clone();
        let twitter = connect_in(&t, &fake, &group, "twitter").await;
        let linkedin = connect_in(&t, &fake, &group, "linkedin").await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = postproxy::jobs::spawn(t.state.clone(), shutdown.clone());

        let mut cmd = Command::new("node");
        cmd.arg("tests/sdk/node_sdk_test.mjs")
            .current_dir(&root)
            .env("POSTPROXY_NODE_SDK", &entry)
            .env("POSTPROXY_BASE_URL", &base)
            .env("POSTPROXY_API_KEY", &t.account.key)
            .env("POSTPROXY_GROUP_ID", &group)
            .env("POSTPROXY_TWITTER_PROFILE_ID", &twitter)
            .env("POSTPROXY_LINKEDIN_PROFILE_ID", &linkedin);
        run_checks(cmd, "node SDK test", backend).await;
        shutdown.cancel();
        worker.await.expect("worker");
        // A post to X and LinkedIn, a thread of two, a photo post and a published draft, on X.
        assert_eq!(fake.posts("twitter").len(), 5);
        assert_eq!(fake.posts("linkedin").len(), 1);
    }
}
