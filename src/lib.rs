//! gan-wgpu: the DCGAN of the 2018 PyTorch blog post, trained with hand-written WGSL compute shaders on
//! wgpu.
//!
//! - [`gpu`]: adapter choice, device, submission, readback, errors.
//! - [`kernels`]: the WGSL files of `shaders/`, their pipelines and bound [`kernels::Dispatch`]es.
//! - [`tensor`]: float32 tensors living in GPU buffers.
//! - [`layers`]: one module per layer, forward and backward, describing its products.
//! - [`plan`]: which kernel computes each matrix product and convolution (the only code that knows
//!   the kernel families).
//! - [`adam`]: the optimiser; [`health`]: NaN/Inf detection on the GPU.
//!
//! The training loop with its files, downloads, tuner and benchmarks is native; the library's model,
//! step scheduler, noise, data, checkpoints and sampling also build for `wasm32-unknown-unknown`, where
//! the page in `web/` drives them through the browser's WebGPU.

pub mod adam;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod data;
pub mod epoch;
pub mod error;
pub mod files;
pub mod gpu;
pub mod grid;
pub mod health;
pub mod history;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod noise;
pub mod oracle;
pub mod params;
pub mod plan;
#[cfg(not(target_arch = "wasm32"))]
pub mod plot;
pub mod quality;
pub mod sample;
pub mod score;
#[cfg(not(target_arch = "wasm32"))]
pub mod state;
pub mod step;
pub mod tensor;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
#[cfg(not(target_arch = "wasm32"))]
pub mod tune;

pub use error::{Error, Result};
pub use gpu::{Device, GpuOptions};
pub use kernels::{Family, Gpu, Overrides, Tuning};
pub use tensor::Tensor;
