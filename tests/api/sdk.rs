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

/// Runs `bash tests/sdk/venv.sh` → the venv's python.
fn sdk_python(root: &Path) -> String {
    let out = Command::new("bash")
        .arg("tests/sdk/venv.sh")
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run bash tests/sdk/venv.sh");
    assert!(out.status.success(), "tests/sdk/venv.sh failed: {}", out.status);
    let python = String::from_utf8(out.stdout).expect("utf-8 path");
    let python = python.trim().to_string();
    assert!(
        Path::new(&python).exists(),
        "venv.sh printed {python:?}, which does not exist"
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the postproxy-sdk from PyPI; run by .ci/run with --include-ignored"]
async fn python_sdk_profiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || sdk_python(&root)
    })
    .await
    .expect("venv.sh task");

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
        // Blocking: run it off the runtime's workers, which keep serving the SDK's requests.
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("python task")
            .expect("run the python SDK test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("--- python SDK profiles test on {backend:?} ---\n{stdout}");
        if !stderr.trim().is_empty() {
            println!("--- stderr ---\n{stderr}");
        }
        assert!(
            out.status.success(),
            "{backend:?}: python_sdk_profiles_test.py failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.trim_end().ends_with(" 0 failed"),
            "{backend:?}: unexpected summary:\n{stdout}"
        );
    }
}

/// The Posts API through the SDK, with the server's job worker publishing to the fake
/// platforms in the background (as `serve` does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python and the postproxy-sdk from PyPI; run by .ci/run with --include-ignored"]
async fn python_sdk_posts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let python = tokio::task::spawn_blocking({
        let root = root.clone();
        move || sdk_python(&root)
    })
    .await
    .expect("venv.sh task");

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
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("python task")
            .expect("run the python SDK test");
        shutdown.cancel();
        worker.await.expect("worker");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("--- python SDK posts test on {backend:?} ---\n{stdout}");
        if !stderr.trim().is_empty() {
            println!("--- stderr ---\n{stderr}");
        }
        assert!(
            out.status.success(),
            "{backend:?}: python_sdk_posts_test.py failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.trim_end().ends_with(" 0 failed"),
            "{backend:?}: unexpected summary:\n{stdout}"
        );
        // What the SDK published reached the platforms, once each.
        assert_eq!(
            fake.posts("twitter").len(),
            4,
            "a post, a thread of two and a photo post, on X"
        );
        assert_eq!(fake.posts("linkedin").len(), 1);
    }
}

/// Runs `bash tests/sdk/node.sh` → the Node SDK's entry point (installed from the npm registry).
fn node_sdk(root: &Path) -> String {
    let out = Command::new("bash")
        .arg("tests/sdk/node.sh")
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run bash tests/sdk/node.sh");
    assert!(out.status.success(), "tests/sdk/node.sh failed: {}", out.status);
    String::from_utf8(out.stdout).expect("utf-8 path").trim().to_string()
}

/// Profile groups, profiles and posts through the official Node SDK, with the job worker
/// publishing to the fake platforms in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and postproxy-sdk from the npm registry; run by .ci/run with --include-ignored"]
async fn node_sdk_profile_groups_profiles_and_posts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let entry = tokio::task::spawn_blocking({
        let root = root.clone();
        move || node_sdk(&root)
    })
    .await
    .expect("node.sh task");

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
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("node task")
            .expect("run the node SDK test");
        shutdown.cancel();
        worker.await.expect("worker");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("--- node SDK test on {backend:?} ---\n{stdout}");
        if !stderr.trim().is_empty() {
            println!("--- stderr ---\n{stderr}");
        }
        assert!(
            out.status.success(),
            "{backend:?}: node_sdk_test.mjs failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stdout.trim_end().ends_with(" 0 failed"),
            "{backend:?}: unexpected summary:\n{stdout}"
        );
        // A post to X and LinkedIn, a thread of two, a photo post and a published draft, on X.
        assert_eq!(fake.posts("twitter").len(), 5);
        assert_eq!(fake.posts("linkedin").len(), 1);
    }
}
