//! The bias gradient shared by Linear, Conv2d and ConvTranspose2d: db[c] = Σ over batch and positions.

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, groups_for, read, write};
use crate::tensor::{Tensor, expect_shape};

const BACKWARD: Kernel = Kernel {
    shader: Shader::Bias,
    entry: "bias_backward",
    storage: &[read(1), write(2), read(3)],
};

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
