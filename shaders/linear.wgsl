// Linear layer y = x·Wᵀ + b and its gradients. All three products are one tiled matrix product
// C[M×N] = A[M×K]·B[K×N] whose operands are read through strides, so they share a single tile loop:
//   linear_forward          A = x [N_batch×in],        B = Wᵀ (W is [out×in]),   C = y [N_batch×out]
//   linear_backward_input   A = dy [N_batch×out],      B = W [out×in],           C = dx [N_batch×in]
//   linear_backward_weight  A = dyᵀ (dy [N_batch×out]), B = x [N_batch×in],      C = dW [out×in]
// Each output element is summed over K in one fixed order: results are bit-reproducible.
//
// A workgroup of 16×16 invocations computes a 64×64 tile of C, each invocation a 4×4 block held in
// four vec4 accumulators. Per 16-deep slice of K, the workgroup stages A (64×16) and B (16×64) in
// workgroup memory as vec4s, so one invocation does 16 multiply-adds per two vec4 loads: arithmetic
// per load is what a CPU-emulated GPU (lavapipe) and a real one both reward.

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

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
// a_tile[k·16 + r] holds A rows 4r..4r+3 at depth k; b_tile[k·16 + q] holds B columns 4q..4q+3.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

fn load_a(row: u32, k: u32) -> f32 {
    if row < p.m && k < p.k {
        return a[row * p.a_stride_m + k * p.a_stride_k];
    }
    return 0.0;
}

fn load_b(k: u32, col: u32) -> f32 {
    if k < p.k && col < p.n {
        return b[k * p.b_stride_k + col * p.b_stride_n];
    }
    return 0.0;
}

// The 4×4 block of C at rows row0..row0+3, columns col0..col0+3 of this invocation, as four rows.
// Uniform control flow: every invocation of the workgroup calls it.
fn tile_product(tile_row: u32, tile_col: u32, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    let t = lid.y * 16u + lid.x;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += DEPTH) {
        // Each invocation stages four elements of each operand; consecutive invocations walk the
        // operand's contiguous dimension so global reads coalesce on a GPU.
        for (var q = 0u; q < 4u; q++) {
            let e = t + 256u * q;
            var ka: u32;
            var ra: u32;
            if p.a_stride_k == 1u {
                ka = e % DEPTH;
                ra = e / DEPTH;
            } else {
                ra = e % TILE;
                ka = e / TILE;
            }
            a_tile[ka * 16u + ra / 4u][ra % 4u] = load_a(tile_row + ra, k0 + ka);
            var kb: u32;
            var cb: u32;
            if p.b_stride_n == 1u {
                cb = e % TILE;
                kb = e / TILE;
            } else {
                kb = e % DEPTH;
                cb = e / DEPTH;
            }
            b_tile[kb * 16u + cb / 4u][cb % 4u] = load_b(k0 + kb, tile_col + cb);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            let av = a_tile[kk * 16u + lid.y];
            let bv = b_tile[kk * 16u + lid.x];
            acc0 += av.x * bv;
            acc1 += av.y * bv;
            acc2 += av.z * bv;
            acc3 += av.w * bv;
        }
        workgroupBarrier();
    }
    return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
}

// Row and column where this workgroup's tile starts.
fn tile_origin(wid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
    let tiles_n = (p.n + TILE - 1u) / TILE;
    let tile = workgroup_index(wid, nwg);
    return vec2<u32>((tile / tiles_n) * TILE, (tile % tiles_n) * TILE);
}

fn grid_done(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    let tiles = ((p.m + TILE - 1u) / TILE) * ((p.n + TILE - 1u) / TILE);
    return workgroup_index(wid, nwg) >= tiles;
}

// Writes (or, with `accumulate`, adds) this invocation's 4×4 block of C.
fn store(origin: vec2<u32>, lid: vec3<u32>, acc: array<vec4<f32>, 4>, accumulate: bool) {
    for (var i = 0u; i < 4u; i++) {
        let row = origin.x + lid.y * 4u + i;
        if row >= p.m {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let col = origin.y + lid.x * 4u + j;
            if col >= p.n {
                continue;
            }
            let at = row * p.n + col;
            if accumulate {
                c[at] += acc[i][j];
            } else {
                c[at] = acc[i][j];
            }
        }
    }
}

@compute @workgroup_size(16, 16)
fn linear_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if grid_done(wid, nwg) {
        return;
    }
    let origin = tile_origin(wid, nwg);
    var acc = tile_product(origin.x, origin.y, lid);
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
    store(origin, lid, acc, false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if grid_done(wid, nwg) {
        return;
    }
    let origin = tile_origin(wid, nwg);
    store(origin, lid, tile_product(origin.x, origin.y, lid), false);
}

@compute @workgroup_size(16, 16)
fn linear_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    if grid_done(wid, nwg) {
        return;
    }
    let origin = tile_origin(wid, nwg);
    store(origin, lid, tile_product(origin.x, origin.y, lid), p.accumulate != 0u);
}
