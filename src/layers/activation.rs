//! ReLU, LeakyReLU and Sigmoid, elementwise over tensors of any shape.

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::{
    Dispatch, Gpu, Kernel, Shader, Storage, as_u32, dispatch, groups_for, read, write,
};
use crate::plan::{self, AccessWidth};
use crate::tensor::{Tensor, expect_shape};

// Forward: x → y; backward: what autograd saved, and the gradient, turned from dy into dx in place.
const SCALAR: &[Storage] = &[read(1), write(3)];
// The *_vec4_* kernels see the same tensors as vec4 arrays at bindings 4 and 6 (the *_u64_* ones, in
// shaders/cpu/activation_u64.wgsl, as vec4<u64> arrays at 1 and 3).
const VEC4: &[Storage] = &[read(4), write(6)];

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
    /// The forward and backward kernels for `count` elements on `gpu` (eight per invocation on
    /// devices with wide loads where `count` is a multiple of 8, else four where it is a multiple of 4),
    /// and how many invocations they need.
    fn kernels(self, gpu: &Gpu, count: usize) -> (Kernel, Kernel, usize) {
        let width = plan::access_width(gpu, count);
        let (forward, backward) = match (self, width) {
            (Activation::Relu, AccessWidth::One) => ("relu_forward", "relu_backward"),
            (Activation::Relu, AccessWidth::Four) => ("relu_vec4_forward", "relu_vec4_backward"),
            (Activation::Relu, AccessWidth::Eight) => ("relu_u64_forward", "relu_u64_backward"),
            (Activation::LeakyRelu { .. }, AccessWidth::One) => {
                ("leaky_relu_forward", "leaky_relu_backward")
            }
            (Activation::LeakyRelu { .. }, AccessWidth::Four) => {
                ("leaky_relu_vec4_forward", "leaky_relu_vec4_backward")
            }
            (Activation::LeakyRelu { .. }, AccessWidth::Eight) => {
                ("leaky_relu_u64_forward", "leaky_relu_u64_backward")
            }
            (Activation::Sigmoid, AccessWidth::One) => ("sigmoid_forward", "sigmoid_backward"),
            (Activation::Sigmoid, AccessWidth::Four) => {
                ("sigmoid_vec4_forward", "sigmoid_vec4_backward")
            }
            (Activation::Sigmoid, AccessWidth::Eight) => {
                ("sigmoid_u64_forward", "sigmoid_u64_backward")
            }
        };
        let (shader, storage, invocations) = match width {
            AccessWidth::One => (Shader::Activation, SCALAR, count),
            AccessWidth::Four => (Shader::Activation, VEC4, count / 4),
            AccessWidth::Eight => (Shader::ActivationU64, SCALAR, count / 8),
        };
        let kernel = |entry| Kernel {
            shader,
            entry,
            storage,
        };
        (kernel(forward), kernel(backward), invocations)
    }

    /// This activation as activation_grad (shaders/common.wgsl) and the fused kernels name it: its
    /// kind and LeakyReLU's slope.
    pub(crate) fn code(self) -> (u32, f32) {
        match self {
            Activation::Relu => (1, 0.0),
            Activation::LeakyRelu { negative_slope } => (2, negative_slope),
            Activation::Sigmoid => (3, 0.0),
        }
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
        let (kernel, _, invocations) = self.kernels(gpu, x.numel());
        expect_shape(kernel.entry, "y", y, x.shape())?;
        let params = self.params(kernel.entry, x.numel())?;
        dispatch(
            gpu,
            &kernel,
            &params,
            &[x, y],
            groups_for(kernel.entry, invocations)?,
        )
    }

    /// What autograd saved (x for ReLU and LeakyReLU, y for Sigmoid), grad: the same shape, dy on
    /// entry → dx (in place).
    pub fn backward(self, gpu: &Gpu, saved: &Tensor, grad: &Tensor) -> Result<Dispatch> {
        let (_, kernel, invocations) = self.kernels(gpu, saved.numel());
        expect_shape(kernel.entry, "grad", grad, saved.shape())?;
        let params = self.params(kernel.entry, saved.numel())?;
        dispatch(
            gpu,
            &kernel,
            &params,
            &[saved, grad],
            groups_for(kernel.entry, invocations)?,
        )
    }
}
