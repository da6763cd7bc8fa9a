//! Image grids as torchvision's `save_image(images, path, nrow=8)` writes them: 2 black pixels of
//! padding around and between 28×28 tiles, grey replicated to RGB, each value v stored as the byte
//! ⌊clamp(v·255 + 0.5, 0, 255)⌋.

use std::path::Path;

use crate::data::IMAGE_SIDE;
use crate::error::{Error, Result};
use crate::files::write_atomic;

pub const PADDING: usize = 2;

/// The byte of a pixel value v in [0, 1]: ⌊clamp(v·255 + 0.5, 0, 255)⌋, as torchvision stores it.
pub fn pixel_byte(v: f32) -> u8 {
    (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

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

/// The most bytes a grid's picture may take: it is held in memory (as RGB, 3 bytes a pixel) until it
/// is encoded. Far below PNG's own limit (2³¹ − 1 pixels a side).
pub const MAX_GRID_BYTES: u64 = 1 << 30;

/// Bytes of the RGB picture of a grid of `count` tiles, `nrow` to a row.
pub fn grid_bytes(count: usize, nrow: usize) -> u64 {
    let (width, height) = grid_size(count, nrow);
    3 * width as u64 * height as u64
}

/// A grid drawn tile by tile, then encoded.
pub struct GridCanvas {
    width: usize,
    height: usize,
    columns: usize,
    rgb: Vec<u8>,
}

impl GridCanvas {
    /// A black grid for `count` tiles, `nrow` to a row; refused above `MAX_GRID_BYTES`.
    pub fn new(count: usize, nrow: usize) -> Result<GridCanvas> {
        let bytes = grid_bytes(count, nrow);
        if bytes > MAX_GRID_BYTES {
            return Err(Error::InvalidArgument {
                op: "grid",
                message: format!(
                    "a grid of {count} images, {nrow} to a row, takes {bytes} bytes; at most {MAX_GRID_BYTES}"
                ),
            });
        }
        let (width, height) = grid_size(count, nrow);
        Ok(GridCanvas {
            width,
            height,
            columns: nrow.min(count).max(1),
            rgb: vec![0u8; width * height * 3],
        })
    }

    /// Draws `images` ([n, 1, 28, 28] values in [0, 1]) as tiles `first..first + n`.
    pub fn place(&mut self, first: usize, images: &[f32]) {
        let pixels = IMAGE_SIDE * IMAGE_SIDE;
        for (i, image) in images.chunks_exact(pixels).enumerate() {
            let tile = first + i;
            let (top, left) = (
                (tile / self.columns) * (IMAGE_SIDE + PADDING) + PADDING,
                (tile % self.columns) * (IMAGE_SIDE + PADDING) + PADDING,
            );
            for (p, &v) in image.iter().enumerate() {
                let byte = pixel_byte(v);
                let at = ((top + p / IMAGE_SIDE) * self.width + left + p % IMAGE_SIDE) * 3;
                self.rgb[at..at + 3].fill(byte);
            }
        }
    }

    pub fn png(&self) -> Result<Vec<u8>> {
        encode_png(
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
    }
}

/// The PNG bytes of the grid of `images` ([count, 1, 28, 28] values in [0, 1], row-major).
pub fn grid_png(images: &[f32], nrow: usize) -> Result<Vec<u8>> {
    let mut canvas = GridCanvas::new(images.len() / (IMAGE_SIDE * IMAGE_SIDE), nrow)?;
    canvas.place(0, images);
    canvas.png()
}

/// One 28×28 image as an 8-bit grey PNG, bytes as in the grids.
pub fn image_png(image: &[f32]) -> Result<Vec<u8>> {
    let grey: Vec<u8> = image.iter().map(|&v| pixel_byte(v)).collect();
    encode_png(&grey, IMAGE_SIDE, IMAGE_SIDE, image::ExtendedColorType::L8)
}

/// Writes the grid of `images` to `path` (atomically).
pub fn save_grid(path: &Path, images: &[f32], nrow: usize) -> Result<()> {
    write_atomic(path, &grid_png(images, nrow)?)
}
