//! Linear: y = x·Wᵀ + b (PyTorch's nn.Linear; W is [out, in]).

use bytemuck::{Pod, Zeroable};

use crate::error::Result;
use crate::kernels::Gpu;
use crate::kernels::{
    Dispatch, Family, Kernel, ProductKey, Shader, Storage, Variant, dispatch, dispatch_variant,
    read, write,
};
use crate::kernels::{as_u32, groups_for, split_k};
use crate::layers::bias;
use crate::tensor::{Tensor, batch_of, expect_shape};

// Every tiled entry point binds the bias (only linear_forward adds it; the others get a placeholder)
// and the partial sums of split products (shaders/gemm.wgsl).
const TILED_BINDINGS: &[Storage] = &[read(1), read(2), write(3), read(4), write(7)];

const fn tiled(entry: &'static str) -> Kernel {
    Kernel {
        shader: Shader::Linear,
        entry,
        storage: TILED_BINDINGS,
    }
}

/// Each product's tiled kernel, the same over one split of K, and the one that adds up the splits.
const FORWARD: [Kernel; 3] = [
    tiled("linear_forward"),
    tiled("linear_forward_split"),
    tiled("linear_forward_reduce"),
];
const BACKWARD_INPUT: [Kernel; 3] = [
    tiled("linear_backward_input"),
    tiled("linear_backward_input_split"),
    tiled("linear_backward_input_reduce"),
];
const BACKWARD_WEIGHT: [Kernel; 3] = [
    tiled("linear_backward_weight"),
    tiled("linear_backward_weight_split"),
    tiled("linear_backward_weight_reduce"),
];

// The same products on shaders/linear_subgroup.wgsl (same bindings for the same tensors, in order).
const SUBGROUP_FORWARD: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_forward",
    storage: &[read(1), read(2), write(3), read(4)],
};
/// The forward product for a K that is not a multiple of 4, from scalar views of A and B.
const SUBGROUP_FORWARD_UNALIGNED: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_forward_unaligned",
    storage: &[read(9), read(10), write(3), read(4)],
};
const SUBGROUP_BACKWARD_INPUT: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_backward_input",
    storage: &[read(1), read(6), write(3)],
};
const SUBGROUP_BACKWARD_WEIGHT: Kernel = Kernel {
    shader: Shader::LinearSubgroup,
    entry: "linear_subgroup_backward_weight",
    storage: &[read(5), read(6), write(3)],
};

/// The subgroup kernels, for `Kernels::prepare`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const SUBGROUP_KERNELS: [&Kernel; 4] = [
    &SUBGROUP_FORWARD,
    &SUBGROUP_FORWARD_UNALIGNED,
    &SUBGROUP_BACKWARD_INPUT,
    &SUBGROUP_BACKWARD_WEIGHT,
];

/// Tile edge of the matrix-product kernels (`TILE` in shaders/gemm.wgsl).
const TILE: usize = 64;
/// Block edge of shaders/linear_subgroup.wgsl: 32 rows by 8 lanes × 4 columns.
const SUBGROUP_BLOCK: usize = 32;
/// Depth the subgroup kernels read at once (a vec4 of A per row).
const SUBGROUP_DEPTH: usize = 4;

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

/// C[m×n] = A[m×k]·B[k×n] with A(i, l) = a[i·a_stride_m + l·a_stride_k], B(l, j) = b[l·b_stride_k + j·b_stride_n].
struct Product {
    m: usize,
    n: usize,
    k: usize,
    a_stride: (usize, usize),
    b_stride: (usize, usize),
    /// K is never split over workgroups (`Linear::with_whole_k`).
    whole_k: bool,
}

impl Product {
    fn flops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }

    /// Whether shaders/linear_subgroup.wgsl computes this product: whole 32-column blocks, and either
    /// whole 4-deep slices of A's contiguous rows (rows may end mid-block), or, where A is read down its
    /// columns 32 rows at a time (the weight gradient's dyᵀ), whole blocks of rows.
    fn fits_subgroup_kernel(&self, a_by_columns: bool) -> bool {
        self.n.is_multiple_of(SUBGROUP_BLOCK)
            && if a_by_columns {
                self.m.is_multiple_of(SUBGROUP_BLOCK)
            } else {
                self.k.is_multiple_of(SUBGROUP_DEPTH)
            }
    }

    /// The product as one dispatch: the subgroup kernel where the device uses those and the product
    /// fits (`a_by_columns` for the weight gradient, whose subgroup kernel reads A down its columns),
    /// else the tiled kernel, or where K is split its `_split` version followed by the reduction. `tensors` are A, B and C,
    /// and the bias for the forward product.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        gpu: &Gpu,
        key: &ProductKey,
        variant: &Variant,
        ([whole, split_kernel, reduce], subgroup): (&'static [Kernel; 3], &'static Kernel),
        a_by_columns: bool,
        accumulate: bool,
        tensors: &[&Tensor],
    ) -> Result<Dispatch> {
        if on_subgroups(gpu, variant) && self.fits_subgroup_kernel(a_by_columns) {
            return self.subgroup_dispatch(gpu, key, subgroup, accumulate, false, tensors);
        }
        let op = key.op;
        let tiles = self.m.div_ceil(TILE) * self.n.div_ceil(TILE);
        let split = if self.whole_k {
            (1, self.k)
        } else {
            split_k(gpu, variant, tiles, [self.m, self.n, self.k])?
        };
        let params = self.params(op, accumulate, split)?;
        let placeholder = Tensor::zeros(gpu, "unused binding", &[1])?;
        let bound = [
            tensors[0],
            tensors[1],
            tensors[2],
            tensors.get(3).copied().unwrap_or(&placeholder),
            gpu.split_partials()?,
        ];
        let workgroups = as_u32(op, tiles * split.0)?;
        if split.0 == 1 {
            return Ok(
                dispatch_variant(gpu, whole, variant, &params, &bound, workgroups)?
                    .with_flops(self.flops())
                    .for_product(key, tensors[2]),
            );
        }
        let partial_sums =
            dispatch_variant(gpu, split_kernel, variant, &params, &bound, workgroups)?;
        let sums = dispatch_variant(
            gpu,
            reduce,
            variant,
            &params,
            &bound,
            groups_for(op, self.m * self.n)?,
        )?;
        Ok(partial_sums
            .with_flops(self.flops())
            .followed_by(sums)
            .for_product(key, tensors[2]))
    }

    /// The product on a subgroup kernel (which must fit it); `bias_broadcast` for the forward of a
    /// layer with one output, run transposed (shaders/linear_subgroup.wgsl).
    fn subgroup_dispatch(
        &self,
        gpu: &Gpu,
        key: &ProductKey,
        kernel: &'static Kernel,
        accumulate: bool,
        bias_broadcast: bool,
        tensors: &[&Tensor],
    ) -> Result<Dispatch> {
        let op = key.op;
        // A workgroup computes two blocks side by side.
        let blocks = self.m.div_ceil(SUBGROUP_BLOCK) * self.n.div_ceil(2 * SUBGROUP_BLOCK);
        let params = LinearParams {
            bias_broadcast: bias_broadcast as u32,
            ..self.params(op, accumulate, (1, self.k))?
        };
        Ok(
            dispatch(gpu, kernel, &params, tensors, as_u32(op, blocks)?)?
                .with_flops(self.flops())
                .for_product(key, tensors[2]),
        )
    }

    fn params(
        &self,
        op: &'static str,
        accumulate: bool,
        (splits, split_depth): (usize, usize),
    ) -> Result<LinearParams> {
        Ok(LinearParams {
            m: as_u32(op, self.m)?,
            n: as_u32(op, self.n)?,
            k: as_u32(op, self.k)?,
            a_stride_m: as_u32(op, self.a_stride.0)?,
            a_stride_k: as_u32(op, self.a_stride.1)?,
            b_stride_k: as_u32(op, self.b_stride.0)?,
            b_stride_n: as_u32(op, self.b_stride.1)?,
            accumulate: accumulate as u32,
            splits: as_u32(op, splits)?,
            split_depth: as_u32(op, split_depth)?,
            bias_broadcast: 0,
            _pad: 0,
        })
    }
}

/// Whether a product of `variant` runs on the subgroup kernels (where it fits them).
fn on_subgroups(gpu: &Gpu, variant: &Variant) -> bool {
    variant.family == Family::Subgroup && gpu.has_subgroup_kernels()
}

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

    /// The transposed form of a product of this layer, where it has one output feature and the
    /// transposed product fits a subgroup kernel (`a_by_columns` for the weight-gradient kernel):
    /// shaders/linear_subgroup.wgsl's header lists the three.
    fn transposed_on_subgroups(
        &self,
        subgroups: bool,
        product: Product,
        a_by_columns: bool,
    ) -> Option<Product> {
        (subgroups && self.out_features == 1 && product.fits_subgroup_kernel(a_by_columns))
            .then_some(product)
    }

    /// The variant the tuning record gives `op`'s product [m, n, k] (as the layer computes it
    /// untransposed), and whether that runs on subgroup kernels.
    fn variant(gpu: &Gpu, op: &'static str, shape: [usize; 3]) -> (ProductKey, Variant, bool) {
        let key = ProductKey { op, shape };
        let variant = gpu.variant(&key);
        let subgroups = on_subgroups(gpu, &variant);
        (key, variant, subgroups)
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
        let (key, variant, subgroups) =
            Self::variant(gpu, OP, [n, self.out_features, self.in_features]);
        // yᵀ [1×N] = w [1×in] · xᵀ, B = x stored [N][in].
        let transposed = Product {
            m: 1,
            n,
            k: self.in_features,
            a_stride: (self.in_features, 1),
            b_stride: (1, self.in_features),
            whole_k: self.whole_k,
        };
        if let Some(product) = self.transposed_on_subgroups(subgroups, transposed, false) {
            return product.subgroup_dispatch(
                gpu,
                &key,
                &SUBGROUP_FORWARD,
                false,
                true,
                &[weight, x, y, bias],
            );
        }
        let product = Product {
            m: n,
            n: self.out_features,
            k: self.in_features,
            a_stride: (self.in_features, 1),
            b_stride: (1, self.in_features),
            whole_k: self.whole_k,
        };
        if subgroups
            && product.n.is_multiple_of(SUBGROUP_BLOCK)
            && !product.k.is_multiple_of(SUBGROUP_DEPTH)
        {
            return product.subgroup_dispatch(
                gpu,
                &key,
                &SUBGROUP_FORWARD_UNALIGNED,
                false,
                false,
                &[x, weight, y, bias],
            );
        }
        product.dispatch(
            gpu,
            &key,
            &variant,
            (&FORWARD, &SUBGROUP_FORWARD),
            false,
            false,
            &[x, weight, y, bias],
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
        let (key, variant, subgroups) =
            Self::variant(gpu, OP, [n, self.in_features, self.out_features]);
        // dx [N×in] = dy [N×1] · w [1×in] with K = 1, A = dy read as a column (stored [1][N]).
        let transposed = Product {
            m: n,
            n: self.in_features,
            k: 1,
            a_stride: (1, n),
            b_stride: (self.in_features, 1),
            whole_k: false,
        };
        if let Some(product) = self.transposed_on_subgroups(subgroups, transposed, true) {
            return product.subgroup_dispatch(
                gpu,
                &key,
                &SUBGROUP_BACKWARD_WEIGHT,
                false,
                false,
                &[dy, weight, dx],
            );
        }
        let product = Product {
            m: n,
            n: self.in_features,
            k: self.out_features,
            a_stride: (self.out_features, 1),
            b_stride: (self.in_features, 1),
            whole_k: false,
        };
        product.dispatch(
            gpu,
            &key,
            &variant,
            (&BACKWARD_INPUT, &SUBGROUP_BACKWARD_INPUT),
            false,
            false,
            &[dy, weight, dx],
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
        let (key, variant, subgroups) =
            Self::variant(gpu, OP, [self.out_features, self.in_features, n]);
        // dW [1×in] = dyᵀ [1×N] · x, A = dyᵀ as one row (stored [1][N]), B = x stored [N][in].
        let transposed = Product {
            m: 1,
            n: self.in_features,
            k: n,
            a_stride: (n, 1),
            b_stride: (self.in_features, 1),
            whole_k: false,
        };
        if let Some(product) = self.transposed_on_subgroups(subgroups, transposed, false) {
            return product.subgroup_dispatch(
                gpu,
                &key,
                &SUBGROUP_BACKWARD_INPUT,
                accumulate,
                false,
                &[dy, x, dweight],
            );
        }
        let product = Product {
            m: self.out_features,
            n: self.in_features,
            k: n,
            a_stride: (1, self.out_features),
            b_stride: (self.in_features, 1),
            whole_k: false,
        };
        product.dispatch(
            gpu,
            &key,
            &variant,
            (&BACKWARD_WEIGHT, &SUBGROUP_BACKWARD_WEIGHT),
            true,
            accumulate,
            &[dy, x, dweight],
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
