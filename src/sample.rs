//! `gan-wgpu sample`: images from a G checkpoint (ours or one saved from the PyTorch original), in eval
//! mode, from the noise of a seed, a linear walk between two seeds' noise, or noise given in a file.

use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::model::{Generator, GeneratorPass, Mode, Z_DIM};
use crate::noise::{Stream, UniformNoise, uniform_at};
use crate::tensor::Tensor;

/// Where the noise comes from.
#[derive(Clone, Debug)]
pub enum Noise {
    /// `count` vectors of the seed's sample stream, drawn on the GPU as training draws its grids.
    Seed { seed: u64, count: usize },
    /// `count` points on the straight line from seed a's first vector to seed b's.
    Interpolate { a: u64, b: u64, count: usize },
    /// An [N, 62] float32 tensor, the only tensor of a safetensors file.
    File(PathBuf),
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The first noise vector of `seed`'s sample stream (what the GPU draws first for that seed).
fn seed_vector(seed: u64) -> Vec<f32> {
    (0..Z_DIM)
        .map(|e| uniform_at(seed, Stream::Sample, 0, e))
        .collect()
}

/// The noise a request names, on the GPU, [count, 62].
fn noise_tensor(gpu: &Gpu, noise: &Noise) -> Result<Tensor> {
    match noise {
        Noise::Seed { seed, count } => {
            let z = Tensor::zeros(gpu, "z", &[*count, Z_DIM])?;
            gpu.run(&[UniformNoise::new(gpu, &z, *seed, Stream::Sample)?.dispatch()])?;
            Ok(z)
        }
        Noise::Interpolate { a, b, count } => {
            let (za, zb) = (seed_vector(*a), seed_vector(*b));
            let steps = (*count).max(2) - 1;
            let z: Vec<f32> = (0..*count)
                .flat_map(|i| {
                    let t = i as f32 / steps as f32;
                    za.iter()
                        .zip(&zb)
                        .map(move |(x, y)| (1.0 - t) * x + t * y)
                        .collect::<Vec<_>>()
                })
                .collect();
            Tensor::from_slice(gpu, "z", &[*count, Z_DIM], &z)
        }
        Noise::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| file_error(path, e.to_string()))?;
            let file = SafeTensors::deserialize(&bytes)
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
                    let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
                    Tensor::from_slice(gpu, "z", &[*n, Z_DIM], &values)
                }
                (dtype, shape) => Err(file_error(
                    path,
                    format!("`{name}` is {dtype:?} {shape:?}; --z takes float32 [N, 62]"),
                )),
            }
        }
    }
}

/// G's images for `noise`, [N, 1, 28, 28] values in (0, 1), from the checkpoint at `checkpoint`.
pub fn generate(gpu: &Gpu, checkpoint: &Path, noise: &Noise) -> Result<Vec<f32>> {
    let g = Generator::new(gpu)?;
    checkpoint::load(gpu, &g.net, checkpoint)?;
    let z = noise_tensor(gpu, noise)?;
    let pass = GeneratorPass::new(gpu, z.shape()[0], None)?;
    let forward = g.forward(gpu, &pass, &z, Mode::Eval)?;
    gpu.run(&forward.iter().collect::<Vec<_>>())?;
    pass.image.read(gpu)
}

/// The G checkpoint of the latest epoch in a run's folder (`G_NNN.safetensors` with the largest NNN).
pub fn latest_checkpoint(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error(dir, e.to_string()))?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let epoch: usize = name
                .strip_prefix("G_")?
                .strip_suffix(".safetensors")?
                .parse()
                .ok()?;
            Some((epoch, e.path()))
        })
        .max_by_key(|(epoch, _)| *epoch)
        .map(|(_, path)| path)
        .ok_or_else(|| {
            file_error(
                dir,
                "holds no G_NNN.safetensors checkpoint; train first, or pass --checkpoint",
            )
        })
}
