//! A platform's publishing rules as plain data: how it counts text and how much it takes, which
//! images, whether it needs media or text, whether it chains threads. Each platform's room
//! (`platforms/<name>.rs`) holds its values in its `SPEC`; `domain::post::check` and
//! `media_refusal` apply them without knowing which platform they belong to.

/// How a platform counts the length of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Unicode scalar values.
    Chars,
    /// X's weighted count (twitter-text v3): most characters weigh 2, Latin 1, a URL 23.
    XWeighted,
    /// Characters, but an emoji counts its UTF-8 bytes (Threads).
    EmojiBytes,
    /// Extended grapheme clusters, what a reader sees as one character (Bluesky).
    Graphemes,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Longest text, in the platform's own count.
    pub text_limit: usize,
    pub counting: Counting,
    /// A shorter limit for the text of a post with media (Telegram's captions).
    pub caption_limit: Option<usize>,
    /// Most media items in one post.
    pub max_images: usize,
    /// The image types the platform takes (sniffed content types), and the largest image.
    pub image_types: &'static [&'static str],
    pub max_image_bytes: u64,
    /// The video types this server publishes there, and the largest video; none yet where
    /// empty (such videos are stored, then fail with a note saying so).
    pub video_types: &'static [&'static str],
    pub max_video_bytes: u64,
    /// Images and videos mix in one post, videos several (Telegram's albums).
    pub mixed_media: bool,
    /// The platform takes videos only (YouTube).
    pub video_only: bool,
    /// A post needs at least one medium (Instagram, TikTok).
    pub needs_media: bool,
    /// A post without text needs media (X, Threads, LinkedIn, Facebook).
    pub needs_text_or_media: bool,
    /// Thread chains (each part a reply to the one before).
    pub threads: bool,
}

pub const MB: u64 = 1024 * 1024;

impl Rules {
    /// Length as the platform counts it.
    pub fn text_length(&self, text: &str) -> usize {
        match self.counting {
            Counting::XWeighted => super::post::x_weighted_length(text),
            Counting::EmojiBytes => text
                .chars()
                .map(|c| if super::post::is_emoji(c) { c.len_utf8() } else { 1 })
                .sum(),
            Counting::Chars => text.chars().count(),
            Counting::Graphemes => unicode_segmentation::UnicodeSegmentation::graphemes(text, true).count(),
        }
    }
}
