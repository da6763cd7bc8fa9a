// Linear layer y = x·Wᵀ + b and its gradients. All three products are one tiled matrix product
// C[M×N] = A[M×K]·B[K×N] whose operands are read through strides, so they share a single tile loop:
//   linear_forward          A = x [N_batch×in],        B = Wᵀ (W is [out×in]),   C = y [N_batch×out]
//   linear_backward_input   A = dy [N_batch×out],      B = W [out×in],           C = dx [N_batch×in]
//   linear_backward_weight  A = dyᵀ (dy [N_batch×out]), B = x [N_batch×in],      C = dW [out×in]
// Each output element is summed over K in one fixed order: results are bit-reproducible.
//
// The tile loop is shaders/gemm.wgsl's.

struct LinearParams {
    m: u32,
    n: u32,
    k: u32,
    a_stride_m: u32,
    a_stride_k: u32,
    b_stride_k: u32,
    b_stride_n: u32,
    accumulate: u32, // linear_backward_weight adds to C instead of overwriting it
}

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

fn block(origin: vec2<u32>, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    return gemm_block(p.m, p.n, p.k, p.a_stride_k == 1u, p.b_stride_n == 1u, origin, lid);
}

// Whether the kernel adds its product to C (linear_backward_weight with p.accumulate) or overwrites it.
var<private> add_to_c: bool;

fn store_element(row: u32, col: u32, value: f32) {
    let at = row * p.n + col;
    if add_to_c {
        c[at] += value;
    } else {
        c[at] = value;
    }
}

@compute @workgroup_size(16, 16)
fn linear_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if gemm_done(p.m, p.n, wid, nwg) {
        return;
    }
    let origin = gemm_origin(p.n, wid, nwg);
    var acc = block(origin, lid);
    var bias_block = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let col = origin.y + lid.x * 4u + j;
        if col < p.n {
            bias_block[j] = bias[col];
        }
    }
    for (var i = 0u; i < 4u; i++) {
        acc[i] += bias_block;
    }
    gemm_store(p.m, p.n, origin, lid, acc);
}

@compute @workgroup_size(16, 16)
fn linear_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if gemm_done(p.m, p.n, wid, nwg) {
        return;
    }
    let origin = gemm_origin(p.n, wid, nwg);
    gemm_store(p.m, p.n, origin, lid, block(origin, lid));
}

@compute @workgroup_size(16, 16)
fn linear_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if gemm_done(p.m, p.n, wid, nwg) {
        return;
    }
    let origin = gemm_origin(p.n, wid, nwg);
    add_to_c = p.accumulate != 0u;
    gemm_store(p.m, p.n, origin, lid, block(origin, lid));
}
