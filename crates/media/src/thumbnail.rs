//! Thumbnails and previews, made from sanitised bytes only, upright, as JPEG.
//!
//! JPEG sources use libjpeg-turbo's scaled DCT decode (n/8 size straight
//! out of the inverse transform), so a 256 px thumbnail of a 12 MP photo
//! never materialises the full-size picture. HEIF/HEIC/AVIF go through libheif,
//! which decodes the full size.

use crate::verify::{decode, image_format};
use crate::{budget, sniff, Format, Limits, MediaError};
use image::{DynamicImage, ImageBuffer, Luma, Rgb};
use std::io::Cursor;

/// Long edge of a grid thumbnail.
pub const THUMBNAIL_PX: u32 = 256;
/// Long edge of the on-screen preview.
pub const PREVIEW_PX: u32 = 1600;
const JPEG_QUALITY: i32 = 82;

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
    // libheif reads HEIF's size itself (`decode_heif` reserves its room);
    // video is not decoded here.
    let _room = match header_size(bytes, format, limits)? {
        Some(size) => {
            let purpose = budget::Purpose::Thumbnail(max_px);
            Some(budget::reserve(
                budget::decode_cost(bytes, format, size, purpose),
                limits,
            )?)
        }
        None => None,
    };
    let img = match format {
        Format::Jpeg => decode_jpeg_scaled(bytes, max_px, limits)?,
        Format::Tiff => crate::tiff::decode(bytes, limits)
            .map_err(|reason| MediaError::Undecodable { format, reason })?,
        Format::Png | Format::WebP => {
            let f = image_format(format).ok_or_else(|| MediaError::Internal {
                reason: "no decoder for a still format".into(),
            })?;
            decode(bytes, f, limits).map_err(|e| MediaError::Undecodable {
                format,
                reason: e.to_string(),
            })?
        }
        Format::Heic | Format::Heif | Format::Avif => decode_heif(bytes, format, limits)?,
        Format::Mp4 | Format::Mov | Format::ThreeGp => {
            return Err(MediaError::ThumbnailUnavailable {
                format,
                reason: "video frames are not decoded here".into(),
            })
        }
    };
    let img = shrink(img.into_rgb8(), max_px)?;
    // libheif has already applied HEIF's own rotation and mirroring.
    let img = if format.is_bmff() {
        img
    } else {
        apply_orientation(img, orientation(bytes))
    };
    let rgb = img.into_rgb8();
    encode(rgb.width(), rgb.height(), rgb.as_raw(), limits)
}

/// The picture's size from its headers, before anything is decoded, for
/// the formats decoded in this function's caller; `None` for the others.
fn header_size(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<Option<(u32, u32)>, MediaError> {
    let undecodable = |reason: &str| MediaError::Undecodable {
        format,
        reason: reason.into(),
    };
    let size = match format {
        Format::Jpeg => {
            let scans = crate::jpeg::scan_count(bytes);
            if scans > limits.max_jpeg_scans {
                return Err(crate::verify::too_many_scans(scans, limits));
            }
            crate::jpeg::frame_header(bytes).map(|(w, h, _, _)| (w, h))
        }
        Format::Png => crate::png::header_facts(bytes).map(|(w, h, _)| (w, h)),
        Format::Tiff => crate::tiff::header_facts(bytes, limits).map(|f| (f.width, f.height)),
        Format::WebP => {
            crate::verify::header_dimensions(bytes, image::ImageFormat::WebP, limits).ok()
        }
        Format::Heic
        | Format::Heif
        | Format::Avif
        | Format::Mp4
        | Format::Mov
        | Format::ThreeGp => return Ok(None),
    };
    let (w, h) = size.ok_or_else(|| undecodable("its header gives no picture size"))?;
    limits.check_dimensions(w, h)?;
    Ok(Some((w, h)))
}

/// A HEIF/HEIC/AVIF picture decoded by libheif (its rotation and mirroring
/// applied), shrunk to at most `max_px` on its long edge, as 8-bit RGB:
/// `(width, height, pixels)`. For a decoding process of its own, which
/// hands the pixels back for [`jpeg_from_rgb`] (see `core::media::isolated`).
pub fn heif_rgb(
    bytes: &[u8],
    max_px: u32,
    limits: &Limits,
) -> Result<(u32, u32, Vec<u8>), MediaError> {
    let format = sniff(bytes)?;
    if !matches!(format, Format::Heic | Format::Heif | Format::Avif) {
        return Err(MediaError::UnsupportedFormat {
            detected: format!("{format}, not HEIF"),
        });
    }
    let rgb = shrink(
        decode_heif(bytes, format, limits)?.into_rgb8(),
        max_px.max(1),
    )?
    .into_rgb8();
    let (w, h) = rgb.dimensions();
    Ok((w, h, rgb.into_raw()))
}

/// Encodes 8-bit RGB pixels as a thumbnail JPEG, through the JPEG writer
/// like every thumbnail.
pub fn jpeg_from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, MediaError> {
    if u64::from(width) * u64::from(height) * 3 != rgb.len() as u64 || width == 0 || height == 0 {
        return Err(MediaError::Internal {
            reason: format!("{} bytes are not a {width}x{height} RGB picture", rgb.len()),
        });
    }
    encode(width, height, rgb, &Limits::default())
}

fn encode(width: u32, height: u32, rgb: &[u8], limits: &Limits) -> Result<Vec<u8>, MediaError> {
    let mut encoder = turbojpeg::Compressor::new().map_err(encoding_failed)?;
    encoder.set_quality(JPEG_QUALITY);
    encoder.set_subsamp(turbojpeg::Subsamp::Sub2x2);
    let encoded = encoder
        .compress_to_vec(turbojpeg::Image {
            pixels: rgb,
            width: width as usize,
            pitch: width as usize * 3,
            height: height as usize,
            format: turbojpeg::PixelFormat::RGB,
        })
        .map_err(encoding_failed)?;
    // Through the JPEG writer, so a thumbnail is byte for byte what the
    // sanitiser would store (libjpeg-turbo's own JFIF header rewritten).
    Ok(crate::jpeg::sanitise(&encoded, limits, Vec::new())?.0.bytes)
}

fn encoding_failed(e: turbojpeg::Error) -> MediaError {
    MediaError::Internal {
        reason: format!("thumbnail encoding failed: {e}"),
    }
}

/// Scales down (never up) to at most `max_px` on the long edge, keeping the
/// aspect ratio, with a bilinear filter over every source pixel (SIMD; the
/// image crate's resize took 160 ms for a 1600 px preview).
fn shrink(rgb: image::RgbImage, max_px: u32) -> Result<DynamicImage, MediaError> {
    use fast_image_resize::{
        images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
    };
    let (w, h) = rgb.dimensions();
    if w <= max_px && h <= max_px {
        return Ok(DynamicImage::ImageRgb8(rgb));
    }
    let fit = |a: u32, b: u32| {
        u32::try_from((u64::from(a) * u64::from(max_px) + u64::from(b) / 2) / u64::from(b))
            .unwrap_or(max_px)
            .clamp(1, max_px)
    };
    let (dw, dh) = if w >= h {
        (max_px, fit(h, w))
    } else {
        (fit(w, h), max_px)
    };
    let failed = |e: String| MediaError::Internal {
        reason: format!("thumbnail scaling failed: {e}"),
    };
    let src = Image::from_vec_u8(w, h, rgb.into_raw(), PixelType::U8x3)
        .map_err(|e| failed(e.to_string()))?;
    let mut dst = Image::new(dw, dh, PixelType::U8x3);
    Resizer::new()
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| failed(e.to_string()))?;
    ImageBuffer::<Rgb<u8>, _>::from_raw(dw, dh, dst.into_vec())
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| failed("a short buffer".into()))
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
    let size = (handle.width(), handle.height());
    limits.check_dimensions(size.0, size.1)?;
    let cost = budget::decode_cost(bytes, format, size, budget::Purpose::Thumbnail(0));
    let _room = budget::reserve(cost, limits)?;
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
    match decode_with_turbojpeg(bytes, max_px, limits)? {
        Some(img) => Ok(img),
        None => decode_with_jpeg_decoder(bytes, max_px, limits),
    }
}

/// libjpeg-turbo's scaled decode, or `None` for what it should not or will
/// not decode: CMYK/YCCK (handed back as stored, still inverted), and files
/// it stops at a warning for (extraneous bytes, an odd JFIF revision) that
/// the verifier accepts.
fn decode_with_turbojpeg(
    bytes: &[u8],
    max_px: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>, MediaError> {
    use turbojpeg::{Colorspace, Decompressor, Image, PixelFormat};
    let Ok(mut d) = Decompressor::new() else {
        return Ok(None);
    };
    let Ok(header) = d.read_header(bytes) else {
        return Ok(None);
    };
    let too_large = || MediaError::DimensionsTooLarge {
        width: header.width as u64,
        height: header.height as u64,
    };
    let w = u32::try_from(header.width).map_err(|_| too_large())?;
    let h = u32::try_from(header.height).map_err(|_| too_large())?;
    limits.check_dimensions(w, h)?;
    let (format, channels) = match header.colorspace {
        Colorspace::CMYK | Colorspace::YCCK => return Ok(None),
        Colorspace::Gray => (PixelFormat::GRAY, 1),
        _ => (PixelFormat::RGB, 3),
    };
    // The smallest n/8 DCT scale whose long edge is still at least max_px;
    // asking TurboJPEG for exactly that size makes it pick that scale.
    let long = u64::from(w.max(h).max(1));
    let eighths = (8 * u64::from(max_px)).div_ceil(long).clamp(1, 8);
    let scaled = |x: u32| (u64::from(x) * eighths).div_ceil(8);
    let (sw, sh) = (scaled(w), scaled(h));
    let len = sw * sh * channels;
    if len > limits.max_decode_alloc {
        return Err(too_large());
    }
    let (sw, sh) = (sw as u32, sh as u32);
    let mut image = Image {
        pixels: vec![0u8; len as usize],
        width: sw as usize,
        pitch: (u64::from(sw) * channels) as usize,
        height: sh as usize,
        format,
    };
    if d.decompress(bytes, image.as_deref_mut()).is_err() {
        return Ok(None);
    }
    Ok(if channels == 1 {
        ImageBuffer::<Luma<u8>, _>::from_raw(sw, sh, image.pixels).map(DynamicImage::ImageLuma8)
    } else {
        ImageBuffer::<Rgb<u8>, _>::from_raw(sw, sh, image.pixels).map(DynamicImage::ImageRgb8)
    })
}

/// CMYK and YCCK JPEGs (print workflows, rare from cameras), and files
/// libjpeg-turbo refuses (it stops at its warnings, such as an unknown JFIF
/// revision, which the verifier does not), through jpeg-decoder's scaled
/// decode. Slower, and it returns CMYK already un-inverted.
fn decode_with_jpeg_decoder(
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
