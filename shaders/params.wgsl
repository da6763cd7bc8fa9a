// The uniform parameter blocks that more than one file binds (a kernel family and its subgroup or
// eight-float version), prepended to those files. Each matches its #[repr(C)] struct on the host.

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
    accumulate: u32, // weight gradients add to dst instead of overwriting it
    m: u32,          // the product's rows, columns and depth
    n: u32,
    k: u32,
    splits: u32,     // K cut into this many ranges of split_depth (gemm.wgsl); 1: whole
    split_depth: u32,
    // An activation in the product's epilogue (activation_grad's kind and slope in common.wgsl; 0:
    // none): a forward product stores the activation of its output; an input-gradient product
    // (activation_grad = 1) stores its gradient through the activation whose output `bias` then holds.
    activation: u32,
    negative_slope: f32,
    activation_grad: u32,
}

struct LinearParams {
    m: u32,
    n: u32,
    k: u32,
    a_stride_m: u32,
    a_stride_k: u32,
    b_stride_k: u32,
    b_stride_n: u32,
    accumulate: u32, // the weight gradients add to C instead of overwriting it
    splits: u32,     // K cut into this many ranges of split_depth (gemm.wgsl); 1: whole
    split_depth: u32,
    bias_broadcast: u32, // linear_subgroup_forward: one bias value for every element
    _pad: u32,
}

struct AdamParams {
    count: u32,
    one_minus_beta1: f32,       // rounded from double, as PyTorch's Python scalars are
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    step_size: f32,             // lr / (1 − beta1^t)
    bias_correction2_sqrt: f32, // sqrt(1 − beta2^t)
    health_bit: u32,
}

struct ActivationParams {
    count: u32,
    negative_slope: f32, // LeakyReLU only
    _pad0: u32,
    _pad1: u32,
}
