//! Fail-closed verification of sanitised output, also run by the server on
//! every upload.
//!
//! Three independent checks: a strict structural re-walk per container
//! (only allowlisted segments/chunks/boxes, nothing after the end), the
//! kamadak-exif reader (which must find nothing but Orientation), and a
//! decoder's view of the size, which must match the header: from the
//! headers alone at the structural level, or by a full pixel decode for
//! JPEG (zune-jpeg, strict, luma only), PNG and WebP (the `image` crate).
//! The sanitiser adds the comparison with the original (`lossless.rs`).

use crate::lossless::Picture;
use crate::{bmff, budget, jpeg, png, sniff, tiff, webp, Format, Limits, MediaError};
use serde::Serialize;
use std::io::Cursor;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;

/// What verification established about a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedInfo {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Whether the pixels were decoded (JPEG, PNG, WebP); HEIF and video are
    /// checked structurally only.
    pub decoded: bool,
}

/// How deeply output is checked. Both levels prove the absence of metadata
/// (structural re-walk and the independent EXIF reader); they differ in
/// whether the pixels are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Also decode every pixel (JPEG, PNG, WebP) and compare the size. The
    /// default of [`crate::sanitise`], which app import uses.
    #[default]
    Full,
    /// Check structure, metadata and the decoder's view of the header only.
    /// The sanitiser compares the coded picture with the original byte for
    /// byte at either level, so a full decode only re-proves the original
    /// was decodable; the send-time gate and the server run this
    /// ([`verify_structure`]), and so does `clinshare strip` by default.
    Structure,
}

/// Verifies that `bytes` is a clean file of `format` under default limits.
pub fn verify(bytes: &[u8], format: Format) -> Result<VerifiedInfo, MediaError> {
    verify_with_limits(bytes, format, &Limits::default())
}

/// Verifies that `bytes` is a clean, decodable file of `format`.
pub fn verify_with_limits(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
) -> Result<VerifiedInfo, MediaError> {
    verify_inner(bytes, format, limits, Verification::Full, None)
}

/// Proves `bytes` is a clean file of `format` (the structural walk and the
/// independent EXIF reader) without decoding the pixels. For checks after
/// the sanitiser (which decodes everything it writes): a photo leaving the
/// store, whose hash ties it to what was decoded at import, and an upload
/// reaching the server, whose question is whether metadata remains.
pub fn verify_structure(bytes: &[u8], format: Format) -> Result<VerifiedInfo, MediaError> {
    verify_inner(
        bytes,
        format,
        &Limits::default(),
        Verification::Structure,
        None,
    )
}

/// With `picture`, a still photo's picture from the same walk, for the
/// sanitiser's comparison with the original (HEIF and video have none).
pub(crate) fn verify_inner<'a>(
    bytes: &'a [u8],
    format: Format,
    limits: &Limits,
    level: Verification,
    picture: Option<&mut Picture<'a>>,
) -> Result<VerifiedInfo, MediaError> {
    let fail = |r: String| MediaError::verification(format, r);
    let detected = sniff(bytes).map_err(|e| fail(e.to_string()))?;
    if detected != format {
        return Err(fail(format!("the content is {detected}, not {format}")));
    }
    let mut skeleton = Vec::new();
    let (width, height) = match format {
        Format::Jpeg => jpeg::verify_structure(
            bytes,
            limits,
            (level == Verification::Structure).then_some(&mut skeleton),
            picture,
        )?,
        Format::Png => png::verify_structure(bytes, picture)?,
        Format::WebP => webp::verify_structure(bytes, picture)?,
        Format::Tiff => tiff::verify_structure(bytes, limits, picture)?,
        _ => bmff::verify_structure(bytes, format, limits)?,
    };
    limits.check_dimensions(width, height)?;
    // Refused at either level: what no decoder here may open is not passed
    // on for a recipient's laptop to open.
    let cost = budget::decode_cost(bytes, format, (width, height), budget::Purpose::Verify);
    budget::check(cost, limits)?;
    match (format, level) {
        // At the structural level (every photo sent and received) the EXIF
        // reader gets the JPEG without its coded data, from the same walk
        // (`jpeg::without_coded_data`); at the full level (import,
        // download) it reads every byte.
        (Format::Jpeg, Verification::Structure) => exif_only_orientation(&skeleton, format)?,
        (f, _) if !f.is_video() => exif_only_orientation(bytes, format)?,
        _ => {}
    }
    let decoded = match image_format(format) {
        Some(f) => {
            let _room = match level {
                Verification::Full => Some(budget::reserve(cost, limits)?),
                Verification::Structure => None,
            };
            let (w, h) = match level {
                Verification::Full => decode_dimensions(bytes, f, limits),
                Verification::Structure => {
                    header_dimensions(bytes, f, limits).map_err(|e| e.to_string())
                }
            }
            .map_err(|e| fail(format!("the picture does not decode: {e}")))?;
            if (w, h) != (width, height) {
                return Err(fail(format!(
                    "decoded size {w}x{h} differs from the header {width}x{height}"
                )));
            }
            level == Verification::Full
        }
        None => false,
    };
    Ok(VerifiedInfo {
        format,
        width,
        height,
        decoded,
    })
}

/// A JPEG with more scans than a decoder should be asked to make: each is
/// another pass over every coefficient of the picture.
pub(crate) fn too_many_scans(scans: usize, limits: &Limits) -> MediaError {
    MediaError::unsupported_feature(
        Format::Jpeg,
        format!(
            "{scans} scans (the limit is {}; a camera writes about ten)",
            limits.max_jpeg_scans
        ),
    )
}

/// The independent EXIF reader finds nothing but Orientation; in a TIFF,
/// whose picture layout is itself a set of tags, nothing outside the
/// first directory's allowlist.
fn exif_only_orientation(bytes: &[u8], format: Format) -> Result<(), MediaError> {
    let allowed = |f: &exif::Field| {
        f.ifd_num == exif::In::PRIMARY
            && (f.tag == exif::Tag::Orientation
                || (format == Format::Tiff
                    && f.tag.context() == exif::Context::Tiff
                    && tiff::KEEP.contains(&f.tag.number())))
    };
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(e) => {
            if let Some(f) = e.fields().find(|f| !allowed(f)) {
                return Err(MediaError::verification(
                    format,
                    format!("EXIF tag {} is still present", f.tag),
                ));
            }
            Ok(())
        }
        Err(exif::Error::NotFound(_)) => Ok(()),
        // The reader gives up on containers it cannot walk; for HEIF the
        // structural walk above already proved there is no Exif item.
        Err(_) if format.is_bmff() => Ok(()),
        Err(e) => Err(MediaError::verification(
            format,
            format!("EXIF reader failed: {e}"),
        )),
    }
}

pub(crate) fn image_format(format: Format) -> Option<image::ImageFormat> {
    match format {
        Format::Jpeg => Some(image::ImageFormat::Jpeg),
        Format::Png => Some(image::ImageFormat::Png),
        Format::WebP => Some(image::ImageFormat::WebP),
        Format::Tiff => Some(image::ImageFormat::Tiff),
        _ => None,
    }
}

pub(crate) fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_dimension);
    l.max_image_height = Some(limits.max_dimension);
    l.max_alloc = Some(limits.max_decode_alloc);
    l
}

pub(crate) fn decode(
    bytes: &[u8],
    f: image::ImageFormat,
    limits: &Limits,
) -> Result<image::DynamicImage, image::ImageError> {
    let mut r = image::ImageReader::with_format(Cursor::new(bytes), f);
    r.limits(image_limits(limits));
    r.decode()
}

fn decode_dimensions(
    bytes: &[u8],
    f: image::ImageFormat,
    limits: &Limits,
) -> Result<(u32, u32), String> {
    let img = match f {
        image::ImageFormat::Jpeg => return jpeg_decode_dimensions(bytes, limits),
        image::ImageFormat::Tiff => tiff::decode(bytes, limits)?,
        _ => decode(bytes, f, limits).map_err(|e| e.to_string())?,
    };
    Ok((img.width(), img.height()))
}

/// Decodes a JPEG with zune-jpeg (the decoder behind `image`) in strict mode,
/// to luma only where the picture has a luma channel.
///
/// Strict mode makes every problem that the lenient mode used by `image`
/// logs and papers over (bad Huffman codes, premature end of data, stray
/// markers) an error, so it rejects at least what `image` rejects. Luma
/// output still entropy-decodes every block of every component, because the
/// bitstream cannot be skipped; it only leaves out chroma's inverse transform,
/// upsampling and colour conversion, and a third of the pixel buffer.
fn jpeg_decode_dimensions(bytes: &[u8], limits: &Limits) -> Result<(u32, u32), String> {
    let max = usize::try_from(limits.max_dimension).unwrap_or(usize::MAX);
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(max)
        .set_max_height(max);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    d.decode_headers().map_err(|e| e.to_string())?;
    // Luma where zune can derive it (YCbCr, grey); CMYK/YCCK to RGB as
    // `image` asks for.
    let out = match d.input_colorspace() {
        Some(ColorSpace::YCbCr | ColorSpace::Luma | ColorSpace::LumaA) => ColorSpace::Luma,
        _ => ColorSpace::RGB,
    };
    d.set_options(options.jpeg_set_out_colorspace(out));
    let (w, h) = d.dimensions().ok_or("no frame header")?;
    let (w32, h32) = (
        u32::try_from(w).map_err(|e| e.to_string())?,
        u32::try_from(h).map_err(|e| e.to_string())?,
    );
    limits
        .check_dimensions(w32, h32)
        .map_err(|e| e.to_string())?;
    let pixels = d.decode().map_err(|e| e.to_string())?;
    // Anything but one sample per pixel and channel means the picture was
    // not produced whole.
    if Some(pixels.len())
        != w.checked_mul(h)
            .and_then(|n| n.checked_mul(out.num_components()))
    {
        return Err(format!(
            "decoded {} bytes for a {w}x{h} picture",
            pixels.len()
        ));
    }
    Ok((w32, h32))
}

/// The size as a decoder sees it from the headers alone.
pub(crate) fn header_dimensions(
    bytes: &[u8],
    f: image::ImageFormat,
    limits: &Limits,
) -> Result<(u32, u32), image::ImageError> {
    if f == image::ImageFormat::Jpeg {
        // jpeg-decoder reads incrementally; the image crate would first copy
        // the whole file, which dominates bulk stripping.
        let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        d.read_info().map_err(|e| {
            image::ImageError::Decoding(image::error::DecodingError::new(f.into(), e.to_string()))
        })?;
        let info = d.info().ok_or_else(|| {
            image::ImageError::Decoding(image::error::DecodingError::new(
                f.into(),
                "no frame header",
            ))
        })?;
        return Ok((u32::from(info.width), u32::from(info.height)));
    }
    if f == image::ImageFormat::Tiff {
        if let Some(f) = tiff::header_facts(bytes, limits).filter(|f| f.palette) {
            return Ok((f.width, f.height));
        }
    }
    let mut r = image::ImageReader::with_format(Cursor::new(bytes), f);
    r.limits(image_limits(limits));
    r.into_dimensions()
}
