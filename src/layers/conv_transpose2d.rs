//! ConvTranspose2d (PyTorch's nn.ConvTranspose2d with a square kernel, no output padding, dilation or
//! groups); weight [C_in, C_out, k, k] as in PyTorch.

use super::conv::{self, Geometry, Product};
use super::{batch_of, expect_shape};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Dispatch;
use crate::layers::bias;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    pub padding: usize,
    /// Whether the forward product keeps K whole (`with_whole_k`).
    pub whole_k: bool,
}

impl ConvTranspose2d {
    pub const fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
    ) -> ConvTranspose2d {
        ConvTranspose2d {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            whole_k: false,
        }
    }

    /// The layer with a forward product that never splits K over workgroups, so that a sample's
    /// output does not depend on the batch around it (as `Linear::with_whole_k`).
    pub const fn with_whole_k(self) -> ConvTranspose2d {
        ConvTranspose2d {
            whole_k: true,
            ..self
        }
    }

    /// Output height or width for an input of `size`: (size − 1)·s − 2p + k.
    pub fn output_size(&self, op: &'static str, size: usize) -> Result<usize> {
        let grown = (size.max(1) - 1) * self.stride + self.kernel_size;
        if self.stride == 0 || size == 0 || grown <= 2 * self.padding {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "input size {size} with kernel {}, stride {}, padding {} gives no output",
                    self.kernel_size, self.stride, self.padding
                ),
            });
        }
        Ok(grown - 2 * self.padding)
    }

    /// The geometry for input x: [N, C_in, H, W], checked against the layer.
    fn geometry(&self, op: &'static str, tensor: &'static str, x: &Tensor) -> Result<Geometry> {
        let (h, w) = match x.shape() {
            [_, _, h, w] => (*h, *w),
            _ => (0, 0),
        };
        let batch = batch_of(op, tensor, x, &[self.in_channels, h, w])?;
        let k = self.kernel_size;
        Ok(Geometry {
            batch,
            lo: [self.in_channels, h, w],
            hi: [
                self.out_channels,
                self.output_size(op, h)?,
                self.output_size(op, w)?,
            ],
            ksize: k,
            stride: self.stride,
            pad: self.padding,
            w_stride_lo: self.out_channels * k * k,
            w_stride_hi: k * k,
            whole_k: false,
        })
    }

    fn output_shape(g: &Geometry) -> [usize; 4] {
        [g.batch, g.hi[0], g.hi[1], g.hi[2]]
    }

    fn weight_shape(&self) -> [usize; 4] {
        [
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.kernel_size,
        ]
    }

    /// x: [N, C_in, H, W], weight: [C_in, C_out, k, k], bias: [C_out] → y: [N, C_out, OH, OW]
    pub fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        y: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "conv_transpose2d_forward";
        let g = Geometry {
            whole_k: self.whole_k,
            ..self.geometry(OP, "x", x)?
        };
        expect_shape(OP, "weight", weight, &self.weight_shape())?;
        expect_shape(OP, "bias", bias, &[self.out_channels])?;
        expect_shape(OP, "y", y, &Self::output_shape(&g))?;
        g.gather(
            gpu,
            (&conv::CONV_TRANSPOSE2D_FORWARD, Product::GatherHi),
            x,
            weight,
            y,
            Some(bias),
        )
    }

    /// dy: [N, C_out, OH, OW], weight: [C_in, C_out, k, k] → dx: [N, C_in, H, W]
    pub fn backward_input(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        dx: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "conv_transpose2d_backward_input";
        let g = self.geometry(OP, "dx", dx)?;
        expect_shape(OP, "dy", dy, &Self::output_shape(&g))?;
        expect_shape(OP, "weight", weight, &self.weight_shape())?;
        g.gather(
            gpu,
            (&conv::CONV_TRANSPOSE2D_BACKWARD_INPUT, Product::GatherLo),
            dy,
            weight,
            dx,
            None,
        )
    }

    /// dy: [N, C_out, OH, OW], x: [N, C_in, H, W] → dweight: [C_in, C_out, k, k]; with `accumulate`
    /// added to what dweight holds.
    pub fn backward_weight(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        x: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        const OP: &str = "conv_transpose2d_backward_weight";
        let g = self.geometry(OP, "x", x)?;
        expect_shape(OP, "dy", dy, &Self::output_shape(&g))?;
        expect_shape(OP, "dweight", dweight, &self.weight_shape())?;
        g.weight_gradient(
            gpu,
            (&conv::CONV_TRANSPOSE2D_BACKWARD_WEIGHT, Product::Weight),
            x,
            dy,
            dweight,
            accumulate,
        )
    }

    /// dy: [N, C_out, OH, OW] → dbias: [C_out]; with `accumulate` added to what dbias holds.
    pub fn backward_bias(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        dbias: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        const OP: &str = "conv_transpose2d_backward_bias";
        let (oh, ow) = match dy.shape() {
            [_, _, h, w] => (*h, *w),
            _ => (0, 0),
        };
        let n = batch_of(OP, "dy", dy, &[self.out_channels, oh, ow])?;
        bias::backward(
            gpu,
            OP,
            dy,
            [n, self.out_channels, oh * ow],
            dbias,
            accumulate,
        )
    }
}
