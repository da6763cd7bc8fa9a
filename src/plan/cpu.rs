//! The subgroup family, for CPU adapters whose subgroups are SIMD lanes (lavapipe): the products of
//! shaders/cpu/linear_subgroup.wgsl and conv_subgroup.wgsl (with subgroup_block.wgsl), each keeping two
//! 32×32 blocks per 8-lane subgroup in registers. They take the products they fit; the others run
//! tiled. docs/kernels.md says why they look as they do.

use super::{ConvDispatch, ConvGeometry, ConvProduct, ConvTensors, Epilogue, MatMul, placeholder};
use crate::error::Result;
use crate::kernels::{
    Dispatch, Gpu, Kernel, ProductKey, Shader, Storage, as_u32, dispatch, read, write,
};

/// Block edge of the subgroup kernels: 32 rows by 8 lanes × 4 columns.
const BLOCK: usize = 32;
/// Depth linear_subgroup.wgsl reads at once (a vec4 of A per row).
const DEPTH: usize = 4;

// linear_subgroup.wgsl's products, by how they read their operands (same bindings for the same
// tensors, in order: A, B, C and, forward, the bias).
/// A and B both contiguous along K (x and Wᵀ): the forward product, with its bias.
const LINEAR_FORWARD: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_forward",
    storage: &[read(1), read(2), write(3), read(4)],
};
/// The forward product for a K that is not a multiple of 4, from scalar views of A and B.
const LINEAR_FORWARD_UNALIGNED: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_forward_unaligned",
    storage: &[read(9), read(10), write(3), read(4)],
};
/// A contiguous along K, B along N (dy and W).
const LINEAR_BACKWARD_INPUT: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_backward_input",
    storage: &[read(1), read(6), write(3)],
};
/// A contiguous along M, read down its columns 32 rows at a time (dyᵀ), B along N (x).
const LINEAR_BACKWARD_WEIGHT: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_backward_weight",
    storage: &[read(5), read(6), write(3)],
};

/// How a product's operands lie: its shape and strides, as [`MatMul`] gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    m: usize,
    n: usize,
    k: usize,
    a_stride: (usize, usize),
    b_stride: (usize, usize),
}

impl Layout {
    fn of(mm: &MatMul) -> Layout {
        Layout {
            m: mm.m,
            n: mm.n,
            k: mm.k,
            a_stride: mm.a_stride,
            b_stride: mm.b_stride,
        }
    }

    /// Cᵀ = Bᵀ·Aᵀ: the same product with the operands' roles swapped. For a C of one column (a
    /// layer with one output feature) Cᵀ is the same memory, and its columns are the batch.
    fn transposed(self) -> Layout {
        Layout {
            m: self.n,
            n: self.m,
            k: self.k,
            a_stride: (self.b_stride.1, self.b_stride.0),
            b_stride: (self.a_stride.1, self.a_stride.0),
        }
    }

    /// The layout with A's stride along a dimension of size 1 (which no element uses) set so that A
    /// reads as a stored matrix: [K][M] where K is 1 and A runs along M, [M][K] where M is 1 and A
    /// runs along K. The kernels read A through its strides by whole rows or columns.
    fn settled(self) -> Layout {
        let mut l = self;
        if l.k == 1 && l.a_stride.0 == 1 {
            l.a_stride.1 = l.m;
        } else if l.m == 1 && l.a_stride.1 == 1 {
            l.a_stride.0 = l.k;
        }
        l
    }

    /// The subgroup kernel that reads this layout, where the product fits it: whole 32-column
    /// blocks, and either whole 4-deep slices of A's contiguous rows (rows may end mid-block), or,
    /// where A is read down its columns, whole blocks of rows. A forward product (`bias`) of
    /// unaligned depth runs on scalar views.
    fn kernel(&self, bias: bool) -> Option<&'static Kernel> {
        let a_along_k = self.a_stride.1 == 1;
        let a_along_m = self.a_stride.0 == 1;
        let b_along_k = self.b_stride.0 == 1;
        let b_along_n = self.b_stride.1 == 1;
        if !self.n.is_multiple_of(BLOCK) {
            return None;
        }
        let aligned = self.k.is_multiple_of(DEPTH);
        match (bias, a_along_k, a_along_m, b_along_k, b_along_n) {
            (true, true, _, true, _) if aligned => Some(&LINEAR_FORWARD),
            (true, true, _, true, _) => Some(&LINEAR_FORWARD_UNALIGNED),
            (false, true, _, _, true) if aligned => Some(&LINEAR_BACKWARD_INPUT),
            (false, false, true, _, true) if self.m.is_multiple_of(BLOCK) => {
                Some(&LINEAR_BACKWARD_WEIGHT)
            }
            _ => None,
        }
    }
}

/// The subgroup kernel for a product of `layout` (`bias`: a forward product), with the layout it
/// reads and whether that is the product transposed: a forward product of one column (a layer with
/// one output feature) runs as Cᵀ = Bᵀ·Aᵀ, so that the batch is the columns, its bias broadcast.
fn choose(layout: Layout, bias: bool) -> Option<(&'static Kernel, Layout, bool)> {
    if bias && layout.n == 1 {
        let transposed = layout.transposed();
        if let Some(kernel) = transposed.kernel(true)
            && kernel.entry == LINEAR_FORWARD.entry
        {
            return Some((kernel, transposed, true));
        }
    }
    let settled = layout.settled();
    settled.kernel(bias).map(|kernel| (kernel, settled, false))
}

/// `mm` on a subgroup kernel, where one fits it; a transposed product has its bias broadcast
/// (shaders/cpu/linear_subgroup.wgsl).
pub(super) fn matmul(gpu: &Gpu, key: &ProductKey, mm: &MatMul) -> Result<Option<Dispatch>> {
    let Some((kernel, layout, transposed)) = choose(Layout::of(mm), mm.bias.is_some()) else {
        return Ok(None);
    };
    let mut tensors = if transposed {
        vec![mm.b, mm.a, mm.c]
    } else {
        vec![mm.a, mm.b, mm.c]
    };
    tensors.extend(mm.bias);
    let as_laid_out = MatMul {
        m: layout.m,
        n: layout.n,
        k: layout.k,
        a_stride: layout.a_stride,
        b_stride: layout.b_stride,
        ..*mm
    };
    let params = super::LinearParams {
        bias_broadcast: transposed as u32,
        ..as_laid_out.params((1, layout.k))?
    };
    // A workgroup computes two blocks side by side.
    let blocks = layout.m.div_ceil(BLOCK) * layout.n.div_ceil(2 * BLOCK);
    Ok(Some(
        dispatch(gpu, kernel, &params, &tensors, as_u32(key.op, blocks)?)?
            .with_flops(mm.flops())
            .for_product(key, mm.c),
    ))
}

// conv_subgroup.wgsl binds what conv.wgsl does (src, weight, dst, bias, lo_map), then src a second
// time as pairs of floats, which its gathers onto the lo grid read (hi maps of even width; the
// `_odd_width` versions take the others), and lo_map a second time as vec4s, which its weight
// gradients read.
const CONV_BINDINGS: &[Storage] = &[
    read(1),
    read(2),
    write(3),
    read(4),
    read(5),
    read(6),
    read(7),
];

const fn conv_kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: Shader::ConvSubgroup,
        entry,
        storage: CONV_BINDINGS,
    }
}

// The six convolution products for kernels of size 4 and stride 2, by the op of their tiled kernel.
const CONV_KERNELS: [(&str, Kernel); 6] = [
    ("conv2d_forward", conv_kernel("conv2d_subgroup_forward")),
    (
        "conv2d_backward_input",
        conv_kernel("conv2d_subgroup_backward_input"),
    ),
    (
        "conv2d_backward_weight",
        conv_kernel("conv2d_subgroup_backward_weight"),
    ),
    (
        "conv_transpose2d_forward",
        conv_kernel("conv_transpose2d_subgroup_forward"),
    ),
    (
        "conv_transpose2d_backward_input",
        conv_kernel("conv_transpose2d_subgroup_backward_input"),
    ),
    (
        "conv_transpose2d_backward_weight",
        conv_kernel("conv_transpose2d_subgroup_backward_weight"),
    ),
];

// The gathers onto the lo grid for hi maps of odd width.
const ODD_WIDTH_KERNELS: [(&str, Kernel); 2] = [
    (
        "conv2d_forward",
        conv_kernel("conv2d_subgroup_forward_odd_width"),
    ),
    (
        "conv_transpose2d_backward_input",
        conv_kernel("conv_transpose2d_subgroup_backward_input_odd_width"),
    ),
];

// The weight gradients for hi maps of one or two channels, whose workgroups have no upper bank.
const ONE_BANK_KERNELS: [(&str, Kernel); 2] = [
    (
        "conv2d_backward_weight",
        conv_kernel("conv2d_subgroup_backward_weight_one_bank"),
    ),
    (
        "conv_transpose2d_backward_weight",
        conv_kernel("conv_transpose2d_subgroup_backward_weight_one_bank"),
    ),
];

/// The subgroup kernels the DCGAN runs, largest first: those worth creating ahead of use on a
/// second thread (`Gpu::prepare`), since lavapipe spends 20–100 ms turning each into a pipeline.
#[cfg(not(target_arch = "wasm32"))]
pub fn kernels_to_prepare() -> Vec<&'static Kernel> {
    CONV_KERNELS
        .iter()
        .chain(&ONE_BANK_KERNELS)
        .map(|(_, kernel)| kernel)
        .chain([
            &LINEAR_FORWARD,
            &LINEAR_FORWARD_UNALIGNED,
            &LINEAR_BACKWARD_INPUT,
            &LINEAR_BACKWARD_WEIGHT,
        ])
        .collect()
}

/// conv_subgroup.wgsl's version of the product `op` of geometry `g`, where it fits (size 4, stride
/// 2, the product's rows whole blocks of 32 channels, or a single-channel hi map twice the lo map's
/// size with pad 1), with its workgroup count and the multiply-adds it executes.
fn conv_plan(
    op: &str,
    g: &ConvGeometry,
    product: ConvProduct,
) -> Option<(&'static Kernel, usize, u64)> {
    let rows = match product {
        ConvProduct::GatherLo | ConvProduct::Weight => g.lo[0],
        ConvProduct::GatherHi => g.hi[0],
    };
    if g.ksize != 4 || g.stride != 2 {
        return None;
    }
    // A weight gradient workgroup's upper bank holds hi channels 2 and 3 of its four.
    let one_bank = product == ConvProduct::Weight && g.hi[0] <= 2;
    let kernels = if product == ConvProduct::GatherLo && g.hi[2] % 2 == 1 {
        &ODD_WIDTH_KERNELS[..]
    } else if one_bank {
        &ONE_BANK_KERNELS[..]
    } else {
        &CONV_KERNELS[..]
    };
    let (_, kernel) = kernels.iter().find(|(entry, _)| *entry == op)?;
    let [lc, lh, lw] = g.lo;
    let hc = g.hi[0];
    // A single-channel hi map (`single_channel_hi`): each lane takes four 2×2 quads of one row,
    // 64 multiply-adds per lo channel.
    if product == ConvProduct::GatherHi
        && hc == 1
        && g.pad == 1
        && g.hi[1..] == [2 * lh, 2 * lw]
        && lc.is_multiple_of(8)
    {
        let workgroups = (g.batch * lh * lw.div_ceil(4)).div_ceil(8);
        return Some((kernel, workgroups, 2 * (workgroups * 8 * 64 * lc) as u64));
    }
    if !rows.is_multiple_of(BLOCK) {
        return None;
    }
    let row_blocks = rows / BLOCK;
    // The gathers' lanes take slots of neighbouring positions of one map row (a row's last slot
    // may be partly past its end), eight lanes to a workgroup.
    let slots = |rows: usize, width: usize, size: usize| g.batch * rows * width.div_ceil(size);
    // (workgroups per block of rows, columns, depth)
    let (column_blocks, columns, depth) = match product {
        // Slots of eight positions: a workgroup computes two blocks.
        ConvProduct::GatherLo => {
            let blocks = slots(lh, lw, 8).div_ceil(8);
            (blocks, blocks * 2 * BLOCK, hc * 16)
        }
        // Each slot also holds the same four positions of the neighbouring column class: a
        // workgroup computes two blocks.
        ConvProduct::GatherHi => {
            let classes: Vec<[usize; 2]> = g.hi_classes().collect();
            let width = classes[0][1].max(classes[1][1]);
            let blocks = slots(classes[0][0], width, 4).div_ceil(8)
                + slots(classes[2][0], width, 4).div_ceil(8);
            (blocks, blocks * 2 * BLOCK, lc * 4)
        }
        // Two hi channels' 16 taps per block, two blocks per workgroup (hi channels past the
        // last are read clamped), one block where there are at most two.
        ConvProduct::Weight => {
            let blocks = hc.div_ceil(4);
            let banks = if one_bank { 1 } else { 2 };
            (blocks, blocks * banks * BLOCK, g.batch * lh * lw)
        }
    };
    let flops = 2 * (rows * columns * depth) as u64;
    Some((kernel, row_blocks * column_blocks, flops))
}

/// The convolution product on its subgroup kernel, where one fits. These store through a forward
/// activation only: an activation's gradient is left for a pass of its own (over scattered
/// outputs, loads in the product cost lavapipe more than a pass after it).
pub(super) fn conv(
    gpu: &Gpu,
    key: &ProductKey,
    g: &ConvGeometry,
    product: ConvProduct,
    t: &ConvTensors,
    accumulate: bool,
) -> Result<Option<ConvDispatch>> {
    let op = key.op;
    let Some((kernel, workgroups, flops)) = conv_plan(op, g, product) else {
        return Ok(None);
    };
    let (epilogue, gradient_left) = match g.epilogue {
        Epilogue::GradientThrough(_) => (Epilogue::None, true),
        other => (other, false),
    };
    let params = g.params(op, key.shape, accumulate, (1, key.shape[2]), epilogue)?;
    let unused = placeholder(gpu)?;
    let lo_map = t.lo_map.unwrap_or(&unused);
    let bound = [
        t.src,
        t.weight.unwrap_or(&unused),
        t.dst,
        t.bias.unwrap_or(&unused),
        lo_map,
        t.src,
        lo_map,
    ];
    let dispatch = dispatch(gpu, kernel, &params, &bound, as_u32(op, workgroups)?)?
        .with_flops(flops)
        .for_product(key, t.dst);
    Ok(Some(ConvDispatch {
        dispatch,
        gradient_left,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(m: usize, n: usize, k: usize, a: (usize, usize), b: (usize, usize)) -> Layout {
        Layout {
            m,
            n,
            k,
            a_stride: a,
            b_stride: b,
        }
    }

    /// The kernel, read layout and transposition `choose` gives, as entry point names.
    fn chosen(l: Layout, bias: bool) -> Option<(&'static str, Layout, bool)> {
        choose(l, bias).map(|(kernel, layout, transposed)| (kernel.entry, layout, transposed))
    }

    /// The DCGAN's Linear products as `Linear` describes them (x [N][in], W [out][in], dy [N][out]),
    /// at a batch of 64 and one of 40 (not whole blocks of 32).
    #[test]
    fn the_models_linear_products_get_the_kernels_that_read_their_layout() {
        let forward = |n, inp, out| layout(n, out, inp, (inp, 1), (1, inp));
        let backward_input = |n, inp, out| layout(n, inp, out, (out, 1), (inp, 1));
        let backward_weight = |n, inp, out| layout(out, inp, n, (1, out), (inp, 1));
        // G's fc.0: 62 inputs, not whole 4-deep slices.
        assert_eq!(
            chosen(forward(64, 62, 1024), true),
            Some((
                "linear_subgroup_forward_unaligned",
                forward(64, 62, 1024),
                false
            ))
        );
        assert_eq!(
            chosen(forward(64, 1024, 6272), true).map(|c| c.0),
            Some("linear_subgroup_forward")
        );
        assert_eq!(
            chosen(backward_input(64, 1024, 6272), false).map(|c| c.0),
            Some("linear_subgroup_backward_input")
        );
        // G's fc.0 input gradient has 62 columns: tiled.
        assert_eq!(chosen(backward_input(64, 62, 1024), false), None);
        assert_eq!(
            chosen(backward_weight(64, 6272, 1024), false).map(|c| c.0),
            Some("linear_subgroup_backward_weight")
        );
        // D's fc.3, one output feature: the forward transposed (the batch as columns) ...
        assert_eq!(
            chosen(forward(64, 1024, 1), true),
            Some((
                "linear_subgroup_forward",
                layout(1, 64, 1024, (1024, 1), (1, 1024)),
                true
            ))
        );
        // ... the input gradient, K = 1, reads dy down its column ...
        assert_eq!(
            chosen(backward_input(64, 1024, 1), false),
            Some((
                "linear_subgroup_backward_weight",
                layout(64, 1024, 1, (1, 64), (1024, 1)),
                false
            ))
        );
        // ... and the weight gradient, M = 1, reads dyᵀ as one row.
        assert_eq!(
            chosen(backward_weight(64, 1024, 1), false),
            Some((
                "linear_subgroup_backward_input",
                layout(1, 1024, 64, (64, 1), (1024, 1)),
                false
            ))
        );
        // At a batch of 40 (not whole blocks) the forward and the input gradient run tiled; the
        // weight gradient, whose columns are the 1024 inputs, still fits.
        assert_eq!(chosen(forward(40, 1024, 1), true), None);
        assert_eq!(chosen(backward_input(40, 1024, 1), false), None);
        assert_eq!(
            chosen(backward_weight(40, 1024, 1), false).map(|c| c.0),
            Some("linear_subgroup_backward_input")
        );
    }
}
