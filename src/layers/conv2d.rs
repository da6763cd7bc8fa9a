//! Conv2d (PyTorch's nn.Conv2d with a square kernel, no dilation or groups); weight [C_out, C_in, k, k].

use super::conv::{self, Geometry, Product};
use super::{batch_of, expect_shape};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::Dispatch;
use crate::layers::bias;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
    ) -> Conv2d {
        Conv2d {
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
        }
    }

    /// Output height or width for an input of `size`: ⌊(size + 2p − k) / s⌋ + 1.
    pub fn output_size(&self, op: &'static str, size: usize) -> Result<usize> {
        if self.stride == 0 || self.kernel_size == 0 || size + 2 * self.padding < self.kernel_size {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "input size {size} with kernel {}, stride {}, padding {} gives no output",
                    self.kernel_size, self.stride, self.padding
                ),
            });
        }
        Ok((size + 2 * self.padding - self.kernel_size) / self.stride + 1)
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
            lo: [
                self.out_channels,
                self.output_size(op, h)?,
                self.output_size(op, w)?,
            ],
            hi: [self.in_channels, h, w],
            ksize: k,
            stride: self.stride,
            pad: self.padding,
            w_stride_lo: self.in_channels * k * k,
            w_stride_hi: k * k,
            whole_k: false,
        })
    }

    fn output_shape(g: &Geometry) -> [usize; 4] {
        [g.batch, g.lo[0], g.lo[1], g.lo[2]]
    }

    fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel_size,
            self.kernel_size,
        ]
    }

    /// x: [N, C_in, H, W], weight: [C_out, C_in, k, k], bias: [C_out] → y: [N, C_out, OH, OW]
    pub fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        y: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "conv2d_forward";
        let g = self.geometry(OP, "x", x)?;
        expect_shape(OP, "weight", weight, &self.weight_shape())?;
        expect_shape(OP, "bias", bias, &[self.out_channels])?;
        expect_shape(OP, "y", y, &Self::output_shape(&g))?;
        g.gather(
            gpu,
            (&conv::CONV2D_FORWARD, Product::GatherLo),
            x,
            weight,
            y,
            Some(bias),
        )
    }

    /// dy: [N, C_out, OH, OW], weight: [C_out, C_in, k, k] → dx: [N, C_in, H, W]
    pub fn backward_input(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        dx: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "conv2d_backward_input";
        let g = self.geometry(OP, "dx", dx)?;
        expect_shape(OP, "dy", dy, &Self::output_shape(&g))?;
        expect_shape(OP, "weight", weight, &self.weight_shape())?;
        g.gather(
            gpu,
            (&conv::CONV2D_BACKWARD_INPUT, Product::GatherHi),
            dy,
            weight,
            dx,
            None,
        )
    }

    /// dy: [N, C_out, OH, OW], x: [N, C_in, H, W] → dweight: [C_out, C_in, k, k]; with `accumulate`
    /// added to what dweight holds.
    pub fn backward_weight(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        x: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        const OP: &str = "conv2d_backward_weight";
        let g = self.geometry(OP, "x", x)?;
        expect_shape(OP, "dy", dy, &Self::output_shape(&g))?;
        expect_shape(OP, "dweight", dweight, &self.weight_shape())?;
        g.weight_gradient(
            gpu,
            (&conv::CONV2D_BACKWARD_WEIGHT, Product::Weight),
            dy,
            x,
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
        const OP: &str = "conv2d_backward_bias";
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
