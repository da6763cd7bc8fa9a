//! The interface of shaders/conv.wgsl, shared by Conv2d and ConvTranspose2d: both connect a
//! high-resolution map "hi" and a low-resolution map "lo" (lo position u sees hi position
//! u·stride − pad + k), and differ only in which map is the input and how the weight is laid out.

use bytemuck::{Pod, Zeroable};

use super::{as_u32, groups_for};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{Dispatch, Kernel, Shader, Storage, dispatch, read, write};
use crate::tensor::Tensor;

const GATHER_WITH_BIAS: &[Storage] = &[read(1), read(2), write(3), read(4)];
const GATHER: &[Storage] = &[read(1), read(2), write(3)];
const WEIGHT_GRADIENT: &[Storage] = &[read(1), write(3), read(5)];

pub(crate) const CONV2D_FORWARD: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv2d_forward",
    storage: GATHER_WITH_BIAS,
};
pub(crate) const CONV2D_BACKWARD_INPUT: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv2d_backward_input",
    storage: GATHER,
};
pub(crate) const CONV2D_BACKWARD_WEIGHT: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv2d_backward_weight",
    storage: WEIGHT_GRADIENT,
};
pub(crate) const CONV_TRANSPOSE2D_FORWARD: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv_transpose2d_forward",
    storage: GATHER_WITH_BIAS,
};
pub(crate) const CONV_TRANSPOSE2D_BACKWARD_INPUT: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv_transpose2d_backward_input",
    storage: GATHER,
};
pub(crate) const CONV_TRANSPOSE2D_BACKWARD_WEIGHT: Kernel = Kernel {
    shader: Shader::Conv,
    entry: "conv_transpose2d_backward_weight",
    storage: WEIGHT_GRADIENT,
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ConvParams {
    batch: u32,
    lo_channels: u32,
    lo_h: u32,
    lo_w: u32,
    hi_channels: u32,
    hi_h: u32,
    hi_w: u32,
    ksize: u32,
    stride: u32,
    pad: u32,
    w_stride_lo: u32,
    w_stride_hi: u32,
    accumulate: u32,
    count: u32,
    _pad: [u32; 2],
}

/// The two maps of one convolution, each [channels, height, width], and how they are connected.
pub(crate) struct Geometry {
    pub batch: usize,
    pub lo: [usize; 3],
    pub hi: [usize; 3],
    pub ksize: usize,
    pub stride: usize,
    pub pad: usize,
    /// Weight element (l, h, ky, kx) is at l·w_stride_lo + h·w_stride_hi + ky·ksize + kx.
    pub w_stride_lo: usize,
    pub w_stride_hi: usize,
}

impl Geometry {
    fn params(&self, op: &'static str, count: usize, accumulate: bool) -> Result<ConvParams> {
        Ok(ConvParams {
            batch: as_u32(op, self.batch)?,
            lo_channels: as_u32(op, self.lo[0])?,
            lo_h: as_u32(op, self.lo[1])?,
            lo_w: as_u32(op, self.lo[2])?,
            hi_channels: as_u32(op, self.hi[0])?,
            hi_h: as_u32(op, self.hi[1])?,
            hi_w: as_u32(op, self.hi[2])?,
            ksize: as_u32(op, self.ksize)?,
            stride: as_u32(op, self.stride)?,
            pad: as_u32(op, self.pad)?,
            w_stride_lo: as_u32(op, self.w_stride_lo)?,
            w_stride_hi: as_u32(op, self.w_stride_hi)?,
            accumulate: accumulate as u32,
            count: as_u32(op, count)?,
            _pad: [0; 2],
        })
    }

    /// One of the four gathers: `dst` (one map) from `src` (the other map) and the weight, plus `bias`
    /// per output channel for the forward kernels.
    pub fn gather(
        &self,
        gpu: &Gpu,
        kernel: &Kernel,
        src: &Tensor,
        weight: &Tensor,
        dst: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Dispatch> {
        let params = self.params(kernel.entry, dst.numel(), false)?;
        let groups = groups_for(kernel.entry, dst.numel())?;
        match bias {
            Some(bias) => dispatch(gpu, kernel, &params, &[src, weight, dst, bias], groups),
            None => dispatch(gpu, kernel, &params, &[src, weight, dst], groups),
        }
    }

    /// dweight(l, h, ky, kx) = Σ lo_map · hi_map over batch and lo positions.
    pub fn weight_gradient(
        &self,
        gpu: &Gpu,
        kernel: &Kernel,
        lo_map: &Tensor,
        hi_map: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        let params = self.params(kernel.entry, dweight.numel(), accumulate)?;
        let groups = groups_for(kernel.entry, dweight.numel())?;
        dispatch(gpu, kernel, &params, &[hi_map, dweight, lo_map], groups)
    }
}
