//! CrossEntropyLoss with mean reduction on logits (PyTorch's nn.CrossEntropyLoss()), its value and
//! its gradient at the logits in one pass: the loss of a classifier built from D's layers with a
//! 10-way output, checked against PyTorch by tests/cross_entropy.rs.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::health::{Watch, watched};
use crate::kernels::{Dispatch, Gpu, Kernel, Shader, as_u32, dispatch, read, write};
use crate::tensor::{Tensor, expect_shape};

const FORWARD_BACKWARD: Kernel = Kernel {
    shader: Shader::CrossEntropy,
    entry: "cross_entropy_forward_backward",
    storage: &[read(1), read(2), write(3), write(4), write(5)],
};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CrossEntropyParams {
    rows: u32,
    classes: u32,
    health_bit: u32,
    _pad: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyLoss;

impl CrossEntropyLoss {
    /// logits: [N, C], labels: [N] (class indices 0 … C − 1 as floats) → loss: [1], the mean over
    /// rows, and dlogits: [N, C], its gradient (for an upstream gradient of 1). A label that is no
    /// class index makes the loss NaN; with `watch`, a loss that comes out NaN or ±Inf sets the
    /// watch's bit.
    pub fn forward_backward(
        &self,
        gpu: &Gpu,
        logits: &Tensor,
        labels: &Tensor,
        loss: &Tensor,
        dlogits: &Tensor,
        watch: Option<Watch>,
    ) -> Result<Dispatch> {
        let op = FORWARD_BACKWARD.entry;
        let [rows, classes] = match logits.shape() {
            &[rows, classes] if rows > 0 && classes > 0 => [rows, classes],
            shape => {
                return Err(Error::InvalidArgument {
                    op,
                    message: format!(
                        "logits of shape {shape:?}: expected [rows, classes], both at least 1"
                    ),
                });
            }
        };
        expect_shape(op, "labels", labels, &[rows])?;
        expect_shape(op, "loss", loss, &[1])?;
        expect_shape(op, "dlogits", dlogits, logits.shape())?;
        let (flags, health_bit) = watched(gpu, watch)?;
        let params = CrossEntropyParams {
            rows: as_u32(op, rows)?,
            classes: as_u32(op, classes)?,
            health_bit,
            _pad: 0,
        };
        dispatch(
            gpu,
            &FORWARD_BACKWARD,
            &params,
            &[logits, labels, loss, dlogits, &flags],
            1,
        )
    }
}
