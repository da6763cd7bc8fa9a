//! The bias gradient shared by Linear, Conv2d and ConvTranspose2d: db[c] = Σ over batch and positions.

use bytemuck::{Pod, Zeroable};

use super::{as_u32, expect_shape, groups_for};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{Dispatch, Kernel, Shader, dispatch, read, write};
use crate::tensor::Tensor;

const BACKWARD: Kernel = Kernel {
    shader: Shader::Bias,
    entry: "bias_backward",
    storage: &[read(1), write(2), read(3)],
};

/// bias.wgsl's BY_PLANE: the CPU adapters that run the subgroup products walk planes (ChannelWalk
/// in common.wgsl).
const BY_PLANE: [(&str, f64); 1] = [("BY_PLANE", 1.0)];
const ACROSS_PLANES: [(&str, f64); 1] = [("BY_PLANE", 0.0)];
/// Both values, for the shader tests.
pub(crate) const OVERRIDE_SETS: [&[(&str, f64)]; 2] = [&BY_PLANE, &ACROSS_PLANES];

pub(crate) fn overrides(gpu: &Gpu) -> &'static [(&'static str, f64)] {
    if gpu.subgroup_products {
        &BY_PLANE
    } else {
        &ACROSS_PLANES
    }
}

/// Linear's version (S = 1): one invocation per channel.
const BACKWARD_BY_CHANNEL: Kernel = Kernel {
    entry: "bias_backward_by_channel",
    ..BACKWARD
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BiasParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    accumulate: u32,
    _pad: [u32; 4],
}

/// dy: [N, C, S] (already shape-checked by the caller) → dbias: [C]
pub(crate) fn backward(
    gpu: &Gpu,
    op: &'static str,
    dy: &Tensor,
    [batch, channels, spatial]: [usize; 3],
    dbias: &Tensor,
    accumulate: bool,
) -> Result<Dispatch> {
    expect_shape(op, "dbias", dbias, &[channels])?;
    let params = BiasParams {
        batch: as_u32(op, batch)?,
        channels: as_u32(op, channels)?,
        spatial: as_u32(op, spatial)?,
        accumulate: accumulate as u32,
        _pad: [0; 4],
    };
    if spatial == 1 {
        let workgroups = groups_for(op, channels)?;
        return dispatch(
            gpu,
            &BACKWARD_BY_CHANNEL,
            &params,
            &[dy, dbias, dy],
            workgroups,
        );
    }
    dispatch(
        gpu,
        &BACKWARD,
        &params,
        &[dy, dbias, dy],
        as_u32(op, channels)?,
    )
}
