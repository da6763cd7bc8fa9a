//! gan-wgpu: the DCGAN of the 2018 PyTorch blog post, trained with hand-written WGSL compute shaders on
//! wgpu.
//!
//! - [`gpu`]: adapter choice, device, submission, readback, errors.
//! - [`kernels`]: the WGSL files of `shaders/`, their pipelines and bound [`kernels::Dispatch`]es.
//! - [`tensor`]: float32 tensors living in GPU buffers.
//! - [`layers`]: one module per layer, forward and backward.
//! - [`adam`]: the optimiser; [`health`]: NaN/Inf detection on the GPU.

pub mod adam;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod download;
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
pub mod params;
pub mod plot;
pub mod sample;
pub mod state;
pub mod step;
pub mod tensor;
pub mod train;
pub mod tune;

pub use error::{Error, Result};
pub use gpu::{Device, GpuOptions};
pub use kernels::{Family, Gpu, Overrides, Tuning};
pub use tensor::Tensor;
