// Linear layer y = x·Wᵀ + b and its gradients. All three products are one tiled matrix product
// C[M×N] = A[M×K]·B[K×N] whose operands are read through strides, so they share a single tile loop:
//   linear_forward          A = x [N_batch×in],        B = Wᵀ (W is [out×in]),   C = y [N_batch×out]
//   linear_backward_input   A = dy [N_batch×out],      B = W [out×in],           C = dx [N_batch×in]
//   linear_backward_weight  A = dyᵀ (dy [N_batch×out]), B = x [N_batch×in],      C = dW [out×in]
// Each output element is summed over K in one fixed order: results are bit-reproducible.

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

const TILE: u32 = 16u;
var<workgroup> a_tile: array<array<f32, 16>, 16>; // [row][k]
var<workgroup> b_tile: array<array<f32, 16>, 16>; // [k][col]

// Row and column of this invocation's output element; (M, N) when the workgroup lies past the grid.
fn output_coords(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> vec2<u32> {
    let tiles_n = (p.n + TILE - 1u) / TILE;
    let tile = workgroup_index(wid, nwg);
    return vec2<u32>((tile / tiles_n) * TILE + lid.y, (tile % tiles_n) * TILE + lid.x);
}

// Σ_k A(row, k)·B(k, col) for the tile this workgroup owns. Uniform control flow: every invocation of
// the workgroup calls it, including those whose element lies outside C.
fn tile_product(row: u32, col: u32, lid: vec3<u32>) -> f32 {
    let tile_row = row - lid.y;
    let tile_col = col - lid.x;
    var sum = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 += TILE) {
        let ar = tile_row + lid.y;
        let ak = k0 + lid.x;
        if ar < p.m && ak < p.k {
            a_tile[lid.y][lid.x] = a[ar * p.a_stride_m + ak * p.a_stride_k];
        } else {
            a_tile[lid.y][lid.x] = 0.0;
        }
        let bk = k0 + lid.y;
        let bc = tile_col + lid.x;
        if bk < p.k && bc < p.n {
            b_tile[lid.y][lid.x] = b[bk * p.b_stride_k + bc * p.b_stride_n];
        } else {
            b_tile[lid.y][lid.x] = 0.0;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE; kk++) {
            sum += a_tile[lid.y][kk] * b_tile[kk][lid.x];
        }
        workgroupBarrier();
    }
    return sum;
}

fn grid_done(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    let tiles = ((p.m + TILE - 1u) / TILE) * ((p.n + TILE - 1u) / TILE);
    return workgroup_index(wid, nwg) >= tiles;
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
    let rc = output_coords(wid, nwg, lid);
    let sum = tile_product(rc.x, rc.y, lid);
    if rc.x < p.m && rc.y < p.n {
        c[rc.x * p.n + rc.y] = sum + bias[rc.y];
    }
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
    let rc = output_coords(wid, nwg, lid);
    let sum = tile_product(rc.x, rc.y, lid);
    if rc.x < p.m && rc.y < p.n {
        c[rc.x * p.n + rc.y] = sum;
    }
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
    let rc = output_coords(wid, nwg, lid);
    let sum = tile_product(rc.x, rc.y, lid);
    if rc.x < p.m && rc.y < p.n {
        let i = rc.x * p.n + rc.y;
        if p.accumulate != 0u {
            c[i] += sum;
        } else {
            c[i] = sum;
        }
    }
}
