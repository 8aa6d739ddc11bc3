//! Drawing a TIFF's first picture, for the full verification and for
//! thumbnails.

use super::{header, read_ifd, Order, BITS_PER_SAMPLE, F, PHOTOMETRIC};
use crate::Limits;

/// Decodes a TIFF's first image for verification and thumbnails, through
/// the `image` crate. Neither it nor the `tiff` crate draws palette
/// pictures, so for those the indices are decoded as an 8-bit grey picture
/// of a copy whose photometric tag says so (in memory), then looked up in
/// the colour map.
pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<image::DynamicImage, String> {
    let (order, first) = header(bytes, F).map_err(|e| e.to_string())?;
    let ifd = read_ifd(bytes, order, first, limits, F).map_err(|e| e.to_string())?;
    let image = |b: &[u8]| {
        crate::verify::decode(b, image::ImageFormat::Tiff, limits).map_err(|e| e.to_string())
    };
    let Some(photometric) = ifd.get(PHOTOMETRIC).filter(|e| e.uint(order, 0) == Some(3)) else {
        return image(bytes);
    };
    if ifd.uint(BITS_PER_SAMPLE, order) != Some(8) || photometric.kind != 3 {
        return Err("only 8-bit colour maps are drawn".into());
    }
    let map = ifd
        .get(320)
        .and_then(|e| e.uints(order))
        .filter(|m| m.len() == 3 * 256)
        .ok_or("the colour map is missing or not 8-bit")?;
    let mut grey = bytes.to_vec();
    let at = photometric.at + 8;
    grey[at..at + 2].copy_from_slice(&match order {
        Order::Little => 1u16.to_le_bytes(),
        Order::Big => 1u16.to_be_bytes(),
    });
    let index = image(&grey)?.into_luma8();
    let (w, h) = index.dimensions();
    // The map holds all reds, then greens, then blues, 16 bits each.
    let rgb: Vec<u8> = index
        .into_raw()
        .into_iter()
        .flat_map(|i| {
            let i = usize::from(i);
            [map[i], map[256 + i], map[512 + i]].map(|v| (v >> 8) as u8)
        })
        .collect();
    image::RgbImage::from_raw(w, h, rgb)
        .map(image::DynamicImage::ImageRgb8)
        .ok_or_else(|| "the picture's size does not match its pixels".into())
}
