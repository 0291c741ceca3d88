//! The pure core of Catalog's image pipeline: bytes in, renditions out. No IO, no async, no
//! storage — the upload endpoint calls [`sniff`] and [`probe()`], the image worker calls
//! [`render()`] on a blocking thread and stores what it returns. Everything public is exported
//! here at the root; the modules are private.
//!
//! - `format`: which image format the bytes are, from their magic numbers, and its MIME type.
//! - `probe`: the dimensions from the header alone, to refuse oversized uploads cheaply.
//! - `limits`: how many pixels and bytes a decode may cost.
//! - `error`: why an image cannot be rendered; every reason is permanent.
//! - `decode`: pixels from bytes under those limits, JPEGs shrunk in the DCT, EXIF orientation
//!   applied.
//! - `resize`: the size of each rendition and the resampling itself.
//! - `encode`: WebP and JPEG bytes, which carry no metadata.
//! - `placeholder`: the blurhash shown while a rendition loads.
//! - `render`: the whole set — decode once, resize in a cascade, encode each size twice.

mod decode;
mod encode;
mod error;
mod format;
mod limits;
mod panic;
mod placeholder;
mod probe;
mod render;
mod resize;

pub use error::RenderError;
pub use format::{content_type, sniff, Format, SNIFF_LEN};
pub use limits::Limits;
pub use probe::{probe, Probe};
pub use render::{render, Encoded, Rendered};

/// Every rendition as (name, longest side in pixels), smallest first. The names are the path
/// segment of `GET /images/{image_id}/{rendition}.{webp,jpg}`.
pub const RENDITIONS: [(&str, u32); 4] = [
    ("thumb", 160),
    ("small", 400),
    ("medium", 800),
    ("large", 1600),
];

/// The longest side of the largest rendition: a decode never needs more pixels than this.
pub(crate) const LARGEST: u32 = RENDITIONS[RENDITIONS.len() - 1].1;
