//! BCELoss with mean reduction on probabilities (PyTorch's nn.BCELoss(), logs clamped at −100).

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::health::{Watch, watched};
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, groups_for, read, write};
use crate::tensor::{Tensor, expect_shape};

const FORWARD: Kernel = Kernel {
    shader: Shader::Bce,
    entry: "bce_forward",
    storage: &[read(1), read(2), write(3), write(5)],
};
const BACKWARD: Kernel = Kernel {
    shader: Shader::Bce,
    entry: "bce_backward",
    storage: &[read(1), read(2), write(4)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BceParams {
    count: u32,
    accumulate: u32,
    grad_scale: f32,
    health_bit: u32,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct BceLoss;

impl BceLoss {
    fn params(
        op: &'static str,
        prob: &Tensor,
        target: &Tensor,
        accumulate: bool,
        grad_scale: f32,
    ) -> Result<BceParams> {
        expect_shape(op, "target", target, prob.shape())?;
        if prob.numel() == 0 {
            return Err(Error::InvalidArgument {
                op,
                message: "the mean of an empty tensor is undefined".into(),
            });
        }
        Ok(BceParams {
            count: as_u32(op, prob.numel())?,
            accumulate: accumulate as u32,
            grad_scale,
            health_bit: 0,
        })
    }

    /// prob, target: the same shape → loss: [1], the mean; with `accumulate` added to what loss holds
    /// (D's loss on real plus its loss on fake images). With `watch`, a loss that comes out NaN or
    /// ±Inf sets the watch's bit.
    pub fn forward(
        gpu: &Gpu,
        prob: &Tensor,
        target: &Tensor,
        loss: &Tensor,
        accumulate: bool,
        watch: Option<Watch>,
    ) -> Result<Dispatch> {
        let mut params = Self::params(FORWARD.entry, prob, target, accumulate, 1.0)?;
        expect_shape(FORWARD.entry, "loss", loss, &[1])?;
        let (flags, bit) = watched(gpu, watch)?;
        params.health_bit = bit;
        dispatch(gpu, &FORWARD, &params, &[prob, target, loss, &flags], 1)
    }

    /// prob, target: the same shape → dprob: the same shape, for an upstream gradient `grad_scale` of
    /// the loss (1 for a loss that is minimised directly).
    pub fn backward(
        gpu: &Gpu,
        prob: &Tensor,
        target: &Tensor,
        dprob: &Tensor,
        grad_scale: f32,
    ) -> Result<Dispatch> {
        let params = Self::params(BACKWARD.entry, prob, target, false, grad_scale)?;
        expect_shape(BACKWARD.entry, "dprob", dprob, prob.shape())?;
        dispatch(
            gpu,
            &BACKWARD,
            &params,
            &[prob, target, dprob],
            groups_for(BACKWARD.entry, prob.numel())?,
        )
    }
}
