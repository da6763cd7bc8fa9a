//! Conv2d and ConvTranspose2d (PyTorch's nn.Conv2d and nn.ConvTranspose2d with a square kernel, no
//! dilation, groups or output padding) as one layer, [`Conv`], over the interface of shaders/conv.wgsl:
//! both connect a high-resolution map "hi" and a low-resolution map "lo" (lo position u sees hi
//! position u·stride − pad + k), and differ only in which map is the input and how the weight is laid
//! out.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::kernels::{
    Dispatch, Family, Gpu, Kernel, ProductKey, Shader, Storage, WORKGROUP, as_u32, dispatch,
    dispatch_variant, groups_for, read, split_k, write,
};
use crate::layers::{Activation, bias};
use crate::tensor::{Tensor, batch_of, expect_shape};

/// Tile edge of the matrix-product core (`TILE` in shaders/gemm.wgsl).
const TILE: usize = 64;
/// Products with fewer columns are not tiled (`NARROW` in shaders/conv.wgsl).
const NARROW: usize = 16;

/// The three products of conv.wgsl (`product` there).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Product {
    /// Output on the lo grid: rows (n, u, v), columns lo channels, depth (hi channel, ky, kx).
    GatherLo,
    /// Output on the hi grid: rows (n, y, x), columns hi channels, depth (lo channel, ky, kx).
    GatherHi,
    /// The weight gradient: rows lo channels, columns (hi channel, ky, kx), depth (n, u, v).
    Weight,
}

/// Every entry point of conv.wgsl runs the same product code, so each binds all five buffers
/// (src, weight, dst, bias, lo_map); one that has no use for a buffer gets a 16-byte placeholder. The
/// tiled ones also bind the partial sums of split products (shaders/gemm.wgsl); the subgroup ones
/// src a second time as pairs of floats, which their gathers onto the lo grid read (hi maps of even
/// width; the `_odd_width` versions take the others), and lo_map a second time as vec4s, which their
/// weight gradients read.
const TILED_BINDINGS: &[Storage] = &[read(1), read(2), write(3), read(4), read(5), write(7)];
const SUBGROUP_BINDINGS: &[Storage] = &[
    read(1),
    read(2),
    write(3),
    read(4),
    read(5),
    read(6),
    read(7),
];

const CONV2D_FORWARD: Kernel = tiled("conv2d_forward");
const CONV2D_BACKWARD_INPUT: Kernel = tiled("conv2d_backward_input");
const CONV2D_BACKWARD_WEIGHT: Kernel = tiled("conv2d_backward_weight");
const CONV_TRANSPOSE2D_FORWARD: Kernel = tiled("conv_transpose2d_forward");
const CONV_TRANSPOSE2D_BACKWARD_INPUT: Kernel = tiled("conv_transpose2d_backward_input");
const CONV_TRANSPOSE2D_BACKWARD_WEIGHT: Kernel = tiled("conv_transpose2d_backward_weight");

const fn tiled(entry: &'static str) -> Kernel {
    Kernel {
        shader: Shader::Conv,
        entry,
        storage: TILED_BINDINGS,
    }
}

// Each of the six over one split of K, and what adds up the splits (shaders/gemm.wgsl's split K).
const SPLIT_KERNELS: [(&str, [Kernel; 2]); 6] = [
    split_kernels(
        "conv2d_forward",
        "conv2d_forward_split",
        "conv2d_forward_reduce",
    ),
    split_kernels(
        "conv2d_backward_input",
        "conv2d_backward_input_split",
        "conv2d_backward_input_reduce",
    ),
    split_kernels(
        "conv2d_backward_weight",
        "conv2d_backward_weight_split",
        "conv2d_backward_weight_reduce",
    ),
    split_kernels(
        "conv_transpose2d_forward",
        "conv_transpose2d_forward_split",
        "conv_transpose2d_forward_reduce",
    ),
    split_kernels(
        "conv_transpose2d_backward_input",
        "conv_transpose2d_backward_input_split",
        "conv_transpose2d_backward_input_reduce",
    ),
    split_kernels(
        "conv_transpose2d_backward_weight",
        "conv_transpose2d_backward_weight_split",
        "conv_transpose2d_backward_weight_reduce",
    ),
];

const fn split_kernels(
    entry: &'static str,
    split: &'static str,
    reduce: &'static str,
) -> (&'static str, [Kernel; 2]) {
    (entry, [tiled(split), tiled(reduce)])
}

// The same six on shaders/conv_subgroup.wgsl, for kernels of size 4 and stride 2.
const SUBGROUP_KERNELS: [(&str, Kernel); 6] = [
    ("conv2d_forward", subgroup_kernel("conv2d_subgroup_forward")),
    (
        "conv2d_backward_input",
        subgroup_kernel("conv2d_subgroup_backward_input"),
    ),
    (
        "conv2d_backward_weight",
        subgroup_kernel("conv2d_subgroup_backward_weight"),
    ),
    (
        "conv_transpose2d_forward",
        subgroup_kernel("conv_transpose2d_subgroup_forward"),
    ),
    (
        "conv_transpose2d_backward_input",
        subgroup_kernel("conv_transpose2d_subgroup_backward_input"),
    ),
    (
        "conv_transpose2d_backward_weight",
        subgroup_kernel("conv_transpose2d_subgroup_backward_weight"),
    ),
];

// The gathers onto the lo grid for hi maps of odd width.
const ODD_WIDTH_KERNELS: [(&str, Kernel); 2] = [
    (
        "conv2d_forward",
        subgroup_kernel("conv2d_subgroup_forward_odd_width"),
    ),
    (
        "conv_transpose2d_backward_input",
        subgroup_kernel("conv_transpose2d_subgroup_backward_input_odd_width"),
    ),
];

// The weight gradients for hi maps of one or two channels, whose workgroups have no upper bank.
const ONE_BANK_KERNELS: [(&str, Kernel); 2] = [
    (
        "conv2d_backward_weight",
        subgroup_kernel("conv2d_subgroup_backward_weight_one_bank"),
    ),
    (
        "conv_transpose2d_backward_weight",
        subgroup_kernel("conv_transpose2d_subgroup_backward_weight_one_bank"),
    ),
];

/// The subgroup kernels the DCGAN runs (not the odd-width gathers), for `Kernels::prepare`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn subgroup_kernels() -> impl Iterator<Item = &'static Kernel> {
    SUBGROUP_KERNELS
        .iter()
        .chain(&ONE_BANK_KERNELS)
        .map(|(_, kernel)| kernel)
}

const fn subgroup_kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: Shader::ConvSubgroup,
        entry,
        storage: SUBGROUP_BINDINGS,
    }
}

/// Block edge of shaders/conv_subgroup.wgsl (32 rows by 8 lanes × 4 columns).
const SUBGROUP_BLOCK: usize = 32;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ConvParams {
    batch: u32,
    lo_channels: u32,
    lo_h: u32,
    lo_w: u32,
    hi_channels: u32,
    hi_h: u32,
    hi_w: u32,
    ksize: u32,
    stride: u32,
    pad: u32,
    w_stride_lo: u32,
    w_stride_hi: u32,
    accumulate: u32,
    m: u32,
    n: u32,
    k: u32,
    splits: u32,
    split_depth: u32,
    activation: u32,
    negative_slope: f32,
    activation_grad: u32,
}

/// The two maps of one convolution, each [channels, height, width], and how they are connected.
pub(crate) struct Geometry {
    pub batch: usize,
    pub lo: [usize; 3],
    pub hi: [usize; 3],
    pub ksize: usize,
    pub stride: usize,
    pub pad: usize,
    /// Weight element (l, h, ky, kx) is at l·w_stride_lo + h·w_stride_hi + ky·ksize + kx.
    pub w_stride_lo: usize,
    pub w_stride_hi: usize,
    /// K is never split over workgroups (`ConvTranspose2d::with_whole_k`).
    pub whole_k: bool,
    /// The activation in the product's epilogue.
    pub epilogue: Epilogue,
}

/// An activation applied as a product's elements are stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Epilogue {
    None,
    /// A forward product stores the activation of its output (`Conv::followed_by`).
    Activation(Activation),
    /// An input-gradient product stores the gradient at the input of the activation whose output it
    /// reads where the bias is bound (`Conv::backward_input_through`).
    GradientThrough(Activation),
}

impl Geometry {
    /// The parameter block for a product of `m` rows, `n` columns and depth `k`.
    fn params(
        &self,
        op: &'static str,
        [m, n, k]: [usize; 3],
        accumulate: bool,
        (splits, split_depth): (usize, usize),
        epilogue: Epilogue,
    ) -> Result<ConvParams> {
        let (activation, negative_slope) = match epilogue {
            Epilogue::None => (0, 0.0),
            Epilogue::Activation(a) | Epilogue::GradientThrough(a) => a.code(),
        };
        Ok(ConvParams {
            batch: as_u32(op, self.batch)?,
            lo_channels: as_u32(op, self.lo[0])?,
            lo_h: as_u32(op, self.lo[1])?,
            lo_w: as_u32(op, self.lo[2])?,
            hi_channels: as_u32(op, self.hi[0])?,
            hi_h: as_u32(op, self.hi[1])?,
            hi_w: as_u32(op, self.hi[2])?,
            ksize: as_u32(op, self.ksize)?,
            stride: as_u32(op, self.stride)?,
            pad: as_u32(op, self.pad)?,
            w_stride_lo: as_u32(op, self.w_stride_lo)?,
            w_stride_hi: as_u32(op, self.w_stride_hi)?,
            accumulate: accumulate as u32,
            m: as_u32(op, m)?,
            n: as_u32(op, n)?,
            k: as_u32(op, k)?,
            splits: as_u32(op, splits)?,
            split_depth: as_u32(op, split_depth)?,
            activation,
            negative_slope,
            activation_grad: matches!(epilogue, Epilogue::GradientThrough(_)) as u32,
        })
    }

    fn taps(&self) -> usize {
        self.ksize * self.ksize
    }

    /// Kernel taps per axis that reach one residue class of hi positions: ⌈ksize / stride⌉.
    fn taps_per_class(&self) -> usize {
        self.ksize.div_ceil(self.stride)
    }

    /// Rows of the GATHER_HI product: the hi positions grouped by (y + pad, x + pad) mod stride,
    /// each class padded to whole tiles of `tile` (`class_size` in conv.wgsl).
    fn hi_class_rows(&self, tile: usize) -> usize {
        self.hi_classes()
            .map(|[rows, width]| (self.batch * rows * width).next_multiple_of(tile))
            .sum()
    }

    /// [rows, columns] of the hi positions in each residue class of (y + pad, x + pad) mod stride.
    fn hi_classes(&self) -> impl Iterator<Item = [usize; 2]> + '_ {
        let [_, hh, hw] = self.hi;
        let axis = move |r: usize, size: usize| {
            let first = (r + self.stride - self.pad % self.stride) % self.stride;
            if first >= size {
                0
            } else {
                (size - first).div_ceil(self.stride)
            }
        };
        (0..self.stride * self.stride)
            .map(move |c| [axis(c / self.stride, hh), axis(c % self.stride, hw)])
    }

    /// (rows, columns, depth) of `product`.
    fn shape(&self, product: Product) -> [usize; 3] {
        let [lc, lh, lw] = self.lo;
        let hc = self.hi[0];
        match product {
            Product::GatherLo => [self.batch * lh * lw, lc, hc * self.taps()],
            Product::GatherHi => [
                self.hi_class_rows(TILE),
                hc,
                lc * self.taps_per_class().pow(2),
            ],
            Product::Weight => [lc, hc * self.taps(), self.batch * lh * lw],
        }
    }

    /// shaders/conv_subgroup.wgsl's version of `kernel` where the device runs those and this
    /// convolution fits them (size 4, stride 2, the product's rows whole blocks of 32 channels, or a
    /// single-channel hi map twice the lo map's size with pad 1), with its workgroup count and the
    /// multiply-adds it executes.
    fn subgroup_plan(
        &self,
        subgroups: bool,
        kernel: &Kernel,
        product: Product,
    ) -> Option<(&'static Kernel, usize, u64)> {
        let rows = match product {
            Product::GatherLo | Product::Weight => self.lo[0],
            Product::GatherHi => self.hi[0],
        };
        if !subgroups || self.ksize != 4 || self.stride != 2 {
            return None;
        }
        // A weight gradient workgroup's upper bank holds hi channels 2 and 3 of its four.
        let one_bank = matches!(product, Product::Weight) && self.hi[0] <= 2;
        let kernels = if matches!(product, Product::GatherLo) && self.hi[2] % 2 == 1 {
            &ODD_WIDTH_KERNELS[..]
        } else if one_bank {
            &ONE_BANK_KERNELS[..]
        } else {
            &SUBGROUP_KERNELS[..]
        };
        let (_, subgroup) = kernels.iter().find(|(entry, _)| *entry == kernel.entry)?;
        let [lc, lh, lw] = self.lo;
        let hc = self.hi[0];
        // A single-channel hi map (`single_channel_hi`): each lane takes four 2×2 quads of one row,
        // 64 multiply-adds per lo channel.
        if matches!(product, Product::GatherHi)
            && hc == 1
            && self.pad == 1
            && self.hi[1..] == [2 * lh, 2 * lw]
            && lc.is_multiple_of(8)
        {
            let workgroups = (self.batch * lh * lw.div_ceil(4)).div_ceil(8);
            return Some((subgroup, workgroups, 2 * (workgroups * 8 * 64 * lc) as u64));
        }
        if !rows.is_multiple_of(SUBGROUP_BLOCK) {
            return None;
        }
        let row_blocks = rows / SUBGROUP_BLOCK;
        // The gathers' lanes take slots of neighbouring positions of one map row (a row's last slot
        // may be partly past its end), eight lanes to a workgroup.
        let slots =
            |rows: usize, width: usize, size: usize| self.batch * rows * width.div_ceil(size);
        // (workgroups per block of rows, columns, depth)
        let (column_blocks, columns, depth) = match product {
            // Slots of eight positions: a workgroup computes two blocks.
            Product::GatherLo => {
                let blocks = slots(lh, lw, 8).div_ceil(8);
                (blocks, blocks * 2 * SUBGROUP_BLOCK, hc * 16)
            }
            // Each slot also holds the same four positions of the neighbouring column class: a
            // workgroup computes two blocks.
            Product::GatherHi => {
                let classes: Vec<[usize; 2]> = self.hi_classes().collect();
                let width = classes[0][1].max(classes[1][1]);
                let blocks = slots(classes[0][0], width, 4).div_ceil(8)
                    + slots(classes[2][0], width, 4).div_ceil(8);
                (blocks, blocks * 2 * SUBGROUP_BLOCK, lc * 4)
            }
            // Two hi channels' 16 taps per block, two blocks per workgroup (hi channels past the
            // last are read clamped), one block where there are at most two.
            Product::Weight => {
                let blocks = hc.div_ceil(4);
                let banks = if one_bank { 1 } else { 2 };
                (
                    blocks,
                    blocks * banks * SUBGROUP_BLOCK,
                    self.batch * lh * lw,
                )
            }
        };
        let flops = 2 * (rows * columns * depth) as u64;
        Some((subgroup, row_blocks * column_blocks, flops))
    }

    fn run(
        &self,
        gpu: &Gpu,
        (kernel, product): (&Kernel, Product),
        [src, weight, dst, bias, lo_map]: [Option<&Tensor>; 5],
        accumulate: bool,
    ) -> Result<Dispatch> {
        let shape = self.shape(product);
        let [m, n, k] = shape;
        let op = kernel.entry;
        // Four floats: the subgroup kernels read the weight as vec4s.
        let placeholder = Tensor::zeros(gpu, "unused binding", &[4])?;
        let or_placeholder = |t: Option<&Tensor>| t.cloned().unwrap_or_else(|| placeholder.clone());
        let mut bound: Vec<Tensor> = [src, weight, dst, bias, lo_map].map(or_placeholder).into();
        let key = ProductKey { op, shape };
        let variant = gpu.variant(&key);
        let subgroups = variant.family == Family::Subgroup && gpu.has_subgroup_kernels();
        if let Some((kernel, workgroups, flops)) = self.subgroup_plan(subgroups, kernel, product) {
            // The subgroup kernels store through a forward activation only: an activation's gradient
            // follows as its own pass (over scattered outputs, loads in the product cost lavapipe
            // more), in place on dst.
            let (epilogue, gradient_pass) = match self.epilogue {
                Epilogue::GradientThrough(a) => (Epilogue::None, Some(a)),
                other => (other, None),
            };
            let params = self.params(op, shape, accumulate, (1, k), epilogue)?;
            bound.push(bound[0].clone());
            bound.push(bound[4].clone());
            let mut product = dispatch(
                gpu,
                kernel,
                &params,
                &bound.iter().collect::<Vec<_>>(),
                as_u32(op, workgroups)?,
            )?
            .with_flops(flops);
            if let Some(activation) = gradient_pass {
                product = product.followed_by(activation.backward(gpu, &bound[3], &bound[2])?);
            }
            return Ok(product.for_product(&key, &bound[2]));
        }
        // Narrow products (NARROW in conv.wgsl) run one element per invocation instead of in tiles,
        // K whole.
        let (workgroups, split) = if n < NARROW {
            ((m * n).div_ceil(WORKGROUP), (1, k))
        } else {
            let tiles = m.div_ceil(TILE) * n.div_ceil(TILE);
            let split = if self.whole_k {
                (1, k)
            } else {
                split_k(gpu, &variant, tiles, shape)?
            };
            (tiles * split.0, split)
        };
        let params = self.params(op, shape, accumulate, split, self.epilogue)?;
        bound.push(gpu.split_partials()?.clone());
        let bound: Vec<&Tensor> = bound.iter().collect();
        let flops = 2 * (m * n * k) as u64;
        let workgroups = as_u32(op, workgroups)?;
        if split.0 == 1 {
            return Ok(
                dispatch_variant(gpu, kernel, &variant, &params, &bound, workgroups)?
                    .with_flops(flops)
                    .for_product(&key, bound[2]),
            );
        }
        let (_, [split_kernel, reduce]) = SPLIT_KERNELS
            .iter()
            .find(|(entry, _)| *entry == op)
            .expect("every tiled conv kernel has split and reduce kernels");
        let partial_sums =
            dispatch_variant(gpu, split_kernel, &variant, &params, &bound, workgroups)?;
        let sums = dispatch_variant(
            gpu,
            reduce,
            &variant,
            &params,
            &bound,
            groups_for(op, m * n)?,
        )?;
        Ok(partial_sums
            .with_flops(flops)
            .followed_by(sums)
            .for_product(&key, bound[2]))
    }

    /// One of the four gathers: `dst` (one map) from `src` (the other map) and the weight, plus `bias`
    /// per output channel for the forward kernels; for an input gradient through an activation
    /// (`Epilogue::GradientThrough`), `bias` is the activation's output, like dst.
    pub fn gather(
        &self,
        gpu: &Gpu,
        kernel: (&Kernel, Product),
        src: &Tensor,
        weight: &Tensor,
        dst: &Tensor,
        bias: Option<&Tensor>,
    ) -> Result<Dispatch> {
        self.run(
            gpu,
            kernel,
            [Some(src), Some(weight), Some(dst), bias, None],
            false,
        )
    }

    /// dweight(l, h, ky, kx) = Σ lo_map · hi_map over batch and lo positions.
    pub fn weight_gradient(
        &self,
        gpu: &Gpu,
        kernel: (&Kernel, Product),
        lo_map: &Tensor,
        hi_map: &Tensor,
        dweight: &Tensor,
        accumulate: bool,
    ) -> Result<Dispatch> {
        self.run(
            gpu,
            kernel,
            [Some(hi_map), None, Some(dweight), None, Some(lo_map)],
            accumulate,
        )
    }
}

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

/// The names of a direction's kernels and ops: forward, backward_input, backward_weight, backward_bias.
struct Ops {
    forward: (&'static Kernel, Product),
    backward_input: (&'static Kernel, Product),
    backward_weight: (&'static Kernel, Product),
    backward_bias: &'static str,
}

const DOWN: Ops = Ops {
    forward: (&CONV2D_FORWARD, Product::GatherLo),
    backward_input: (&CONV2D_BACKWARD_INPUT, Product::GatherHi),
    backward_weight: (&CONV2D_BACKWARD_WEIGHT, Product::Weight),
    backward_bias: "conv2d_backward_bias",
};
const UP: Ops = Ops {
    forward: (&CONV_TRANSPOSE2D_FORWARD, Product::GatherHi),
    backward_input: (&CONV_TRANSPOSE2D_BACKWARD_INPUT, Product::GatherLo),
    backward_weight: (&CONV_TRANSPOSE2D_BACKWARD_WEIGHT, Product::Weight),
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
    fn geometry(&self, op: &'static str, tensor: &'static str, x: &Tensor) -> Result<Geometry> {
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
        Ok(Geometry {
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
    fn output_shape(&self, g: &Geometry) -> [usize; 4] {
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
        let kernel = self.ops().forward;
        let op = kernel.0.entry;
        let g = Geometry {
            whole_k: self.whole_k,
            epilogue: self.then.map_or(Epilogue::None, Epilogue::Activation),
            ..self.geometry(op, "x", x)?
        };
        expect_shape(op, "weight", weight, &self.weight_shape())?;
        expect_shape(op, "bias", bias, &[self.out_channels])?;
        expect_shape(op, "y", y, &self.output_shape(&g))?;
        g.gather(gpu, kernel, x, weight, y, Some(bias))
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
        let kernel = self.ops().backward_input;
        let op = kernel.0.entry;
        let g = Geometry {
            epilogue: through.map_or(Epilogue::None, |(a, _)| Epilogue::GradientThrough(a)),
            ..self.geometry(op, "dx", dx)?
        };
        expect_shape(op, "dy", dy, &self.output_shape(&g))?;
        expect_shape(op, "weight", weight, &self.weight_shape())?;
        let activated = through.map(|(_, activated)| activated);
        if let Some(a) = activated {
            expect_shape(op, "activated", a, dx.shape())?;
        }
        g.gather(gpu, kernel, dy, weight, dx, activated)
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
        let kernel = self.ops().backward_weight;
        let op = kernel.0.entry;
        let g = self.geometry(op, "x", x)?;
        expect_shape(op, "dy", dy, &self.output_shape(&g))?;
        expect_shape(op, "dweight", dweight, &self.weight_shape())?;
        let (lo_map, hi_map) = match self.direction {
            Direction::Down => (dy, x),
            Direction::Up => (x, dy),
        };
        g.weight_gradient(gpu, kernel, lo_map, hi_map, dweight, accumulate)
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
