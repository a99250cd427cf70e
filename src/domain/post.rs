//! Posts: the typed request (one type for JSON and form bodies, and for the OpenAPI schema),
//! statuses, and every rule checked before anything is stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::field::{Field, Flag, List, Text};
use super::platform::Platform;
use super::rules::Rules;

/// Post lifecycle (the SDKs' `PostStatus` enum; nothing else is ever emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    Draft,
    Pending,
    Scheduled,
    Processing,
    Processed,
    MediaProcessingFailed,
}

impl PostStatus {
    pub const ALL: [PostStatus; 6] = [
        PostStatus::Draft,
        PostStatus::Pending,
        PostStatus::Scheduled,
        PostStatus::Processing,
        PostStatus::Processed,
        PostStatus::MediaProcessingFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Draft => "draft",
            PostStatus::Pending => "pending",
            PostStatus::Scheduled => "scheduled",
            PostStatus::Processing => "processing",
            PostStatus::Processed => "processed",
            PostStatus::MediaProcessingFailed => "media_processing_failed",
        }
    }

    pub fn parse(s: &str) -> Option<PostStatus> {
        PostStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Per-profile outcome (the SDKs' `PlatformPostStatus`). `retrying` is stored but shown as
/// `processing`: the strict SDKs reject any other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Pending,
    Processing,
    Published,
    Failed,
    Deleted,
}

/// Where a (post, profile) result stands, as stored: `ResultStatus` and the `retrying` the API
/// shows as `processing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultState {
    Pending,
    Processing,
    /// Failed for now; another attempt is due.
    Retrying,
    Published,
    Failed,
    Deleted,
}

impl ResultState {
    pub const ALL: [ResultState; 6] = [
        ResultState::Pending,
        ResultState::Processing,
        ResultState::Retrying,
        ResultState::Published,
        ResultState::Failed,
        ResultState::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResultState::Pending => "pending",
            ResultState::Processing => "processing",
            ResultState::Retrying => "retrying",
            ResultState::Published => "published",
            ResultState::Failed => "failed",
            ResultState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<ResultState> {
        ResultState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the API shows.
    pub fn shown(self) -> ResultStatus {
        match self {
            ResultState::Pending => ResultStatus::Pending,
            ResultState::Processing | ResultState::Retrying => ResultStatus::Processing,
            ResultState::Published => ResultStatus::Published,
            ResultState::Failed => ResultStatus::Failed,
            ResultState::Deleted => ResultStatus::Deleted,
        }
    }

    /// Nothing more will be sent for it.
    pub fn is_over(self) -> bool {
        matches!(self, ResultState::Failed | ResultState::Deleted)
    }
}

/// A stored media item's state: a URL still to fetch, a file in storage, or a fetch that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStatus {
    Pending,
    Processed,
    Failed,
}

impl MediaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStatus::Pending => "pending",
            MediaStatus::Processed => "processed",
            MediaStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<MediaStatus> {
        [MediaStatus::Pending, MediaStatus::Processed, MediaStatus::Failed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

// ---------------------------------------------------------------------------------------------
// The lifecycle
// ---------------------------------------------------------------------------------------------
//
// A post's status moves only as below. The rules are these pure functions; each move is made by
// one storage function whose `WHERE` guards the move against a concurrent one.
//
// | move                                         | rule                   | made by (`db::posts`)  |
// |----------------------------------------------|------------------------|------------------------|
// | new → draft / pending / scheduled / processing | `status_after_create`  | `create`               |
// | draft, pending, scheduled → (edited)         | `editable`             | `rewrite` (same status)|
// | draft → pending / scheduled / processing     | `status_after_release` | `publish_draft`        |
// | pending → scheduled / processing (media in)  |                        | `media_ready`          |
// | pending → media_processing_failed            |                        | `fail_media`           |
// | scheduled → processing (its time came)       |                        | `start_publishing`     |
// | scheduled, processing → processed (all settled) |                     | `finish_if_settled`    |
// | any → gone                                   |                        | `delete`               |

/// How long before its time a scheduled post can no longer be edited (its publish may start).
pub const EDIT_CLOSES_MS: i64 = 60_000;

/// Whether a post may still be edited: a draft, a post waiting for its media, or a scheduled post
/// more than a minute before its time.
pub fn editable(status: PostStatus, scheduled_at_ms: Option<i64>, now_ms: i64) -> bool {
    match status {
        PostStatus::Draft => true,
        PostStatus::Pending | PostStatus::Scheduled => scheduled_at_ms.is_none_or(|t| t > now_ms + EDIT_CLOSES_MS),
        PostStatus::Processing | PostStatus::Processed | PostStatus::MediaProcessingFailed => false,
    }
}

/// The status a new post starts in: a draft stays one; otherwise it waits for URL media to be
/// fetched, then for its schedule, else it publishes now.
pub fn status_after_create(draft: bool, fetching_media: bool, scheduled: bool) -> PostStatus {
    if draft {
        PostStatus::Draft
    } else {
        status_when_released(fetching_media, scheduled)
    }
}

/// The status of a draft released for publishing (`POST /api/posts/:id/publish`).
pub fn status_after_release(scheduled_at_ms: Option<i64>, fetching_media: bool, now_ms: i64) -> PostStatus {
    status_when_released(fetching_media, scheduled_at_ms.is_some_and(|t| t > now_ms))
}

fn status_when_released(fetching_media: bool, scheduled: bool) -> PostStatus {
    if fetching_media {
        PostStatus::Pending
    } else if scheduled {
        PostStatus::Scheduled
    } else {
        PostStatus::Processing
    }
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

/// Body of `POST /api/posts` and `PATCH /api/posts/{id}` (JSON, or the same names Rails-style in
/// form/multipart encoding: `post[body]`, `profiles[]`, `media[]`, `platforms[x][key]`,
/// `thread[0][body]`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    #[serde(default)]
    #[schema(required = false, value_type = PostFields)]
    pub post: Field<PostFields>,
    /// Profile ids, or platform names (the group's first connected profile of that platform).
    #[serde(default)]
    #[schema(required = false, value_type = Option<Vec<String>>, example = json!(["twitter", "prof123abc"]))]
    pub profiles: Field<List<Text>>,
    /// Image or video URLs the server downloads (`"https://…"` or `{"url": "https://…"}`).
    #[serde(default)]
    #[schema(required = false, value_type = Vec<MediaInput>)]
    pub media: Field<List<MediaInput>>,
    #[serde(default)]
    #[schema(required = false, value_type = PlatformParams)]
    pub platforms: Field<Value>,
    /// Follow-up posts (X and Threads only), published as a reply chain after the post.
    #[serde(default)]
    #[schema(required = false, value_type = Vec<ThreadChild>)]
    pub thread: Field<List<ThreadChild>>,
    /// The profile group the post belongs to (also accepted as a query parameter).
    #[serde(default)]
    #[schema(required = false, value_type = Option<String>)]
    pub profile_group_id: Field<Text>,
    /// Queues are not supported by this server; sending one is a 422.
    #[serde(default)]
    #[schema(required = false, value_type = Option<String>)]
    pub queue_id: Field<Value>,
    #[serde(default)]
    #[schema(required = false, value_type = Option<String>)]
    pub queue_priority: Field<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostFields {
    #[serde(default)]
    #[schema(required = false, value_type = String)]
    pub body: Field<Text>,
    /// ISO 8601, in the future. `null` (on update) unschedules.
    #[serde(default)]
    #[schema(required = false, value_type = Option<String>, example = "2026-12-24T09:00:00Z")]
    pub scheduled_at: Field<Text>,
    /// Save without publishing; publish later with `POST /api/posts/{id}/publish`.
    #[serde(default)]
    #[schema(required = false, value_type = Option<bool>)]
    pub draft: Field<Flag>,
}

/// A media URL, as a string or `{"url": …}`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MediaInput {
    Url(String),
    Object { url: String },
}

impl MediaInput {
    pub fn url(&self) -> &str {
        match self {
            MediaInput::Url(u) | MediaInput::Object { url: u } => u,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadChild {
    pub body: Text,
    #[serde(default)]
    #[schema(value_type = Option<Vec<MediaInput>>)]
    pub media: Option<List<MediaInput>>,
}

/// Per-platform parameters. Every key is checked: an unknown key or value is a 422 naming it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook: Option<FacebookParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<InstagramParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiktok: Option<TiktokParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin: Option<LinkedinParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub youtube: Option<YoutubeParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twitter: Option<TwitterParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<ThreadsParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bluesky: Option<BlueskyParams>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostFormat {
    Post,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacebookParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// The Page to publish to (one of the profile's placements); needed when it has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_id: Option<String>,
    /// A link to attach to a text post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Posted as the first comment (as the Page) once the post is live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstagramParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// Posted as the first comment once the post is live (up to 2,196 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_comment: Option<String>,
    /// Alternative text of the image(s), for screen readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// Instagram usernames invited as collaborators (up to 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collaborators: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TiktokFormat {
    Image,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TiktokPrivacy {
    PublicToEveryone,
    MutualFollowFriends,
    FollowerOfCreator,
    SelfOnly,
}

impl TiktokPrivacy {
    /// The level as TikTok names it (`privacy_level_options`, `post_info.privacy_level`).
    pub fn as_str(self) -> &'static str {
        match self {
            TiktokPrivacy::PublicToEveryone => "PUBLIC_TO_EVERYONE",
            TiktokPrivacy::MutualFollowFriends => "MUTUAL_FOLLOW_FRIENDS",
            TiktokPrivacy::FollowerOfCreator => "FOLLOWER_OF_CREATOR",
            TiktokPrivacy::SelfOnly => "SELF_ONLY",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TiktokParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TiktokFormat>,
    /// Photo post title (up to 90 characters); the body becomes the description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Must be one the creator allows (TikTok's creator_info); default `SELF_ONLY` is always allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_status: Option<TiktokPrivacy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>)]
    pub photo_cover_index: Option<super::field::Int>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub auto_add_music: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub disable_comment: Option<Flag>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkedinParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// Publish as this organisation (one of the profile's placements) instead of the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Alternative text of the image(s), for screen readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YoutubeParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwitterParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreadsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// Alternative text of the image(s), for screen readers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<String>,
    /// One topic tag (up to 50 characters, without `#`, `.` or `&`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_tag: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlueskyParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// Alternative text of the images, for screen readers: one text for all, or one per image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_text: Option<AltText>,
}

/// Alternative text: one for every image, or a list in the images' order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AltText {
    One(String),
    Each(Vec<String>),
}

impl AltText {
    /// The text of the `i`-th image.
    pub fn of(&self, i: usize) -> &str {
        match self {
            AltText::One(s) => s,
            AltText::Each(list) => list.get(i).map(String::as_str).unwrap_or_default(),
        }
    }

    pub fn texts(&self) -> Vec<&str> {
        match self {
            AltText::One(s) => vec![s],
            AltText::Each(list) => list.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub enum TelegramParseMode {
    #[serde(rename = "HTML")]
    Html,
    MarkdownV2,
}

impl TelegramParseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TelegramParseMode::Html => "HTML",
            TelegramParseMode::MarkdownV2 => "MarkdownV2",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<PostFormat>,
    /// The channel or group to post to (required): one of the profile's placements, i.e. a chat
    /// the bot administers (`GET /api/profiles/{id}/placements`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub chat_id: Option<super::field::Text>,
    /// How Telegram reads the text's markup; plain text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<TelegramParseMode>,
    /// No preview of the first link in a text message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub disable_link_preview: Option<Flag>,
    /// Deliver silently (no sound on the members' devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<bool>)]
    pub disable_notification: Option<Flag>,
}

/// Keys the official SDKs document that this server does not act on yet: refused by name rather
/// than silently dropped.
fn not_yet(platform: &str, key: &str) -> Option<&'static str> {
    let polls = "polls are not available on this server yet";
    let later = "is not available on this server yet";
    match (platform, key) {
        ("twitter", "poll_options" | "poll_duration_minutes") => Some(polls),
        ("linkedin", "poll_question" | "poll_options" | "poll_duration_days") => Some(polls),
        ("twitter", "alt_text") => Some(later),
        ("facebook", "title" | "alt_text" | "made_with_ai" | "countries") => Some(later),
        (
            "instagram",
            "cover_url" | "cover_file" | "audio_name" | "audio_id" | "audio_volume" | "video_volume" | "strip_audio"
            | "trial_strategy" | "thumb_offset" | "user_tags" | "made_with_ai" | "share_to_feed",
        ) => Some(later),
        (
            "tiktok",
            "made_with_ai"
            | "disable_duet"
            | "disable_stitch"
            | "brand_content_toggle"
            | "brand_organic_toggle"
            | "upload_as_draft"
            | "cover_url"
            | "cover_file"
            | "thumb_offset",
        ) => Some(later),
        ("linkedin", "reshare_urn" | "countries") => Some(later),
        (
            "youtube",
            "privacy_status"
            | "cover_url"
            | "cover_file"
            | "made_for_kids"
            | "tags"
            | "category_id"
            | "contains_synthetic_media",
        ) => Some(later),
        _ => None,
    }
}

/// One platform's parameters, every problem named with its platform and key.
fn parse_one<T: serde::de::DeserializeOwned>(platform: Platform, mut v: Value, errors: &mut Vec<String>) -> Option<T> {
    let name = platform.as_str();
    let label = platform_label(platform);
    let Some(obj) = v.as_object_mut() else {
        errors.push(format!("platforms.{name} must be an object of {label} parameters"));
        return None;
    };
    let mut refused = false;
    obj.retain(|k, _| match not_yet(name, k) {
        Some(why) => {
            refused = true;
            errors.push(format!("platforms.{name}.{k} {why}"));
            false
        }
        None => true,
    });
    match serde_path_to_error::deserialize::<_, T>(v) {
        Ok(t) => (!refused).then_some(t),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner.split(" at line ").next().unwrap_or(&inner).to_string();
            let key = if path == "." { String::new() } else { format!(".{path}") };
            errors.push(if let Some(rest) = inner.strip_prefix("unknown field `") {
                let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
                let known = expected
                    .replace(", expected one of ", "")
                    .replace(", expected ", "")
                    .replace('`', "");
                format!("platforms.{name}.{field} is not one of {label}'s parameters (known: {known})")
            } else if let Some(rest) = inner.strip_prefix("unknown variant `") {
                let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
                let allowed = expected
                    .replace(", expected one of ", "")
                    .replace(", expected ", "")
                    .replace('`', "")
                    .replace(" or ", ", ");
                format!("platforms.{name}{key} {value:?} is not available (allowed: {allowed})")
            } else {
                format!(
                    "platforms.{name}{key} {}",
                    inner.replace("invalid type: ", "has the wrong type: ")
                )
            });
            None
        }
    }
}

impl PlatformParams {
    /// Reads `platforms` platform by platform, so a problem in one is named with its platform and
    /// key and never hides the others' (which are still checked).
    pub fn parse(v: Value, errors: &mut Vec<String>) -> PlatformParams {
        let mut out = PlatformParams::default();
        let Value::Object(map) = v else {
            errors.push("platforms must be an object keyed by platform".into());
            return out;
        };
        for (k, v) in map {
            match Platform::parse(&k) {
                Some(p @ Platform::Facebook) => out.facebook = parse_one(p, v, errors),
                Some(p @ Platform::Instagram) => out.instagram = parse_one(p, v, errors),
                Some(p @ Platform::Tiktok) => out.tiktok = parse_one(p, v, errors),
                Some(p @ Platform::Linkedin) => out.linkedin = parse_one(p, v, errors),
                Some(p @ Platform::Youtube) => out.youtube = parse_one(p, v, errors),
                Some(p @ Platform::Twitter) => out.twitter = parse_one(p, v, errors),
                Some(p @ Platform::Threads) => out.threads = parse_one(p, v, errors),
                Some(p @ Platform::Telegram) => out.telegram = parse_one(p, v, errors),
                Some(p @ Platform::Bluesky) => out.bluesky = parse_one(p, v, errors),
                None if super::platform::NOT_YET.contains(&k.as_str()) => {
                    errors.push(format!("platforms.{k}: {k} is not available on this server yet"))
                }
                None => errors.push(format!(
                    "platforms.{k} is not a platform (known: {})",
                    Platform::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        out
    }

    /// Merges `other` over `self` per platform (PATCH semantics: `platforms` is merged).
    pub fn merged(&self, other: &PlatformParams) -> PlatformParams {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let mut out: Map<String, Value> = a.as_object().cloned().unwrap_or_default();
        for (k, v) in b.as_object().cloned().unwrap_or_default() {
            match (out.get_mut(&k), v) {
                (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
                (_, v) => {
                    out.insert(k, v);
                }
            }
        }
        serde_json::from_value(Value::Object(out)).unwrap_or_default()
    }

    pub fn page_id(&self) -> Option<&str> {
        self.facebook.as_ref().and_then(|f| f.page_id.as_deref())
    }

    pub fn organization_id(&self) -> Option<&str> {
        self.linkedin.as_ref().and_then(|l| l.organization_id.as_deref())
    }

    pub fn chat_id(&self) -> Option<&str> {
        self.telegram
            .as_ref()
            .and_then(|t| t.chat_id.as_ref())
            .map(|c| c.0.as_str())
    }

    /// The parameters given for one platform, as stored on its result (`params` on the wire).
    pub fn for_platform(&self, p: Platform) -> Option<Value> {
        let v = serde_json::to_value(self).ok()?;
        v.get(p.as_str()).cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// What validation knows about one target profile.
#[derive(Debug, Clone)]
pub struct TargetFacts {
    pub platform: Platform,
    /// The platform's publishing rules (from its room in `platforms/`).
    pub rules: &'static Rules,
    pub name: String,
    /// External ids of its Pages / organisations.
    pub placements: Vec<String>,
}

/// What validation knows about one media item (kind unknown until a URL is downloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFacts {
    Url,
    Image,
    Video,
}

/// A post to validate: the root and its thread children.
pub struct Draft<'a> {
    pub body: &'a str,
    pub media: &'a [MediaFacts],
    pub thread: &'a [(&'a str, Vec<MediaFacts>)],
    pub params: &'a PlatformParams,
}

pub(super) fn is_emoji(c: char) -> bool {
    let u = c as u32;
    (0x1F000..=0x1FAFF).contains(&u) || (0x2600..=0x27BF).contains(&u) || u == 0xFE0F || u == 0x200D
}

/// X's weighted count (twitter-text v3): most characters weigh 2, Latin and common punctuation
/// 1, any URL 23, an emoji 2; the limit is 280 in those units.
pub fn x_weighted_length(text: &str) -> usize {
    let mut total = 0usize;
    for word in split_keep_ws(text) {
        if looks_like_url(word) {
            total += 23;
            continue;
        }
        let mut prev_zwj = false;
        for c in word.chars() {
            let u = c as u32;
            if u == 0x200D || u == 0xFE0F || (0x1F3FB..=0x1F3FF).contains(&u) {
                prev_zwj = u == 0x200D;
                continue; // joined into the emoji before it
            }
            if prev_zwj {
                prev_zwj = false;
                continue;
            }
            let light = u <= 0x10FF
                || (0x2000..=0x200D).contains(&u)
                || (0x2010..=0x201F).contains(&u)
                || (0x2032..=0x2037).contains(&u);
            total += if light { 1 } else { 2 };
        }
    }
    total
}

fn split_keep_ws(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(char::is_whitespace)
        .flat_map(|w| {
            let trimmed = w.trim_end_matches(char::is_whitespace);
            [trimmed, &w[trimmed.len()..]]
        })
        .filter(|s| !s.is_empty())
}

fn looks_like_url(word: &str) -> bool {
    let w = word.trim_end_matches(['.', ',', '!', '?', ')', ';', ':']);
    w.starts_with("http://") || w.starts_with("https://")
}

/// Every problem with sending `draft` to `targets`, as user-facing messages.
pub fn check(draft: &Draft<'_>, targets: &[TargetFacts]) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, (body, media)) in draft.thread.iter().enumerate() {
        if body.trim().is_empty() && media.is_empty() {
            errors.push(format!("thread[{i}] body can't be blank"));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in targets {
        let p = t.platform;
        let first = seen.insert(p);
        let name = platform_label(p);
        let rules = t.rules;
        if rules.video_only {
            if first {
                errors.push(format!(
                    "{name} posts need a video, and video publishing is not available in this server version yet"
                ));
            }
            continue;
        }
        if first {
            let fb_link = p == Platform::Facebook && draft.params.facebook.as_ref().is_some_and(|f| f.link.is_some());
            if draft.body.trim().is_empty() && draft.media.is_empty() && !fb_link && rules.needs_text_or_media {
                errors.push(format!("Body can't be blank: {name} needs text or media"));
            }
            check_text(rules, name, "Body", draft.body, !draft.media.is_empty(), &mut errors);
            check_media(rules, name, "", draft.media, &mut errors);
            if !draft.thread.is_empty() && !rules.threads {
                errors.push(format!("Threads of posts are not supported on {name}"));
            }
            if rules.threads {
                for (i, (body, media)) in draft.thread.iter().enumerate() {
                    check_text(
                        rules,
                        name,
                        &format!("thread[{i}] body"),
                        body,
                        !media.is_empty(),
                        &mut errors,
                    );
                    check_media(rules, name, &format!("thread[{i}] "), media, &mut errors);
                }
            }
        }
        match p {
            Platform::Facebook => {
                if let Some(page) = draft.params.page_id() {
                    if !t.placements.iter().any(|x| x == page) {
                        errors.push(format!("platforms.facebook.page_id {page} is not a Page of {}", t.name));
                    }
                } else if t.placements.len() > 1 {
                    errors.push(format!(
                        "platforms.facebook.page_id is required: {} manages several Pages",
                        t.name
                    ));
                } else if t.placements.is_empty() {
                    errors.push(format!("{} has no Facebook Page to publish to", t.name));
                }
            }
            Platform::Telegram => match draft.params.chat_id() {
                Some(chat) if !t.placements.iter().any(|x| x == chat) => errors.push(format!(
                    "platforms.telegram.chat_id {chat} is not a chat {} posts to: add the bot as an administrator \
                     of the channel or group, then it appears in GET /api/profiles/{{id}}/placements",
                    t.name
                )),
                Some(_) => {}
                None => errors.push(format!(
                    "platforms.telegram.chat_id is required: the channel or group {} posts to (one of its placements)",
                    t.name
                )),
            },
            Platform::Linkedin => {
                if let Some(org) = draft.params.organization_id()
                    && !t.placements.iter().any(|x| x == org)
                {
                    errors.push(format!(
                        "platforms.linkedin.organization_id {org} is not an organisation {} administers",
                        t.name
                    ));
                }
            }
            _ => {}
        }
    }
    if let Some(tt) = &draft.params.tiktok
        && let Some(title) = &tt.title
        && title.chars().count() > 90
    {
        errors.push("platforms.tiktok.title is too long for TikTok (maximum is 90 characters)".into());
    }
    if let Some(ig) = &draft.params.instagram
        && let Some(c) = &ig.first_comment
        && c.chars().count() > 2196
    {
        errors.push("platforms.instagram.first_comment is too long (maximum is 2196 characters)".into());
    }
    if let Some(ig) = &draft.params.instagram
        && let Some(c) = &ig.collaborators
        && c.len() > 3
    {
        errors.push("platforms.instagram.collaborators lists too many accounts (maximum is 3)".into());
    }
    if let Some(tag) = draft.params.threads.as_ref().and_then(|t| t.topic_tag.as_deref())
        && (tag.chars().count() > 50 || tag.is_empty() || tag.contains(['#', '.', '&']))
    {
        errors.push("platforms.threads.topic_tag must be 1 to 50 characters without #, . or &".into());
    }
    for (name, alt) in [
        (
            "instagram",
            draft.params.instagram.as_ref().and_then(|p| p.alt_text.as_deref()),
        ),
        (
            "threads",
            draft.params.threads.as_ref().and_then(|p| p.alt_text.as_deref()),
        ),
        (
            "linkedin",
            draft.params.linkedin.as_ref().and_then(|p| p.alt_text.as_deref()),
        ),
    ] {
        if alt.is_some_and(|a| a.chars().count() > 1000) {
            errors.push(format!(
                "platforms.{name}.alt_text is too long (maximum is 1000 characters)"
            ));
        }
    }
    if let Some(alt) = draft.params.bluesky.as_ref().and_then(|p| p.alt_text.as_ref())
        && alt.texts().iter().any(|a| a.chars().count() > 2000)
    {
        errors.push("platforms.bluesky.alt_text is too long (maximum is 2000 characters)".into());
    }
    if let Some(c) = draft.params.facebook.as_ref().and_then(|f| f.first_comment.as_deref())
        && c.chars().count() > 8000
    {
        errors.push("platforms.facebook.first_comment is too long (maximum is 8000 characters)".into());
    }
    errors
}

fn check_text(rules: &Rules, name: &str, what: &str, text: &str, with_media: bool, errors: &mut Vec<String>) {
    let len = rules.text_length(text);
    let (limit, beside) = match rules.caption_limit {
        Some(c) if with_media => (c, " beside media"),
        _ => (rules.text_limit, ""),
    };
    if len > limit {
        errors.push(format!(
            "{what} is too long for {name}{beside} ({len} characters as {name} counts them; maximum is {limit})"
        ));
    }
}

fn check_media(rules: &Rules, name: &str, prefix: &str, media: &[MediaFacts], errors: &mut Vec<String>) {
    let n = media.len();
    if n == 0 && rules.needs_media && prefix.is_empty() {
        errors.push(format!("{name} posts need at least one image"));
    }
    if n > rules.max_images {
        errors.push(format!(
            "{prefix}media has {n} items; {name} takes at most {}",
            rules.max_images
        ));
    }
    let videos = media.iter().filter(|m| **m == MediaFacts::Video).count();
    if videos > 0 && n > 1 && !rules.mixed_media {
        errors.push(format!(
            "{prefix}media mixes a video with other media, which {name} does not allow"
        ));
    }
}

pub fn platform_label(p: Platform) -> &'static str {
    match p {
        Platform::Facebook => "Facebook",
        Platform::Instagram => "Instagram",
        Platform::Tiktok => "TikTok",
        Platform::Linkedin => "LinkedIn",
        Platform::Youtube => "YouTube",
        Platform::Twitter => "X",
        Platform::Threads => "Threads",
        Platform::Telegram => "Telegram",
        Platform::Bluesky => "Bluesky",
    }
}

/// Parses an ISO 8601 instant (`Z` or an offset, 0–9 fractional digits) into epoch ms. A
/// missing zone means UTC (Python's `isoformat()` of a naive datetime).
pub fn parse_instant(s: &str) -> Option<i64> {
    use time::format_description::well_known::Iso8601;
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .map(|t| (t.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Whether a stored file can go to a platform: its type (as sniffed) and size against the
/// platform's published limits. `None` when it can; otherwise the reason, in plain words.
pub fn media_refusal(platform: Platform, rules: &Rules, kind: &str, content_type: &str, size: u64) -> Option<String> {
    let label = platform_label(platform);
    // Whole megabytes where the limit is one, else exact bytes (Bluesky's 1,000,000).
    let size_text = |n: u64| {
        if n.is_multiple_of(super::rules::MB) {
            format!("{} MB", n / super::rules::MB)
        } else if n >= 10 * super::rules::MB {
            format!("{:.1} MB", n as f64 / super::rules::MB as f64)
        } else {
            let digits = n.to_string();
            let mut grouped = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            format!("{grouped} bytes")
        }
    };
    if kind == "video" {
        if rules.max_video_bytes == 0 {
            return None; // stored now; publishing says video is not available there yet
        }
        if !rules.video_types.contains(&content_type) {
            return Some(format!("{label} does not take videos of type {content_type}"));
        }
        if size > rules.max_video_bytes {
            return Some(format!(
                "{label} accepts videos up to {}; this one is {}",
                size_text(rules.max_video_bytes),
                size_text(size)
            ));
        }
        return None;
    }
    if rules.video_only {
        return Some(format!("{label} takes videos only"));
    }
    let (types, max) = (rules.image_types, rules.max_image_bytes);
    if !types.contains(&content_type) {
        let names: Vec<&str> = types.iter().map(|t| t.trim_start_matches("image/")).collect();
        return Some(format!(
            "{label} accepts {} images; this file is {content_type}",
            names.join(", ").to_ascii_uppercase()
        ));
    }
    if size > max {
        return Some(format!(
            "{label} accepts images up to {}; this one is {}",
            size_text(max),
            size_text(size)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_rules() {
        use PostStatus::*;
        let now = 1_000_000;
        assert!(editable(Draft, Some(now), now), "a draft, whatever its schedule");
        assert!(editable(Scheduled, Some(now + EDIT_CLOSES_MS + 1), now));
        assert!(
            !editable(Scheduled, Some(now + EDIT_CLOSES_MS), now),
            "too close to its time"
        );
        assert!(editable(Pending, None, now));
        for s in [Processing, Processed, MediaProcessingFailed] {
            assert!(!editable(s, None, now), "{s:?}");
        }
        assert_eq!(status_after_create(true, true, true), Draft);
        assert_eq!(status_after_create(false, true, true), Pending);
        assert_eq!(status_after_create(false, false, true), Scheduled);
        assert_eq!(status_after_create(false, false, false), Processing);
        assert_eq!(status_after_release(Some(now + 1), false, now), Scheduled);
        assert_eq!(
            status_after_release(Some(now - 1), false, now),
            Processing,
            "its time has passed"
        );
        assert_eq!(status_after_release(None, true, now), Pending);
    }

    #[test]
    fn counts_x_weighted() {
        assert_eq!(x_weighted_length("hello"), 5);
        assert_eq!(
            x_weighted_length("see https://example.com/a/very/long/path/indeed ok"),
            4 + 23 + 3
        );
        assert_eq!(x_weighted_length("日本"), 4);
        assert_eq!(x_weighted_length("👍"), 2);
        assert_eq!(x_weighted_length("👨‍👩‍👧"), 2);
        assert!(x_weighted_length(&"a".repeat(280)) <= 280);
        assert!(x_weighted_length(&"日".repeat(141)) > 280);
    }

    #[test]
    fn counts_threads_emoji_as_bytes() {
        let rules = crate::platforms::rules;
        assert_eq!(rules(Platform::Threads).text_length("ab👍"), 2 + 4);
        assert_eq!(rules(Platform::Linkedin).text_length("ab👍"), 3);
    }

    #[test]
    fn parses_instants() {
        assert_eq!(parse_instant("2024-01-15T10:30:00Z"), Some(1_705_314_600_000));
        assert_eq!(parse_instant("2024-01-15T10:30:00.123Z"), Some(1_705_314_600_123));
        assert_eq!(parse_instant("2024-01-15T11:30:00+01:00"), Some(1_705_314_600_000));
        assert_eq!(
            parse_instant("2024-01-15T10:30:00.0000000+00:00"),
            Some(1_705_314_600_000)
        );
        assert_eq!(parse_instant("2024-01-15T10:30:00"), Some(1_705_314_600_000));
        assert_eq!(parse_instant("tomorrow"), None);
    }

    #[test]
    fn videos_mix_with_images_only_where_the_platform_allows() {
        let params = PlatformParams {
            telegram: Some(TelegramParams {
                chat_id: Some(super::super::field::Text("-1".into())),
                ..TelegramParams::default()
            }),
            ..PlatformParams::default()
        };
        let d = Draft {
            body: "x",
            media: &[MediaFacts::Image, MediaFacts::Video],
            thread: &[],
            params: &params,
        };
        let target = |p: Platform| TargetFacts {
            platform: p,
            rules: crate::platforms::rules(p),
            name: "A".into(),
            placements: vec!["-1".into()],
        };
        assert_eq!(check(&d, &[target(Platform::Telegram)]), Vec::<String>::new());
        let errors = check(&d, &[target(Platform::Bluesky)]);
        assert_eq!(
            errors,
            vec!["media mixes a video with other media, which Bluesky does not allow"]
        );
    }

    #[test]
    fn checks_every_rule_at_once() {
        let params = PlatformParams::default();
        let body = "x".repeat(300);
        let thread = vec![("ok", vec![])];
        let d = Draft {
            body: &body,
            media: &[MediaFacts::Url; 5],
            thread: &thread,
            params: &params,
        };
        let targets = [
            TargetFacts {
                platform: Platform::Twitter,
                rules: crate::platforms::rules(Platform::Twitter),
                name: "@a".into(),
                placements: vec![],
            },
            TargetFacts {
                platform: Platform::Linkedin,
                rules: crate::platforms::rules(Platform::Linkedin),
                name: "A".into(),
                placements: vec![],
            },
        ];
        let errors = check(&d, &targets);
        assert!(
            errors.iter().any(|e| e.starts_with("Body is too long for X")),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("X takes at most 4")), "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("not supported on LinkedIn")),
            "{errors:?}"
        );
    }

    #[test]
    fn merges_platform_params() {
        let a: PlatformParams =
            serde_json::from_value(serde_json::json!({"facebook": {"page_id": "p1", "link": "https://a"}})).unwrap();
        let b: PlatformParams =
            serde_json::from_value(serde_json::json!({"facebook": {"page_id": "p2"}, "twitter": {}})).unwrap();
        let m = a.merged(&b);
        assert_eq!(m.page_id(), Some("p2"));
        assert_eq!(m.facebook.unwrap().link.as_deref(), Some("https://a"));
        assert!(m.twitter.is_some());
    }
}
