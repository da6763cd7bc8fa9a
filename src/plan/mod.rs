//! Which kernel computes a matrix product: the one module that knows the kernel families. Layers
//! describe their maths — a product's m, n, k and how its operands lie in memory ([`MatMul`]), a
//! convolution's geometry and which of its three products ([`ConvGeometry`], [`ConvProduct`]) — and
//! get back a bound [`Dispatch`]. The device's tuning record ([`Tuning`]: the adapter's defaults,
//! the tuner's choice per product, `--kernels`) gives each product a [`Variant`]; here it becomes a
//! kernel:
//!
//! - [`tiled`]: shaders/linear.wgsl's and conv.wgsl's products on gemm.wgsl's workgroup-memory
//!   tiles, for every shape, K split over workgroups where the variant says so: what GPUs run.
//! - [`cpu`]: shaders/cpu/linear_subgroup.wgsl's and conv_subgroup.wgsl's register blocks, for CPU
//!   adapters whose subgroups are SIMD lanes (lavapipe), for the products they fit; every other
//!   product runs tiled. A reader of the GPU path may skip this file.
//!
//! The record's two other choices are layouts of the kernels besides the products: Adam's and the
//! activations' access width ([`access_width`]) and BatchNorm's and the bias gradients' walk over
//! channels ([`Gpu::by_plane`], which those kernels' constants and BatchNorm's reductions follow). docs/kernels.md lists every variant, the
//! adapters it is for and the measurement that keeps it.

pub mod cpu;
pub mod tiled;

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::{Dispatch, Family, Gpu, ProductKey, Variant, as_u32};
use crate::tensor::Tensor;

pub use crate::kernels::Tuning;

/// C[m×n] = A[m×k]·B[k×n], with A(i, l) = a[i·a_stride.0 + l·a_stride.1] and
/// B(l, j) = b[l·b_stride.0 + j·b_stride.1]; C is stored row-major, `n` to a row.
pub struct MatMul<'a> {
    /// The product's name: the tuning record's key (with its shape) and its tiled kernels' entry
    /// point (`linear_forward`, `linear_backward_input`, `linear_backward_weight`).
    pub op: &'static str,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a Tensor,
    pub a_stride: (usize, usize),
    pub b: &'a Tensor,
    pub b_stride: (usize, usize),
    pub c: &'a Tensor,
    /// Added to each row of C as it is stored, one value per column. A product with a bias is a
    /// forward product: BatchNorm follows it, so it sums its depths compensated (docs/kernels.md).
    pub bias: Option<&'a Tensor>,
    /// C += A·B instead of C = A·B.
    pub accumulate: bool,
    /// K is never split over workgroups, so that a row of C does not depend on the rows around it
    /// (`Linear::with_whole_k`).
    pub whole_k: bool,
}

impl MatMul<'_> {
    fn key(&self) -> ProductKey {
        ProductKey {
            op: self.op,
            shape: [self.m, self.n, self.k],
        }
    }

    fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }

    fn params(&self, (splits, split_depth): (usize, usize)) -> Result<LinearParams> {
        let op = self.op;
        Ok(LinearParams {
            m: as_u32(op, self.m)?,
            n: as_u32(op, self.n)?,
            k: as_u32(op, self.k)?,
            a_stride_m: as_u32(op, self.a_stride.0)?,
            a_stride_k: as_u32(op, self.a_stride.1)?,
            b_stride_k: as_u32(op, self.b_stride.0)?,
            b_stride_n: as_u32(op, self.b_stride.1)?,
            accumulate: self.accumulate as u32,
            splits: as_u32(op, splits)?,
            split_depth: as_u32(op, split_depth)?,
            bias_broadcast: 0,
            _pad: 0,
        })
    }
}

/// The parameter block of linear.wgsl and linear_subgroup.wgsl (`LinearParams` in params.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct LinearParams {
    m: u32,
    n: u32,
    k: u32,
    a_stride_m: u32,
    a_stride_k: u32,
    b_stride_k: u32,
    b_stride_n: u32,
    accumulate: u32,
    splits: u32,
    split_depth: u32,
    bias_broadcast: u32,
    _pad: u32,
}

/// The product `mm` as one dispatch: on the subgroup kernels where its variant is of that family,
/// the device has them and the product fits them; else tiled.
pub fn matmul(gpu: &Gpu, mm: &MatMul) -> Result<Dispatch> {
    let key = mm.key();
    let variant = gpu.variant(&key);
    if on_subgroups(gpu, &variant)
        && let Some(dispatch) = cpu::matmul(gpu, &key, mm)?
    {
        return Ok(dispatch);
    }
    tiled::matmul(gpu, &key, &variant, mm)
}

/// Whether a product of `variant` runs on the subgroup kernels (where it fits them).
fn on_subgroups(gpu: &Gpu, variant: &Variant) -> bool {
    variant.family == Family::Subgroup && gpu.has_subgroup_kernels()
}

/// The three products of a convolution (`product` in shaders/conv.wgsl), over its two maps: "hi"
/// (high resolution) and "lo", where lo position u sees hi position u·stride − pad + k.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvProduct {
    /// Output on the lo grid: rows (n, u, v), columns lo channels, depth (hi channel, ky, kx).
    GatherLo,
    /// Output on the hi grid: rows (n, y, x), columns hi channels, depth (lo channel, ky, kx).
    GatherHi,
    /// The weight gradient: rows lo channels, columns (hi channel, ky, kx), depth (n, u, v).
    Weight,
}

/// An activation applied as a convolution product's elements are stored, as conv.wgsl codes it
/// (`Activation::code`: the activation and its negative slope).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Epilogue {
    None,
    /// A forward product stores the activation of its output.
    Activation((u32, f32)),
    /// An input-gradient product stores the gradient at the input of the activation whose output
    /// it reads where the bias is bound.
    GradientThrough((u32, f32)),
}

/// The two maps of one convolution, each [channels, height, width], and how they are connected.
#[derive(Clone, Debug)]
pub struct ConvGeometry {
    pub batch: usize,
    pub lo: [usize; 3],
    pub hi: [usize; 3],
    pub ksize: usize,
    pub stride: usize,
    pub pad: usize,
    /// Weight element (l, h, ky, kx) is at l·w_stride_lo + h·w_stride_hi + ky·ksize + kx.
    pub w_stride_lo: usize,
    pub w_stride_hi: usize,
    /// K is never split over workgroups (as [`MatMul::whole_k`]).
    pub whole_k: bool,
    /// The activation in the product's epilogue.
    pub epilogue: Epilogue,
}

/// The parameter block of conv.wgsl and conv_subgroup.wgsl.
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

/// The tensors of one convolution product: `src` (the map read), `weight`, `dst` (the map or weight
/// gradient written), `bias` (per output channel for a forward product; the activation's output for
/// an input gradient through it), `lo_map` (the weight gradient's lo map). Absent ones are bound to
/// a placeholder.
pub struct ConvTensors<'a> {
    pub src: &'a Tensor,
    pub weight: Option<&'a Tensor>,
    pub dst: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub lo_map: Option<&'a Tensor>,
}

/// A convolution product as one dispatch, and whether the gradient through the epilogue's
/// activation is left for a pass of its own (the subgroup kernels store through forward activations
/// only); the caller then appends that pass, in place on `dst`.
pub struct ConvDispatch {
    pub dispatch: Dispatch,
    pub gradient_left: bool,
}

impl ConvGeometry {
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
            Epilogue::Activation(a) | Epilogue::GradientThrough(a) => a,
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

    /// (rows, columns, depth) of `product` as the tiled kernels compute it.
    fn shape(&self, product: ConvProduct) -> [usize; 3] {
        let [lc, lh, lw] = self.lo;
        let hc = self.hi[0];
        match product {
            ConvProduct::GatherLo => [self.batch * lh * lw, lc, hc * self.taps()],
            ConvProduct::GatherHi => [
                self.hi_class_rows(crate::kernels::TILE),
                hc,
                lc * self.taps_per_class().pow(2),
            ],
            ConvProduct::Weight => [lc, hc * self.taps(), self.batch * lh * lw],
        }
    }
}

/// The convolution product `product` of geometry `g`, named `op` (its tiled kernel's entry point,
/// e.g. `conv2d_forward`), as one dispatch: on the subgroup kernels where its variant is of that
/// family, the device has them and the convolution fits them; else tiled.
pub fn conv(
    gpu: &Gpu,
    op: &'static str,
    g: &ConvGeometry,
    product: ConvProduct,
    tensors: ConvTensors,
    accumulate: bool,
) -> Result<ConvDispatch> {
    let key = ProductKey {
        op,
        shape: g.shape(product),
    };
    let variant = gpu.variant(&key);
    if on_subgroups(gpu, &variant)
        && let Some(planned) = cpu::conv(gpu, &key, g, product, &tensors, accumulate)?
    {
        return Ok(planned);
    }
    tiled::conv(gpu, &key, &variant, g, &tensors, accumulate).map(|dispatch| ConvDispatch {
        dispatch,
        gradient_left: false,
    })
}

/// How many floats an element-wise kernel (Adam, the activations) moves per buffer access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessWidth {
    One,
    /// A vec4<f32>.
    Four,
    /// A vec4<u64> (shaders/cpu/wide.wgsl): for CPU adapters, which pay each access per lane and
    /// component.
    Eight,
}

/// The width for an element-wise kernel over `count` elements: eight where the record says so
/// (`wide_loads`) and `count` allows, else four where it allows, else one.
pub fn access_width(gpu: &Gpu, count: usize) -> AccessWidth {
    if gpu.wide_loads() && count.is_multiple_of(8) {
        AccessWidth::Eight
    } else if count.is_multiple_of(4) {
        AccessWidth::Four
    } else {
        AccessWidth::One
    }
}

/// Four floats, bound where a kernel has no use for a binding (the subgroup kernels read the weight
/// as vec4s).
fn placeholder(gpu: &Gpu) -> Result<Tensor> {
    Tensor::zeros(gpu, "unused binding", &[4])
}
