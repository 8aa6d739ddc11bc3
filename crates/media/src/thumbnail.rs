//! Thumbnails and previews, made from sanitised bytes only, upright, as JPEG.
//!
//! JPEG sources use a scaled DCT decode (1/2, 1/4 or 1/8 size straight out
//! of the inverse transform), so a 256 px thumbnail of a 12 MP photo never
//! materialises the full-size picture. HEIF/HEIC/AVIF go through libheif,
//! which decodes the full size.

use crate::verify::{decode, image_format};
use crate::{sniff, Format, Limits, MediaError};
use image::{DynamicImage, ImageBuffer, Luma, Rgb};
use std::io::Cursor;

/// Long edge of a grid thumbnail.
pub const THUMBNAIL_PX: u32 = 256;
/// Long edge of the on-screen preview.
pub const PREVIEW_PX: u32 = 1600;
const JPEG_QUALITY: u8 = 82;

/// Makes a JPEG no larger than `max_px` on its long edge from sanitised
/// bytes, upright (EXIF orientation, or HEIF's rotation and mirroring).
/// HEIF/HEIC/AVIF are decoded by the system's libheif; video has no
/// decoder here and gives [`MediaError::ThumbnailUnavailable`].
pub fn thumbnail(bytes: &[u8], max_px: u32) -> Result<Vec<u8>, MediaError> {
    thumbnail_with_limits(bytes, max_px, &Limits::default())
}

pub fn thumbnail_with_limits(
    bytes: &[u8],
    max_px: u32,
    limits: &Limits,
) -> Result<Vec<u8>, MediaError> {
    let format = sniff(bytes)?;
    let max_px = max_px.max(1);
    let img = match format {
        Format::Jpeg => decode_jpeg_scaled(bytes, max_px, limits)?,
        Format::Png | Format::WebP => {
            let f = image_format(format).ok_or_else(|| MediaError::Internal {
                reason: "no decoder for a still format".into(),
            })?;
            decode(bytes, f, limits).map_err(|e| MediaError::Undecodable {
                format,
                reason: e.to_string(),
            })?
        }
        Format::Heic | Format::Heif | Format::Avif => {
            // Full size out of libheif: a quick box reduction first, so the
            // filtered resize below works on a few hundred pixels, not 12 MP.
            let img = decode_heif(bytes, format, limits)?;
            if img.width() > 2 * max_px || img.height() > 2 * max_px {
                img.thumbnail(2 * max_px, 2 * max_px)
            } else {
                img
            }
        }
        Format::Mp4 | Format::Mov | Format::ThreeGp => {
            return Err(MediaError::ThumbnailUnavailable {
                format,
                reason: "video frames are not decoded here".into(),
            })
        }
    };
    let img = if img.width() > max_px || img.height() > max_px {
        img.resize(max_px, max_px, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    // libheif has already applied HEIF's own rotation and mirroring.
    let img = if format.is_bmff() {
        img
    } else {
        apply_orientation(img, orientation(bytes))
    };
    let rgb = img.to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| MediaError::Internal {
            reason: format!("thumbnail encoding failed: {e}"),
        })?;
    Ok(out)
}

/// The primary picture of a HEIF, HEIC or AVIF file, decoded by libheif
/// (which applies the container's rotation and mirroring), as RGB.
fn decode_heif(bytes: &[u8], format: Format, limits: &Limits) -> Result<DynamicImage, MediaError> {
    use libheif_rs::{ColorSpace, HeifContext, RgbChroma};
    let fail = |e: libheif_rs::HeifError| MediaError::Undecodable {
        format,
        reason: e.message,
    };
    let context = HeifContext::read_from_bytes(bytes).map_err(fail)?;
    let handle = context.primary_image_handle().map_err(fail)?;
    limits.check_dimensions(handle.width(), handle.height())?;
    let image = handle
        .decode(ColorSpace::Rgb(RgbChroma::Rgb), None)
        .map_err(fail)?;
    let plane = image
        .planes()
        .interleaved
        .ok_or_else(|| MediaError::Undecodable {
            format,
            reason: "no interleaved RGB plane".into(),
        })?;
    // Rows may be padded beyond width * 3 bytes.
    let row = usize::try_from(plane.width).unwrap_or(0) * 3;
    let mut rgb = Vec::with_capacity(row * usize::try_from(plane.height).unwrap_or(0));
    for line in plane
        .data
        .chunks(plane.stride.max(1))
        .take(usize::try_from(plane.height).unwrap_or(0))
    {
        rgb.extend_from_slice(line.get(..row).ok_or_else(|| MediaError::Undecodable {
            format,
            reason: "a short row".into(),
        })?);
    }
    ImageBuffer::<Rgb<u8>, _>::from_raw(plane.width, plane.height, rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| MediaError::Undecodable {
            format,
            reason: "the decoded size does not match".into(),
        })
}

fn decode_jpeg_scaled(
    bytes: &[u8],
    max_px: u32,
    limits: &Limits,
) -> Result<DynamicImage, MediaError> {
    let undecodable = |e: String| MediaError::Undecodable {
        format: Format::Jpeg,
        reason: e,
    };
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.set_max_decoding_buffer_size(usize::try_from(limits.max_decode_alloc).unwrap_or(usize::MAX));
    d.read_info().map_err(|e| undecodable(e.to_string()))?;
    let info = d
        .info()
        .ok_or_else(|| undecodable("no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let long = w.max(h).max(1);
    // Ask for at least max_px on the long edge; the decoder picks the
    // smallest DCT scale that is not below the request.
    let req = |x: u32| {
        u16::try_from(
            (u64::from(x) * u64::from(max_px))
                .div_ceil(u64::from(long))
                .max(1),
        )
        .unwrap_or(u16::MAX)
    };
    let (sw, sh) = d
        .scale(req(w), req(h))
        .map_err(|e| undecodable(e.to_string()))?;
    let pixels = d.decode().map_err(|e| undecodable(e.to_string()))?;
    let info = d
        .info()
        .ok_or_else(|| undecodable("no frame header".into()))?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let bad = || undecodable("decoded buffer has an unexpected size".into());
    Ok(match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => DynamicImage::ImageLuma8(
            ImageBuffer::<Luma<u8>, _>::from_raw(sw, sh, pixels).ok_or_else(bad)?,
        ),
        jpeg_decoder::PixelFormat::L16 => {
            let v: Vec<u8> = pixels.chunks_exact(2).map(|c| c[0]).collect();
            DynamicImage::ImageLuma8(
                ImageBuffer::<Luma<u8>, _>::from_raw(sw, sh, v).ok_or_else(bad)?,
            )
        }
        jpeg_decoder::PixelFormat::RGB24 => DynamicImage::ImageRgb8(
            ImageBuffer::<Rgb<u8>, _>::from_raw(sw, sh, pixels).ok_or_else(bad)?,
        ),
        jpeg_decoder::PixelFormat::CMYK32 => {
            // The decoder returns CMYK with Adobe's inversion already undone.
            let v: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = 255 - u16::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((255 - u16::from(c)) * k / 255) as u8)
                })
                .collect();
            DynamicImage::ImageRgb8(ImageBuffer::<Rgb<u8>, _>::from_raw(sw, sh, v).ok_or_else(bad)?)
        }
    })
}

fn orientation(bytes: &[u8]) -> u16 {
    exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()
        .and_then(|e| {
            e.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
                .value
                .get_uint(0)
        })
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(1)
}

/// EXIF orientation 1–8 to an upright picture.
fn apply_orientation(img: DynamicImage, o: u16) -> DynamicImage {
    match o {
        2 => img.fliph(),
        3 => img.rotate180(),
        4 => img.flipv(),
        5 => img.rotate90().fliph(),
        6 => img.rotate90(),
        7 => img.rotate270().fliph(),
        8 => img.rotate270(),
        _ => img,
    }
}
