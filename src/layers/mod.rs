//! One module per layer. Each layer is a small description of its shape with `forward` / `backward_*`
//! methods that check every tensor's shape and return a [`Dispatch`](crate::kernels::Dispatch) bound to
//! those tensors; nothing runs until the dispatch is recorded and submitted.

pub mod activation;
pub mod batchnorm;
pub mod bce;
pub(crate) mod bias;
mod conv;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod linear;

pub use activation::Activation;
pub use batchnorm::BatchNorm;
pub use bce::BceLoss;
pub use conv_transpose2d::ConvTranspose2d;
pub use conv2d::Conv2d;
pub use linear::Linear;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// The matrix-product kernels of the subgroup family (see README), largest first: those worth creating
/// ahead of use on a second thread.
pub(crate) fn subgroup_kernels() -> Vec<&'static crate::kernels::Kernel> {
    conv::subgroup_kernels()
        .chain(linear::SUBGROUP_KERNELS)
        .collect()
}

/// Values of shaders/gemm.wgsl's GEMM_BLOCK, GEMM_PITCH and GEMM_PREFETCH, for the files that hold the
/// tiled products: set `block8 + 2·pitch16 + 4·prefetch` of every combination.
const fn gemm_set(index: usize) -> [(&'static str, f64); 3] {
    [
        ("GEMM_BLOCK", if index & 1 == 0 { 4.0 } else { 8.0 }),
        ("GEMM_PITCH", if index & 2 == 0 { 17.0 } else { 16.0 }),
        ("GEMM_PREFETCH", if index & 4 == 0 { 0.0 } else { 1.0 }),
    ]
}
const GEMM_OVERRIDES: [[(&str, f64); 3]; 8] = [
    gemm_set(0),
    gemm_set(1),
    gemm_set(2),
    gemm_set(3),
    gemm_set(4),
    gemm_set(5),
    gemm_set(6),
    gemm_set(7),
];
/// Every combination, for the shader tests.
pub(crate) const GEMM_OVERRIDE_SETS: [&[(&str, f64)]; 8] = [
    &GEMM_OVERRIDES[0],
    &GEMM_OVERRIDES[1],
    &GEMM_OVERRIDES[2],
    &GEMM_OVERRIDES[3],
    &GEMM_OVERRIDES[4],
    &GEMM_OVERRIDES[5],
    &GEMM_OVERRIDES[6],
    &GEMM_OVERRIDES[7],
];

/// The overrides of the tiled products' files on `gpu`: its block per invocation, pitch and prefetch.
pub(crate) fn gemm_overrides(gpu: &Gpu) -> &'static [(&'static str, f64)] {
    &GEMM_OVERRIDES[usize::from(gpu.gemm_block == 8)
        + 2 * usize::from(gpu.gemm_pitch == 16)
        + 4 * usize::from(gpu.gemm_prefetch)]
}

/// Invocations per workgroup of the one-dimensional kernels (`WG` in shaders/common.wgsl).
pub(crate) const WORKGROUP: usize = 256;

/// Depth of one slice of the tiled matrix-product kernels (`DEPTH` in shaders/gemm.wgsl).
const TILE_DEPTH: usize = 16;
/// The shallowest range of K a split gives a workgroup: four slices.
const MIN_SPLIT_DEPTH: usize = 4 * TILE_DEPTH;
/// The most splits: each invocation of the reduction adds its element's splits one after another.
const MAX_SPLITS: usize = 256;

/// How a tiled matrix product of `tiles` tiles and shape [m, n, k] cuts its depth K (shaders/gemm.wgsl):
/// (splits, depth of each), (1, k) when it is not split. Split until the product has the device's
/// `split_target` workgroups, as far as ranges of `MIN_SPLIT_DEPTH`, `MAX_SPLITS` and the partial-sum
/// buffer allow.
pub(crate) fn split_k(gpu: &Gpu, tiles: usize, [m, n, k]: [usize; 3]) -> (usize, usize) {
    let splits = gpu
        .split_target
        .div_ceil(tiles.max(1))
        .min(k / MIN_SPLIT_DEPTH)
        .min(MAX_SPLITS)
        .min(gpu.split_partials_floats() / (m * n).max(1));
    if splits < 2 {
        return (1, k);
    }
    let depth = k.div_ceil(splits).next_multiple_of(TILE_DEPTH);
    (k.div_ceil(depth), depth)
}

pub(crate) fn expect_shape(
    op: &'static str,
    tensor: &'static str,
    t: &Tensor,
    expected: &[usize],
) -> Result<()> {
    if t.shape() != expected {
        return Err(Error::Shape {
            op,
            tensor,
            expected: expected.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    Ok(())
}

/// A size as the u32 the kernels index with, or an error when it does not fit.
pub(crate) fn as_u32(op: &'static str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidArgument {
        op,
        message: format!("size {n} exceeds the kernels' 32-bit indexing"),
    })
}

/// Workgroups for one invocation per element.
pub(crate) fn groups_for(op: &'static str, elements: usize) -> Result<u32> {
    as_u32(op, elements.div_ceil(WORKGROUP))
}

/// The batch size of `x`, whose shape must be [N, rest...] with N ≥ 1 and the given trailing dims.
pub(crate) fn batch_of(
    op: &'static str,
    tensor: &'static str,
    x: &Tensor,
    rest: &[usize],
) -> Result<usize> {
    let n = x.shape().first().copied().unwrap_or(0);
    let mut expected = vec![n.max(1)];
    expected.extend_from_slice(rest);
    if n == 0 {
        return Err(Error::Shape {
            op,
            tensor,
            expected,
            got: x.shape().to_vec(),
        });
    }
    expect_shape(op, tensor, x, &expected)?;
    Ok(n)
}
