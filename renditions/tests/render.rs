//! The rendition set, end to end, on images generated here.

mod support;

use catalog_renditions::{probe, render, sniff, Format, Limits, RenderError, RENDITIONS};
use image::codecs::gif::GifEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, Frame, GenericImageView, Rgb, RgbImage, Rgba, RgbaImage};
use support::*;

fn sizes(rendered: &catalog_renditions::Rendered) -> Vec<(&'static str, u32, u32)> {
    rendered
        .renditions
        .iter()
        .map(|r| (r.name, r.width, r.height))
        .collect()
}

#[test]
fn a_1200x900_jpeg_gets_every_size_up_to_its_own_and_is_never_upscaled() {
    let original = jpeg(&gradient(1200, 900));

    let rendered = render(&original, &Limits::default()).unwrap();

    assert_eq!((rendered.width, rendered.height), (1200, 900));
    assert_eq!(
        sizes(&rendered),
        [
            ("thumb", 160, 120),
            ("small", 400, 300),
            ("medium", 800, 600),
            ("large", 1200, 900),
        ]
    );
    for r in &rendered.renditions {
        assert_eq!(sniff(&r.webp), Some(Format::WebP), "{}", r.name);
        assert_eq!(sniff(&r.jpeg), Some(Format::Jpeg), "{}", r.name);
        assert_eq!(
            decoded(&r.webp).dimensions(),
            (r.width, r.height),
            "{}",
            r.name
        );
        assert_eq!(
            decoded(&r.jpeg).dimensions(),
            (r.width, r.height),
            "{}",
            r.name
        );
    }
}

#[test]
fn renditions_are_the_documented_four_in_order_of_size() {
    // docs/API.md: `thumb` 160 px on the longest side, `small` 400, `medium` 800, `large` 1600.
    assert_eq!(
        RENDITIONS,
        [
            ("thumb", 160),
            ("small", 400),
            ("medium", 800),
            ("large", 1600)
        ]
    );
    let rendered = render(&jpeg(&gradient(500, 300)), &Limits::default()).unwrap();
    assert_eq!(
        sizes(&rendered),
        [
            ("thumb", 160, 96),
            ("small", 400, 240),
            ("medium", 500, 300),
            ("large", 500, 300),
        ]
    );
}

#[test]
fn a_large_jpeg_is_shrunk_on_load_and_still_fills_the_large_rendition() {
    // 3300 px wide: jpeg-decoder's 1/2 scale gives 1650 ≥ 1600, so that is what it decodes.
    let original = jpeg(&gradient(3300, 2200));

    let rendered = render(&original, &Limits::default()).unwrap();

    assert_eq!((rendered.width, rendered.height), (3300, 2200));
    assert_eq!(
        sizes(&rendered),
        [
            ("thumb", 160, 107),
            ("small", 400, 267),
            ("medium", 800, 533),
            ("large", 1600, 1067),
        ]
    );
    let large = decoded(&rendered.renditions[3].jpeg);
    assert_eq!(large.dimensions(), (1600, 1067));
}

#[test]
fn exif_orientation_6_turns_a_300x200_jpeg_into_a_200x300_rendition_without_exif() {
    // Left half red, right half blue: turned 90° clockwise, red must end up on top.
    let stored = RgbImage::from_fn(300, 200, |x, _| {
        if x < 150 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    });
    let original = with_exif_orientation(&jpeg(&stored), 6);
    assert!(contains(&original, b"Exif"));

    let header = probe(&original).unwrap();
    assert_eq!((header.width, header.height), (200, 300));

    let rendered = render(&original, &Limits::default()).unwrap();

    assert_eq!((rendered.width, rendered.height), (200, 300));
    assert_eq!(
        sizes(&rendered),
        [
            ("thumb", 107, 160),
            ("small", 200, 300),
            ("medium", 200, 300),
            ("large", 200, 300),
        ]
    );
    for r in &rendered.renditions {
        assert!(!contains(&r.webp, b"Exif"), "{} webp carries Exif", r.name);
        assert!(!contains(&r.jpeg, b"Exif"), "{} jpeg carries Exif", r.name);
    }
    let large = decoded(&rendered.renditions[3].jpeg).to_rgb8();
    let top = large.get_pixel(100, 40);
    let bottom = large.get_pixel(100, 260);
    assert!(top[0] > 150 && top[2] < 100, "top is red: {top:?}");
    assert!(
        bottom[2] > 150 && bottom[0] < 100,
        "bottom is blue: {bottom:?}"
    );
}

#[test]
fn a_png_with_alpha_keeps_it_in_webp_and_lies_on_white_in_jpeg() {
    // Opaque green on the left, fully transparent on the right.
    let image = RgbaImage::from_fn(64, 48, |x, _| {
        if x < 32 {
            Rgba([0, 160, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });

    let rendered = render(&rgba_png(image), &Limits::default()).unwrap();

    assert_eq!((rendered.width, rendered.height), (64, 48));
    let thumb = &rendered.renditions[0];
    assert_eq!((thumb.width, thumb.height), (64, 48));
    let webp = decoded(&thumb.webp);
    assert!(webp.color().has_alpha(), "WebP keeps transparency");
    assert_eq!(webp.to_rgba8().get_pixel(60, 24)[3], 0);
    let jpeg = decoded(&thumb.jpeg).to_rgb8();
    let right = jpeg.get_pixel(60, 24);
    assert!(
        right.0.iter().all(|&c| c > 240),
        "transparent is white: {right:?}"
    );
    let left = jpeg.get_pixel(4, 24);
    assert!(
        left[1] > 120 && left[0] < 60,
        "opaque stays green: {left:?}"
    );
}

#[test]
fn only_the_first_frame_of_a_gif_is_rendered() {
    let red = RgbaImage::from_pixel(40, 30, Rgba([255, 0, 0, 255]));
    let blue = RgbaImage::from_pixel(40, 30, Rgba([0, 0, 255, 255]));
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        encoder
            .encode_frames([Frame::new(red), Frame::new(blue)])
            .unwrap();
    }
    assert_eq!(sniff(&gif), Some(Format::Gif));

    let rendered = render(&gif, &Limits::default()).unwrap();

    assert_eq!((rendered.width, rendered.height), (40, 30));
    let pixel = decoded(&rendered.renditions[0].jpeg)
        .to_rgb8()
        .get_pixel(20, 15)
        .0;
    assert!(
        pixel[0] > 200 && pixel[2] < 60,
        "first frame is red: {pixel:?}"
    );
}

#[test]
fn a_webp_upload_is_rendered_too() {
    let image = DynamicImage::ImageRgb8(gradient(500, 250));
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .encode(image.as_bytes(), 500, 250, image.color().into())
        .unwrap();
    assert_eq!(sniff(&webp), Some(Format::WebP));

    let rendered = render(&webp, &Limits::default()).unwrap();

    assert_eq!(
        sizes(&rendered),
        [
            ("thumb", 160, 80),
            ("small", 400, 200),
            ("medium", 500, 250),
            ("large", 500, 250),
        ]
    );
}

#[test]
fn the_blurhash_is_a_decodable_4x3_hash() {
    let rendered = render(&jpeg(&gradient(640, 480)), &Limits::default()).unwrap();

    // 1 size flag + 1 max AC + 4 DC + 2 per AC component (4×3 − 1).
    assert_eq!(rendered.blurhash.len(), 6 + 2 * 11, "{}", rendered.blurhash);
    let pixels = blurhash::decode(&rendered.blurhash, 32, 24, 1.0).unwrap();
    assert_eq!(pixels.len(), 32 * 24 * 4);
}

#[test]
fn a_truncated_jpeg_is_corrupt() {
    let whole = jpeg(&gradient(1200, 900));
    let half = &whole[..whole.len() / 2];

    // The header is intact, so the upload-time probe still reads it...
    assert_eq!(probe(half).unwrap().width, 1200);
    // ...but the pixels are not all there.
    match render(half, &Limits::default()) {
        Err(RenderError::Corrupt(_)) => {}
        other => panic!("expected Corrupt, got {:?}", other.map(|r| sizes(&r))),
    }
    // Cut inside the headers or near the end: still Corrupt, never a panic.
    for cut in [4, 30, whole.len() / 4, whole.len() * 3 / 4] {
        let err = render(&whole[..cut], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, RenderError::Corrupt(_)),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn a_truncated_png_is_corrupt() {
    let whole = png(&DynamicImage::ImageRgb8(gradient(300, 200)));
    for cut in [20, 40, whole.len() / 2, whole.len() - 13] {
        let err = render(&whole[..cut], &Limits::default()).unwrap_err();
        assert!(
            matches!(err, RenderError::Corrupt(_)),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn garbage_after_a_valid_signature_is_corrupt_not_a_panic() {
    // Whether the noise can pass for a header: JPEG, PNG and WebP headers carry markers and
    // magic numbers it breaks; a GIF's is a bare pair of sizes, which any bytes make.
    for (magic, seed, format, header_checked) in [
        (&b"\xFF\xD8\xFF"[..], 1, Format::Jpeg, true),
        (&b"\x89PNG\r\n\x1a\n"[..], 2, Format::Png, true),
        (&b"GIF89a"[..], 3, Format::Gif, false),
        (&b"RIFF\x00\x10\x00\x00WEBPVP8 "[..], 4, Format::WebP, true),
    ] {
        let mut bytes = magic.to_vec();
        bytes.extend(noise(4096, seed));
        assert_eq!(sniff(&bytes), Some(format));
        let err = render(&bytes, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                RenderError::Corrupt(_) | RenderError::UnsupportedVariant(_)
            ),
            "{format:?}: {err:?}"
        );
        // Probe reads only the header: it refuses a broken one as corrupt, never as an
        // unsupported format, and a header it accepts is of the format the signature names.
        match probe(&bytes) {
            Ok(header) if !header_checked => assert_eq!(header.format, format),
            Err(RenderError::Corrupt(_)) => {}
            other => panic!("{format:?}: probe gave {other:?}"),
        }
    }
}

#[test]
fn empty_input_random_bytes_and_text_are_unsupported() {
    let inputs: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("random", noise(10_000, 42)),
        (
            "text",
            b"Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit.\n".to_vec(),
        ),
        (
            "svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"/>".to_vec(),
        ),
    ];
    for (name, bytes) in inputs {
        assert_eq!(sniff(&bytes), None, "{name}");
        assert!(
            matches!(probe(&bytes), Err(RenderError::Unsupported)),
            "{name}"
        );
        let err = render(&bytes, &Limits::default()).unwrap_err();
        assert!(matches!(err, RenderError::Unsupported), "{name}: {err:?}");
        assert_eq!(err.code(), "unsupported_format");
    }
}

#[test]
fn probe_reads_the_size_of_every_format() {
    let rgb = DynamicImage::ImageRgb8(gradient(123, 45));
    let mut gif = Vec::new();
    GifEncoder::new(&mut gif)
        .encode_frame(Frame::new(rgb.to_rgba8()))
        .unwrap();
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .encode(rgb.as_bytes(), 123, 45, rgb.color().into())
        .unwrap();

    for (format, bytes) in [
        (Format::Jpeg, jpeg(&gradient(123, 45))),
        (Format::Png, png(&rgb)),
        (Format::Gif, gif),
        (Format::WebP, webp),
    ] {
        let header = probe(&bytes).unwrap();
        assert_eq!(
            (header.format, header.width, header.height),
            (format, 123, 45)
        );
    }
}
