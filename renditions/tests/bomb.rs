//! Decompression bombs are refused from the header, before anything is allocated.
//!
//! A binary of its own: it counts every allocation of the process, which only means something
//! when no other test runs beside it.

use std::alloc::System;

use catalog_renditions::{probe, render, Format, Limits, RenderError};
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait, INSTRUMENTED_SYSTEM};

#[global_allocator]
static ALLOCATOR: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

/// How many bytes above the current level `f` allocated at its peak.
fn peak_allocation_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATOR.reset_peak_memory();
    let out = f();
    (out, ALLOCATOR.get_peak_memory())
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// A PNG that claims `width`×`height` RGBA pixels and holds a few bytes of IDAT.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, adaptive filter, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    // A zlib stream of a single empty stored block: far fewer bytes than the image needs.
    png.extend(chunk(b"IDAT", &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF]));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[test]
fn a_50000x50000_png_is_probed_and_refused_without_allocating_its_pixels() {
    let bomb = png_claiming(50_000, 50_000);
    assert!(bomb.len() < 100);

    let header = probe(&bomb).unwrap();
    assert_eq!(
        (header.format, header.width, header.height),
        (Format::Png, 50_000, 50_000)
    );

    let (result, peak) = peak_allocation_of(|| render(&bomb, &Limits::default()));
    match result {
        Err(RenderError::TooLarge {
            width: 50_000,
            height: 50_000,
            max_pixels: 50_000_000,
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // 10 GB of pixels claimed; only header parsing may allocate.
    assert!(
        peak < 1024 * 1024,
        "render allocated {peak} bytes at its peak"
    );

    // With the pixel limit lifted, the allocation cap still refuses it before allocating.
    let lifted = Limits {
        max_pixels: u64::MAX,
        ..Limits::default()
    };
    let (result, peak) = peak_allocation_of(|| render(&bomb, &lifted));
    let err = result.unwrap_err();
    assert!(
        matches!(err, RenderError::TooMuchMemory { .. }),
        "expected TooMuchMemory, got {err:?}"
    );
    assert!(
        peak < 16 * 1024 * 1024,
        "render allocated {peak} bytes at its peak"
    );
}
