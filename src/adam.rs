//! Adam, as torch.optim.Adam (bias-corrected, eps outside the square root, no weight decay), one
//! kernel over a flat parameter buffer and its gradient and moment buffers.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::health::{Watch, watched};
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, groups_for, read, write};
use crate::plan::{self, AccessWidth};
use crate::tensor::{Tensor, expect_shape};

const UPDATE: Kernel = Kernel {
    shader: Shader::Adam,
    entry: "adam_update",
    storage: &[read(1), write(2), write(3), write(4), write(5)],
};

/// The same update four elements at a time (bindings 6–9 are the same tensors as vec4 arrays), used
/// where the element count is a multiple of 4.
const UPDATE_VEC4: Kernel = Kernel {
    shader: Shader::Adam,
    entry: "adam_update_vec4",
    storage: &[read(6), write(7), write(8), write(9), write(5)],
};

/// The same update eight elements at a time from vec4<u64> views of the tensors (shaders/cpu/adam_u64.wgsl),
/// used on devices with `wide_loads` where the element count is a multiple of 8.
const UPDATE_U64: Kernel = Kernel {
    shader: Shader::AdamU64,
    entry: "adam_update_u64",
    storage: &[read(1), write(2), write(3), write(4), write(5)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AdamParams {
    count: u32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    step_size: f32,
    bias_correction2_sqrt: f32,
    health_bit: u32,
}

/// Hyper-parameters, kept in double precision like PyTorch's Python floats; the kernel receives the
/// step's factors rounded once to float32.
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Adam {
    /// PyTorch's eps default, 1e-8.
    pub fn new(lr: f64, beta1: f64, beta2: f64) -> Adam {
        Adam {
            lr,
            beta1,
            beta2,
            eps: 1e-8,
        }
    }

    fn params(&self, count: usize, step: u64, health_bit: u32) -> Result<AdamParams> {
        if step == 0 {
            return Err(Error::InvalidArgument {
                op: UPDATE.entry,
                message: "Adam steps count from 1".into(),
            });
        }
        let t = step.min(i32::MAX as u64) as i32;
        Ok(AdamParams {
            count: as_u32(UPDATE.entry, count)?,
            one_minus_beta1: (1.0 - self.beta1) as f32,
            beta2: self.beta2 as f32,
            one_minus_beta2: (1.0 - self.beta2) as f32,
            eps: self.eps as f32,
            step_size: (self.lr / (1.0 - self.beta1.powi(t))) as f32,
            bias_correction2_sqrt: (1.0 - self.beta2.powi(t)).sqrt() as f32,
            health_bit,
        })
    }

    /// grad: any shape; param, exp_avg, exp_avg_sq: the same shape. Takes Adam step number `step`
    /// (1 for the first) on every element. With `watch`, a parameter or second moment that becomes NaN
    /// or ±Inf sets the watch's bit.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        gpu: &Gpu,
        grad: &Tensor,
        param: &Tensor,
        exp_avg: &Tensor,
        exp_avg_sq: &Tensor,
        step: u64,
        watch: Option<Watch>,
    ) -> Result<Dispatch> {
        for (name, t) in [
            ("param", param),
            ("exp_avg", exp_avg),
            ("exp_avg_sq", exp_avg_sq),
        ] {
            expect_shape(UPDATE.entry, name, t, grad.shape())?;
        }
        let (flags, bit) = watched(gpu, watch)?;
        let params = self.params(grad.numel(), step, bit)?;
        let count = grad.numel();
        let (kernel, invocations) = match plan::access_width(gpu, count) {
            AccessWidth::Eight => (&UPDATE_U64, count / 8),
            AccessWidth::Four => (&UPDATE_VEC4, count / 4),
            AccessWidth::One => (&UPDATE, count),
        };
        dispatch(
            gpu,
            kernel,
            &params,
            &[grad, param, exp_avg, exp_avg_sq, &flags],
            groups_for(kernel.entry, invocations)?,
        )
    }

    /// Points an `update` dispatch over `count` elements (watched with `health_bit`, 0 if unwatched)
    /// at another step number, without rebinding.
    pub fn set_step(
        &self,
        gpu: &Gpu,
        update: &Dispatch,
        count: usize,
        step: u64,
        health_bit: u32,
    ) -> Result<()> {
        update.write_params(gpu, &self.params(count, step, health_bit)?)
    }
}
