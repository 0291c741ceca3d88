//! What one decode may cost. Both limits are checked before the pixels are decoded, so a
//! decompression bomb (a few kilobytes claiming gigapixels) is refused without allocating.

/// Hard limits for [`crate::render()`]; [`crate::probe()`] reports sizes without enforcing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Refuse images with more pixels than this (width × height, as stored). docs/API.md's upload
    /// limit is 50 megapixels.
    pub max_pixels: u64,
    /// The most the decoder may allocate at once. A 50 MP RGBA image is 200 MB and a 16-bit one
    /// twice that, so the default leaves room for the worst accepted image while capping what a
    /// worker can be made to hold.
    pub max_alloc_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The same budget in the terms of the `image` crate's decoders. No side may be longer than
    /// the pixel budget (an image one pixel high); the real guard is the pixel count, checked
    /// before decoding, and the allocation cap.
    pub(crate) fn for_image_crate(&self) -> image::Limits {
        let side = u32::try_from(self.max_pixels).unwrap_or(u32::MAX);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(side);
        limits.max_image_height = Some(side);
        limits.max_alloc = Some(self.max_alloc_bytes);
        limits
    }
}
