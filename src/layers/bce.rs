//! BCELoss with mean reduction on probabilities (PyTorch's nn.BCELoss(), logs clamped at −100), its
//! value and its gradient in one pass.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::health::{Watch, watched};
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, read, write};
use crate::tensor::{Tensor, expect_shape};

const FORWARD_BACKWARD: Kernel = Kernel {
    shader: Shader::Bce,
    entry: "bce_forward_backward",
    storage: &[read(1), read(2), write(3), write(4), write(5)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BceParams {
    count: u32,
    part: u32,
    health_bit: u32,
    through_sigmoid: u32,
}

/// Where the loss's gradient is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientAt {
    /// At the probabilities.
    Probabilities,
    /// At the input of the Sigmoid whose output the probabilities are (D's last layer), as PyTorch's
    /// BCELoss backward and then the Sigmoid's compute it: that backward needs no pass of its own.
    SigmoidInput,
}

#[derive(Clone, Copy, Debug)]
pub struct BceLoss {
    pub gradient_at: GradientAt,
    /// The loss is the sum of the means over this many equal consecutive parts of prob: D's loss on
    /// its real and its fake images, run as one batch, is two.
    pub parts: usize,
}

impl BceLoss {
    pub fn new(gradient_at: GradientAt) -> BceLoss {
        BceLoss {
            gradient_at,
            parts: 1,
        }
    }

    /// The sum of the losses of `parts` equal consecutive parts of prob (and of target).
    pub fn in_parts(self, parts: usize) -> BceLoss {
        BceLoss { parts, ..self }
    }

    /// prob, target: the same shape → loss: [1], the mean (the sum of the parts' means), and grad:
    /// like prob, the gradient of the loss (for an upstream gradient of 1) where `gradient_at` says.
    /// With `watch`, a loss that comes out NaN or ±Inf sets the watch's bit.
    pub fn forward_backward(
        &self,
        gpu: &Gpu,
        prob: &Tensor,
        target: &Tensor,
        loss: &Tensor,
        grad: &Tensor,
        watch: Option<Watch>,
    ) -> Result<Dispatch> {
        let op = FORWARD_BACKWARD.entry;
        expect_shape(op, "target", target, prob.shape())?;
        expect_shape(op, "loss", loss, &[1])?;
        expect_shape(op, "grad", grad, prob.shape())?;
        if prob.numel() == 0 {
            return Err(Error::InvalidArgument {
                op,
                message: "the mean of an empty tensor is undefined".into(),
            });
        }
        if self.parts == 0 || !prob.numel().is_multiple_of(self.parts) {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "{} values do not make {} equal parts",
                    prob.numel(),
                    self.parts
                ),
            });
        }
        let (flags, health_bit) = watched(gpu, watch)?;
        let params = BceParams {
            count: as_u32(op, prob.numel())?,
            part: as_u32(op, prob.numel() / self.parts)?,
            health_bit,
            through_sigmoid: (self.gradient_at == GradientAt::SigmoidInput) as u32,
        };
        dispatch(
            gpu,
            &FORWARD_BACKWARD,
            &params,
            &[prob, target, loss, grad, &flags],
            1,
        )
    }
}
