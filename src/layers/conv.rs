//! Conv2d and ConvTranspose2d (PyTorch's nn.Conv2d and nn.ConvTranspose2d with a square kernel, no
//! dilation, groups or output padding) as one layer, [`Conv`]: both connect a high-resolution map
//! "hi" and a low-resolution map "lo" (lo position u sees hi position u·stride − pad + k), and differ
//! only in which map is the input and how the weight is laid out. The layer describes its products'
//! geometry; the plan (`crate::plan`) picks the kernel that computes each.

use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, bias};
use crate::plan::{self, ConvGeometry, ConvProduct, ConvTensors, Epilogue};
use crate::tensor::{Tensor, batch_of, expect_shape};

/// Which way a [`Conv`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Conv2d: the input is the hi map, the weight [C_out, C_in, k, k].
    Down,
    /// ConvTranspose2d: the input is the lo map, the weight [C_in, C_out, k, k].
    Up,
}

/// Conv2d or ConvTranspose2d.
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    pub direction: Direction,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub stride: usize,
    pub padding: usize,
    /// Whether the forward product keeps K whole (`with_whole_k`).
    pub whole_k: bool,
    /// The activation the forward stores the output through (`followed_by`).
    pub then: Option<Activation>,
}

/// A direction's ops (the names of its products, as the tuning record and the kernels know them) and
/// which product of the two maps each is.
struct Ops {
    forward: (&'static str, ConvProduct),
    backward_input: (&'static str, ConvProduct),
    backward_weight: (&'static str, ConvProduct),
    backward_bias: &'static str,
}

const DOWN: Ops = Ops {
    forward: ("conv2d_forward", ConvProduct::GatherLo),
    backward_input: ("conv2d_backward_input", ConvProduct::GatherHi),
    backward_weight: ("conv2d_backward_weight", ConvProduct::Weight),
    backward_bias: "conv2d_backward_bias",
};
const UP: Ops = Ops {
    forward: ("conv_transpose2d_forward", ConvProduct::GatherHi),
    backward_input: ("conv_transpose2d_backward_input", ConvProduct::GatherLo),
    backward_weight: ("conv_transpose2d_backward_weight", ConvProduct::Weight),
    backward_bias: "conv_transpose2d_backward_bias",
};

impl Conv {
    /// nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding).
    pub const fn conv2d(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
    ) -> Conv {
        Conv {
            direction: Direction::Down,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            whole_k: false,
            then: None,
        }
    }

    /// nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding).
    pub const fn conv_transpose2d(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stride: usize,
        padding: usize,
    ) -> Conv {
        Conv {
            direction: Direction::Up,
            ..Conv::conv2d(in_channels, out_channels, kernel_size, stride, padding)
        }
    }

    /// The layer with `activation` applied to its output as the forward stores it: y is then that
    /// activation's output, and the activation needs no pass of its own.
    pub const fn followed_by(self, activation: Activation) -> Conv {
        Conv {
            then: Some(activation),
            ..self
        }
    }

    /// The layer with a forward product that never splits K over workgroups, so that a sample's
    /// output does not depend on the batch around it (as `Linear::with_whole_k`).
    pub const fn with_whole_k(self) -> Conv {
        Conv {
            whole_k: true,
            ..self
        }
    }

    fn ops(&self) -> &'static Ops {
        match self.direction {
            Direction::Down => &DOWN,
            Direction::Up => &UP,
        }
    }

    /// Output height or width for an input of `size`: ⌊(size + 2p − k) / s⌋ + 1 down,
    /// (size − 1)·s − 2p + k up.
    pub fn output_size(&self, op: &'static str, size: usize) -> Result<usize> {
        let (k, s, p) = (self.kernel_size, self.stride, self.padding);
        let out = match self.direction {
            Direction::Down if s > 0 && k > 0 && size + 2 * p >= k => {
                Some((size + 2 * p - k) / s + 1)
            }
            Direction::Up if s > 0 && size > 0 && (size - 1) * s + k > 2 * p => {
                Some((size - 1) * s + k - 2 * p)
            }
            _ => None,
        };
        out.ok_or_else(|| Error::InvalidArgument {
            op,
            message: format!(
                "input size {size} with kernel {k}, stride {s}, padding {p} gives no output"
            ),
        })
    }

    /// The geometry for the layer's input x: [N, C_in, H, W], checked against the layer.
    fn geometry(&self, op: &'static str, tensor: &'static str, x: &Tensor) -> Result<ConvGeometry> {
        let (h, w) = match x.shape() {
            [_, _, h, w] => (*h, *w),
            _ => (0, 0),
        };
        let batch = batch_of(op, tensor, x, &[self.in_channels, h, w])?;
        let input = [self.in_channels, h, w];
        let output = [
            self.out_channels,
            self.output_size(op, h)?,
            self.output_size(op, w)?,
        ];
        let k = self.kernel_size;
        let (hi, lo) = match self.direction {
            Direction::Down => (input, output),
            Direction::Up => (output, input),
        };
        Ok(ConvGeometry {
            batch,
            lo,
            hi,
            ksize: k,
            stride: self.stride,
            pad: self.padding,
            // The weight's first dimension is the lo map's channels in both layouts.
            w_stride_lo: hi[0] * k * k,
            w_stride_hi: k * k,
            whole_k: false,
            epilogue: Epilogue::None,
        })
    }

    /// The shape of the layer's output y for geometry `g`.
    fn output_shape(&self, g: &ConvGeometry) -> [usize; 4] {
        let [c, h, w] = match self.direction {
            Direction::Down => g.lo,
            Direction::Up => g.hi,
        };
        [g.batch, c, h, w]
    }

    fn weight_shape(&self) -> [usize; 4] {
        let (first, second) = match self.direction {
            Direction::Down => (self.out_channels, self.in_channels),
            Direction::Up => (self.in_channels, self.out_channels),
        };
        [first, second, self.kernel_size, self.kernel_size]
    }

    /// x: [N, C_in, H, W], weight (as the direction lays it out), bias: [C_out] → y: [N, C_out, OH, OW]
    /// (with `followed_by`, the activation of it)
    pub fn forward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        y: &Tensor,
    ) -> Result<Dispatch> {
        let (op, product) = self.ops().forward;
        let g = ConvGeometry {
            whole_k: self.whole_k,
            epilogue: self
                .then
                .map_or(Epilogue::None, |a| Epilogue::Activation(a.code())),
            ..self.geometry(op, "x", x)?
        };
        expect_shape(op, "weight", weight, &self.weight_shape())?;
        expect_shape(op, "bias", bias, &[self.out_channels])?;
        expect_shape(op, "y", y, &self.output_shape(&g))?;
        let tensors = ConvTensors {
            src: x,
            weight: Some(weight),
            dst: y,
            bias: Some(bias),
            lo_map: None,
        };
        Ok(plan::conv(gpu, op, &g, product, tensors, false)?.dispatch)
    }

    /// dy: [N, C_out, OH, OW], weight → dx: [N, C_in, H, W]
    pub fn backward_input(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        dx: &Tensor,
    ) -> Result<Dispatch> {
        self.gradient_at_input(gpu, dy, weight, None, dx)
    }

    /// `backward_input` where the layer's input x is `activated` = activation(a): dx is then the
    /// gradient at a, the activation's backward applied as each element is stored.
    pub fn backward_input_through(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        (activation, activated): (Activation, &Tensor),
        dx: &Tensor,
    ) -> Result<Dispatch> {
        self.gradient_at_input(gpu, dy, weight, Some((activation, activated)), dx)
    }

    fn gradient_at_input(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        weight: &Tensor,
        through: Option<(Activation, &Tensor)>,
        dx: &Tensor,
    ) -> Result<Dispatch> {
        let (op, product) = self.ops().backward_input;
        let g = ConvGeometry {
            epilogue: through.map_or(Epilogue::None, |(a, _)| Epilogue::GradientThrough(a.code())),
            ..self.geometry(op, "dx", dx)?
        };
        expect_shape(op, "dy", dy, &self.output_shape(&g))?;
        expect_shape(op, "weight", weight, &self.weight_shape())?;
        if let Some((_, activated)) = through {
            expect_shape(op, "activated", activated, dx.shape())?;
        }
        let tensors = ConvTensors {
            src: dy,
            weight: Some(weight),
            dst: dx,
            bias: through.map(|(_, activated)| activated),
            lo_map: None,
        };
        let planned = plan::conv(gpu, op, &g, product, tensors, false)?;
        match through {
            // The kernel stored the gradient at x, the activation's output: the activation's
            // backward turns it into the gradient at its input, in place on dx.
            Some((activation, activated)) if planned.gradient_left => Ok(planned
                .dispatch
                .followed_by(activation.backward(gpu, activated, dx)?)),
            _ => Ok(planned.dispatch),
        }
    }

    /// dy: [N, C_out, OH, OW], x: [N, C_in, H, W] → dweight; with `accumulate` added to what dweight
    /// holds.
    pub fn backward_weight(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        x: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        let (op, product) = self.ops().backward_weight;
        let g = self.geometry(op, "x", x)?;
        expect_shape(op, "dy", dy, &self.output_shape(&g))?;
        expect_shape(op, "dweight", dweight, &self.weight_shape())?;
        // dweight(l, h, ky, kx) = Σ lo_map · hi_map over the batch and the lo positions.
        let (lo_map, hi_map) = match self.direction {
            Direction::Down => (dy, x),
            Direction::Up => (x, dy),
        };
        let tensors = ConvTensors {
            src: hi_map,
            weight: None,
            dst: dweight,
            bias: None,
            lo_map: Some(lo_map),
        };
        Ok(plan::conv(gpu, op, &g, product, tensors, accumulate)?.dispatch)
    }

    /// dy: [N, C_out, OH, OW] → dbias: [C_out]; with `accumulate` added to what dbias holds.
    pub fn backward_bias(
        &self,
        gpu: &Gpu,
        dy: &Tensor,
        dbias: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        let op = self.ops().backward_bias;
        let (oh, ow) = match dy.shape() {
            [_, _, h, w] => (*h, *w),
            _ => (0, 0),
        };
        let n = batch_of(op, "dy", dy, &[self.out_channels, oh, ow])?;
        bias::backward(
            gpu,
            op,
            dy,
            [n, self.out_channels, oh * ow],
            dbias,
            accumulate,
        )
    }
}
