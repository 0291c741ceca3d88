//! Renders an image file into its renditions, for trying the pipeline by hand and for
//! `bench/images`.
//!
//! ```text
//! render <input> <out-dir>                      every rendition as <name>.webp and <name>.jpg
//! render --generate <out.jpg> <width> <height>  a photo-like JPEG (gradients, shapes, noise)
//! render --decode-only <full|shrink> <in.jpg>   only the JPEG decode, at full size or shrunk
//!                                               to what the large rendition needs
//! ```

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use catalog_renditions::{render, Limits, RENDITIONS};
use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["--generate", out, width, height] => generate(out, width, height),
        ["--decode-only", mode, input] => decode_only(mode, input),
        [input, out_dir] => render_file(input, out_dir),
        _ => Err(
            "usage: render <input> <out-dir> | --generate <out.jpg> <w> <h> | \
                  --decode-only <full|shrink> <in.jpg>"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn render_file(input: &str, out_dir: &str) -> Result {
    let bytes = std::fs::read(input)?;
    let started = Instant::now();
    let rendered = render(&bytes, &Limits::default())?;
    let elapsed = started.elapsed();

    let out_dir = Path::new(out_dir);
    std::fs::create_dir_all(out_dir)?;
    let mut total = 0;
    for r in &rendered.renditions {
        std::fs::write(out_dir.join(format!("{}.webp", r.name)), &r.webp)?;
        std::fs::write(out_dir.join(format!("{}.jpg", r.name)), &r.jpeg)?;
        total += r.webp.len() + r.jpeg.len();
        println!(
            "{:<6} {:>4}x{:<4} webp {:>7} B  jpeg {:>7} B",
            r.name,
            r.width,
            r.height,
            r.webp.len(),
            r.jpeg.len()
        );
    }
    println!(
        "original {}x{}, blurhash {}, {} renditions, {total} bytes, render {:.0} ms",
        rendered.width,
        rendered.height,
        rendered.blurhash,
        RENDITIONS.len() * 2,
        elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A deterministic photo-like picture: a sky and ground gradient, soft blobs, fine texture and
/// sensor noise, so the JPEG has the entropy (and decode cost) of a real photo rather than of a
/// flat test card.
fn generate(out: &str, width: &str, height: &str) -> Result {
    let (width, height): (u32, u32) = (width.parse()?, height.parse()?);
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        ((seed >> 40) % 25) as f32 - 12.0
    };
    let blobs = [
        (0.30, 0.55, 0.18, [200.0, 60.0, 40.0]),
        (0.62, 0.48, 0.12, [40.0, 90.0, 190.0]),
        (0.80, 0.70, 0.09, [230.0, 210.0, 70.0]),
    ];
    let (w, h) = (width as f32, height as f32);
    let image = RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / w, y as f32 / h);
        let mut rgb = if v < 0.45 {
            [110.0 + 90.0 * v, 160.0 + 70.0 * v, 235.0 - 40.0 * v]
        } else {
            [90.0 + 60.0 * v, 120.0 - 30.0 * v, 60.0 + 20.0 * u]
        };
        for (cx, cy, r, colour) in blobs {
            let d = ((u - cx).powi(2) + ((v - cy) * h / w).powi(2)).sqrt();
            let a = (1.0 - d / r).clamp(0.0, 1.0);
            for (c, target) in rgb.iter_mut().zip(colour) {
                *c = *c * (1.0 - a) + target * a;
            }
        }
        let texture = 10.0 * ((x as f32 * 0.21).sin() * (y as f32 * 0.17).cos());
        Rgb(rgb.map(|c| (c + texture + noise()).clamp(0.0, 255.0) as u8))
    });
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&image)?;
    std::fs::write(out, &bytes)?;
    println!("{out}: {width}x{height}, {} bytes", bytes.len());
    Ok(())
}

/// The JPEG decode alone, to show what shrink-on-load saves in time and (under `time -v`)
/// memory.
fn decode_only(mode: &str, input: &str) -> Result {
    let bytes = std::fs::read(input)?;
    let started = Instant::now();
    let mut decoder = jpeg_decoder::Decoder::new(bytes.as_slice());
    match mode {
        "full" => {}
        // What `render` asks for: the large rendition's 1600 px on the long side.
        "shrink" => {
            decoder.scale(1600, u16::MAX)?;
        }
        other => return Err(format!("mode must be full or shrink, not {other}").into()),
    }
    let pixels = decoder.decode()?;
    let info = decoder.info().ok_or("no frame")?;
    println!(
        "decoded {}x{} ({} bytes) in {:.0} ms",
        info.width,
        info.height,
        pixels.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
