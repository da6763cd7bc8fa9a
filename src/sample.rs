//! `gan-wgpu sample`: images from a G checkpoint (ours or one saved from the PyTorch original), in eval
//! mode, from the noise of a seed, a linear walk between two seeds' noise, or noise given in a file.
//!
//! Any number of images is drawn in chunks: the noise of image i depends only on the seed and i, and
//! G's eval pass computes each image alone (`Generator::forward` keeps every product's depth whole),
//! so the images do not depend on the chunk size, and `count` images are the first `count` of any
//! larger count.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::checkpoint;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{Error, Result};
use crate::files::{AtomicFile, ensure_dir, remove_stale_temporaries, write_atomic};
use crate::grid::{GridCanvas, image_png, pixel_byte};
use crate::kernels::{Dispatch, Gpu};
use crate::model::{Generator, GeneratorPass, Mode, Z_DIM};
use crate::noise::{Stream, UniformNoise};
use crate::tensor::Tensor;

/// Device memory one chunk's G pass may take (its activations; the weights come on top). Larger
/// chunks gained nothing measurable on lavapipe (BENCHMARKS.md).
pub const CHUNK_BUDGET_BYTES: u64 = 128 << 20;

/// The most images a seed's noise stream holds: the GPU indexes its elements with 32 bits.
pub const MAX_SEED_IMAGES: usize = u32::MAX as usize / Z_DIM;

/// Where the noise comes from.
#[derive(Clone, Debug)]
pub enum Noise {
    /// `count` vectors of the seed's sample stream, drawn on the GPU as training draws its grids.
    Seed { seed: u64, count: usize },
    /// `count` points on the straight line from seed a's first vector to seed b's.
    Interpolate { a: u64, b: u64, count: usize },
    /// Noise given on the host, [N, 62] row-major (`Noise::from_file` reads it).
    Rows(Vec<f32>),
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The first noise vector of `seed`'s sample stream (what the GPU draws first for that seed).
#[cfg(not(target_arch = "wasm32"))]
fn seed_vector(seed: u64) -> Vec<f32> {
    (0..Z_DIM)
        .map(|e| crate::noise::uniform_at(seed, Stream::Sample, 0, e))
        .collect()
}

/// `--interpolate A,B`: the seeds whose first noise vectors a walk joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedPair {
    pub a: u64,
    pub b: u64,
}

impl std::str::FromStr for SeedPair {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<SeedPair, String> {
        let seeds: Vec<&str> = text.split(',').map(str::trim).collect();
        let seed = |s: &str| {
            s.parse::<u64>().map_err(|_| {
                format!(
                    "'{s}' is not a seed (a whole number from 0 to {})",
                    u64::MAX
                )
            })
        };
        match seeds.as_slice() {
            [a, b] => Ok(SeedPair {
                a: seed(a)?,
                b: seed(b)?,
            }),
            _ => Err(format!(
                "'{text}' is not two seeds: give A,B, e.g. --interpolate 7,8"
            )),
        }
    }
}

impl std::fmt::Display for SeedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{},{}", self.a, self.b)
    }
}

impl Noise {
    /// The noise of a safetensors file holding one float32 [N, 62] tensor.
    pub fn from_file(path: &Path) -> Result<Noise> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
        Noise::parse(path, &bytes)
    }

    /// The noise in a `--z` file's bytes (read from `path`): one float32 [N, 62] tensor, N ≥ 1, every
    /// value finite.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Noise> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| file_error(path, format!("not a safetensors file ({e})")))?;
        let names = file.names();
        let [name] = names.as_slice() else {
            return Err(file_error(
                path,
                format!(
                    "holds {} tensors; --z takes one, of shape [N, 62]",
                    names.len()
                ),
            ));
        };
        let view = file
            .tensor(name)
            .map_err(|e| file_error(path, e.to_string()))?;
        match (view.dtype(), view.shape()) {
            (Dtype::F32, [n, z]) if *z == Z_DIM && *n > 0 => {
                let rows: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
                match rows.iter().position(|v| !v.is_finite()) {
                    Some(i) => Err(file_error(
                        path,
                        format!(
                            "`{name}` holds {} at row {}, column {}; noise must be finite",
                            rows[i],
                            i / Z_DIM,
                            i % Z_DIM
                        ),
                    )),
                    None => Ok(Noise::Rows(rows)),
                }
            }
            (dtype, shape) => Err(file_error(
                path,
                format!("`{name}` is {dtype:?} {shape:?}; --z takes float32 [N, 62]"),
            )),
        }
    }

    /// How many images the noise makes.
    pub fn count(&self) -> usize {
        match self {
            Noise::Seed { count, .. } | Noise::Interpolate { count, .. } => *count,
            Noise::Rows(rows) => rows.len() / Z_DIM,
        }
    }

    /// Noise vectors `first..first + count` on the host, [count, 62] (not for `Seed`, which the GPU
    /// draws).
    #[cfg(not(target_arch = "wasm32"))]
    fn host_rows(&self, first: usize, count: usize) -> Vec<f32> {
        match self {
            Noise::Seed { .. } => unreachable!("a seed's noise is drawn on the GPU"),
            Noise::Interpolate { a, b, count: total } => {
                let (za, zb) = (seed_vector(*a), seed_vector(*b));
                let steps = (*total).max(2) - 1;
                (first..first + count)
                    .flat_map(|i| {
                        let t = i as f32 / steps as f32;
                        za.iter()
                            .zip(&zb)
                            .map(move |(x, y)| (1.0 - t) * x + t * y)
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
            Noise::Rows(rows) => rows[first * Z_DIM..(first + count) * Z_DIM].to_vec(),
        }
    }
}

/// The most images one chunk holds on this device: as many as `CHUNK_BUDGET_BYTES` allows and the
/// adapter's largest storage binding takes, a multiple of 64 where that is at least 64.
pub fn chunk_size(gpu: &Gpu) -> usize {
    let (per_sample, largest) = GeneratorPass::SAMPLE_BYTES;
    let binding = gpu.device.limits().max_storage_buffer_binding_size;
    let fits = (CHUNK_BUDGET_BYTES / per_sample).min(binding / largest) as usize;
    if fits >= 64 {
        fits / 64 * 64
    } else {
        fits.max(1)
    }
}

/// G in eval mode on a fixed number of noise rows at a time.
pub struct Sampler {
    pass: GeneratorPass,
    z: Tensor,
    /// Draws z from a seed's sample stream, for a sampler made with a seed.
    noise: Option<UniformNoise>,
    forward: Vec<Dispatch>,
}

impl Sampler {
    /// A pass for `rows` images of `g`; with `seed`, its noise is drawn from that seed's sample
    /// stream on the GPU (`seed_images`), else given (`images_for`).
    pub fn new(gpu: &Gpu, g: &Generator, rows: usize, seed: Option<u64>) -> Result<Sampler> {
        let pass = GeneratorPass::new(gpu, rows, None)?;
        let z = Tensor::zeros(gpu, "sample z", &[rows, Z_DIM])?;
        let noise = seed
            .map(|seed| UniformNoise::new(gpu, &z, seed, Stream::Sample))
            .transpose()?;
        let forward = g.forward(gpu, &pass, &z, Mode::Eval)?;
        Ok(Sampler {
            pass,
            z,
            noise,
            forward,
        })
    }

    pub fn rows(&self) -> usize {
        self.pass.batch
    }

    /// Images `first..first + rows()` of the seed's sample stream, [rows, 1, 28, 28].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seed_images(&self, gpu: &Gpu, first: usize) -> Result<Vec<f32>> {
        crate::gpu::wait(self.seed_images_async(gpu, first))
    }

    /// `seed_images` for callers that await (the web build).
    pub async fn seed_images_async(&self, gpu: &Gpu, first: usize) -> Result<Vec<f32>> {
        let noise = self
            .noise
            .as_ref()
            .expect("seed_images needs a sampler made with a seed");
        noise.set_position(gpu, 0, first * Z_DIM)?;
        let mut dispatches = vec![noise.dispatch()];
        dispatches.extend(&self.forward);
        gpu.submit_dispatches("sample", &dispatches)?;
        self.pass.image.read_async(gpu).await
    }

    /// Images for the noise `z`, [rows(), 62] → [rows, 1, 28, 28].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn images_for(&self, gpu: &Gpu, z: &[f32]) -> Result<Vec<f32>> {
        crate::gpu::wait(self.images_for_async(gpu, z))
    }

    /// `images_for` for callers that await (the web build).
    pub async fn images_for_async(&self, gpu: &Gpu, z: &[f32]) -> Result<Vec<f32>> {
        self.z.write(gpu, z)?;
        gpu.submit_dispatches("sample", &self.forward.iter().collect::<Vec<_>>())?;
        self.pass.image.read_async(gpu).await
    }
}

/// A G checkpoint's generator (ours or the PyTorch original's state_dict).
pub fn load_generator(gpu: &Gpu, checkpoint: &Path) -> Result<Generator> {
    let g = Generator::new(gpu)?;
    checkpoint::load(gpu, &g.net, checkpoint)?;
    Ok(g)
}

/// Every image of `noise`, in order, in chunks of at most `chunk` images: `sink` gets the index of
/// each chunk's first image and its images ([n, 1, 28, 28] values in (0, 1)); an error from it stops
/// the drawing.
#[cfg(not(target_arch = "wasm32"))]
pub fn generate(
    gpu: &Gpu,
    g: &Generator,
    noise: &Noise,
    chunk: usize,
    mut sink: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<()> {
    let count = noise.count();
    let seed = match noise {
        Noise::Seed { seed, count } => {
            if *count > MAX_SEED_IMAGES {
                return Err(Error::InvalidArgument {
                    op: "sample",
                    message: format!(
                        "{count} images are more than a seed's noise stream holds ({MAX_SEED_IMAGES})"
                    ),
                });
            }
            Some(*seed)
        }
        _ => None,
    };
    let chunk = chunk.clamp(1, count.max(1));
    let mut sampler: Option<Sampler> = None;
    let mut first = 0;
    while first < count {
        let rows = chunk.min(count - first);
        // The last chunk, when shorter, gets a pass of its own size.
        if sampler.as_ref().is_none_or(|s| s.rows() != rows) {
            drop(sampler.take());
            sampler = Some(Sampler::new(gpu, g, rows, seed)?);
        }
        let s = sampler.as_ref().expect("made above");
        let images = match seed {
            Some(_) => s.seed_images(gpu, first)?,
            None => s.images_for(gpu, &noise.host_rows(first, rows))?,
        };
        debug_assert_eq!(images.len(), rows * IMAGE_PIXELS);
        sink(first, &images)?;
        first += rows;
    }
    Ok(())
}

/// All the images of `noise` at once, [count, 1, 28, 28], drawn in chunks of `chunk_size(gpu)`.
#[cfg(not(target_arch = "wasm32"))]
pub fn generate_all(gpu: &Gpu, g: &Generator, noise: &Noise) -> Result<Vec<f32>> {
    let mut all = Vec::with_capacity(noise.count() * IMAGE_PIXELS);
    generate(gpu, g, noise, chunk_size(gpu), |_, images| {
        all.extend_from_slice(images);
        Ok(())
    })?;
    Ok(all)
}

/// How `sample` writes its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One PNG grid, `nrow` tiles to a row.
    Grid { nrow: usize },
    /// A folder of single 28×28 grey PNGs.
    PngDir,
    /// One safetensors file with tensor `images`, float32 [N, 1, 28, 28].
    Safetensors,
    /// An animated GIF, one frame per image (`GIF_SCALE` times 28 pixels a side, `GIF_FRAME_DELAY`
    /// apart, looping): the picture of a walk between two seeds.
    Gif,
}

/// A GIF frame's pixels per image pixel (nearest neighbour): 28 pixels show too small to see.
pub const GIF_SCALE: usize = 4;
/// Time between GIF frames, in hundredths of a second.
pub const GIF_FRAME_DELAY: u16 = 8;

/// Writes drawn images chunk by chunk in one `Format`: a grid is drawn in memory and written at the
/// end; single PNGs are written as they come; a safetensors file is streamed (its header first, as
/// the count is known). Each file appears only complete.
pub enum ImageWriter {
    Grid { path: PathBuf, canvas: GridCanvas },
    PngDir { dir: PathBuf, digits: usize },
    Safetensors { file: AtomicFile },
    Gif { encoder: gif::Encoder<AtomicFile> },
}

fn gif_error(path: &Path, e: gif::EncodingError) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl ImageWriter {
    /// A writer for `count` images at `out` (a folder for `PngDir`, created if needed). Temporary
    /// files an earlier, killed `sample` left there are removed.
    pub fn create(format: Format, out: &Path, count: usize) -> Result<ImageWriter> {
        let folder = match format {
            Format::PngDir => out,
            _ => out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        };
        remove_stale_temporaries(folder);
        Ok(match format {
            Format::Grid { nrow } => ImageWriter::Grid {
                path: out.to_path_buf(),
                canvas: GridCanvas::new(count, nrow)?,
            },
            Format::PngDir => {
                ensure_dir(out)?;
                ImageWriter::PngDir {
                    dir: out.to_path_buf(),
                    digits: png_name_digits(count),
                }
            }
            Format::Safetensors => {
                let mut file = AtomicFile::create(out)?;
                file.write_bytes(&safetensors_header(count))?;
                ImageWriter::Safetensors { file }
            }
            Format::Gif => {
                let side = (IMAGE_SIDE * GIF_SCALE) as u16;
                // Palette entry v is grey v: a frame's indices are the images' bytes, exactly.
                let greys: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
                let mut encoder = gif::Encoder::new(AtomicFile::create(out)?, side, side, &greys)
                    .map_err(|e| gif_error(out, e))?;
                encoder
                    .set_repeat(gif::Repeat::Infinite)
                    .map_err(|e| gif_error(out, e))?;
                ImageWriter::Gif { encoder }
            }
        })
    }

    /// Images `first..first + n`, [n, 1, 28, 28].
    pub fn put(&mut self, first: usize, images: &[f32]) -> Result<()> {
        match self {
            ImageWriter::Grid { canvas, .. } => canvas.place(first, images),
            ImageWriter::PngDir { dir, digits } => {
                for (i, image) in images.chunks_exact(IMAGE_PIXELS).enumerate() {
                    let name = format!("{:0width$}.png", first + i, width = *digits);
                    write_atomic(&dir.join(name), &image_png(image)?)?;
                }
            }
            ImageWriter::Safetensors { file } => file.write_bytes(bytemuck::cast_slice(images))?,
            ImageWriter::Gif { encoder } => {
                let side = IMAGE_SIDE * GIF_SCALE;
                for image in images.chunks_exact(IMAGE_PIXELS) {
                    let pixels: Vec<u8> = (0..side * side)
                        .map(|p| {
                            let (y, x) = (p / side / GIF_SCALE, p % side / GIF_SCALE);
                            pixel_byte(image[y * IMAGE_SIDE + x])
                        })
                        .collect();
                    let frame = gif::Frame {
                        delay: GIF_FRAME_DELAY,
                        ..gif::Frame::from_indexed_pixels(side as u16, side as u16, pixels, None)
                    };
                    let path = encoder.get_ref().path().to_path_buf();
                    encoder
                        .write_frame(&frame)
                        .map_err(|e| gif_error(&path, e))?;
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            ImageWriter::Grid { path, canvas } => write_atomic(&path, &canvas.png()?),
            ImageWriter::PngDir { .. } => Ok(()),
            ImageWriter::Safetensors { file } => file.commit(),
            ImageWriter::Gif { encoder } => {
                let path = encoder.get_ref().path().to_path_buf();
                encoder
                    .into_inner()
                    .map_err(|e| gif_error(&path, e))?
                    .commit()
            }
        }
    }
}

/// Digits in the names of a folder of `count` PNGs: 000.png … at least, so names sort as numbers.
pub fn png_name_digits(count: usize) -> usize {
    count.saturating_sub(1).max(1).to_string().len().max(3)
}

/// The start of a safetensors file holding one float32 tensor `images` of `count` 28×28 images, up
/// to its data: the header's length (u64, little-endian) and the header, padded with spaces to a
/// multiple of 8 bytes as the safetensors crate writes it.
fn safetensors_header(count: usize) -> Vec<u8> {
    let bytes = count * IMAGE_PIXELS * 4;
    let mut header = format!(
        r#"{{"images":{{"dtype":"F32","shape":[{count},1,{IMAGE_SIDE},{IMAGE_SIDE}],"data_offsets":[0,{bytes}]}}}}"#
    )
    .into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out
}

/// The latest G checkpoint in a run's folder: `G_NNN.safetensors` with the largest NNN, or a later
/// `G_NNN_stepSSSS.safetensors` that a run stopped inside epoch NNN wrote (`train --stop-after`, the
/// page's downloads). A folder that is missing or holds none says what to do instead.
pub fn latest_checkpoint(dir: &Path) -> Result<PathBuf> {
    let instead = "train first (`gan-wgpu train`), or pass --checkpoint FILE or --run DIR";
    let entries = std::fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => file_error(
            dir,
            format!("no such folder, so no G to sample from: {instead}"),
        ),
        _ => file_error(dir, e.to_string()),
    })?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            Some((checkpoint_position(&name)?, e.path()))
        })
        .max_by_key(|(position, _)| *position)
        .map(|(_, path)| path)
        .ok_or_else(|| {
            file_error(
                dir,
                format!("holds no G checkpoint (G_NNN.safetensors): {instead}"),
            )
        })
}

/// Where in a run the G checkpoint named `name` was written: (epoch, steps into it), an epoch's end
/// after every step inside it; None for any other name.
fn checkpoint_position(name: &str) -> Option<(usize, usize)> {
    let stem = name.strip_prefix("G_")?.strip_suffix(".safetensors")?;
    let (epoch, step) = match stem.split_once("_step") {
        Some((epoch, step)) => (epoch, step.parse().ok()?),
        None => (stem, usize::MAX),
    };
    Some((epoch.parse().ok()?, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_order_by_epoch_then_step() {
        let position = |n| checkpoint_position(n);
        assert_eq!(position("G_001.safetensors"), Some((1, usize::MAX)));
        assert_eq!(position("G_002_step0040.safetensors"), Some((2, 40)));
        assert!(position("G_001_step0040.safetensors") < position("G_001.safetensors"));
        assert!(position("G_001.safetensors") < position("G_002_step0001.safetensors"));
        for other in [
            "D_001.safetensors",
            "G_001.png",
            "G_x.safetensors",
            "G_001_stepx.safetensors",
        ] {
            assert_eq!(position(other), None, "{other}");
        }
    }

    #[test]
    fn the_streamed_header_is_the_safetensors_crates() {
        for count in [1, 3, 64, 10_000] {
            let images: Vec<f32> = (0..count * IMAGE_PIXELS).map(|i| i as f32).collect();
            let view = safetensors::tensor::TensorView::new(
                Dtype::F32,
                vec![count, 1, IMAGE_SIDE, IMAGE_SIDE],
                bytemuck::cast_slice(&images),
            )
            .unwrap();
            let whole = safetensors::serialize([("images", view)], None).unwrap();
            let mut streamed = safetensors_header(count);
            streamed.extend_from_slice(bytemuck::cast_slice(&images));
            assert!(streamed == whole, "{count} images");
        }
    }

    #[test]
    fn png_names_sort_as_numbers() {
        assert_eq!(png_name_digits(1), 3);
        assert_eq!(png_name_digits(1000), 3);
        assert_eq!(png_name_digits(1001), 4);
        assert_eq!(png_name_digits(10_000), 4);
        assert_eq!(png_name_digits(10_001), 5);
    }
}
