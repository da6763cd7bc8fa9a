//! Linear: y = x·Wᵀ + b (PyTorch's nn.Linear; W is [out, in]). Its three products are described
//! here and computed by whichever kernel the plan gives them (`crate::plan`).

use crate::error::Result;
use crate::kernels::{Dispatch, Gpu};
use crate::layers::bias;
use crate::plan::{self, MatMul};
use crate::tensor::{Tensor, batch_of, expect_shape};

#[derive(Clone, Copy, Debug)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    /// Whether the forward product keeps K whole (`with_whole_k`).
    pub whole_k: bool,
}

impl Linear {
    pub const fn new(in_features: usize, out_features: usize) -> Linear {
        Linear {
            in_features,
            out_features,
            whole_k: false,
        }
    }

    /// The layer with a forward product that never splits K over workgroups. Every kernel then
    /// computes each output row with the same instructions whatever the batch around it, so a
    /// sample's output does not depend on which samples share its batch, nor on how many (split
    /// counts follow the batch size). Eval passes use it: sampling in chunks gives the same images
    /// whatever the chunk size.
    pub const fn with_whole_k(self) -> Linear {
        Linear {
            whole_k: true,
            ..self
        }
    }

    fn check_weight(&self, op: &'static str, weight: &Tensor) -> Result<()> {
        expect_shape(op, "weight", weight, &[self.out_features, self.in_features])
    }

    /// x: [N, in], weight: [out, in], bias: [out] → y: [N, out]
    pub fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        y: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "linear_forward";
        let n = batch_of(OP, "x", x, &[self.in_features])?;
        self.check_weight(OP, weight)?;
        expect_shape(OP, "bias", bias, &[self.out_features])?;
        expect_shape(OP, "y", y, &[n, self.out_features])?;
        // y [N×out] = x [N×in] · Wᵀ, Wᵀ read from W stored [out][in].
        plan::matmul(
            gpu,
            &MatMul {
                op: OP,
                m: n,
                n: self.out_features,
                k: self.in_features,
                a: x,
                a_stride: (self.in_features, 1),
                b: weight,
                b_stride: (1, self.in_features),
                c: y,
                bias: Some(bias),
                accumulate: false,
                whole_k: self.whole_k,
            },
        )
    }

    /// dy: [N, out], weight: [out, in] → dx: [N, in]
    pub fn backward_input(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        dx: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "linear_backward_input";
        let n = batch_of(OP, "dy", dy, &[self.out_features])?;
        self.check_weight(OP, weight)?;
        expect_shape(OP, "dx", dx, &[n, self.in_features])?;
        // dx [N×in] = dy [N×out] · W [out×in].
        plan::matmul(
            gpu,
            &MatMul {
                op: OP,
                m: n,
                n: self.in_features,
                k: self.out_features,
                a: dy,
                a_stride: (self.out_features, 1),
                b: weight,
                b_stride: (self.in_features, 1),
                c: dx,
                bias: None,
                accumulate: false,
                whole_k: false,
            },
        )
    }

    /// dy: [N, out], x: [N, in] → dweight: [out, in]; with `accumulate` added to what dweight holds.
    pub fn backward_weight(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        x: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        const OP: &str = "linear_backward_weight";
        let n = batch_of(OP, "dy", dy, &[self.out_features])?;
        expect_shape(OP, "x", x, &[n, self.in_features])?;
        expect_shape(
            OP,
            "dweight",
            dweight,
            &[self.out_features, self.in_features],
        )?;
        // dW [out×in] = dyᵀ [out×N] · x [N×in], dyᵀ read from dy stored [N][out].
        plan::matmul(
            gpu,
            &MatMul {
                op: OP,
                m: self.out_features,
                n: self.in_features,
                k: n,
                a: dy,
                a_stride: (1, self.out_features),
                b: x,
                b_stride: (self.in_features, 1),
                c: dweight,
                bias: None,
                accumulate,
                whole_k: false,
            },
        )
    }

    /// dy: [N, out] → dbias: [out]; with `accumulate` added to what dbias holds.
    pub fn backward_bias(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        dbias: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        const OP: &str = "linear_backward_bias";
        let n = batch_of(OP, "dy", dy, &[self.out_features])?;
        bias::backward(gpu, OP, dy, [n, self.out_features, 1], dbias, accumulate)
    }
}
