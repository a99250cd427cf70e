//! Media: downloads into storage (type from the bytes, platform limits, private addresses
//! refused), signed URLs that serve exactly the stored bytes, and image posts to the platforms
//! that pull media (Instagram, Facebook, Threads), whose fakes fetch our URLs like the real ones.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::connect::connect;
use crate::fake_provider::FakeProvider;
use crate::helpers::TestApp;

use crate::helpers::{create_post as create, get_post as get, settle};

fn jpeg(fake: &FakeProvider) -> String {
    format!("{}/instagram/files/photo.jpg", fake.base())
}

app_test!(
    instagram_image_and_carousel_pull_our_signed_urls,
    listening,
    |t: TestApp, fake: FakeProvider, base: String| async move {
        connect(&t, &fake, "instagram").await;
        let one = create(
            &t,
            json!({"post": {"body": "One photo"}, "profiles": ["instagram"], "media": [jpeg(&fake)],
               "platforms": {"instagram": {"first_comment": "#first"}}}),
        )
        .await;
        assert_eq!(get(&t, &one).await["status"], "pending", "media is being fetched");
        let three = create(
        &t,
        json!({"post": {"body": "Three"}, "profiles": ["instagram"], "media": [jpeg(&fake), jpeg(&fake), {"url": jpeg(&fake)}]}),
    )
    .await;
        settle(&t).await;
        let post = get(&t, &one).await;
        assert_eq!(post["status"], "processed", "{post}");
        assert_eq!(post["media"][0]["status"], "processed");
        let entry = &post["platforms"][0];
        assert_eq!(entry["status"], "published", "{entry}");
        let posts = fake.posts("instagram");
        assert_eq!(posts.len(), 2);
        assert_eq!(posts[0].text, "One photo");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
        assert_eq!(
            entry["permalink"],
            format!("https://www.instagram.com/p/P{}/", posts[0].id)
        );
        // Instagram pulled the file from this server, through a signed URL.
        let urls = fake.media_of(&posts[0].id);
        assert_eq!(urls.len(), 1);
        assert!(
            urls[0].starts_with(&format!("{base}/media/")) && urls[0].contains("sig="),
            "{urls:?}"
        );
        assert_eq!(fake.comments(), vec![(posts[0].id.clone(), "#first".to_string())]);
        assert_eq!(fake.media_of(&posts[1].id).len(), 3, "a carousel of three");
        assert_eq!(get(&t, &three).await["platforms"][0]["status"], "published");
    }
);

app_test!(
    a_refused_first_comment_shows_on_the_published_result,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        fake.withdraw_scope("instagram", "instagram_business_manage_comments");
        let id = create(
            &t,
            json!({"post": {"body": "Photo"}, "profiles": ["instagram"], "media": [jpeg(&fake)],
               "platforms": {"instagram": {"first_comment": "#first"}}}),
        )
        .await;
        settle(&t).await;
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "the post itself is live: {entry}");
        assert!(entry["error"].is_null());
        let note = entry["error_details"]["postproxy_note"].as_str().unwrap();
        assert!(note.contains("refused its first comment"), "{note}");
        assert!(
            note.contains("does not have permission"),
            "the platform's words: {note}"
        );
        assert!(note.contains("instagram_business_manage_comments"), "{note}");
        assert!(fake.comments().is_empty());
    }
);

app_test!(
    instagram_an_unknown_outcome_is_found_through_its_container,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        let error = json!({"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2, "is_transient": true}});
        fake.script("instagram", crate::fake_provider::Scripted::ApplyThenFail(500, error));
        let id = create(
            &t,
            json!({"post": {"body": "Made it"}, "profiles": ["instagram"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        let posts = fake.posts("instagram");
        assert_eq!(posts.len(), 1, "found, not sent again");
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str());
    }
);

app_test!(
    alt_text_and_collaborators_ride_on_the_media_requests,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        connect(&t, &fake, "linkedin").await;
        connect(&t, &fake, "threads").await;
        create(
            &t,
            json!({"post": {"body": "Described"}, "profiles": ["instagram", "linkedin", "threads"], "media": [jpeg(&fake)],
                   "platforms": {"instagram": {"alt_text": "A red door", "collaborators": ["friend"]},
                                 "linkedin": {"alt_text": "A red door"}, "threads": {"alt_text": "A red door"}}}),
        )
        .await;
        settle(&t).await;
        assert_eq!(fake.posts("instagram").len(), 1);
        let ig = fake
            .requests_for("instagram")
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/media"))
            .unwrap();
        let body: Value = serde_json::from_str(&ig.body).unwrap();
        assert_eq!(body["alt_text"], "A red door");
        assert_eq!(body["collaborators"], json!(["friend"]));
        let li = fake
            .requests_for("linkedin")
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/rest/posts"))
            .unwrap();
        let body: Value = serde_json::from_str(&li.body).unwrap();
        assert_eq!(body["content"]["media"]["altText"], "A red door", "{body}");
        let th = fake
            .requests_for("threads")
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/threads"))
            .unwrap();
        assert_eq!(th.form_param("alt_text"), Some("A red door"));
    }
);

app_test!(
    signed_media_urls_serve_exact_bytes_and_nothing_else,
    listening,
    |t: TestApp, fake: FakeProvider, base: String| async move {
        connect(&t, &fake, "instagram").await;
        create(
            &t,
            json!({"post": {"body": "Bytes"}, "profiles": ["instagram"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        let url = fake.media_of(&fake.posts("instagram")[0].id)[0].clone();
        let http = reqwest::Client::new();
        let ok = http.get(&url).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "image/jpeg");
        let served = ok.bytes().await.unwrap();
        let original = reqwest::get(jpeg(&fake)).await.unwrap().bytes().await.unwrap();
        assert_eq!(served, original);
        let path = url.trim_start_matches(&base).split('?').next().unwrap().to_string();
        for bad in [
            format!("{base}{path}"),
            format!("{base}{path}?exp=9999999999&sig=AAAA"),
            url.replace("/media/", "/media/x"),
            {
                let (head, _) = url.split_once("exp=").unwrap();
                format!("{head}exp=1&{}", url.split('&').next_back().unwrap())
            },
        ] {
            let r = http.get(&bad).send().await.unwrap();
            assert_eq!(r.status(), 404, "{bad}");
        }
    }
);

app_test!(
    facebook_and_threads_publish_photos_and_carousels,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "facebook").await;
        connect(&t, &fake, "threads").await;
        let single = create(
            &t,
            json!({"post": {"body": "Photo"}, "profiles": ["facebook", "threads"], "media": [jpeg(&fake)],
               "platforms": {"facebook": {"page_id": "facebook-page-1"}}}),
        )
        .await;
        let multi = create(
            &t,
            json!({"post": {"body": "Album"}, "profiles": ["facebook", "threads"], "media": [jpeg(&fake), jpeg(&fake)],
               "platforms": {"facebook": {"page_id": "facebook-page-1"}}}),
        )
        .await;
        settle(&t).await;
        for id in [&single, &multi] {
            let post = get(&t, id).await;
            for e in post["platforms"].as_array().unwrap() {
                assert_eq!(e["status"], "published", "{e}");
            }
        }
        let fb = fake.posts("facebook");
        assert_eq!(fb.len(), 2);
        assert_eq!(fake.media_of(&fb[0].id).len(), 1);
        assert_eq!(
            fake.media_of(&fb[1].id).len(),
            2,
            "two photos attached to one feed post"
        );
        let th = fake.posts("threads");
        assert_eq!(th.len(), 2);
        assert_eq!(fake.media_of(&th[0].id).len(), 1);
        assert_eq!(fake.media_of(&th[1].id).len(), 2, "a Threads carousel");
    }
);

app_test!(
    media_that_cannot_be_used_fails_the_post_with_the_reason,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        // A PNG: Instagram takes JPEG only.
        let png = create(
        &t,
        json!({"post": {"body": "PNG"}, "profiles": ["instagram"], "media": [format!("{}/instagram/static/a.png", fake.base())]}),
    )
    .await;
        // Not an image at all.
        let json_file = create(
        &t,
        json!({"post": {"body": "JSON"}, "profiles": ["instagram"], "media": [format!("{}/instagram/api/me", fake.base())]}),
    )
    .await;
        settle(&t).await;
        let p = get(&t, &png).await;
        assert_eq!(p["status"], "media_processing_failed", "{p}");
        assert!(
            p["media"][0]["error_message"]
                .as_str()
                .unwrap()
                .contains("Instagram accepts JPEG"),
            "{p}"
        );
        assert_eq!(p["platforms"][0]["status"], "failed");
        assert!(
            p["platforms"][0]["error"]
                .as_str()
                .unwrap()
                .contains("Media could not be processed")
        );
        let j = get(&t, &json_file).await;
        assert_eq!(j["status"], "media_processing_failed", "{j}");
        assert!(j["media"][0]["error_message"].is_string(), "{j}");
        assert!(fake.posts("instagram").is_empty());
    }
);

app_test!(
    downloads_never_reach_private_addresses_unless_allowed,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        let strict_dir = tempfile::tempdir().unwrap();
        let strict = t.state.clone().with_media(
            postproxy::media::Media::open(
                &strict_dir.path().to_string_lossy(),
                false,
                crate::helpers::MEDIA_SECRET,
            )
            .unwrap(),
        );
        let id = create(
            &t,
            json!({"post": {"body": "SSRF"}, "profiles": ["instagram"], "media": [jpeg(&fake)]}),
        )
        .await;
        postproxy::jobs::drain(&strict).await.unwrap();
        let p = get(&t, &id).await;
        assert_eq!(p["status"], "media_processing_failed", "{p}");
        let msg = p["media"][0]["error_message"].as_str().unwrap().to_string();
        assert!(msg.contains("private address"), "{msg}");
        assert!(
            std::fs::read_dir(strict_dir.path())
                .unwrap()
                .all(|e| e.unwrap().file_type().unwrap().is_dir()),
            "nothing stored"
        );
        let _ = Duration::ZERO;
    }
);

app_test!(
    x_and_linkedin_get_the_bytes_pushed,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "twitter").await;
        connect(&t, &fake, "linkedin").await;
        let two = create(
        &t,
        json!({"post": {"body": "Two pictures"}, "profiles": ["twitter", "linkedin"], "media": [jpeg(&fake), jpeg(&fake)]}),
    )
    .await;
        let one = create(
            &t,
            json!({"post": {"body": "One picture"}, "profiles": ["linkedin"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        for id in [&two, &one] {
            for e in get(&t, id).await["platforms"].as_array().unwrap() {
                assert_eq!(e["status"], "published", "{e}");
            }
        }
        let x = fake.posts("twitter");
        assert_eq!(x.len(), 1);
        assert_eq!(fake.media_of(&x[0].id).len(), 2, "two uploaded media ids on the tweet");
        let li = fake.posts("linkedin");
        assert_eq!(li.len(), 2);
        assert_eq!(fake.media_of(&li[0].id).len(), 2, "multiImage");
        assert_eq!(fake.media_of(&li[1].id).len(), 1, "a single image");
        // Every upload carried the exact file: the JPEG the fake served.
        let uploads: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/dms-uploads/") || r.path.ends_with("/2/media/upload"))
            .collect();
        assert_eq!(uploads.len(), 5);
        let original = reqwest::get(jpeg(&fake)).await.unwrap().bytes().await.unwrap().to_vec();
        for r in uploads {
            let data = match r.parts.iter().find(|(n, _, _)| n == "media") {
                Some((_, ct, d)) => {
                    assert_eq!(ct.as_deref(), Some("image/jpeg"));
                    d.clone()
                }
                None => r.body_bytes.clone(),
            };
            assert_eq!(data, original, "{}", r.path);
        }
    }
);

/// One part: field name, (file name, content type) for a file, and the bytes.
pub type Part<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

/// A Rails-style multipart body, as the SDKs build it for local files.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "postproxy-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, ct)) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_multipart(t: &TestApp, method: &str, path: &str, parts: &[Part<'_>]) -> crate::helpers::TestResponse {
    let (ct, body) = multipart(parts);
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("Authorization", format!("Bearer {}", t.account.key))
        .header("Content-Type", ct)
        .body(axum::body::Body::from(body))
        .unwrap();
    t.raw(req).await
}

app_test!(
    multipart_uploads_are_stored_checked_and_published,
    listening,
    |t: TestApp, fake: FakeProvider, base: String| async move {
        connect(&t, &fake, "instagram").await;
        connect(&t, &fake, "twitter").await;
        let jpeg_bytes = reqwest::get(jpeg(&fake)).await.unwrap().bytes().await.unwrap().to_vec();
        let r = send_multipart(
            &t,
            "POST",
            "/api/posts",
            &[
                ("post[body]", None, b"Uploaded"),
                ("profiles[]", None, b"instagram"),
                ("profiles[]", None, b"twitter"),
                ("platforms[instagram][first_comment]", None, b"hello"),
                ("media[]", Some(("photo.jpg", "image/jpeg")), &jpeg_bytes),
                ("thread[0][body]", None, b"ignored"),
            ],
        )
        .await;
        // A thread goes to X and Threads only: refused, and the upload is not kept.
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        let r = send_multipart(
            &t,
            "POST",
            "/api/posts",
            &[
                ("post[body]", None, b"Uploaded"),
                ("profiles[]", None, b"instagram"),
                ("profiles[]", None, b"twitter"),
                ("platforms[instagram][first_comment]", None, b"hello"),
                ("media[]", Some(("photo.jpg", "image/jpeg")), &jpeg_bytes),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["media"][0]["status"], "processed", "an upload is ready at once");
        assert_eq!(r.body["media"][0]["content_type"], "image/jpeg");
        assert_eq!(r.body["status"], "processing");
        let id = r.body["id"].as_str().unwrap().to_string();
        settle(&t).await;
        let post = get(&t, &id).await;
        for e in post["platforms"].as_array().unwrap() {
            assert_eq!(e["status"], "published", "{e}");
        }
        let ig = fake.posts("instagram");
        assert!(fake.media_of(&ig[0].id)[0].starts_with(&format!("{base}/media/")));
        assert_eq!(fake.comments()[0].1, "hello");
        assert_eq!(fake.media_of(&fake.posts("twitter")[0].id).len(), 1);
        // A PNG is refused for Instagram at once, naming the rule; a text file is not media at all.
        let png = reqwest::get(format!("{}/instagram/static/a.png", fake.base()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        let r = send_multipart(
            &t,
            "POST",
            "/api/posts",
            &[
                ("post[body]", None, b"PNG"),
                ("profiles[]", None, b"instagram"),
                ("media[]", Some(("a.png", "image/png")), &png),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("Instagram accepts JPEG"), "{}", r.text);
        let r = send_multipart(
            &t,
            "POST",
            "/api/posts",
            &[
                ("post[body]", None, b"Text"),
                ("profiles[]", None, b"twitter"),
                ("media[]", Some(("a.txt", "image/jpeg")), b"just words"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains("a.txt"), "{}", r.text);
        // Only the one accepted upload is stored.
        let stored = t
            .count("SELECT COUNT(*) FROM media WHERE storage_key IS NOT NULL")
            .await;
        assert_eq!(stored, 1);
    }
);

app_test!(
    deleted_posts_leave_no_files_behind,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "twitter").await;
        let id = create(
            &t,
            json!({"post": {"body": "Soon gone", "draft": true}, "profiles": ["twitter"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &id).await;
        assert_eq!(post["media"][0]["status"], "processed", "{post}");
        let key: String = {
            let keys = postproxy::db::posts::media(&t.db, &[t.state.decode(postproxy::ids::Kind::Post, &id).unwrap()])
                .await
                .unwrap();
            keys[0].storage_key.clone().unwrap()
        };
        assert!(t.state.media.storage.size(&key).await.unwrap().is_some());
        let r = t.delete(&format!("/api/posts/{id}"), &t.account.key).await;
        assert_eq!(r.status, StatusCode::OK);
        postproxy::jobs::schedule_tick(&t.state).await.unwrap();
        assert_eq!(
            t.state.media.storage.size(&key).await.unwrap(),
            None,
            "the file is removed"
        );
        assert_eq!(t.count("SELECT COUNT(*) FROM media_garbage").await, 0);
    }
);

app_test!(
    tiktok_photo_posts_check_privacy_and_keep_int64_ids,
    listening,
    |t: TestApp, fake: FakeProvider, base: String| async move {
        connect(&t, &fake, "tiktok").await;
        let ok = create(
            &t,
            json!({"post": {"body": "Photo mode"}, "profiles": ["tiktok"], "media": [jpeg(&fake), jpeg(&fake)],
               "platforms": {"tiktok": {"title": "Two photos"}}}),
        )
        .await;
        let public = create(
            &t,
            json!({"post": {"body": "Public please"}, "profiles": ["tiktok"], "media": [jpeg(&fake)],
               "platforms": {"tiktok": {"privacy_status": "PUBLIC_TO_EVERYONE"}}}),
        )
        .await;
        settle(&t).await;
        let posts = fake.posts("tiktok");
        assert_eq!(posts.len(), 1, "the refused privacy level never reached content/init");
        let entry = get(&t, &ok).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], posts[0].id.as_str(), "an int64 id, exact");
        assert_eq!(
            entry["permalink"],
            format!("https://www.tiktok.com/@fake_tiktok/photo/{}", posts[0].id)
        );
        let urls = fake.media_of(&posts[0].id);
        assert_eq!(urls.len(), 2);
        assert!(
            urls.iter().all(|u| u.starts_with(&format!("{base}/media/"))),
            "{urls:?}"
        );
        let refused = get(&t, &public).await["platforms"][0].clone();
        assert_eq!(refused["status"], "failed", "{refused}");
        assert_eq!(
            refused["error_details"]["platform_error_code"],
            "privacy_level_option_mismatch"
        );
        assert!(refused["error"].as_str().unwrap().contains("SELF_ONLY"), "{refused}");
    }
);

app_test!(
    download_failures_say_why_and_when_and_uploads_come_back_with_a_url,
    listening,
    |t: TestApp, fake: FakeProvider, base: String| async move {
        connect(&t, &fake, "instagram").await;
        // A host that does not exist fails the medium at once, with the reason.
        let gone = create(
            &t,
            json!({"post": {"body": "Gone"}, "profiles": ["instagram"], "media": ["https://no-such-host.invalid/a.jpg"]}),
        )
        .await;
        // A file host that answers 503 is retried, and says when.
        let busy = create(
            &t,
            json!({"post": {"body": "Busy"}, "profiles": ["instagram"],
                   "media": [format!("{}/instagram/files/busy.jpg", fake.base())]}),
        )
        .await;
        postproxy::jobs::drain(&t.state).await.unwrap();
        let post = get(&t, &gone).await;
        assert_eq!(post["status"], "media_processing_failed", "{post}");
        assert_eq!(post["media"][0]["status"], "failed");
        let why = post["media"][0]["error_message"].as_str().unwrap();
        assert!(why.contains("does not exist"), "{why}");
        let post = get(&t, &busy).await;
        assert_eq!(post["status"], "pending", "{post}");
        let why = post["media"][0]["error_message"].as_str().unwrap();
        assert!(why.contains("503") && why.contains("next try at"), "{why}");
        // A processed file comes back with its signed URL, which serves it.
        let ok = create(
            &t,
            json!({"post": {"body": "Fine"}, "profiles": ["instagram"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        let post = get(&t, &ok).await;
        let url = post["media"][0]["url"].as_str().expect("a url").to_string();
        assert!(
            url.starts_with(&format!("{base}/media/")) && url.contains("sig="),
            "{url}"
        );
        let got = reqwest::get(&url).await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), crate::fake_provider::JPEG);
    }
);

app_test!(
    tiktok_a_late_public_id_replaces_the_publish_id,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "tiktok").await;
        fake.delay_tiktok_public_id(2);
        let id = create(
            &t,
            json!({"post": {"body": "Later id"}, "profiles": ["tiktok"], "media": [jpeg(&fake)]}),
        )
        .await;
        postproxy::jobs::drain(&t.state).await.unwrap();
        t.exec("UPDATE jobs SET run_at_ms = 0 WHERE state = 'queued' AND kind <> 'resolve_post_id'")
            .await;
        postproxy::jobs::drain(&t.state).await.unwrap();
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        let provisional = entry["platform_post_id"].as_str().unwrap().to_string();
        assert!(provisional.starts_with("p_pub_url"), "the publish_id for now: {entry}");
        assert_eq!(entry["permalink"], "https://www.tiktok.com/@fake_tiktok");
        // Asked again later (bounded), until TikTok names the public post.
        for _ in 0..3 {
            t.exec("UPDATE jobs SET run_at_ms = 0 WHERE state = 'queued'").await;
            postproxy::jobs::drain(&t.state).await.unwrap();
        }
        let entry = get(&t, &id).await["platforms"][0].clone();
        let post = &fake.posts("tiktok")[0];
        assert_eq!(entry["platform_post_id"], post.id.as_str(), "{entry}");
        assert_eq!(
            entry["permalink"],
            format!("https://www.tiktok.com/@fake_tiktok/photo/{}", post.id)
        );
        assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").await, 0);
    }
);

app_test!(
    tiktok_an_interrupted_publish_is_looked_up_by_its_publish_id,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "tiktok").await;
        let id = create(
            &t,
            json!({"post": {"body": "Interrupted"}, "profiles": ["tiktok"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        assert_eq!(fake.posts("tiktok").len(), 1);
        // As if the server had died after TikTok accepted the post and named its publish_id.
        let publish_id = fake.tiktok_publish_ids().pop().unwrap();
        t.exec("UPDATE post_profiles SET status = 'processing', platform_post_id = NULL, sending_since_ms = 1")
            .await;
        postproxy::with_pool!(&t.db, p => sqlx::query("UPDATE post_profiles SET sending_ref = $1")
            .bind(&publish_id).execute(p).await.map(|_| ()))
        .unwrap();
        t.exec("UPDATE posts SET status = 'processing'").await;
        t.exec("UPDATE jobs SET state = 'queued', run_at_ms = 0, locked_until_ms = NULL, attempts = 0 WHERE kind = 'publish_post'")
            .await;
        postproxy::jobs::drain(&t.state).await.unwrap();
        assert_eq!(fake.posts("tiktok").len(), 1, "found by its publish_id, not sent again");
        let entry = get(&t, &id).await["platforms"][0].clone();
        assert_eq!(entry["status"], "published", "{entry}");
        assert_eq!(entry["platform_post_id"], fake.posts("tiktok")[0].id.as_str());
    }
);

app_test!(
    an_instagram_account_at_its_daily_cap_waits_with_the_numbers,
    listening,
    |t: TestApp, fake: FakeProvider, _base: String| async move {
        connect(&t, &fake, "instagram").await;
        fake.set_publishing_quota("instagram", 1);
        let first = create(
            &t,
            json!({"post": {"body": "One"}, "profiles": ["instagram"], "media": [jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        let second = create(
            &t,
            json!({"post": {"body": "Two"}, "profiles": ["instagram"], "media": [jpeg(&fake), jpeg(&fake)]}),
        )
        .await;
        settle(&t).await;
        assert_eq!(get(&t, &first).await["platforms"][0]["status"], "published");
        let waiting = get(&t, &second).await["platforms"][0].clone();
        assert_eq!(waiting["status"], "processing", "{waiting}");
        let note = waiting["error_details"]["postproxy_note"].as_str().unwrap();
        assert!(note.contains("content_publishing_limit says 1"), "{note}");
        // Not one container of the carousel was made while the account was at its cap.
        let containers = fake
            .requests_for("instagram")
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/media"))
            .count();
        assert_eq!(containers, 1);
        assert_eq!(fake.posts("instagram").len(), 1);
    }
);
