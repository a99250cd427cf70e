//! Publishing end to end against the fake platforms: text posts and thread chains on X,
//! LinkedIn, Facebook and Threads; exactly once across retries, lost answers and crashes;
//! error classification; token refresh on rejection; concurrent workers.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::connect::connect;
use crate::fake_provider::{FakeProvider, Scripted};
use crate::helpers::{Backend, TestApp};

use crate::helpers::{create_post as create, drain, get_post as get, time_passes};

app_test!(
    x_text_post_is_published_once_with_its_permalink,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let profile = connect(&t, &fake, "twitter").await;
        let id = create(
            &t,
            json!({"post": {"body": "Hello from postproxy"}, "profiles": [profile]}),
        )
        .await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processed", "{post}");
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "published", "{entry}");
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].text, "Hello from postproxy");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        assert_eq!(
            entry["permalink"],
            format!("https://x.com/fake_twitter/status/{}", posts[0].id)
        );
        assert!(entry["error"].is_null() && entry["attempted_at"].is_string(), "{entry}");
        // Nothing is left to run, and running again sends nothing more.
        drain(&t).await;
        assert_eq!(fake.posts("twitter").len(), 1);
        let r = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await;
        assert_eq!(r.body["post_count"], 1, "{}", r.text);
    }
);

app_test!(
    x_thread_is_a_reply_chain_in_order,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let id = create(
            &t,
            json!({"post": {"body": "1/3"}, "profiles": ["twitter"],
               "thread": [{"body": "2/3"}, {"body": "3/3"}]}),
        )
        .await;
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert_eq!(
            posts.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
            ["1/3", "2/3", "3/3"]
        );
        assert_eq!(posts[0].reply_to, None);
        assert_eq!(posts[1].reply_to.as_deref(), Some(posts[0].id.as_str()));
        assert_eq!(posts[2].reply_to.as_deref(), Some(posts[1].id.as_str()));
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["platform_post_id"], posts[0].id.as_str());
        for (i, child) in post["thread"].as_array().unwrap().iter().enumerate() {
            let entry = &child["platforms"][0];
            assert_eq!(entry["status"], "published", "{child}");
            assert_eq!(entry["platform_post_id"], posts[i + 1].id.as_str());
        }
    }
);

app_test!(
    a_failure_mid_thread_stops_only_that_chain,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        connect(&t, &fake, "threads").await;
        // The second X request (part 2) is refused with X's generic 403.
        let refusal = json!({"detail": "You are not permitted to perform this action.", "type": "about:blank", "title": "Forbidden", "status": 403});
        let id = create(
            &t,
            json!({"post": {"body": "one"}, "profiles": ["twitter", "threads"],
               "thread": [{"body": "two"}, {"body": "three"}]}),
        )
        .await;
        // Let part 1 through, then refuse: script after the first publish.
        fake.script("twitter", Scripted::ApplyThenStall(Duration::ZERO));
        fake.script("twitter", Scripted::Fail(403, refusal, vec![]));
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processed", "{post}");
        let x = |v: &Value| {
            v["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["platform"] == "twitter")
                .unwrap()
                .clone()
        };
        let th = |v: &Value| {
            v["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["platform"] == "threads")
                .unwrap()
                .clone()
        };
        assert_eq!(x(&post)["status"], "published");
        let two = x(&post["thread"][0]);
        assert_eq!(two["status"], "failed", "{two}");
        assert_eq!(two["error"], "You are not permitted to perform this action.");
        assert_eq!(two["error_details"]["platform_error_code"], "Forbidden");
        assert!(
            two["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("X's own")
        );
        let three = x(&post["thread"][1]);
        assert_eq!(three["status"], "failed");
        assert!(three["error"].as_str().unwrap().contains("part 2"), "{three}");
        assert_eq!(fake.posts("twitter").len(), 1);
        // The Threads chain is untouched by X's failure.
        for part in [&post, &post["thread"][0], &post["thread"][1]] {
            assert_eq!(th(part)["status"], "published", "{part}");
        }
        let threads = fake.posts("threads");
        assert_eq!(threads.len(), 3);
        assert_eq!(threads[1].reply_to.as_deref(), Some(threads[0].id.as_str()));
        assert_eq!(threads[2].reply_to.as_deref(), Some(threads[1].id.as_str()));
        let permalink = th(&post)["permalink"].as_str().unwrap().to_string();
        assert_eq!(
            permalink,
            format!("https://www.threads.com/@fake_threads/post/C{}", threads[0].id)
        );
    }
);

app_test!(
    rate_limited_posts_retry_after_the_reset_and_land_once,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let reset = (postproxy::clock::now_ms() / 1000 + 900).to_string();
        fake.script(
        "twitter",
        Scripted::Fail(
            429,
            json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
            vec![("x-rate-limit-reset", reset), ("x-rate-limit-remaining", "0".into())],
        ),
    );
        let id = create(&t, json!({"post": {"body": "Later"}, "profiles": ["twitter"]})).await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processing");
        let entry = &post["platforms"][0];
        // Being retried shows as processing, with the platform's reason.
        assert_eq!(entry["status"], "processing", "{entry}");
        assert_eq!(entry["error"], "Too Many Requests");
        let note = entry["error_details"]["postproxy_note"].as_str().unwrap();
        assert!(note.contains("Next attempt at "), "{note}");
        // The retry waits for X's reset (15 minutes away), not a short backoff.
        let run_at = t.count("SELECT run_at_ms FROM jobs WHERE state = 'queued'").await;
        assert!(
            run_at >= postproxy::clock::now_ms() + 800_000,
            "retry too early: {run_at}"
        );
        assert!(fake.posts("twitter").is_empty());
        time_passes(&t).await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        assert!(post["platforms"][0]["error"].is_null());
        assert_eq!(post["status"], "processed");
        assert_eq!(fake.posts("twitter").len(), 1);
    }
);

app_test!(
    a_lost_answer_is_looked_up_on_x_and_shown_published_once,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let mut state = t.state.clone();
        state.http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        fake.script("twitter", Scripted::ApplyThenStall(Duration::from_secs(3)));
        let id = create(
            &t,
            json!({"post": {"body": "Maybe & <maybe> https://example.com/a"}, "profiles": ["twitter"]}),
        )
        .await;
        postproxy::jobs::drain(&state).await.unwrap();
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "processing", "not failed while unknown: {entry}");
        assert!(
            entry["error"].as_str().unwrap().contains("no answer came back"),
            "{entry}"
        );
        assert!(
            entry["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("looks for it on X"),
            "{entry}"
        );
        // The retry waits until nothing of the attempt can be in flight.
        let run_at = t.count("SELECT run_at_ms FROM jobs WHERE state = 'queued'").await;
        assert!(run_at >= postproxy::clock::now_ms() + 25_000, "looked up too early");
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1, "applied once, never re-sent");
        let post = get(&t, &id).await;
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        assert!(entry["error"].is_null(), "{entry}");
        assert_eq!(post["status"], "processed");
        let lookups = fake
            .requests_for("twitter")
            .iter()
            .filter(|r| r.path.ends_with("/tweets") && r.method == "GET")
            .count();
        assert_eq!(lookups, 1);
    }
);

app_test!(
    a_5xx_after_x_created_the_post_is_shown_published_not_sent_again,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let unavailable = json!({"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503});
        fake.script("twitter", Scripted::ApplyThenFail(503, unavailable));
        let id = create(
            &t,
            json!({"post": {"body": "one"}, "profiles": ["twitter"], "thread": [{"body": "two"}]}),
        )
        .await;
        drain(&t).await;
        assert_eq!(get(&t, &id).await["platforms"][0]["status"], "processing");
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert_eq!(
            posts.iter().map(|p| p.text.as_str()).collect::<Vec<_>>(),
            ["one", "two"],
            "the root was found, not sent again, and the thread went on from it"
        );
        assert_eq!(posts[1].reply_to.as_deref(), Some(posts[0].id.as_str()));
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["platform_post_id"], posts[0].id.as_str());
        assert_eq!(post["thread"][0]["platforms"][0]["status"], "published", "{post}");
        assert_eq!(post["status"], "processed");
    }
);

app_test!(
    a_5xx_with_nothing_created_is_sent_again_once_it_is_surely_absent,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let unavailable = json!({"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank", "status": 503});
        fake.script("twitter", Scripted::Fail(503, unavailable, vec![]));
        let id = create(&t, json!({"post": {"body": "Again"}, "profiles": ["twitter"]})).await;
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "processing", "{entry}");
        assert_eq!(entry["error"], "Service Unavailable");
        // Looked up too soon after the send, absence proves nothing yet: it waits again.
        time_passes(&t).await;
        drain(&t).await;
        assert!(fake.posts("twitter").is_empty());
        assert_eq!(get(&t, &id).await["platforms"][0]["status"], "processing");
        // Once no request of that attempt can still arrive, absent means absent: sent again.
        t.exec(
            "UPDATE post_profiles SET sending_since_ms = sending_since_ms - 60000 WHERE sending_since_ms IS NOT NULL",
        )
        .await;
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1);
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
    }
);

app_test!(
    a_crash_while_sending_is_looked_up_then_sent_once_when_absent,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        let id = create(
            &t,
            json!({"post": {"body": "Crash", "draft": true}, "profiles": ["twitter"]}),
        )
        .await;
        // A worker armed the send long ago and died before recording the answer.
        t.exec("UPDATE post_profiles SET sending_since_ms = 1, status = 'processing'")
            .await;
        let r = t
            .post(&format!("/api/posts/{id}/publish"), &t.account.key, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert_eq!(posts.len(), 1, "not on X, so sent");
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
    }
);

app_test!(
    an_unknown_outcome_where_nothing_can_be_looked_up_fails_with_a_note,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "linkedin").await;
        let id = create(
            &t,
            json!({"post": {"body": "Crash", "draft": true}, "profiles": ["linkedin"]}),
        )
        .await;
        t.exec("UPDATE post_profiles SET sending_since_ms = 1, status = 'processing'")
            .await;
        t.post(&format!("/api/posts/{id}/publish"), &t.account.key, json!({}))
            .await;
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed", "{entry}");
        assert!(entry["error"].as_str().unwrap().contains("interrupted"), "{entry}");
        assert!(
            entry["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("may or may not be on LinkedIn"),
            "{entry}"
        );
        // It looked (and was refused: no r_member_social), and sent nothing.
        let sent = fake
            .requests_for("linkedin")
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/rest/posts"))
            .count();
        assert_eq!(sent, 0, "nothing sent");
        assert!(fake.posts("linkedin").is_empty());
    }
);

app_test!(
    a_rejected_token_is_refreshed_once_then_the_post_lands,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        fake.expire_access_tokens("twitter");
        let id = create(&t, json!({"post": {"body": "After refresh"}, "profiles": ["twitter"]})).await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["platforms"][0]["status"], "published", "{post}");
        assert_eq!(fake.posts("twitter").len(), 1);
        let refreshes = fake
            .requests_for("twitter")
            .iter()
            .filter(|r| r.form_param("grant_type") == Some("refresh_token"))
            .count();
        assert_eq!(refreshes, 1);
    }
);

app_test!(
    a_rejected_refresh_expires_the_profile_and_says_reconnect,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let profile = connect(&t, &fake, "twitter").await;
        fake.expire_access_tokens("twitter");
        fake.reject_refresh("twitter", false);
        let id = create(&t, json!({"post": {"body": "Dead token"}, "profiles": ["twitter"]})).await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processed");
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "failed", "{entry}");
        assert!(
            entry["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("Reconnect"),
            "{entry}"
        );
        let r = t.get(&format!("/api/profiles/{profile}"), &t.account.key).await;
        assert_eq!(r.body["status"], "expired");
        assert!(fake.posts("twitter").is_empty());
    }
);

app_test!(
    x_duplicate_content_fails_with_xs_words,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        create(&t, json!({"post": {"body": "Same"}, "profiles": ["twitter"]})).await;
        drain(&t).await;
        let r = t
            .call(
                axum::http::Method::POST,
                "/api/posts",
                Some(&t.account.key.clone()),
                Some(json!({"post": {"body": "Same"}, "profiles": ["twitter"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "our own duplicate check comes first");
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/posts")
            .header("Authorization", format!("Bearer {}", t.account.key))
            .header("Content-Type", "application/json")
            .header("X-Skip-Duplicate-Check", "true")
            .body(axum::body::Body::from(
                json!({"post": {"body": "Same"}, "profiles": ["twitter"]}).to_string(),
            ))
            .unwrap();
        let r = t.raw(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        let entry = get(&t, r.body["id"].as_str().unwrap()).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed");
        assert_eq!(
            entry["error"],
            "You are not allowed to create a Tweet with duplicate content."
        );
        assert!(
            entry["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("Change the text")
        );
        assert_eq!(fake.posts("twitter").len(), 1);
    }
);

app_test!(
    linkedin_commentary_is_escaped_so_nothing_is_cut,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "linkedin").await;
        let text = "Launch (beta) #rust @team [docs] <3 *bold* _x_ ~y~ {z} | a\\b";
        let id = create(&t, json!({"post": {"body": text}, "profiles": ["linkedin"]})).await;
        let org = create(
            &t,
            json!({"post": {"body": "From the company"}, "profiles": ["linkedin"],
               "platforms": {"linkedin": {"organization_id": crate::fake_provider::DEFAULT_LINKEDIN_ORG_ID}}}),
        )
        .await;
        drain(&t).await;
        let posts = fake.posts("linkedin");
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].text, text, "LinkedIn would have cut an unescaped post short");
        assert_eq!(posts[0].author, "urn:li:person:linkedin-user-1");
        assert_eq!(
            posts[1].author,
            format!("urn:li:organization:{}", crate::fake_provider::DEFAULT_LINKEDIN_ORG_ID)
        );
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        assert_eq!(
            entry["permalink"],
            format!("https://www.linkedin.com/feed/update/{}", posts[0].id)
        );
        assert_eq!(get(&t, &org).await["platforms"][0]["status"], "published");
        // Every call carried LinkedIn's version headers.
        for r in fake
            .requests_for("linkedin")
            .iter()
            .filter(|r| r.path.ends_with("/rest/posts"))
        {
            assert_eq!(r.restli_protocol_version.as_deref(), Some("2.0.0"));
            assert!(r.linkedin_version.is_some());
        }
    }
);

app_test!(
    facebook_posts_to_the_chosen_page_with_its_token,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "facebook").await;
        let id = create(
            &t,
            json!({"post": {"body": "Page news"}, "profiles": ["facebook"],
               "platforms": {"facebook": {"page_id": "facebook-page-2", "link": "https://example.com/a"}}}),
        )
        .await;
        drain(&t).await;
        let posts = fake.posts("facebook");
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].author, "facebook-page-2");
        assert_eq!(
            posts[0].reply_to.as_deref(),
            Some("https://example.com/a"),
            "the link went along"
        );
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        let post = posts[0].id.split('_').nth(1).unwrap();
        assert_eq!(
            entry["permalink"],
            format!("https://www.facebook.com/facebook-page-2/posts/{post}")
        );
        // A duplicate is Graph error 506, reported with its code.
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/posts")
            .header("Authorization", format!("Bearer {}", t.account.key))
            .header("Content-Type", "application/json")
            .header("X-Skip-Duplicate-Check", "true")
            .body(axum::body::Body::from(
                json!({"post": {"body": "Page news"}, "profiles": ["facebook"],
                   "platforms": {"facebook": {"page_id": "facebook-page-2"}}})
                .to_string(),
            ))
            .unwrap();
        let again = t.raw(req).await;
        drain(&t).await;
        let entry = get(&t, again.body["id"].as_str().unwrap()).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed");
        assert_eq!(entry["error_details"]["platform_error_code"], "506");
        assert_eq!(entry["error"], "(#506) Duplicate status message");
    }
);

app_test!(
    two_workers_never_publish_the_same_post_twice,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        connect(&t, &fake, "threads").await;
        for i in 0..12 {
            create(
                &t,
                json!({"post": {"body": format!("post {i}")}, "profiles": ["twitter", "threads"]}),
            )
            .await;
        }
        let (a, b) = tokio::join!(postproxy::jobs::drain(&t.state), postproxy::jobs::drain(&t.state));
        a.unwrap();
        b.unwrap();
        assert_eq!(fake.posts("twitter").len(), 12);
        assert_eq!(fake.posts("threads").len(), 12);
        let published = t
            .count("SELECT COUNT(*) FROM post_profiles WHERE status = 'published'")
            .await;
        assert_eq!(published, 24);
    }
);

app_test!(
    deleting_a_profile_fails_what_it_had_left_to_publish,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let profile = connect(&t, &fake, "twitter").await;
        let id = create(
        &t,
        json!({"post": {"body": "Later", "scheduled_at": postproxy::clock::iso8601(postproxy::clock::now_ms() + 3_600_000)},
               "profiles": ["twitter"]}),
    )
    .await;
        let r = t.delete(&format!("/api/profiles/{profile}"), &t.account.key).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        time_passes(&t).await;
        drain(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["status"], "processed", "{post}");
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "failed", "{entry}");
        assert!(entry["error"].as_str().unwrap().contains("deleted"));
        assert!(fake.posts("twitter").is_empty());
    }
);

app_test!(
    workers_wake_when_work_is_enqueued_not_on_a_poll,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        // A worker that would not poll again for an hour. On PostgreSQL it stands for another
        // replica: its own wake-up, reached only through LISTEN/NOTIFY.
        let mut worker = t.state.clone();
        worker.job_poll = Duration::from_secs(3600);
        if t.backend == Backend::Postgres {
            worker.job_wakeup = std::sync::Arc::new(tokio::sync::Notify::new());
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let handle = postproxy::jobs::spawn(worker, shutdown.clone());
        tokio::time::sleep(Duration::from_millis(500)).await; // past its first poll, listening
        create(&t, json!({"post": {"body": "Wake up"}, "profiles": ["twitter"]})).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while fake.posts("twitter").is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        handle.await.unwrap();
        assert_eq!(
            fake.posts("twitter").len(),
            1,
            "the worker was not woken ({:?})",
            t.backend
        );
    }
);

app_test!(
    delete_on_platform_removes_whole_chains_where_asked,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        connect(&t, &fake, "linkedin").await;
        connect(&t, &fake, "threads").await;
        let id = create(
            &t,
            json!({"post": {"body": "Gone soon"}, "profiles": ["twitter", "threads"], "thread": [{"body": "reply"}]}),
        )
        .await;
        let solo = create(&t, json!({"post": {"body": "Solo"}, "profiles": ["linkedin"]})).await;
        drain(&t).await;
        assert_eq!(fake.posts("twitter").len(), 2);
        // Only X, chosen by network.
        let r = t
            .post(
                &format!("/api/posts/{id}/delete_on_platform"),
                &t.account.key,
                json!({"network": "twitter"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["success"], true);
        assert_eq!(r.body["deleting"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["deleting"][0]["platform"], "twitter");
        drain(&t).await;
        assert!(
            fake.posts("twitter").iter().all(|p| p.deleted),
            "{:?}",
            fake.posts("twitter")
        );
        assert!(fake.posts("threads").iter().all(|p| !p.deleted));
        let post = get(&t, &id).await;
        let x = post["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["platform"] == "twitter")
            .unwrap()
            .clone();
        assert_eq!(x["status"], "deleted", "{x}");
        assert_eq!(
            post["thread"][0]["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["platform"] == "twitter")
                .unwrap()["status"],
            "deleted"
        );
        // By post_profile_id: the Threads entry.
        let th = post["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["platform"] == "threads")
            .unwrap()
            .clone();
        let r = t
            .post(
                &format!("/api/posts/{id}/delete_on_platform"),
                &t.account.key,
                json!({"post_profile_id": th["id"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["deleting"][0]["post_profile_id"], th["id"]);
        drain(&t).await;
        assert!(fake.posts("threads").iter().all(|p| p.deleted));
        // Nothing left published: 422.
        let r = t
            .post(
                &format!("/api/posts/{id}/delete_on_platform"),
                &t.account.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        // DELETE with delete_on_platform removes it on LinkedIn and here.
        let r = t
            .delete(&format!("/api/posts/{solo}?delete_on_platform=true"), &t.account.key)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        assert!(fake.posts("linkedin")[0].deleted);
        let r = t.get(&format!("/api/posts/{solo}"), &t.account.key).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
);

app_test!(
    concurrent_writes_never_fail_and_a_deleted_post_is_never_published,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        // A real worker publishes the immediate posts while the writes go on.
        let shutdown = tokio_util::sync::CancellationToken::new();
        let worker = postproxy::jobs::spawn(t.state.clone(), shutdown.clone());
        let due_ms = postproxy::clock::now_ms() + 5_000;
        let due = postproxy::clock::iso8601(due_ms);
        let key = t.account.key.clone();
        let statuses = std::sync::Mutex::new(Vec::<(String, StatusCode, String)>::new());
        let note = |what: &str, r: &crate::helpers::TestResponse| {
            statuses
                .lock()
                .unwrap()
                .push((what.to_string(), r.status, r.text.clone()));
        };
        let creator = |c: usize| {
            let (t, key, note) = (&t, &key, &note);
            async move {
                for i in 0..15 {
                    let r = t
                        .post(
                            "/api/posts",
                            key,
                            json!({"post": {"body": format!("now {c}.{i}")}, "profiles": ["twitter"]}),
                        )
                        .await;
                    note("create", &r);
                }
            }
        };
        let deleter = |c: usize| {
            let (t, key, note, due) = (&t, &key, &note, &due);
            async move {
                for i in 0..15 {
                    let body = format!("deleted {c}.{i}");
                    let r = t
                        .post(
                            "/api/posts",
                            key,
                            json!({"post": {"body": body, "scheduled_at": due}, "profiles": ["twitter"]}),
                        )
                        .await;
                    note("create scheduled", &r);
                    if let Some(id) = r.body["id"].as_str() {
                        note("delete scheduled", &t.delete(&format!("/api/posts/{id}"), key).await);
                    }
                    let r = t
                        .post(
                            "/api/posts",
                            key,
                            json!({"post": {"body": format!("draft {c}.{i}"), "draft": true}, "profiles": ["twitter"]}),
                        )
                        .await;
                    note("create draft", &r);
                    let Some(id) = r.body["id"].as_str() else { continue };
                    let r = t
                        .call(
                            axum::http::Method::PATCH,
                            &format!("/api/posts/{id}"),
                            Some(key),
                            Some(json!({"post": {"body": format!("deleted draft {c}.{i}"), "scheduled_at": due}})),
                        )
                        .await;
                    note("edit draft", &r);
                    note("delete draft", &t.delete(&format!("/api/posts/{id}"), key).await);
                }
            }
        };
        tokio::join!(creator(0), creator(1), creator(2), creator(3), deleter(0), deleter(1));
        for (what, status, text) in statuses.lock().unwrap().iter() {
            assert!(status.is_success(), "{:?}: {what} answered {status}: {text}", t.backend);
        }
        // Past the deleted posts' time, everything due has run.
        let wait = (due_ms + 300 - postproxy::clock::now_ms()).max(0) as u64;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        shutdown.cancel();
        worker.await.unwrap();
        drain(&t).await;
        let posts = fake.posts("twitter");
        assert!(
            posts.iter().all(|p| !p.text.starts_with("deleted")),
            "a deleted post went out: {:?}",
            posts.iter().map(|p| &p.text).collect::<Vec<_>>()
        );
        assert_eq!(posts.len(), 60, "every immediate post once");
        assert_eq!(t.count("SELECT COUNT(*) FROM posts").await, 60);
    }
);

/// Waits (up to `limit`) until the fake holds `n` posts of the platform; the time it took.
async fn wait_for_posts(fake: &FakeProvider, platform: &str, n: usize, limit: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    while fake.posts(platform).len() < n && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

app_test!(
    a_killed_workers_job_is_taken_over_within_one_lease,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        create(&t, json!({"post": {"body": "Orphaned"}, "profiles": ["twitter"]})).await;
        // A worker claimed the job and was killed (its lease is the usual length, shortened here).
        let lease = match t.backend {
            Backend::Sqlite => Duration::from_secs(20),
            Backend::Postgres => Duration::from_secs(2),
        };
        let claimed = postproxy::db::jobs::claim(
            &t.db,
            "killed",
            postproxy::clock::now_ms(),
            lease.as_millis() as i64,
            &[],
        )
        .await
        .unwrap();
        assert!(claimed.is_some());
        let mut worker = t.state.clone();
        worker.job_lease = lease;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let handle = postproxy::jobs::spawn(worker, shutdown.clone());
        let took = wait_for_posts(&fake, "twitter", 1, Duration::from_secs(15)).await;
        shutdown.cancel();
        handle.await.unwrap();
        assert_eq!(fake.posts("twitter").len(), 1, "{:?}", t.backend);
        match t.backend {
            // The only process serving a SQLite file takes its predecessor's jobs back at start,
            // long before their lease would run out.
            Backend::Sqlite => assert!(took < Duration::from_secs(10), "{took:?}"),
            // Another replica takes it over when the lease runs out, not later.
            Backend::Postgres => assert!(took < lease + Duration::from_secs(5), "{took:?}"),
        }
    }
);

app_test!(
    a_running_job_keeps_its_lease_while_its_worker_lives,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "twitter").await;
        // X takes 2 s to answer; the lease is 600 ms, renewed every 200 ms.
        fake.script("twitter", Scripted::ApplyThenStall(Duration::from_secs(2)));
        create(&t, json!({"post": {"body": "Slow"}, "profiles": ["twitter"]})).await;
        let mut worker = t.state.clone();
        worker.job_lease = Duration::from_millis(600);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let handle = postproxy::jobs::spawn(worker, shutdown.clone());
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        // Two leases later the job is still held, and another replica finds nothing to take.
        let held = t
            .count("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND locked_by IS NOT NULL")
            .await;
        assert_eq!(held, 1, "{:?}", t.backend);
        let ahead = t
            .count("SELECT MIN(locked_until_ms) FROM jobs WHERE state = 'queued'")
            .await;
        assert!(ahead > postproxy::clock::now_ms(), "the lease was renewed");
        assert!(!postproxy::jobs::run_next(&t.state, "other replica").await.unwrap());
        wait_for_posts(&fake, "twitter", 1, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        shutdown.cancel();
        handle.await.unwrap();
        assert_eq!(fake.posts("twitter").len(), 1);
        assert_eq!(
            t.count("SELECT COUNT(*) FROM post_profiles WHERE status = 'published'")
                .await,
            1
        );
    }
);

app_test!(
    facebook_an_unknown_outcome_is_found_on_the_pages_feed,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "facebook").await;
        let error = json!({"error": {"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true}});
        fake.script("facebook", Scripted::ApplyThenFail(500, error));
        let id = create(
            &t,
            json!({"post": {"body": "Page & news"}, "profiles": ["facebook"],
               "platforms": {"facebook": {"page_id": "facebook-page-2"}}}),
        )
        .await;
        drain(&t).await;
        assert_eq!(get(&t, &id).await["platforms"][0]["status"], "processing");
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("facebook");
        assert_eq!(posts.len(), 1, "found, not sent again");
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        let n = posts[0].id.split('_').nth(1).unwrap();
        assert_eq!(
            entry["permalink"],
            format!("https://www.facebook.com/facebook-page-2/posts/{n}")
        );
    }
);

app_test!(
    a_slow_platform_gets_many_publishes_in_flight_not_three,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let mut profiles = Vec::new();
        for i in 0..4 {
            let group = t.create_group(&t.account.key, &format!("Brand {i}")).await;
            profiles.push(crate::connect::connect_in(&t, &fake, &group, "twitter").await);
        }
        for i in 0..40 {
            create(
                &t,
                json!({"post": {"body": format!("burst {i}")}, "profiles": [profiles[i % 4]]}),
            )
            .await;
        }
        // Every X answer takes 300 ms.
        fake.set_latency(Duration::from_millis(300));
        let mut worker = t.state.clone();
        worker.worker_slots = 16;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let handle = postproxy::jobs::spawn(worker, shutdown.clone());
        wait_for_posts(&fake, "twitter", 40, Duration::from_secs(30)).await;
        shutdown.cancel();
        handle.await.unwrap();
        assert_eq!(fake.posts("twitter").len(), 40, "{:?}", t.backend);
        // One platform may fill three quarters of the slots (12 of 16), never more.
        let peak = fake.max_in_flight();
        assert!((6..=12).contains(&peak), "{:?}: {peak} at once", t.backend);
    }
);

app_test!(
    deleting_on_threads_without_the_permission_says_what_to_grant,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "threads").await;
        let id = create(&t, json!({"post": {"body": "Stays"}, "profiles": ["threads"]})).await;
        drain(&t).await;
        fake.withdraw_scope("threads", "threads_delete");
        let r = t
            .post(
                &format!("/api/posts/{id}/delete_on_platform"),
                &t.account.key,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        drain(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "still live: {entry}");
        let note = entry["error_details"]["postproxy_note"].as_str().unwrap();
        assert!(note.contains("grant threads_delete"), "{note}");
        assert!(fake.posts("threads").iter().all(|p| !p.deleted));
    }
);

app_test!(
    threads_an_unknown_outcome_is_found_through_its_container,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "threads").await;
        let error = json!({"error": {"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true}});
        // Published, then a server error: the container now reads PUBLISHED.
        fake.script("threads", Scripted::ApplyThenFail(500, error.clone()));
        let live = create(&t, json!({"post": {"body": "Made it"}, "profiles": ["threads"]})).await;
        drain(&t).await;
        assert_eq!(get(&t, &live).await["platforms"][0]["status"], "processing");
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("threads");
        assert_eq!(posts.len(), 1, "found, not sent again");
        let entry = get(&t, &live).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());

        // Refused before publishing: the container still reads FINISHED, so it is sent again
        // once no request of that attempt can be in flight.
        fake.script("threads", Scripted::Fail(500, error, vec![]));
        let again = create(&t, json!({"post": {"body": "Second try"}, "profiles": ["threads"]})).await;
        drain(&t).await;
        assert_eq!(get(&t, &again).await["platforms"][0]["status"], "processing");
        t.exec(
            "UPDATE post_profiles SET sending_since_ms = sending_since_ms - 60000 WHERE sending_since_ms IS NOT NULL",
        )
        .await;
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("threads");
        assert_eq!(posts.len(), 2);
        let entry = get(&t, &again).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[1].id.as_str());
        let container_reads = fake
            .requests_for("threads")
            .iter()
            .filter(|r| r.method == "GET" && r.query_param("fields") == Some("status"))
            .count();
        assert!(container_reads >= 2, "looked up through the containers");
    }
);

app_test!(
    threads_topic_tag_and_facebook_first_comment_reach_the_platforms,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "threads").await;
        connect(&t, &fake, "facebook").await;
        let id = create(
            &t,
            json!({"post": {"body": "Tagged"}, "profiles": ["threads", "facebook"], 
                   "platforms": {"threads": {"topic_tag": "rustlang"},
                                 "facebook": {"page_id": "facebook-page-2", "first_comment": "More in the comments"}}}),
        )
        .await;
        drain(&t).await;
        let post = get(&t, &id).await;
        for e in post["platforms"].as_array().unwrap() {
            assert_eq!(e["status"], "published", "{e}");
            assert!(e["error_details"].is_null(), "{e}");
        }
        let container = fake
            .requests_for("threads")
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/threads"))
            .unwrap();
        assert_eq!(container.form_param("topic_tag"), Some("rustlang"));
        let fb = &fake.posts("facebook")[0];
        assert_eq!(
            fake.comments(),
            vec![(fb.id.clone(), "More in the comments".to_string())]
        );
    }
);

app_test!(
    linkedin_an_unknown_outcome_is_looked_up_where_the_app_may_read_posts,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        connect(&t, &fake, "linkedin").await;
        let error = json!({"message": "Service Unavailable", "status": 503});
        // Without r_member_social LinkedIn does not let anyone look: a note, never a second copy.
        fake.script("linkedin", Scripted::ApplyThenFail(503, error.clone()));
        let blind = create(
            &t,
            json!({"post": {"body": "Can't look (yet)"}, "profiles": ["linkedin"]}),
        )
        .await;
        drain(&t).await;
        time_passes(&t).await;
        drain(&t).await;
        let entry = get(&t, &blind).await["platforms"][0].clone();
        assert_eq!(entry["status"], "failed", "{entry}");
        assert!(entry["error"].as_str().unwrap().contains("r_member_social"), "{entry}");
        assert!(
            entry["error_details"]["postproxy_note"]
                .as_str()
                .unwrap()
                .contains("may or may not be on LinkedIn")
        );
        assert_eq!(fake.posts("linkedin").len(), 1, "not sent again");
        // With it, the post is found and shown published.
        fake.grant_scope("linkedin", "r_member_social");
        fake.script("linkedin", Scripted::ApplyThenFail(503, error));
        let id = create(
            &t,
            json!({"post": {"body": "Found (it) #later"}, "profiles": ["linkedin"]}),
        )
        .await;
        drain(&t).await;
        time_passes(&t).await;
        drain(&t).await;
        let posts = fake.posts("linkedin");
        assert_eq!(posts.len(), 2, "found, not sent again");
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[1].id.as_str());
    }
);

app_test!(
    a_profile_at_its_limit_waits_visibly_and_others_go_on,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let brand_a = t.create_group(&t.account.key, "A").await;
        let brand_b = t.create_group(&t.account.key, "B").await;
        let a = crate::connect::connect_in(&t, &fake, &brand_a, "twitter").await;
        let b = crate::connect::connect_in(&t, &fake, &brand_b, "twitter").await;
        let reset = (postproxy::clock::now_ms() / 1000 + 900).to_string();
        fake.script(
            "twitter",
            Scripted::Fail(
                429,
                json!({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}),
                vec![("x-rate-limit-reset", reset), ("x-rate-limit-remaining", "0".into())],
            ),
        );
        let first = create(&t, json!({"post": {"body": "A waits"}, "profiles": [a]})).await;
        let second = create(&t, json!({"post": {"body": "B goes"}, "profiles": [b]})).await;
        drain(&t).await;
        let waiting = get(&t, &first).await["platforms"][0].clone();
        assert_eq!(waiting["status"], "processing", "{waiting}");
        let note = waiting["error_details"]["postproxy_note"].as_str().unwrap();
        assert!(note.contains("Next attempt at "), "{note}");
        assert_eq!(get(&t, &second).await["platforms"][0]["status"], "published");
        assert_eq!(fake.posts("twitter").len(), 1);
    }
);

fn quota_reads(fake: &FakeProvider, platform: &str) -> usize {
    fake.requests_for(platform)
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("_publishing_limit"))
        .count()
}

app_test!(
    an_account_at_its_threads_quota_waits_before_any_container_is_made,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let profile = connect(&t, &fake, "threads").await;
        fake.set_publishing_quota("threads", 2);
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(
                create(
                    &t,
                    json!({"post": {"body": format!("Post {n}")}, "profiles": [profile]}),
                )
                .await,
            );
            drain(&t).await;
        }
        assert_eq!(get(&t, &ids[0]).await["platforms"][0]["status"], "published");
        assert_eq!(get(&t, &ids[1]).await["platforms"][0]["status"], "published");
        let waiting = get(&t, &ids[2]).await["platforms"][0].clone();
        assert_eq!(waiting["status"], "processing", "{waiting}");
        let details = &waiting["error_details"];
        let message = details["platform_error_message"].as_str().unwrap_or_default();
        assert!(message.contains("2 of 2 posts"), "{waiting}");
        let note = details["postproxy_note"].as_str().unwrap();
        assert!(
            note.contains("threads_publishing_limit") && note.contains("Next attempt at "),
            "{note}"
        );
        // Near the cap every post reads the quota; the third made no container.
        assert_eq!(quota_reads(&fake, "threads"), 3);
        let containers = fake
            .requests_for("threads")
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/threads"))
            .count();
        assert_eq!(containers, 2);
        // A slot frees up: the next attempt goes out.
        fake.set_publishing_quota("threads", 3);
        time_passes(&t).await;
        drain(&t).await;
        assert_eq!(get(&t, &ids[2]).await["platforms"][0]["status"], "published");
        assert_eq!(fake.posts("threads").len(), 3);
    }
);

app_test!(
    a_quota_well_clear_of_its_cap_is_read_once_not_per_post,
    fake,
    |t: TestApp, fake: FakeProvider| async move {
        let profile = connect(&t, &fake, "threads").await;
        for n in 0..3 {
            create(
                &t,
                json!({"post": {"body": format!("Post {n}")}, "profiles": [profile]}),
            )
            .await;
        }
        let thread = create(
            &t,
            json!({"post": {"body": "Opening"}, "profiles": [profile], "thread": [{"body": "A reply"}]}),
        )
        .await;
        drain(&t).await;
        assert_eq!(get(&t, &thread).await["platforms"][0]["status"], "published");
        assert_eq!(fake.posts("threads").len(), 5);
        // One read for posts, one for replies (their own quota on Threads).
        assert_eq!(quota_reads(&fake, "threads"), 2);
    }
);
