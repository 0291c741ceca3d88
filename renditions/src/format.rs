//! Which format an upload is, decided by its first bytes. A client's Content-Type and file name
//! are never trusted: they are easy to get wrong and easy to forge.

/// The formats Catalog accepts for upload. WebP is also what renditions are served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Decoded by jpeg-decoder, which can shrink a large JPEG while decoding it.
    Jpeg,
    /// Any bit depth; transparency is kept in the WebP renditions.
    Png,
    /// Only the first frame of an animated GIF is rendered.
    Gif,
    /// Lossy, lossless or extended (alpha, animation: first frame) WebP.
    WebP,
}

/// How many leading bytes [`sniff`] may look at; passing more is harmless.
pub const SNIFF_LEN: usize = 16;

/// Recognises the format from its magic number, or `None` for anything else (including too few
/// bytes to tell).
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    match bytes {
        // SOI followed by the first marker's 0xFF: every JPEG (JFIF, Exif, raw) starts so.
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Format::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Format::Gif),
        // A RIFF container of type WEBP whose first chunk is one of the three WebP bitstreams;
        // when fewer than 16 bytes are given, the container alone decides.
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', rest @ ..] => match rest {
            [b'V', b'P', b'8', b' ' | b'L' | b'X', ..] => Some(Format::WebP),
            _ if rest.len() < 4 => Some(Format::WebP),
            _ => None,
        },
        _ => None,
    }
}

/// The MIME type of a format, for `Content-Type`.
pub fn content_type(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "image/jpeg",
        Format::Png => "image/png",
        Format::Gif => "image/gif",
        Format::WebP => "image/webp",
    }
}

impl Format {
    /// The same format as the `image` crate names it, for its decoders.
    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Gif => image::ImageFormat::Gif,
            Format::WebP => image::ImageFormat::WebP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers_decide_and_nothing_else_does() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(Format::Png));
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some(Format::Gif));
        assert_eq!(sniff(b"GIF87a"), Some(Format::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(Format::WebP));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8L"), Some(Format::WebP));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBP"), Some(Format::WebP));
        // A WAV file is a RIFF container too.
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPJUNK"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"BM\x36\0\0\0"), None);
    }

    #[test]
    fn content_types_are_the_registered_ones() {
        assert_eq!(content_type(Format::Jpeg), "image/jpeg");
        assert_eq!(content_type(Format::Png), "image/png");
        assert_eq!(content_type(Format::Gif), "image/gif");
        assert_eq!(content_type(Format::WebP), "image/webp");
    }
}
