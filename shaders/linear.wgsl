// Linear layer y = x·Wᵀ + b and its gradients. All three products are one tiled matrix product
// C[M×N] = A[M×K]·B[K×N] whose operands are read through strides, so they share a single tile loop:
//   linear_forward          A = x [N_batch×in],        B = Wᵀ (W is [out×in]),   C = y [N_batch×out]
//   linear_backward_input   A = dy [N_batch×out],      B = W [out×in],           C = dx [N_batch×in]
//   linear_backward_weight  A = dyᵀ (dy [N_batch×out]), B = x [N_batch×in],      C = dW [out×in]
// Each output element is summed over K in one fixed order: results are bit-reproducible.
//
// The tile loop, and the splitting of K where a product has few tiles, are shaders/gemm.wgsl's.

@group(0) @binding(0) var<uniform> p: LinearParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn load_a(row: u32, k: u32) -> f32 {
    return a[row * p.a_stride_m + k * p.a_stride_k];
}

fn load_b(k: u32, col: u32) -> f32 {
    return b[k * p.b_stride_k + col * p.b_stride_n];
}

// How the entry point stores C: plus the bias per column (linear_forward), added to C (the weight
// gradient with p.accumulate). Set first thing by each entry point.
var<private> with_bias: bool;
var<private> add_to_c: bool;

fn store_element(row: u32, col: u32, value: f32) {
    let at = row * p.n + col;
    var v = value;
    if with_bias {
        v += bias[col];
    }
    if add_to_c {
        c[at] += v;
    } else {
        c[at] = v;
    }
}

// This workgroup's tile of C over its split of K: stored, or with `split` (a constant in each entry
// point) kept as a partial sum.
// The forward products (those that add a bias) sum in compensated runs (gemm_product).
fn run(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, bias_added: bool, accumulate: bool, split: bool) {
    with_bias = bias_added;
    add_to_c = accumulate;
    if gemm_done(p.m, p.n, p.splits, wid, nwg) {
        return;
    }
    let work = gemm_work(p.m, p.n, wid, nwg);
    let k_begin = work.split * p.split_depth;
    let k_end = min(k_begin + p.split_depth, p.k);
    gemm_product(p.m, p.n, k_begin, k_end, p.a_stride_k == 1u, p.b_stride_n == 1u, work, lid, split, bias_added);
}

// The sum of the splits for one element of C per invocation.
fn reduce(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, bias_added: bool, accumulate: bool) {
    with_bias = bias_added;
    add_to_c = accumulate;
    let i = invocation_index(wid, nwg, lid.y * 16u + lid.x);
    if i < p.m * p.n {
        store_element(i / p.n, i % p.n, gemm_reduce(p.m, p.n, p.splits, i));
    }
}

@compute @workgroup_size(16, 16)
fn linear_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, true, false, false);
}

@compute @workgroup_size(16, 16)
fn linear_forward_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, true, false, true);
}

@compute @workgroup_size(16, 16)
fn linear_forward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, true, false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, false, false, false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_input_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, false, false, true);
}

@compute @workgroup_size(16, 16)
fn linear_backward_input_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, false, false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, false, p.accumulate != 0u, false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_weight_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, false, p.accumulate != 0u, true);
}

@compute @workgroup_size(16, 16)
fn linear_backward_weight_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, false, p.accumulate != 0u);
}
