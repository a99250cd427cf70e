//! The job queue across an upgrade: jobs queued by the previous release, whose payloads were not
//! JSON (`"{post}:{profile}"`, `"{post}"`, `"{profile}"`), still run after it.

use serde_json::json;

use crate::connect::connect;
use crate::fake_provider::FakeProvider;
use crate::helpers::{TestApp, create_post as create, drain, get_post as get, time_passes};

/// The payload of every queued job of `kind`.
async fn payloads(t: &TestApp, kind: &str) -> Vec<String> {
    postproxy::with_pool!(&t.db, p => sqlx::query_scalar::<_, String>(
        "SELECT payload FROM jobs WHERE kind = $1 AND state = 'queued' ORDER BY id")
        .bind(kind).fetch_all(p).await)
    .unwrap()
}

app_test!(
    publishes_and_downloads_queued_by_the_previous_release_still_run,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let photo = format!("{}/twitter/files/photo.jpg", fake.base());
        let id = create(
            &t,
            json!({"post": {"body": "Queued before the upgrade"}, "profiles": ["twitter"], "media": [photo]}),
        )
        .await;
        // This release writes JSON payloads…
        for kind in ["publish_post", "fetch_media"] {
            let found = payloads(&t, kind).await;
            assert_eq!(found.len(), 1, "{kind}: {found:?}");
            assert!(found[0].starts_with('{'), "{kind}: {found:?}");
        }
        // …the previous one wrote "{post}:{profile}" and "{post}", as their dedupe keys end.
        t.exec("UPDATE jobs SET payload = SUBSTR(dedupe_key, 9) WHERE kind = 'publish_post'")
            .await;
        t.exec("UPDATE jobs SET payload = SUBSTR(dedupe_key, 7) WHERE kind = 'fetch_media'")
            .await;
        let legacy = payloads(&t, "publish_post").await;
        assert!(legacy[0].split(':').all(|n| n.parse::<i64>().is_ok()), "{legacy:?}");
        for _ in 0..3 {
            drain(&t).await;
            time_passes(&t).await;
        }
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processed", "{post}");
        assert_eq!(post["media"][0]["status"], "processed", "{post}");
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].text, "Queued before the upgrade");
        assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").await, 0);
    }
);

app_test!(
    a_token_refresh_queued_by_the_previous_release_still_runs,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "linkedin").await;
        let before = fake.valid_access_tokens("linkedin");
        // As the previous release enqueued it: the profile id alone, in the default queue.
        t.exec(
            "INSERT INTO jobs (kind, payload, state, run_at_ms, max_attempts, dedupe_key, created_at_ms) \
             SELECT 'refresh_token', CAST(id AS TEXT), 'queued', 0, 8, 'refresh:' || CAST(id AS TEXT), 0 FROM profiles",
        )
        .await;
        drain(&t).await;
        assert_eq!(
            t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'refresh_token' AND state = 'done'")
                .await,
            1
        );
        let refreshed = fake
            .requests_for("linkedin")
            .iter()
            .filter(|r| r.form_param("grant_type") == Some("refresh_token"))
            .count();
        assert_eq!(refreshed, 1);
        assert_ne!(fake.valid_access_tokens("linkedin"), before, "a new access token");
    }
);
