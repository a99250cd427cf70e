//! The fake provider's own tests: each fake platform speaks its real format and checks what it
//! receives as the platform would.

use super::*;

const REDIRECT: &str = "https://postproxy.test/oauth/callback/";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn verifier() -> String {
    let r: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(r)
}

fn authorize(fp: &FakeProvider, p: &str, extra: &[(&str, &str)]) -> String {
    let mut u = Url::parse(&fp.authorize_url(p)).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair(spec(p).client_id_param, &FakeProvider::client_id(p));
        q.append_pair("redirect_uri", &format!("{REDIRECT}{p}"));
        q.append_pair("response_type", "code");
        q.append_pair("state", "st-123");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

fn param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn basic(p: &str) -> String {
    let raw = format!("{}:{}", FakeProvider::client_id(p), FakeProvider::client_secret(p));
    format!("Basic {}", STANDARD.encode(raw))
}

const X_SCOPE: &str = "tweet.read tweet.write users.read offline.access media.write";

async fn twitter_connect(fp: &FakeProvider, http: &reqwest::Client) -> Value {
    let v = verifier();
    let url = authorize(
        fp,
        "twitter",
        &[
            ("scope", X_SCOPE),
            ("code_challenge", &s256(&v)),
            ("code_challenge_method", "S256"),
        ],
    );
    let cb = fp.approve(&url).expect("approve");
    let code = param(&cb, "code").unwrap();
    let resp = http
        .post(fp.token_url("twitter"))
        .header("authorization", basic("twitter"))
        .form(&[
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "https://postproxy.test/oauth/callback/twitter"),
            ("code_verifier", v.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn fake_provider_twitter_round_trip() {
    let fp = FakeProvider::start().await;
    let http = client();
    let v = verifier();
    let challenge = s256(&v);
    let base = [
        ("scope", X_SCOPE),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    // PKCE is mandatory; commas are the wrong separator.
    let err = fp
        .approve(&authorize(&fp, "twitter", &[("scope", X_SCOPE)]))
        .unwrap_err();
    assert!(err.contains("code_challenge"), "{err}");
    let err = fp
        .approve(&authorize(
            &fp,
            "twitter",
            &[
                ("scope", "tweet.read,users.read"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .unwrap_err();
    assert!(err.contains("space-separated"), "{err}");

    let cb = fp.approve(&authorize(&fp, "twitter", &base)).unwrap();
    assert!(cb.starts_with("https://postproxy.test/oauth/callback/twitter?code=fake-twitter-code-"));
    assert_eq!(param(&cb, "state").as_deref(), Some("st-123"));
    let code = param(&cb, "code").unwrap();
    let redirect = "https://postproxy.test/oauth/callback/twitter";

    // Client secret in the body instead of Basic: rejected.
    let resp = http
        .post(fp.token_url("twitter"))
        .form(&[
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
            ("code_verifier", v.as_str()),
            ("client_id", "client-twitter"),
            ("client_secret", "secret-twitter"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");

    // Wrong verifier: rejected, and the code is not consumed.
    let resp = http
        .post(fp.token_url("twitter"))
        .header("authorization", basic("twitter"))
        .form(&[
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
            ("code_verifier", verifier().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let resp = http
        .post(fp.token_url("twitter"))
        .header("authorization", basic("twitter"))
        .form(&[
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
            ("code_verifier", v.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let tok: Value = resp.json().await.unwrap();
    assert_eq!(tok["token_type"], "bearer");
    assert_eq!(tok["expires_in"], 7200);
    let at = tok["access_token"].as_str().unwrap().to_string();
    assert!(at.starts_with("fake-twitter-access-"));
    assert!(
        tok["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("fake-twitter-refresh-")
    );
    assert_eq!(fp.valid_access_tokens("twitter"), vec![at.clone()]);

    let me: Value = http
        .get(format!(
            "{}/2/users/me?user.fields=profile_image_url",
            fp.api_url("twitter")
        ))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["id"], "twitter-user-1");
    assert_eq!(me["data"]["name"], "Fake Twitter User");
    assert_eq!(me["data"]["username"], "fake_twitter");
    assert!(
        me["data"]["profile_image_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );

    let resp = http
        .get(format!("{}/2/users/me", fp.api_url("twitter")))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Revoke.
    let resp = http
        .post(format!("{}/2/oauth2/revoke", fp.api_url("twitter")))
        .header("authorization", basic("twitter"))
        .form(&[("token", at.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fp.revoked_tokens(), vec![at.clone()]);
    assert!(fp.valid_access_tokens("twitter").is_empty());

    let token_req = fp.requests().into_iter().rfind(|r| r.path == "/twitter/token").unwrap();
    assert_eq!(token_req.authorization.as_deref(), Some(basic("twitter").as_str()));
}

#[tokio::test]
async fn fake_provider_tiktok_round_trip_via_consent_page() {
    let fp = FakeProvider::start().await;
    let http = client();
    let scope = "user.info.basic,video.publish,video.upload";

    // client_id instead of client_key is refused.
    let mut wrong = Url::parse(&fp.authorize_url("tiktok")).unwrap();
    wrong
        .query_pairs_mut()
        .append_pair("client_id", "client-tiktok")
        .append_pair("redirect_uri", "https://postproxy.test/oauth/callback/tiktok")
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "s");
    assert!(fp.approve(wrong.as_str()).unwrap_err().contains("client_key"));

    let url = authorize(&fp, "tiktok", &[("scope", scope)]);
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("TikTok"));
    let href = html
        .split("id=\"approve\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(html.contains("id=\"deny\""));
    let code = param(&href, "code").unwrap();
    assert_eq!(param(&href, "state").as_deref(), Some("st-123"));

    let deny = fp.deny(&url).unwrap();
    assert_eq!(param(&deny, "error").as_deref(), Some("access_denied"));
    assert!(param(&deny, "error_type").is_some());

    // Wrong secret.
    let resp = http
        .post(fp.token_url("tiktok"))
        .form(&[
            ("client_key", "client-tiktok"),
            ("client_secret", "wrong"),
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "https://postproxy.test/oauth/callback/tiktok"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["log_id"].is_string());

    let tok: Value = http
        .post(fp.token_url("tiktok"))
        .form(&[
            ("client_key", "client-tiktok"),
            ("client_secret", "secret-tiktok"),
            ("code", code.as_str()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", "https://postproxy.test/oauth/callback/tiktok"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tok["open_id"], "tiktok-user-1");
    assert_eq!(tok["expires_in"], 86400);
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["refresh_token"].is_string());
    let at = tok["access_token"].as_str().unwrap();

    let info_url = format!(
        "{}/v2/user/info/?fields=open_id,union_id,avatar_url,display_name,username",
        fp.api_url("tiktok")
    );
    // The token in the query is not enough: Bearer is required.
    let resp = http.get(format!("{info_url}&access_token={at}")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "access_token_invalid");

    let info: Value = http
        .get(&info_url)
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["error"]["code"], "ok");
    assert_eq!(info["data"]["user"]["open_id"], "tiktok-user-1");
    assert_eq!(info["data"]["user"]["display_name"], "Fake Tiktok User");
    assert_eq!(info["data"]["user"]["username"], "fake_tiktok");

    fp.fail_identity("tiktok");
    let resp = http.get(&info_url).bearer_auth(at).send().await.unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn fake_provider_twitter_refresh_rotates() {
    let fp = FakeProvider::start().await;
    let http = client();
    let tok = twitter_connect(&fp, &http).await;
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();

    let refresh = |rt: String| {
        let http = http.clone();
        let url = fp.token_url("twitter");
        async move {
            http.post(url)
                .header("authorization", basic("twitter"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())])
                .send()
                .await
                .unwrap()
        }
    };

    let resp = refresh(rt1.clone()).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let rt2 = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert!(
        body["access_token"]
            .as_str()
            .unwrap()
            .starts_with("fake-twitter-access-")
    );
    assert_eq!(fp.valid_refresh_tokens("twitter"), vec![rt2.clone()]);

    let resp = refresh(rt1).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    assert_eq!(refresh(rt2.clone()).await.status(), 200);

    fp.reject_refresh("twitter", true);
    let resp = refresh(rt2).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn fake_provider_rejects_used_code() {
    let fp = FakeProvider::start().await;
    let http = client();
    let v = verifier();
    let scope = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly";
    let challenge = s256(&v);
    let no_offline = authorize(
        &fp,
        "youtube",
        &[
            ("scope", scope),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    assert!(fp.approve(&no_offline).unwrap_err().contains("access_type"));
    let url = format!("{no_offline}&access_type=offline&prompt=consent&include_granted_scopes=true");
    let code = param(&fp.approve(&url).unwrap(), "code").unwrap();
    let form = [
        ("code", code.as_str()),
        ("client_id", "client-youtube"),
        ("client_secret", "secret-youtube"),
        ("redirect_uri", "https://postproxy.test/oauth/callback/youtube"),
        ("grant_type", "authorization_code"),
        ("code_verifier", v.as_str()),
    ];
    let resp = http.post(fp.token_url("youtube")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let tok: Value = resp.json().await.unwrap();
    assert_eq!(tok["expires_in"], 3599);
    assert!(tok["refresh_token"].is_string());
    let at = tok["access_token"].as_str().unwrap();

    let resp = http.post(fp.token_url("youtube")).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let ch: Value = http
        .get(format!(
            "{}/youtube/v3/channels?part=snippet&mine=true",
            fp.api_url("youtube")
        ))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ch["items"][0]["id"], "youtube-user-1");
    assert_eq!(ch["items"][0]["snippet"]["customUrl"], "@fake_youtube");

    // Revoke via the derived URL kills the whole grant.
    let resp = http
        .post(fp.token_url("youtube").replace("/token", "/revoke"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fp.revoked_tokens().len(), 2);
}

#[tokio::test]
async fn fake_provider_facebook_pages_and_refresh() {
    let fp = FakeProvider::start().await;
    let http = client();
    let url = authorize(
        &fp,
        "facebook",
        &[(
            "scope",
            "pages_show_list,pages_manage_posts,pages_read_engagement,business_management",
        )],
    );
    let code = param(&fp.approve(&url).unwrap(), "code").unwrap();
    let redirect = "https://postproxy.test/oauth/callback/facebook";
    let token_url = fp.token_url("facebook");

    // POST is not the contract.
    let resp = http.post(&token_url).send().await.unwrap();
    assert_eq!(resp.status(), 405);

    let short: Value = http
        .get(&token_url)
        .query(&[
            ("client_id", "client-facebook"),
            ("redirect_uri", redirect),
            ("client_secret", "secret-facebook"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(short["expires_in"], 3600);
    let short = short["access_token"].as_str().unwrap().to_string();

    let exchange = |t: String| {
        let http = http.clone();
        let url = token_url.clone();
        async move {
            http.get(url)
                .query(&[
                    ("grant_type", "fb_exchange_token"),
                    ("client_id", "client-facebook"),
                    ("client_secret", "secret-facebook"),
                    ("fb_exchange_token", t.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let long: Value = exchange(short).await.json().await.unwrap();
    assert_eq!(long["expires_in"], 5_184_000);
    let long = long["access_token"].as_str().unwrap().to_string();

    let me: Value = http
        .get(format!("{}/me", fp.api_url("facebook")))
        .query(&[("fields", "id,name,picture"), ("access_token", long.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], "facebook-user-1");
    assert!(me["picture"]["data"]["url"].is_string());

    let pages: Value = http
        .get(format!("{}/me/accounts", fp.api_url("facebook")))
        .query(&[
            ("fields", "id,name,access_token,picture"),
            ("access_token", long.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = pages["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_ne!(data[0]["access_token"], data[1]["access_token"]);
    assert_eq!(fp.valid_access_tokens("facebook").len(), 4);

    // Refresh = long-lived exchange again; rejected as revoked when asked to.
    assert_eq!(exchange(long.clone()).await.status(), 200);
    fp.reject_refresh("facebook", true);
    let resp = exchange(long).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 190);
    assert_eq!(body["error"]["error_subcode"], 458);
}
#[tokio::test]
async fn fake_provider_instagram_threads_linkedin_smoke() {
    let fp = FakeProvider::start().await;
    let http = client();
    for (p, scope, grant) in [
        (
            "instagram",
            "instagram_business_basic,instagram_business_content_publish",
            "ig_exchange_token",
        ),
        ("threads", "threads_basic,threads_content_publish", "th_exchange_token"),
    ] {
        let code = param(&fp.approve(&authorize(&fp, p, &[("scope", scope)])).unwrap(), "code").unwrap();
        let redirect = format!("{REDIRECT}{p}");
        let short: Value = http
            .post(fp.token_url(p))
            .form(&[
                ("client_id", FakeProvider::client_id(p).as_str()),
                ("client_secret", FakeProvider::client_secret(p).as_str()),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect.as_str()),
                ("code", code.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(short["user_id"], format!("{p}-user-1"), "{p}");
        let short = short["access_token"].as_str().unwrap();
        let long: Value = http
            .get(format!("{}/access_token", fp.api_url(p)))
            .query(&[
                ("grant_type", grant),
                ("client_secret", FakeProvider::client_secret(p).as_str()),
                ("access_token", short),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(long["expires_in"], 5_184_000, "{p}");
        let long = long["access_token"].as_str().unwrap();
        let me_path = if p == "threads" { "/v1.0/me" } else { "/me" };
        let me: Value = http
            .get(format!("{}{me_path}", fp.api_url(p)))
            .query(&[("fields", "id,username,name"), ("access_token", long)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["username"], format!("fake_{p}"), "{p}");
        fp.reject_refresh(p, false);
        let resp = http
            .get(format!("{}/refresh_access_token", fp.api_url(p)))
            .query(&[
                ("grant_type", &grant.replace("exchange", "refresh")[..]),
                ("access_token", long),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{p}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], 190, "{p}");
    }

    // LinkedIn: org ACLs need the admin scope and the versioning headers.
    let p = "linkedin";
    let scope = "openid profile w_member_social r_organization_admin w_organization_social";
    let code = param(&fp.approve(&authorize(&fp, p, &[("scope", scope)])).unwrap(), "code").unwrap();
    let tok: Value = http
        .post(fp.token_url(p))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://postproxy.test/oauth/callback/linkedin"),
            ("client_id", "client-linkedin"),
            ("client_secret", "secret-linkedin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = tok["access_token"].as_str().unwrap();
    assert!(tok["refresh_token"].is_string());
    let me: Value = http
        .get(format!("{}/v2/userinfo", fp.api_url(p)))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], "linkedin-user-1");
    let acls = format!(
        "{}/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
        fp.api_url(p)
    );
    let resp = http.get(&acls).bearer_auth(at).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let acl: Value = http
        .get(&acls)
        .bearer_auth(at)
        .header("LinkedIn-Version", "202609")
        .header("X-Restli-Protocol-Version", "2.0.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urn = acl["elements"][0]["organization"].as_str().unwrap();
    let id = urn.rsplit(':').next().unwrap();
    let org: Value = http
        .get(format!("{}/rest/organizations/{id}", fp.api_url(p)))
        .bearer_auth(at)
        .header("LinkedIn-Version", "202609")
        .header("X-Restli-Protocol-Version", "2.0.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(org["id"], 90000001);
    assert!(org["localizedName"].is_string());
    let revoke = fp.token_url(p).replace("accessToken", "revoke");
    let resp = http
        .post(revoke)
        .form(&[
            ("client_id", "client-linkedin"),
            ("client_secret", "secret-linkedin"),
            ("token", at),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(fp.revoked_tokens().contains(&at.to_string()));
}
