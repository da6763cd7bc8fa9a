//! Image grids as torchvision's `save_image(images, path, nrow=8)` writes them: 2 black pixels of
//! padding around and between 28×28 tiles, grey replicated to RGB, each value v stored as the byte
//! ⌊clamp(v·255 + 0.5, 0, 255)⌋.

use std::path::Path;

use crate::data::IMAGE_SIDE;
use crate::error::{Error, Result};
use crate::files::write_atomic;

pub const PADDING: usize = 2;

/// Width and height of the grid of `count` tiles, `nrow` to a row.
pub fn grid_size(count: usize, nrow: usize) -> (usize, usize) {
    let columns = nrow.min(count).max(1);
    let rows = count.div_ceil(columns);
    let cell = IMAGE_SIDE + PADDING;
    (columns * cell + PADDING, rows * cell + PADDING)
}

/// `pixels` (rows of `width` pixels, `colour` layout) encoded as PNG.
pub fn encode_png(
    pixels: &[u8],
    width: usize,
    height: usize,
    colour: image::ExtendedColorType,
) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        pixels,
        width as u32,
        height as u32,
        colour,
    )
    .map_err(|e| Error::InvalidArgument {
        op: "encode_png",
        message: e.to_string(),
    })?;
    Ok(png)
}

/// The PNG bytes of the grid of `images` ([count, 1, 28, 28] values in [0, 1], row-major).
pub fn grid_png(images: &[f32], nrow: usize) -> Result<Vec<u8>> {
    let pixels = IMAGE_SIDE * IMAGE_SIDE;
    let count = images.len() / pixels;
    let (width, height) = grid_size(count, nrow);
    let columns = nrow.min(count).max(1);
    let mut rgb = vec![0u8; width * height * 3];
    for (i, image) in images.chunks_exact(pixels).enumerate() {
        let (top, left) = (
            (i / columns) * (IMAGE_SIDE + PADDING) + PADDING,
            (i % columns) * (IMAGE_SIDE + PADDING) + PADDING,
        );
        for (p, &v) in image.iter().enumerate() {
            let byte = (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
            let at = ((top + p / IMAGE_SIDE) * width + left + p % IMAGE_SIDE) * 3;
            rgb[at..at + 3].fill(byte);
        }
    }
    encode_png(&rgb, width, height, image::ExtendedColorType::Rgb8)
}

/// One 28×28 image as an 8-bit grey PNG, bytes as in the grids.
pub fn image_png(image: &[f32]) -> Result<Vec<u8>> {
    let grey: Vec<u8> = image
        .iter()
        .map(|&v| (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8)
        .collect();
    encode_png(&grey, IMAGE_SIDE, IMAGE_SIDE, image::ExtendedColorType::L8)
}

/// Writes the grid of `images` to `path` (atomically).
pub fn save_grid(path: &Path, images: &[f32], nrow: usize) -> Result<()> {
    write_atomic(path, &grid_png(images, nrow)?)
}
