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
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &rgb,
        width as u32,
        height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| Error::InvalidArgument {
        op: "grid_png",
        message: e.to_string(),
    })?;
    Ok(png)
}

/// One 28×28 image as an 8-bit grey PNG, bytes as in the grids.
pub fn image_png(image: &[f32]) -> Result<Vec<u8>> {
    let grey: Vec<u8> = image
        .iter()
        .map(|&v| (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8)
        .collect();
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &grey,
        IMAGE_SIDE as u32,
        IMAGE_SIDE as u32,
        image::ExtendedColorType::L8,
    )
    .map_err(|e| Error::InvalidArgument {
        op: "image_png",
        message: e.to_string(),
    })?;
    Ok(png)
}

/// Writes the grid of `images` to `path` (atomically).
pub fn save_grid(path: &Path, images: &[f32], nrow: usize) -> Result<()> {
    write_atomic(path, &grid_png(images, nrow)?)
}
