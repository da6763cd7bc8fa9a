//! ReLU, LeakyReLU and Sigmoid, elementwise over tensors of any shape.

use bytemuck::{Pod, Zeroable};

use super::{as_u32, expect_shape, groups_for};
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::{Dispatch, Kernel, Shader, Storage, dispatch, read, write};
use crate::tensor::Tensor;

const FORWARD: &[Storage] = &[read(1), write(3)];
const BACKWARD: &[Storage] = &[read(1), read(2), write(3)];

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ActivationParams {
    count: u32,
    negative_slope: f32,
    _pad: [u32; 2],
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    Relu,
    LeakyRelu { negative_slope: f32 },
    Sigmoid,
}

impl Activation {
    fn kernels(self) -> (Kernel, Kernel) {
        let (forward, backward) = match self {
            Activation::Relu => ("relu_forward", "relu_backward"),
            Activation::LeakyRelu { .. } => ("leaky_relu_forward", "leaky_relu_backward"),
            Activation::Sigmoid => ("sigmoid_forward", "sigmoid_backward"),
        };
        let kernel = |entry, storage| Kernel {
            shader: Shader::Activation,
            entry,
            storage,
        };
        (kernel(forward, FORWARD), kernel(backward, BACKWARD))
    }

    fn params(self, op: &'static str, count: usize) -> Result<ActivationParams> {
        Ok(ActivationParams {
            count: as_u32(op, count)?,
            negative_slope: match self {
                Activation::LeakyRelu { negative_slope } => negative_slope,
                _ => 0.0,
            },
            _pad: [0; 2],
        })
    }

    /// x: any shape → y: the same shape.
    pub fn forward(self, gpu: &Gpu, x: &Tensor, y: &Tensor) -> Result<Dispatch> {
        let (kernel, _) = self.kernels();
        expect_shape(kernel.entry, "y", y, x.shape())?;
        let params = self.params(kernel.entry, x.numel())?;
        dispatch(
            gpu,
            &kernel,
            &params,
            &[x, y],
            groups_for(kernel.entry, x.numel())?,
        )
    }

    /// What autograd saved (x for ReLU and LeakyReLU, y for Sigmoid), dy: same shape → dx: same shape.
    pub fn backward(self, gpu: &Gpu, saved: &Tensor, dy: &Tensor, dx: &Tensor) -> Result<Dispatch> {
        let (_, kernel) = self.kernels();
        expect_shape(kernel.entry, "dy", dy, saved.shape())?;
        expect_shape(kernel.entry, "dx", dx, saved.shape())?;
        let params = self.params(kernel.entry, saved.numel())?;
        dispatch(
            gpu,
            &kernel,
            &params,
            &[saved, dy, dx],
            groups_for(kernel.entry, saved.numel())?,
        )
    }
}
