//! The tiled family: shaders/linear.wgsl's and conv.wgsl's products on shaders/gemm.wgsl's 64×64
//! workgroup-memory tiles, for every shape. Where a product has few tiles and a long K, the variant's
//! `split_target` splits K over workgroups: a `_split` kernel writes partial sums and a `_reduce`
//! kernel adds them in a fixed order.

use super::{ConvGeometry, ConvTensors, MatMul, placeholder};
use crate::error::Result;
use crate::kernels::{
    Dispatch, Gpu, Kernel, NARROW, ProductKey, Shader, Storage, TILE, Variant, WORKGROUP, as_u32,
    dispatch_variant, groups_for, read, split_k, write,
};
use crate::tensor::Tensor;

/// A product's kernel over K whole, the same over one split of K, and the one that adds up the
/// splits.
struct Kernels {
    whole: Kernel,
    split: Kernel,
    reduce: Kernel,
}

// Every linear.wgsl entry point binds the bias (only linear_forward adds it; the others get a
// placeholder) and the partial sums of split products.
const LINEAR_BINDINGS: &[Storage] = &[read(1), read(2), write(3), read(4), write(7)];
// Every conv.wgsl entry point runs the same product code, so each binds all five buffers (src,
// weight, dst, bias, lo_map) and the partial sums.
const CONV_BINDINGS: &[Storage] = &[read(1), read(2), write(3), read(4), read(5), write(7)];

const fn kernels(shader: Shader, names: [&'static str; 3]) -> Kernels {
    let [whole, split, reduce] = names;
    let storage = match shader {
        Shader::Linear => LINEAR_BINDINGS,
        _ => CONV_BINDINGS,
    };
    Kernels {
        whole: Kernel {
            shader,
            entry: whole,
            storage,
        },
        split: Kernel {
            shader,
            entry: split,
            storage,
        },
        reduce: Kernel {
            shader,
            entry: reduce,
            storage,
        },
    }
}

/// The tiled kernels of each product, by its op (the whole kernel's entry point).
static PRODUCTS: [Kernels; 9] = [
    kernels(
        Shader::Linear,
        [
            "linear_forward",
            "linear_forward_split",
            "linear_forward_reduce",
        ],
    ),
    kernels(
        Shader::Linear,
        [
            "linear_backward_input",
            "linear_backward_input_split",
            "linear_backward_input_reduce",
        ],
    ),
    kernels(
        Shader::Linear,
        [
            "linear_backward_weight",
            "linear_backward_weight_split",
            "linear_backward_weight_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv2d_forward",
            "conv2d_forward_split",
            "conv2d_forward_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv2d_backward_input",
            "conv2d_backward_input_split",
            "conv2d_backward_input_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv2d_backward_weight",
            "conv2d_backward_weight_split",
            "conv2d_backward_weight_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv_transpose2d_forward",
            "conv_transpose2d_forward_split",
            "conv_transpose2d_forward_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv_transpose2d_backward_input",
            "conv_transpose2d_backward_input_split",
            "conv_transpose2d_backward_input_reduce",
        ],
    ),
    kernels(
        Shader::Conv,
        [
            "conv_transpose2d_backward_weight",
            "conv_transpose2d_backward_weight_split",
            "conv_transpose2d_backward_weight_reduce",
        ],
    ),
];

fn kernels_of(op: &str) -> &'static Kernels {
    PRODUCTS
        .iter()
        .find(|k| k.whole.entry == op)
        .unwrap_or_else(|| panic!("{op}: no tiled kernel of that name"))
}

/// The product as one dispatch of `tiles` workgroups over K whole or, where K is split, the split
/// kernel followed by the reduction of `outputs` elements.
#[allow(clippy::too_many_arguments)]
fn run<P: bytemuck::Pod>(
    gpu: &Gpu,
    key: &ProductKey,
    variant: &Variant,
    params: &P,
    bound: &[&Tensor],
    (workgroups, splits, outputs): (usize, usize, usize),
    flops: u64,
    output: &Tensor,
) -> Result<Dispatch> {
    let op = key.op;
    let kernels = kernels_of(op);
    let workgroups = as_u32(op, workgroups)?;
    if splits == 1 {
        return Ok(
            dispatch_variant(gpu, &kernels.whole, variant, params, bound, workgroups)?
                .with_flops(flops)
                .for_product(key, output),
        );
    }
    let partial_sums = dispatch_variant(gpu, &kernels.split, variant, params, bound, workgroups)?;
    let sums = dispatch_variant(
        gpu,
        &kernels.reduce,
        variant,
        params,
        bound,
        groups_for(op, outputs)?,
    )?;
    Ok(partial_sums
        .with_flops(flops)
        .followed_by(sums)
        .for_product(key, output))
}

/// The workgroups of a tiled product of `shape` [m, n, k] and how its depth is cut (splits, depth
/// of each): split to the variant's target unless `whole_k`.
fn tiles_and_split(
    gpu: &Gpu,
    variant: &Variant,
    shape: [usize; 3],
    whole_k: bool,
) -> Result<(usize, (usize, usize))> {
    let [m, n, k] = shape;
    let tiles = m.div_ceil(TILE) * n.div_ceil(TILE);
    let split = if whole_k {
        (1, k)
    } else {
        split_k(gpu, variant, tiles, shape)?
    };
    Ok((tiles * split.0, split))
}

/// A Linear product on linear.wgsl's tiles.
pub(super) fn matmul(
    gpu: &Gpu,
    key: &ProductKey,
    variant: &Variant,
    mm: &MatMul,
) -> Result<Dispatch> {
    let (workgroups, split) = tiles_and_split(gpu, variant, key.shape, mm.whole_k)?;
    let params = mm.params(split)?;
    let unused = placeholder(gpu)?;
    let bound = [
        mm.a,
        mm.b,
        mm.c,
        mm.bias.unwrap_or(&unused),
        gpu.split_partials()?,
    ];
    run(
        gpu,
        key,
        variant,
        &params,
        &bound,
        (workgroups, split.0, mm.m * mm.n),
        mm.flops(),
        mm.c,
    )
}

/// A convolution product on conv.wgsl's tiles (narrow ones one element per invocation).
pub(super) fn conv(
    gpu: &Gpu,
    key: &ProductKey,
    variant: &Variant,
    g: &ConvGeometry,
    t: &ConvTensors,
    accumulate: bool,
) -> Result<Dispatch> {
    let [m, n, k] = key.shape;
    let (workgroups, split) = if n < NARROW {
        ((m * n).div_ceil(WORKGROUP), (1, k))
    } else {
        tiles_and_split(gpu, variant, key.shape, g.whole_k)?
    };
    let params = g.params(key.op, key.shape, accumulate, split, g.epilogue)?;
    let unused = placeholder(gpu)?;
    let bound = [
        t.src,
        t.weight.unwrap_or(&unused),
        t.dst,
        t.bias.unwrap_or(&unused),
        t.lo_map.unwrap_or(&unused),
        gpu.split_partials()?,
    ];
    run(
        gpu,
        key,
        variant,
        &params,
        &bound,
        (workgroups, split.0, m * n),
        2 * (m * n * k) as u64,
        t.dst,
    )
}
