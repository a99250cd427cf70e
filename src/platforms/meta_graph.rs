//! Meta's Graph API, shared by Facebook (Pages), Instagram (Instagram Login) and Threads (their
//! rooms are `facebook.rs`, `instagram.rs`, `threads.rs`). Short-lived tokens from the code
//! exchange are swapped at once for long-lived (≈60-day) ones, which renew themselves.

use serde_json::Value;

use super::{App, Code, Identity, ProviderConfig, TokenSet, send_json, str_field, token_set};
use crate::domain::platform::Platform;

/// The `/me` of Instagram Login and Threads: the user id (the first of `id_fields` present),
/// username, name and picture.
pub(super) async fn login_identity(
    app: App<'_>,
    tokens: &TokenSet,
    path: &str,
    id_fields: &[&str],
    avatar: &str,
) -> Result<Identity, Failure> {
    let fields = format!("{},username,name,{avatar}", id_fields[0]);
    let me = send_json(app.http.get(format!("{}{path}", app.cfg.api_url)).query(&[
        ("fields", fields.as_str()),
        ("access_token", tokens.access_token.as_str()),
    ]))
    .await?;
    let username = str_field(&me["username"]);
    Ok(Identity {
        external_id: id_fields
            .iter()
            .find_map(|f| str_field(&me[*f]))
            .ok_or_else(|| super::oauth::unreadable(format!("missing {}", id_fields[0])))?,
        name: str_field(&me["name"]).or_else(|| username.clone()).unwrap_or_default(),
        username,
        avatar_url: str_field(&me[avatar]),
        placements: vec![],
    })
}

/// Instagram Login and Threads: the code for a short-lived token, then the long-lived swap.
pub(super) async fn login_exchange(app: App<'_>, code: Code<'_>, grant_type: &str) -> Result<TokenSet, Failure> {
    let short = super::oauth::standard_exchange(app, code).await?;
    long_lived(app.http, app.cfg, short, grant_type).await
}

/// Swaps a short-lived Instagram or Threads token for a long-lived one (`grant_type`
/// `ig_exchange_token` / `th_exchange_token`), keeping the user id the exchange gave.
pub(super) async fn long_lived(
    http: &reqwest::Client,
    cfg: &ProviderConfig,
    short: TokenSet,
    grant_type: &str,
) -> Result<TokenSet, Failure> {
    let body = send_json(http.get(format!("{}/access_token", cfg.api_url)).query(&[
        ("grant_type", grant_type),
        ("client_secret", cfg.client_secret.as_str()),
        ("access_token", short.access_token.as_str()),
    ]))
    .await?;
    let mut long = token_set(&body)?;
    long.user_id = long.user_id.or(short.user_id);
    Ok(long)
}

/// Renews a long-lived Instagram or Threads token with itself (`ig_refresh_token` /
/// `th_refresh_token`).
pub(super) async fn renew(app: App<'_>, access_token: &str, grant_type: &str) -> Result<TokenSet, Failure> {
    let App { http, cfg } = app;
    token_set(
        &send_json(
            http.get(format!("{}/refresh_access_token", cfg.api_url))
                .query(&[("grant_type", grant_type), ("access_token", access_token)]),
        )
        .await?,
    )
}

// ---- publishing (Graph API: Facebook Pages, Threads; Instagram with media) ------------------

use std::time::Duration;

use serde_json::json;

use super::publish::{self, Account, Answer, Failure, FailureKind, Item, Lookup, Published};
use super::quota::{Reading, Verdict};
use crate::domain::post::platform_label;

/// How long a container may take before we give up (Meta: poll at most five minutes).
const CONTAINER_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// Threads and Instagram: the container the send was armed with tells whether it was published
/// (`PUBLISHED`) or not (`FINISHED`, `ERROR`, `EXPIRED`: never published); a published one is found
/// among the account's media since `since_ms` by its text. Without a container (a send armed
/// before containers were recorded), the text alone decides.
pub async fn lookup_container(
    http: &reqwest::Client,
    account: &Account,
    item: &Item<'_>,
    since_ms: i64,
    container: Option<&str>,
) -> Result<Lookup, Failure> {
    let p = account.platform;
    let label = platform_label(p);
    let api = &account.cfg.api_url;
    let token = account.token.as_str();
    let (status_field, edge, text_field) = match p {
        Platform::Threads => ("status", "threads", "text"),
        _ => ("status_code", "media", "caption"),
    };
    let unreadable = |answer: &Answer| {
        publish::lookup_refused(
            classify(p, answer, false),
            &format!("{label} did not let postproxy look"),
        )
    };
    let mut published = false;
    if let Some(c) = container {
        let answer = publish::send(
            p,
            http.get(format!("{api}/{c}"))
                .query(&[("fields", status_field), ("access_token", token)]),
            false,
        )
        .await?;
        if !answer.ok() {
            return unreadable(&answer);
        }
        match answer.body[status_field].as_str() {
            Some("PUBLISHED") => published = true,
            Some(_) => return Ok(Lookup::Absent),
            None => return Ok(Lookup::Unavailable(format!("{label} gave the container no status"))),
        }
    }
    let since = (since_ms / 1000).max(0).to_string();
    let fields = format!("id,{text_field},timestamp,permalink");
    let answer = publish::send(
        p,
        http.get(format!("{api}/{}/{edge}", account.user_id)).query(&[
            ("fields", fields.as_str()),
            ("since", since.as_str()),
            ("limit", "50"),
            ("access_token", token),
        ]),
        false,
    )
    .await?;
    if !answer.ok() {
        return unreadable(&answer);
    }
    let found = answer.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m[text_field].as_str().is_some_and(|t| publish::same_text(item.text, t)));
    match found.and_then(|m| publish::id_of(&m["id"]).map(|id| (id, m))) {
        Some((id, m)) => Ok(Lookup::Found(Published {
            note: None,
            permalink: m["permalink"].as_str().map(str::to_string),
            id,
        })),
        // Published, but not listed yet: look again later rather than guess.
        None if published => Err(Failure::new(
            FailureKind::Unknown,
            format!("The post is on {label}, but its id is not listed yet"),
        )),
        None => Ok(Lookup::Absent),
    }
}

/// Reads the account's rolling 24-hour publishing quota (Instagram `content_publishing_limit`,
/// Threads `threads_publishing_limit`; replies have their own on Threads) before anything is
/// made, so an account at its cap waits with the numbers in its note instead of making
/// containers the platform will not publish. Reads are remembered (see `quota`); a read that
/// fails lets the post go on, and the platform's own cap answer still counts.
pub(super) async fn check_quota(http: &reqwest::Client, account: &Account, reply: bool) -> Result<(), Failure> {
    let p = account.platform;
    let (endpoint, fields, usage, config) = match (p, reply) {
        (Platform::Instagram, _) => (
            "content_publishing_limit",
            "quota_usage,config",
            "quota_usage",
            "config",
        ),
        (_, false) => (
            "threads_publishing_limit",
            "quota_usage,config",
            "quota_usage",
            "config",
        ),
        (_, true) => (
            "threads_publishing_limit",
            "reply_quota_usage,reply_config",
            "reply_quota_usage",
            "reply_config",
        ),
    };
    let key = format!("{}/{}/{usage}", account.cfg.api_url, account.user_id);
    if account.quotas.before_post(&key) == Verdict::Go {
        return Ok(());
    }
    let answer = publish::send(
        p,
        http.get(format!("{}/{}/{endpoint}", account.cfg.api_url, account.user_id))
            .query(&[("fields", fields), ("access_token", account.token.as_str())]),
        false,
    )
    .await;
    let reading = answer.ok().filter(|a| a.ok()).and_then(|a| {
        let row = a.body["data"].get(0)?.clone();
        Some(Reading {
            used: row[usage].as_i64()?,
            total: row[config]["quota_total"].as_i64()?,
        })
    });
    if reading.is_none() {
        tracing::debug!(platform = %p, "publishing quota unreadable; relying on the platform's cap answer");
    }
    match account.quotas.record(&key, reading) {
        Some(Reading { used, total }) if used >= total => {
            let label = platform_label(p);
            let what = if reply { "replies" } else { "posts" };
            Err(Failure::new(
                FailureKind::Transient,
                format!("{label} publishing limit reached: {used} of {total} {what} in the last 24 hours"),
            )
            .retry_after(Some(Duration::from_secs(3600)))
            .note(format!(
                "This account used all {total} {what} {label} allows in a rolling 24 hours ({endpoint} says {used}); \
                 postproxy tries again every hour until a slot frees up, and other accounts go on meanwhile."
            )))
        }
        _ => Ok(()),
    }
}

/// Posts `comment` on a live post as its first comment. A refusal leaves the post live and comes
/// back as the result's note: the platform's words, and what to do (reconnect to grant `scope`
/// when a permission is missing).
pub(super) async fn first_comment(
    http: &reqwest::Client,
    p: Platform,
    api: &str,
    post_id: &str,
    token: &str,
    comment: &str,
    scope: &str,
) -> Option<String> {
    let answer = publish::send(
        p,
        http.post(format!("{api}/{post_id}/comments"))
            .query(&[("access_token", token)])
            .json(&json!({ "message": comment })),
        false,
    )
    .await;
    let f = match answer {
        Ok(a) if a.ok() => return None,
        Ok(a) => classify(p, &a, false),
        Err(f) => f,
    };
    tracing::warn!(platform_post_id = %post_id, error = %f.message, "the first comment could not be posted");
    let label = platform_label(p);
    let missing_permission =
        matches!(f.code.as_deref(), Some("10") | Some("200")) || f.kind == FailureKind::TokenRejected;
    let what = if missing_permission {
        format!("Reconnect the profile to grant {scope}, then add the comment on {label}.")
    } else {
        format!("Add the comment on {label} yourself.")
    };
    Some(format!(
        "The post is live, but {label} refused its first comment: {} {what}",
        f.message
    ))
}

/// Polls a container (`status` on Threads, `status_code` on Instagram) until it is ready, with
/// a growing pause, for at most [`CONTAINER_DEADLINE`].
pub async fn wait_for_container(
    http: &reqwest::Client,
    account: &Account,
    container_id: &str,
    field: &str,
) -> Result<(), Failure> {
    let p = account.platform;
    let started = tokio::time::Instant::now();
    let mut pause = account.poll;
    loop {
        let answer = publish::send(
            p,
            http.get(format!("{}/{container_id}", account.cfg.api_url)).query(&[
                ("fields", format!("{field},error_message").as_str()),
                ("access_token", account.token.as_str()),
            ]),
            false,
        )
        .await?;
        if !answer.ok() {
            return Err(classify(p, &answer, false));
        }
        match answer.body[field].as_str().unwrap_or("") {
            "FINISHED" => return Ok(()),
            "ERROR" | "EXPIRED" => {
                let reason = answer.body["error_message"].as_str().unwrap_or("no reason given");
                return Err(Failure::new(
                    FailureKind::Refused,
                    format!("{} could not process the post: {reason}", platform_label(p)),
                )
                .code(Some(reason.to_string()))
                .note(
                    "The platform rejected the media or text while processing it; check the files against its limits.",
                ));
            }
            "PUBLISHED" => {
                return Err(
                    Failure::new(FailureKind::Unknown, "The container was already published")
                        .note("An earlier attempt published this post; postproxy does not publish it twice."),
                );
            }
            _ => {}
        }
        if started.elapsed() + pause > CONTAINER_DEADLINE {
            return Err(Failure::new(
                FailureKind::Transient,
                format!(
                    "{} was still processing the post after {} s",
                    platform_label(p),
                    CONTAINER_DEADLINE.as_secs()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

/// One field of a node (e.g. a permalink), or None when it cannot be read.
pub(super) async fn read_field(http: &reqwest::Client, account: &Account, id: &str, field: &str) -> Option<String> {
    let answer = publish::send(
        account.platform,
        http.get(format!("{}/{id}", account.cfg.api_url))
            .query(&[("fields", field), ("access_token", account.token.as_str())]),
        false,
    )
    .await
    .ok()?;
    answer
        .ok()
        .then(|| answer.body[field].as_str().map(str::to_string))
        .flatten()
}

/// Graph errors: classify by `code` / `error_subcode`, not by HTTP status.
pub fn classify(p: Platform, answer: &Answer, creates: bool) -> Failure {
    let e = &answer.body["error"];
    let label = platform_label(p);
    let message = publish::excerpt(
        e["error_user_msg"]
            .as_str()
            .or_else(|| e["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", answer.status))
            .as_str(),
    );
    let code = e["code"].as_i64();
    let subcode = e["error_subcode"].as_i64();
    let failure = |kind| {
        Failure::new(kind, message.clone())
            .code(code.map(|c| c.to_string()))
            .subcode(subcode.map(|c| c.to_string()))
    };
    let transient = e["is_transient"].as_bool() == Some(true);
    match code {
        Some(190) if subcode == Some(458) || subcode == Some(460) => failure(FailureKind::Revoked),
        Some(190) | Some(102) => failure(FailureKind::TokenRejected),
        Some(4 | 17 | 32 | 341 | 613 | 80001 | 80002) => failure(FailureKind::Transient)
            .retry_after(
                regain_access(&answer.headers)
                    .or_else(|| publish::retry_after_header(&answer.headers))
                    .or(Some(Duration::from_secs(300))),
            )
            .note(format!(
                "{label}'s rate limit for this account was reached; postproxy retries when {label} says access is back, \
                 and other accounts go on meanwhile."
            )),
        // Instagram's rolling 24-hour publishing cap (content_publishing_limit).
        Some(9) if subcode == Some(2207042) => failure(FailureKind::Transient)
            .retry_after(Some(Duration::from_secs(3600)))
            .note(format!(
                "This account reached {label}'s daily publishing limit (a rolling 24 hours); postproxy tries again \
                 every hour until a slot frees up, and other accounts go on meanwhile."
            )),
        // A service error to a create may come after the post was made: an unknown outcome.
        Some(1 | 2) | None if creates && (answer.status >= 500 || code.is_some()) => {
            publish::server_failure(p, failure(FailureKind::Transient), true, "a server error")
        }
        _ if transient && creates => publish::server_failure(p, failure(FailureKind::Transient), true, "a temporary error"),
        Some(1 | 2) => failure(FailureKind::Transient),
        _ if transient => failure(FailureKind::Transient),
        Some(506) => failure(FailureKind::Refused)
            .note(format!("{label} refuses a post identical to a recent one. Change the text and post again.")),
        Some(10 | 200..=299) => failure(FailureKind::Refused).note(format!(
            "The connection lacks a permission this post needs on {label}. Reconnect the profile and grant every permission asked."
        )),
        Some(368) => failure(FailureKind::Refused)
            .note(format!("{label} has temporarily blocked this account from posting for a policy reason.")),
        Some(_) => failure(FailureKind::Refused).note(format!("{label} refused the post; the message above is {label}'s own.")),
        None if answer.status >= 500 || answer.status == 429 => failure(FailureKind::Transient),
        None => failure(FailureKind::Refused),
    }
}

/// When Meta says a throttled account gets access back: the largest
/// `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
pub(super) fn regain_access(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let usage: Value = serde_json::from_str(headers.get("x-business-use-case-usage")?.to_str().ok()?).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .filter_map(|u| u["estimated_time_to_regain_access"].as_u64())
        .max()
        .filter(|m| *m > 0)?;
    Some(Duration::from_secs(minutes.min(24 * 60) * 60))
}

/// `DELETE /{id}` (Facebook with the Page token, Threads with the user token).
pub async fn delete(http: &reqwest::Client, account: &Account, id: &str) -> Result<(), Failure> {
    let token = match (&account.platform, &account.placement) {
        (Platform::Facebook, Some(page)) => page.token.clone().unwrap_or_else(|| account.token.clone()),
        _ => account.token.clone(),
    };
    let answer = publish::send(
        account.platform,
        http.delete(format!("{}/{id}", account.cfg.api_url))
            .query(&[("access_token", token.as_str())]),
        false,
    )
    .await?;
    if answer.ok() {
        return Ok(());
    }
    let f = classify(account.platform, &answer, false);
    if account.platform == Platform::Threads && matches!(f.code.as_deref(), Some("10") | Some("200")) {
        // Profiles connected before threads_delete was requested lack it.
        return Err(f.note(
            "Reconnect the profile to grant threads_delete, then delete again; the post is still live on Threads.",
        ));
    }
    Err(f)
}

#[cfg(test)]
mod publish_tests {
    use super::*;

    #[test]
    fn classifies_graph_errors_by_code() {
        let a = |status, body: Value| Answer {
            status,
            headers: Default::default(),
            body,
        };
        let f = classify(
            Platform::Facebook,
            &a(
                400,
                json!({"error":{"message":"(#506) Duplicate status message","type":"OAuthException","code":506}}),
            ),
            true,
        );
        assert_eq!((f.kind, f.code.as_deref()), (FailureKind::Refused, Some("506")));
        let f = classify(
            Platform::Threads,
            &a(
                400,
                json!({"error":{"message":"Error validating access token","code":190,"error_subcode":463}}),
            ),
            true,
        );
        assert_eq!(f.kind, FailureKind::TokenRejected);
        let f = classify(
            Platform::Facebook,
            &a(400, json!({"error":{"message":"x","code":190,"error_subcode":458}})),
            true,
        );
        assert_eq!(f.kind, FailureKind::Revoked);
        let f = classify(
            Platform::Facebook,
            &a(
                400,
                json!({"error":{"message":"(#4) limit","code":4,"is_transient":true}}),
            ),
            true,
        );
        assert_eq!(f.kind, FailureKind::Transient);
        assert_eq!(
            classify(Platform::Facebook, &a(502, Value::Null), true).kind,
            FailureKind::Unknown
        );
        // A throttled Page: back when Meta's usage header says, not after a fixed pause.
        let mut throttled = a(
            400,
            json!({"error":{"message":"(#80001) There have been too many calls to this Page account.","code":80001}}),
        );
        throttled.headers.insert(
            "x-business-use-case-usage",
            r#"{"1031":[{"type":"pages","call_count":100,"total_cputime":3,"total_time":5,"estimated_time_to_regain_access":17}]}"#
                .parse()
                .unwrap(),
        );
        let f = classify(Platform::Facebook, &throttled, true);
        assert_eq!(
            (f.kind, f.retry_after),
            (FailureKind::Transient, Some(Duration::from_secs(17 * 60)))
        );
        let cap = a(
            400,
            json!({"error":{"message":"The user has reached the maximum number of posts","code":9,"error_subcode":2207042}}),
        );
        let f = classify(Platform::Instagram, &cap, true);
        assert_eq!(
            (f.kind, f.retry_after),
            (FailureKind::Transient, Some(Duration::from_secs(3600)))
        );
        // A service error to a create may hide a created post; elsewhere it is just retried.
        let service = json!({"error":{"message":"An unexpected error has occurred.","code":2,"is_transient":true}});
        assert_eq!(
            classify(Platform::Facebook, &a(500, service.clone()), true).kind,
            FailureKind::Unknown
        );
        assert_eq!(
            classify(Platform::Facebook, &a(500, service), false).kind,
            FailureKind::Transient
        );
    }
}
