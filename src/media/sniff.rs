//! Media type from magic bytes only.
//!
//! The declared Content-Type and the file name are both chosen by whoever sent the file, so the
//! type is read from the first bytes. Hand-written rather than the `infer` crate: `infer` needs
//! more than 256 bytes to see WebM, takes any "GIF" or any `....WEBP` as an image, and counts a
//! bare `mdat` box as QuickTime, all looser than a publishing pipeline should be.

/// How many leading bytes [`sniff`] needs to decide; fewer only at end of file.
pub const SNIFF_LEN: usize = 64;

/// The two families of media this server publishes; each has its own size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The accepted formats, for messages that tell a user what would have worked.
pub const ACCEPTED_FORMATS: &str = "PNG, JPEG, GIF, WebP, HEIC, MP4, MOV, WebM";

/// The MIME type and kind of a file from its first bytes (pass at least [`SNIFF_LEN`] when the
/// file has that many), or `None` for anything this server does not accept.
pub fn sniff(head: &[u8]) -> Option<(&'static str, MediaKind)> {
    use MediaKind::{Image, Video};
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(("image/jpeg", Image));
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(("image/png", Image));
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(("image/gif", Image));
    }
    // RIFF container whose form type is WEBP and whose first chunk is one of the VP8 variants.
    if head.len() >= 16 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return match &head[12..16] {
            b"VP8 " | b"VP8L" | b"VP8X" => Some(("image/webp", Image)),
            _ => None,
        };
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return is_webm(head).then_some(("video/webm", Video));
    }
    isobmff(head)
}

/// ISO base media (MP4, MOV, HEIF): classified by the brands of the leading `ftyp` box.
fn isobmff(head: &[u8]) -> Option<(&'static str, MediaKind)> {
    use MediaKind::{Image, Video};
    if head.len() < 12 {
        return None;
    }
    let box_type = &head[4..8];
    if box_type != b"ftyp" {
        // QuickTime files from before `ftyp` existed open with the movie or a `wide` pad box.
        return match box_type {
            b"moov" => Some(("video/quicktime", Video)),
            b"wide" if head.len() >= 16 && matches!(&head[12..16], b"mdat" | b"moov") => {
                Some(("video/quicktime", Video))
            }
            _ => None,
        };
    }
    let box_len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let major: &[u8] = &head[8..12];
    // Compatible brands run from byte 16 to the end of the box, as far as `head` reaches.
    let end = box_len.clamp(16, head.len().max(16)).min(head.len());
    let compatible: Vec<&[u8]> = head.get(16..end).unwrap_or(&[]).chunks_exact(4).collect();
    let has = |brands: &[&[u8]]| compatible.iter().any(|b| brands.contains(b));

    const HEIC: &[&[u8]] = &[b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"];
    const AVIF: &[&[u8]] = &[b"avif", b"avis"];
    const MP4: &[&[u8]] = &[
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41", b"mp42", b"mp71",
        b"avc1", b"dash", b"mmp4", b"MSNV", b"NDAS", b"NDSC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC", b"NDXH",
        b"NDXM", b"NDXP", b"NDXS", b"f4v ",
    ];

    if HEIC.contains(&major) {
        return Some(("image/heic", Image));
    }
    if major == b"mif1" || major == b"msf1" {
        // The generic HEIF brands also front AVIF, which is not accepted.
        if has(HEIC) {
            return Some(("image/heic", Image));
        }
        if has(AVIF) {
            return None;
        }
        return Some(("image/heif", Image));
    }
    if major == b"qt  " {
        return Some(("video/quicktime", Video));
    }
    if matches!(major, b"M4V " | b"M4VH" | b"M4VP") {
        return Some(("video/x-m4v", Video));
    }
    if MP4.contains(&major) {
        return Some(("video/mp4", Video));
    }
    None
}

/// An EBML header whose DocType element (ID 0x4282) says "webm"; Matroska proper is refused.
fn is_webm(head: &[u8]) -> bool {
    let mut i = 4;
    while i + 2 < head.len() {
        if head[i] == 0x42 && head[i + 1] == 0x82 {
            // The element size is an EBML variable-length integer: the leading zero bits of its
            // first byte give its width, the remaining bits the value.
            let first = head[i + 2];
            if first == 0 {
                return false;
            }
            let width = first.leading_zeros() as usize + 1;
            let Some(size_bytes) = head.get(i + 2..i + 2 + width) else {
                return false;
            };
            let mut size = u64::from(first & 0xFFu8.checked_shr(width as u32).unwrap_or(0));
            for b in &size_bytes[1..] {
                size = (size << 8) | u64::from(*b);
            }
            let start = i + 2 + width;
            return size == 4 && head.get(start..start + 4) == Some(b"webm");
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let len = 16 + 4 * compatible.len();
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(major);
        v.extend_from_slice(&[0, 0, 2, 0]);
        for b in compatible {
            v.extend_from_slice(*b);
        }
        // What follows the ftyp box in a real file.
        v.extend_from_slice(&[0, 0, 0, 8]);
        v.extend_from_slice(b"free");
        v
    }

    #[test]
    fn images() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(sniff(&jpeg), Some(("image/jpeg", MediaKind::Image)));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
        assert_eq!(sniff(png), Some(("image/png", MediaKind::Image)));
        assert_eq!(
            sniff(b"GIF89a\x01\0\x01\0\x80\0\0"),
            Some(("image/gif", MediaKind::Image))
        );
        assert_eq!(sniff(b"GIF87a\x01\0\x01\0"), Some(("image/gif", MediaKind::Image)));
        let webp = b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0\x30\x01\0\x9d\x01\x2a";
        assert_eq!(sniff(webp), Some(("image/webp", MediaKind::Image)));
        assert_eq!(
            sniff(b"RIFF\x24\0\0\0WEBPVP8L\x0a\0\0\0"),
            Some(("image/webp", MediaKind::Image))
        );
        assert_eq!(
            sniff(&ftyp(b"heic", &[b"mif1", b"heic"])),
            Some(("image/heic", MediaKind::Image))
        );
        // iPhone photos: major brand mif1 with heic among the compatible brands.
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"mif1", b"heic", b"miaf"])),
            Some(("image/heic", MediaKind::Image))
        );
        assert_eq!(
            sniff(&ftyp(b"mif1", &[b"mif1", b"miaf"])),
            Some(("image/heif", MediaKind::Image))
        );
    }

    #[test]
    fn videos() {
        for major in [b"isom", b"mp42", b"mp41", b"avc1", b"iso2", b"dash"] {
            assert_eq!(
                sniff(&ftyp(major, &[b"isom", b"avc1"])),
                Some(("video/mp4", MediaKind::Video)),
                "{major:?}"
            );
        }
        assert_eq!(
            sniff(&ftyp(b"M4V ", &[b"M4V ", b"mp42"])),
            Some(("video/x-m4v", MediaKind::Video))
        );
        assert_eq!(
            sniff(&ftyp(b"qt  ", &[b"qt  "])),
            Some(("video/quicktime", MediaKind::Video))
        );
        assert_eq!(
            sniff(b"\0\0\0\x08wide\0\x10\0\0mdat\0\0\0\0"),
            Some(("video/quicktime", MediaKind::Video))
        );
        assert_eq!(
            sniff(b"\0\0\x10\0moov\0\0\0\x6cmvhd"),
            Some(("video/quicktime", MediaKind::Video))
        );
        // The EBML header ffmpeg writes for WebM.
        let webm = [
            0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01, 0x42, 0xF2, 0x81, 0x04, 0x42,
            0xF3, 0x81, 0x08, 0x42, 0x82, 0x84, b'w', b'e', b'b', b'm', 0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02,
            0x18, 0x53, 0x80, 0x67,
        ];
        assert_eq!(sniff(&webm), Some(("video/webm", MediaKind::Video)));
        // Same header with an 8-byte-wide DocType size, as some muxers write it.
        let mut wide = webm[..21].to_vec();
        wide.extend_from_slice(&[0x42, 0x82, 0x01, 0, 0, 0, 0, 0, 0, 0x04]);
        wide.extend_from_slice(b"webm");
        assert_eq!(sniff(&wide), Some(("video/webm", MediaKind::Video)));
        let mut mkv = webm[..21].to_vec();
        mkv.extend_from_slice(&[0x42, 0x82, 0x88]);
        mkv.extend_from_slice(b"matroska");
        assert_eq!(sniff(&mkv), None);
    }

    #[test]
    fn refused() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\xFF\xD8"), None);
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), None);
        assert_eq!(sniff(b"%PDF-1.7\n"), None);
        assert_eq!(sniff(b"PK\x03\x04\x14\0\0\0"), None);
        assert_eq!(sniff(b"GIF8"), None);
        assert_eq!(sniff(b"\x89PNG\r\n"), None);
        // WAV is RIFF too; AVI as well.
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0"), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0AVI LIST\x10\0\0\0"), None);
        // A WEBP form with an unknown first chunk.
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPJUNK\x10\0\0\0"), None);
        // AVIF, M4A audio, 3GP and a bare mdat are not accepted.
        assert_eq!(sniff(&ftyp(b"avif", &[b"avif", b"mif1"])), None);
        assert_eq!(sniff(&ftyp(b"mif1", &[b"mif1", b"avif"])), None);
        assert_eq!(sniff(&ftyp(b"M4A ", &[b"M4A ", b"mp42"])), None);
        assert_eq!(sniff(&ftyp(b"3gp4", &[b"3gp4"])), None);
        assert_eq!(sniff(b"\0\0\0\x08mdat\0\0\0\0\0\0\0\0"), None);
        // Truncated or hostile ftyp boxes must not panic.
        assert_eq!(sniff(b"\0\0\0\x08ftyp"), None);
        assert_eq!(
            sniff(b"\xff\xff\xff\xffftypmif1"),
            Some(("image/heif", MediaKind::Image))
        );
        assert_eq!(
            sniff(b"\0\0\0\0ftypmif1\0\0\0\0avi"),
            Some(("image/heif", MediaKind::Image))
        );
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x42, 0x82]), None);
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x42, 0x82, 0x00, 0x00]), None);
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x42, 0x82, 0x01, 0x00]), None);
    }

    #[test]
    fn never_panics_on_short_or_random_input() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = sniff(&bytes);
            for prefix in [&b"\0\0\0\x20ftyp"[..], &[0x1A, 0x45, 0xDF, 0xA3, 0x42, 0x82], b"RIFF"] {
                let mut v = prefix.to_vec();
                v.extend_from_slice(&bytes);
                let _ = sniff(&v);
            }
        }
    }
}
