// Linear layer products for adapters whose subgroups are CPU SIMD lanes (lavapipe): the same three products
// as shaders/linear.wgsl, on a schedule that suits how a software Vulkan runs a shader.
//
// lavapipe runs the 8 invocations of a subgroup as the 8 lanes of one AVX register, and every buffer or
// workgroup-memory load as a loop over those lanes with a bounds check per element; arithmetic and
// subgroupBroadcast (an element extract and a splat) are single instructions. So what counts is the
// multiply-adds per loaded element, and data is best shared between lanes through registers rather than
// workgroup memory (which costs the same per-lane loads, plus barriers).
//
// One workgroup of 8 invocations (one subgroup on an adapter whose subgroups hold at least 8 lanes)
// computes a 16×16 block of C[M×N] = A[M×K]·B[K×N]: lane l owns columns col = c0 + 2l, 2l + 1 and keeps
// all 16 rows of them in registers (acc0..acc15). Per 4-deep slice of K, lane l loads rows r0 + l and
// r0 + 8 + l of A (a vec4 each) and its two columns of B; each of the 4 depths is then one rank-1
// update in which every row's A value is broadcast from the lane that loaded it. That is 128
// multiply-adds per lane for 16 loaded elements, against 16 for 8 in shaders/gemm.wgsl's tiles.
//   linear_subgroup_forward          A = x [N_batch×in] (rows),   B = Wᵀ (W [out×in], rows of W),  C = y
//   linear_subgroup_backward_input   A = dy [N_batch×out] (rows), B = W [out×in] (along in),       C = dx
//   linear_subgroup_backward_weight  A = dyᵀ (dy [N_batch×out]),   B = x [N_batch×in] (along in),   C = dW
// The host uses these only where they fit: N a multiple of 16 and K of 4 (and, for the weight
// gradient, M of 16); rows past M (a batch that is not a multiple of 16) are read clamped and not
// stored. Each element of C is summed over K in one fixed order: results are bit-reproducible.

struct LinearParams {
    m: u32,
    n: u32,
    k: u32,
    a_stride_m: u32,
    a_stride_k: u32,
    b_stride_k: u32,
    b_stride_n: u32,
    accumulate: u32, // linear_subgroup_backward_weight adds to C instead of overwriting it
}

@group(0) @binding(0) var<uniform> p: LinearParams;
@group(0) @binding(1) var<storage, read> a_rows: array<vec4<f32>>;   // A with K contiguous
@group(0) @binding(2) var<storage, read> b_k_rows: array<vec4<f32>>; // B stored [N][K]
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> a_cols: array<f32>;         // A stored [K][M]
@group(0) @binding(6) var<storage, read> b_n_rows: array<vec2<f32>>; // B stored [K][N]

var<private> acc0: vec2<f32>;
var<private> acc1: vec2<f32>;
var<private> acc2: vec2<f32>;
var<private> acc3: vec2<f32>;
var<private> acc4: vec2<f32>;
var<private> acc5: vec2<f32>;
var<private> acc6: vec2<f32>;
var<private> acc7: vec2<f32>;
var<private> acc8: vec2<f32>;
var<private> acc9: vec2<f32>;
var<private> acc10: vec2<f32>;
var<private> acc11: vec2<f32>;
var<private> acc12: vec2<f32>;
var<private> acc13: vec2<f32>;
var<private> acc14: vec2<f32>;
var<private> acc15: vec2<f32>;

// Adds A(·, d)·B(d, col..col+1) for one depth d: `lo` holds A(r0 + lane, d), `hi` A(r0 + 8 + lane, d),
// `b` this lane's B(d, col), B(d, col + 1).
fn rank1(lo: f32, hi: f32, b: vec2<f32>) {
    acc0 = fma(vec2<f32>(subgroupBroadcast(lo, 0u)), b, acc0);
    acc1 = fma(vec2<f32>(subgroupBroadcast(lo, 1u)), b, acc1);
    acc2 = fma(vec2<f32>(subgroupBroadcast(lo, 2u)), b, acc2);
    acc3 = fma(vec2<f32>(subgroupBroadcast(lo, 3u)), b, acc3);
    acc4 = fma(vec2<f32>(subgroupBroadcast(lo, 4u)), b, acc4);
    acc5 = fma(vec2<f32>(subgroupBroadcast(lo, 5u)), b, acc5);
    acc6 = fma(vec2<f32>(subgroupBroadcast(lo, 6u)), b, acc6);
    acc7 = fma(vec2<f32>(subgroupBroadcast(lo, 7u)), b, acc7);
    acc8 = fma(vec2<f32>(subgroupBroadcast(hi, 0u)), b, acc8);
    acc9 = fma(vec2<f32>(subgroupBroadcast(hi, 1u)), b, acc9);
    acc10 = fma(vec2<f32>(subgroupBroadcast(hi, 2u)), b, acc10);
    acc11 = fma(vec2<f32>(subgroupBroadcast(hi, 3u)), b, acc11);
    acc12 = fma(vec2<f32>(subgroupBroadcast(hi, 4u)), b, acc12);
    acc13 = fma(vec2<f32>(subgroupBroadcast(hi, 5u)), b, acc13);
    acc14 = fma(vec2<f32>(subgroupBroadcast(hi, 6u)), b, acc14);
    acc15 = fma(vec2<f32>(subgroupBroadcast(hi, 7u)), b, acc15);
}

// The block a workgroup computes: x = first row, y = this lane's first column; rows run fastest, so
// the workgroups that follow one another share B's columns (the large operand) while they are cached.
struct Tile {
    r0: u32,
    col: u32,
}

fn tile_of(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) -> Tile {
    let index = workgroup_index(wid, nwg);
    let tiles_m = (p.m + 15u) / 16u;
    return Tile((index % tiles_m) * 16u, (index / tiles_m) * 16u + 2u * lane);
}

fn tile_past_end(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    return workgroup_index(wid, nwg) >= ((p.m + 15u) / 16u) * (p.n / 16u);
}

// Stores row r of this lane's two columns plus `offset` (the bias, or 0), added to C when `add`.
fn store_row(tile: Tile, r: u32, value: vec2<f32>, offset: vec2<f32>, add: bool) {
    let row = tile.r0 + r;
    if row >= p.m {
        return;
    }
    var v = value + offset;
    let at = row * p.n + tile.col;
    if add {
        v += vec2<f32>(c[at], c[at + 1u]);
    }
    c[at] = v.x;
    c[at + 1u] = v.y;
}

fn store_block(tile: Tile, offset: vec2<f32>, add: bool) {
    store_row(tile, 0u, acc0, offset, add);
    store_row(tile, 1u, acc1, offset, add);
    store_row(tile, 2u, acc2, offset, add);
    store_row(tile, 3u, acc3, offset, add);
    store_row(tile, 4u, acc4, offset, add);
    store_row(tile, 5u, acc5, offset, add);
    store_row(tile, 6u, acc6, offset, add);
    store_row(tile, 7u, acc7, offset, add);
    store_row(tile, 8u, acc8, offset, add);
    store_row(tile, 9u, acc9, offset, add);
    store_row(tile, 10u, acc10, offset, add);
    store_row(tile, 11u, acc11, offset, add);
    store_row(tile, 12u, acc12, offset, add);
    store_row(tile, 13u, acc13, offset, add);
    store_row(tile, 14u, acc14, offset, add);
    store_row(tile, 15u, acc15, offset, add);
}

// Where lane `lane`'s two rows of A start, in vec4s, for the products whose A has K contiguous (x or dy
// rows). Rows past M read row M − 1: their results are not stored.
fn a_row_starts(tile: Tile, lane: u32) -> vec2<u32> {
    let k4 = p.k / 4u;
    return vec2<u32>(min(tile.r0 + lane, p.m - 1u) * k4, min(tile.r0 + 8u + lane, p.m - 1u) * k4);
}

// y = x·Wᵀ: B(d, j) = W[j][d], so each of this lane's two columns is a row of W, read 4 deep at a time.
fn forward_product(tile: Tile, lane: u32) {
    let a = a_row_starts(tile, lane);
    let k4 = p.k / 4u;
    let b0 = tile.col * k4;
    let b1 = b0 + k4;
    for (var i = 0u; i < k4; i++) {
        let lo = a_rows[a.x + i];
        let hi = a_rows[a.y + i];
        let w0 = b_k_rows[b0 + i];
        let w1 = b_k_rows[b1 + i];
        rank1(lo.x, hi.x, vec2<f32>(w0.x, w1.x));
        rank1(lo.y, hi.y, vec2<f32>(w0.y, w1.y));
        rank1(lo.z, hi.z, vec2<f32>(w0.z, w1.z));
        rank1(lo.w, hi.w, vec2<f32>(w0.w, w1.w));
    }
}

// dx = dy·W: B(d, j) = W[d][j], this lane's two columns side by side in each row of W.
fn input_gradient_product(tile: Tile, lane: u32) {
    let a = a_row_starts(tile, lane);
    let n2 = p.n / 2u;
    var b = tile.col / 2u;
    for (var i = 0u; i < p.k / 4u; i++) {
        let lo = a_rows[a.x + i];
        let hi = a_rows[a.y + i];
        rank1(lo.x, hi.x, b_n_rows[b]);
        rank1(lo.y, hi.y, b_n_rows[b + n2]);
        rank1(lo.z, hi.z, b_n_rows[b + 2u * n2]);
        rank1(lo.w, hi.w, b_n_rows[b + 3u * n2]);
        b += 4u * n2;
    }
}

@compute @workgroup_size(8)
fn linear_subgroup_forward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    if tile_past_end(wid, nwg) {
        return;
    }
    let tile = tile_of(wid, nwg, lane);
    forward_product(tile, lane);
    store_block(tile, vec2<f32>(bias[tile.col], bias[tile.col + 1u]), false);
}

@compute @workgroup_size(8)
fn linear_subgroup_backward_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    if tile_past_end(wid, nwg) {
        return;
    }
    let tile = tile_of(wid, nwg, lane);
    input_gradient_product(tile, lane);
    store_block(tile, vec2<f32>(0.0), false);
}

// A(i, d) = dy[d][i]: each lane reads its two rows down the batch, one element per depth.
@compute @workgroup_size(8)
fn linear_subgroup_backward_weight(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    if tile_past_end(wid, nwg) {
        return;
    }
    let tile = tile_of(wid, nwg, lane);
    let lo = tile.r0 + lane;
    let hi = lo + 8u;
    let n2 = p.n / 2u;
    let bn = tile.col / 2u;
    for (var d = 0u; d < p.k; d += 4u) {
        let at = d * p.m;
        let b = d * n2 + bn;
        rank1(a_cols[at + lo], a_cols[at + hi], b_n_rows[b]);
        rank1(a_cols[at + p.m + lo], a_cols[at + p.m + hi], b_n_rows[b + n2]);
        rank1(a_cols[at + 2u * p.m + lo], a_cols[at + 2u * p.m + hi], b_n_rows[b + 2u * n2]);
        rank1(a_cols[at + 3u * p.m + lo], a_cols[at + 3u * p.m + hi], b_n_rows[b + 3u * n2]);
    }
    store_block(tile, vec2<f32>(0.0), p.accumulate != 0u);
}
