// Linear layer products for adapters whose subgroups are CPU SIMD lanes (lavapipe): the same three products
// as shaders/linear.wgsl, on a schedule that suits how a software Vulkan runs a shader.
//
// lavapipe runs the 8 invocations of a subgroup as the 8 lanes of one AVX register, and every buffer or
// workgroup-memory load as a loop over those lanes with an exec-mask test and a bounds check per
// element: ~40 instructions per lane for a vec4, where a multiply-add or a subgroupBroadcast (an element
// extract and a splat) is one. So what counts is the multiply-adds per loaded element, and data is best
// shared between lanes through registers rather than workgroup memory (which costs the same per-lane
// loads, plus barriers). Accumulators spilled to the stack are cheap next to that.
//
// One workgroup of 8 invocations (one subgroup on an adapter whose subgroups hold at least 8 lanes)
// computes two side-by-side 32×32 blocks of C[M×N] = A[M×K]·B[K×N]: lane l owns columns
// col = c0 + 4l .. 4l + 3 of the first and the same of the second (c0 + 32 + 4l ..), and keeps all 32
// rows of them (acc0..acc31, acc32..acc63). Each depth is one rank-1 update in which every row's A value
// is broadcast from the lane that loaded it: per 4 depths a lane loads 4 vec4s of A and 8 of B for 1024
// multiply-adds, applied four depths at a time (rank4_rows).
//   linear_subgroup_forward          A = x [N_batch×in] (rows),   B = Wᵀ (W [out×in], rows of W),  C = y
//   linear_subgroup_backward_input   A = dy [N_batch×out] (rows), B = W [out×in] (along in),       C = dx
//   linear_subgroup_backward_weight  A = dyᵀ (dy [N_batch×out]),   B = x [N_batch×in] (along in),   C = dW
// A layer with one output feature (D's last) has products one row or column wide, which these blocks
// would run 32 or 64 times over; the host runs them transposed instead, on the same kernels:
//   y = x·wᵀ + b     as yᵀ = w·xᵀ + b  on linear_subgroup_forward (p.bias_broadcast)
//   dW = dyᵀ·x       with A = dyᵀ as one row, B = x (along in) on linear_subgroup_backward_input
//   dx = dy·w        with A = dy as one column (K = 1), B = w on linear_subgroup_backward_weight
// The host uses these only where they fit: N a multiple of 32 (when N/32 is odd, the last workgroup's
// second block lies past the end: its columns are read clamped and not stored), and K a multiple of 4
// (forward, input gradient; linear_subgroup_forward_unaligned takes any K) or M of 32 (weight
// gradient, which reads A 32 rows at a time down a column); rows past M (a batch that is not a
// multiple of 32) are read clamped and not stored. Each element of C is summed over K in one fixed
// order: results are bit-reproducible.

@group(0) @binding(0) var<uniform> p: LinearParams;
@group(0) @binding(1) var<storage, read> a_rows: array<vec4<f32>>;   // A stored [M][K]
@group(0) @binding(2) var<storage, read> b_k_rows: array<vec4<f32>>; // B stored [N][K]
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> a_cols: array<vec4<f32>>;   // A stored [K][M]
@group(0) @binding(6) var<storage, read> b_n_rows: array<vec4<f32>>; // B stored [K][N]
// linear_subgroup_forward_unaligned's views of A and B, for a K whose rows are not whole vec4s.
@group(0) @binding(9) var<storage, read> a_flat: array<f32>;   // A stored [M][K]
@group(0) @binding(10) var<storage, read> b_k_flat: array<f32>; // B stored [N][K]

// The blocks a workgroup computes: its first row, and this lane's first column in the first block.
// Rows run fastest, so the workgroups that follow one another share B's columns (the large operand)
// while they are cached.
struct Tile {
    r0: u32,
    col: u32,
}

fn tile_of(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) -> Tile {
    let index = workgroup_index(wid, nwg);
    let tiles_m = (p.m + 31u) / 32u;
    return Tile((index % tiles_m) * 32u, (index / tiles_m) * 64u + 4u * lane);
}

fn tile_past_end(wid: vec3<u32>, nwg: vec3<u32>) -> bool {
    return workgroup_index(wid, nwg) >= ((p.m + 31u) / 32u) * ((p.n + 63u) / 64u);
}

// This lane's columns in the second block, clamped to the last block when past N (then not stored).
fn upper_columns(tile: Tile) -> Tile {
    return Tile(tile.r0, min(tile.col + 32u, p.n - 4u));
}

fn has_upper(tile: Tile) -> bool {
    return tile.col + 32u < p.n;
}

// Stores row r of this lane's block if it lies inside C, plus `offset` (the bias, or 0), added to C
// when `add`.
fn store_row(tile: Tile, r: u32, value: vec4<f32>, offset: vec4<f32>, add: bool) {
    let row = tile.r0 + r;
    if row < p.m {
        let at = row * (p.n / 4u) + tile.col / 4u;
        var v = value + offset;
        if add {
            v += c[at];
        }
        c[at] = v;
    }
}

// store_blocks for the forward products, row by row with constant indices: after their compensated
// sums (settle_blocks) a store loop costs lavapipe's compiler seconds more than these unrolled rows,
// which store one vec4 each.
fn store_blocks_unrolled(tile: Tile, offset: vec4<f32>, offset_upper: vec4<f32>) {
    store_row(tile, 0u, acc0, offset, false);
    store_row(tile, 1u, acc1, offset, false);
    store_row(tile, 2u, acc2, offset, false);
    store_row(tile, 3u, acc3, offset, false);
    store_row(tile, 4u, acc4, offset, false);
    store_row(tile, 5u, acc5, offset, false);
    store_row(tile, 6u, acc6, offset, false);
    store_row(tile, 7u, acc7, offset, false);
    store_row(tile, 8u, acc8, offset, false);
    store_row(tile, 9u, acc9, offset, false);
    store_row(tile, 10u, acc10, offset, false);
    store_row(tile, 11u, acc11, offset, false);
    store_row(tile, 12u, acc12, offset, false);
    store_row(tile, 13u, acc13, offset, false);
    store_row(tile, 14u, acc14, offset, false);
    store_row(tile, 15u, acc15, offset, false);
    store_row(tile, 16u, acc16, offset, false);
    store_row(tile, 17u, acc17, offset, false);
    store_row(tile, 18u, acc18, offset, false);
    store_row(tile, 19u, acc19, offset, false);
    store_row(tile, 20u, acc20, offset, false);
    store_row(tile, 21u, acc21, offset, false);
    store_row(tile, 22u, acc22, offset, false);
    store_row(tile, 23u, acc23, offset, false);
    store_row(tile, 24u, acc24, offset, false);
    store_row(tile, 25u, acc25, offset, false);
    store_row(tile, 26u, acc26, offset, false);
    store_row(tile, 27u, acc27, offset, false);
    store_row(tile, 28u, acc28, offset, false);
    store_row(tile, 29u, acc29, offset, false);
    store_row(tile, 30u, acc30, offset, false);
    store_row(tile, 31u, acc31, offset, false);
    if !has_upper(tile) {
        return;
    }
    let upper = upper_columns(tile);
    store_row(upper, 0u, acc32, offset_upper, false);
    store_row(upper, 1u, acc33, offset_upper, false);
    store_row(upper, 2u, acc34, offset_upper, false);
    store_row(upper, 3u, acc35, offset_upper, false);
    store_row(upper, 4u, acc36, offset_upper, false);
    store_row(upper, 5u, acc37, offset_upper, false);
    store_row(upper, 6u, acc38, offset_upper, false);
    store_row(upper, 7u, acc39, offset_upper, false);
    store_row(upper, 8u, acc40, offset_upper, false);
    store_row(upper, 9u, acc41, offset_upper, false);
    store_row(upper, 10u, acc42, offset_upper, false);
    store_row(upper, 11u, acc43, offset_upper, false);
    store_row(upper, 12u, acc44, offset_upper, false);
    store_row(upper, 13u, acc45, offset_upper, false);
    store_row(upper, 14u, acc46, offset_upper, false);
    store_row(upper, 15u, acc47, offset_upper, false);
    store_row(upper, 16u, acc48, offset_upper, false);
    store_row(upper, 17u, acc49, offset_upper, false);
    store_row(upper, 18u, acc50, offset_upper, false);
    store_row(upper, 19u, acc51, offset_upper, false);
    store_row(upper, 20u, acc52, offset_upper, false);
    store_row(upper, 21u, acc53, offset_upper, false);
    store_row(upper, 22u, acc54, offset_upper, false);
    store_row(upper, 23u, acc55, offset_upper, false);
    store_row(upper, 24u, acc56, offset_upper, false);
    store_row(upper, 25u, acc57, offset_upper, false);
    store_row(upper, 26u, acc58, offset_upper, false);
    store_row(upper, 27u, acc59, offset_upper, false);
    store_row(upper, 28u, acc60, offset_upper, false);
    store_row(upper, 29u, acc61, offset_upper, false);
    store_row(upper, 30u, acc62, offset_upper, false);
    store_row(upper, 31u, acc63, offset_upper, false);
}

// Stores both blocks, plus `offset` and `offset_upper` (the bias, or 0), added to C when `add`: one row
// of each block per iteration, taken from acc0 and acc32 as shift_rows brings them there.
fn store_blocks(tile: Tile, offset: vec4<f32>, offset_upper: vec4<f32>, add: bool) {
    let upper = upper_columns(tile);
    let stores_upper = has_upper(tile);
    for (var r = 0u; r < 32u; r++) {
        store_row(tile, r, acc0, offset, add);
        if stores_upper {
            store_row(upper, r, acc32, offset_upper, add);
        }
        shift_rows();
    }
}

// Where this lane's four rows of A (r0 + 8·g + lane) start, in vec4s, for the products whose A has K
// contiguous. Rows past M read row M − 1: their results are not stored.
fn a_row_starts(tile: Tile, lane: u32) -> vec4<u32> {
    let k4 = p.k / 4u;
    let last = p.m - 1u;
    let r = tile.r0 + lane;
    return vec4<u32>(min(r, last), min(r + 8u, last), min(r + 16u, last), min(r + 24u, last)) * k4;
}

// Vec4 depths per run of forward_product's compensated sums (flush_blocks).
const FORWARD_RUN: u32 = 4u;

// y = x·Wᵀ: B(d, j) = W[j][d], so each of this lane's columns is a row of W, read 4 deep at a time.
// (`k` is K as the entry point passes it, through `unspecialised`; so for the other products.)
fn forward_product(tile: Tile, lane: u32, k: u32) {
    let a = a_row_starts(tile, lane);
    let k4 = k / 4u;
    let b = tile.col * k4;
    let b_upper = upper_columns(tile).col * k4;
    let one = opaque_one(p.k);
    for (var run = 0u; run < k4; run += FORWARD_RUN) {
        for (var i = run; i < min(run + FORWARD_RUN, k4); i++) {
            let a0 = a_rows[a.x + i];
            let a1 = a_rows[a.y + i];
            let a2 = a_rows[a.z + i];
            let a3 = a_rows[a.w + i];
            let ax = vec4<f32>(a0.x, a1.x, a2.x, a3.x);
            let ay = vec4<f32>(a0.y, a1.y, a2.y, a3.y);
            let az = vec4<f32>(a0.z, a1.z, a2.z, a3.z);
            let aw = vec4<f32>(a0.w, a1.w, a2.w, a3.w);
            let w0 = b_k_rows[b + i];
            let w1 = b_k_rows[b + k4 + i];
            let w2 = b_k_rows[b + 2u * k4 + i];
            let w3 = b_k_rows[b + 3u * k4 + i];
            rank4_rows(
                ax, ay, az, aw,
                vec4<f32>(w0.x, w1.x, w2.x, w3.x),
                vec4<f32>(w0.y, w1.y, w2.y, w3.y),
                vec4<f32>(w0.z, w1.z, w2.z, w3.z),
                vec4<f32>(w0.w, w1.w, w2.w, w3.w),
            );
            let u0 = b_k_rows[b_upper + i];
            let u1 = b_k_rows[b_upper + k4 + i];
            let u2 = b_k_rows[b_upper + 2u * k4 + i];
            let u3 = b_k_rows[b_upper + 3u * k4 + i];
            rank4_rows_upper(
                ax, ay, az, aw,
                vec4<f32>(u0.x, u1.x, u2.x, u3.x),
                vec4<f32>(u0.y, u1.y, u2.y, u3.y),
                vec4<f32>(u0.z, u1.z, u2.z, u3.z),
                vec4<f32>(u0.w, u1.w, u2.w, u3.w),
            );
        }
        flush_blocks(one);
    }
    settle_blocks(one);
}

// forward_product for any K (G's first layer has 62 inputs), from scalar loads: per 4 depths a lane
// loads 48 floats one at a time where forward_product loads 12 vec4s, the rest as there; the last
// K mod 4 depths are rank-1 updates.
fn forward_product_unaligned(tile: Tile, lane: u32, k: u32) {
    let last = p.m - 1u;
    let r = tile.r0 + lane;
    let a = vec4<u32>(min(r, last), min(r + 8u, last), min(r + 16u, last), min(r + 24u, last)) * p.k;
    let columns = vec4<u32>(0u, 1u, 2u, 3u);
    let b = (vec4<u32>(tile.col) + columns) * p.k;
    let b_upper = (vec4<u32>(upper_columns(tile).col) + columns) * p.k;
    var d = 0u;
    for (; d + 4u <= k; d += 4u) {
        let ax = a_depth(a, d);
        let ay = a_depth(a, d + 1u);
        let az = a_depth(a, d + 2u);
        let aw = a_depth(a, d + 3u);
        rank4_rows(ax, ay, az, aw, b_depth(b, d), b_depth(b, d + 1u), b_depth(b, d + 2u), b_depth(b, d + 3u));
        rank4_rows_upper(
            ax, ay, az, aw,
            b_depth(b_upper, d),
            b_depth(b_upper, d + 1u),
            b_depth(b_upper, d + 2u),
            b_depth(b_upper, d + 3u),
        );
    }
    for (; d < k; d++) {
        let ad = a_depth(a, d);
        rank1_rows(ad, b_depth(b, d));
        rank1_rows_upper(ad, b_depth(b_upper, d));
    }
}

// Depth d of the four rows of A, or of the four columns of B, whose rows start at `starts`.
fn a_depth(starts: vec4<u32>, d: u32) -> vec4<f32> {
    return vec4<f32>(a_flat[starts.x + d], a_flat[starts.y + d], a_flat[starts.z + d], a_flat[starts.w + d]);
}

fn b_depth(starts: vec4<u32>, d: u32) -> vec4<f32> {
    return vec4<f32>(b_k_flat[starts.x + d], b_k_flat[starts.y + d], b_k_flat[starts.z + d], b_k_flat[starts.w + d]);
}

// dx = dy·W: B(d, j) = W[d][j], this lane's four columns side by side in each row of W.
fn input_gradient_product(tile: Tile, lane: u32, k: u32) {
    let a = a_row_starts(tile, lane);
    let n4 = p.n / 4u;
    var b = tile.col / 4u;
    var b_upper = upper_columns(tile).col / 4u;
    for (var i = 0u; i < k / 4u; i++) {
        let a0 = a_rows[a.x + i];
        let a1 = a_rows[a.y + i];
        let a2 = a_rows[a.z + i];
        let a3 = a_rows[a.w + i];
        let ax = vec4<f32>(a0.x, a1.x, a2.x, a3.x);
        let ay = vec4<f32>(a0.y, a1.y, a2.y, a3.y);
        let az = vec4<f32>(a0.z, a1.z, a2.z, a3.z);
        let aw = vec4<f32>(a0.w, a1.w, a2.w, a3.w);
        rank4_rows(ax, ay, az, aw, b_n_rows[b], b_n_rows[b + n4], b_n_rows[b + 2u * n4], b_n_rows[b + 3u * n4]);
        rank4_rows_upper(
            ax, ay, az, aw,
            b_n_rows[b_upper],
            b_n_rows[b_upper + n4],
            b_n_rows[b_upper + 2u * n4],
            b_n_rows[b_upper + 3u * n4],
        );
        b += 4u * n4;
        b_upper += 4u * n4;
    }
}

// The bias of columns col .. col + 3, or with p.bias_broadcast the one bias value four times.
fn column_bias(col: u32) -> vec4<f32> {
    let broadcast = p.bias_broadcast != 0u;
    let at = select(col, 0u, broadcast);
    let step = select(1u, 0u, broadcast);
    return vec4<f32>(bias[at], bias[at + step], bias[at + 2u * step], bias[at + 3u * step]);
}

// With p.bias_broadcast, C is the output of a Linear layer with one feature, computed transposed
// (A = its weight row, B = x, C = yᵀ: one row, the batch as columns), and that feature's bias goes
// on every column.
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
    forward_product(tile, lane, unspecialised(p.k, nwg));
    store_blocks_unrolled(tile, column_bias(tile.col), column_bias(upper_columns(tile).col));
}

// linear_subgroup_forward for a K that is not a multiple of 4.
@compute @workgroup_size(8)
fn linear_subgroup_forward_unaligned(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    if tile_past_end(wid, nwg) {
        return;
    }
    let tile = tile_of(wid, nwg, lane);
    forward_product_unaligned(tile, lane, unspecialised(p.k, nwg));
    store_blocks(tile, column_bias(tile.col), column_bias(upper_columns(tile).col), false);
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
    input_gradient_product(tile, lane, unspecialised(p.k, nwg));
    store_blocks(tile, vec4<f32>(0.0), vec4<f32>(0.0), unspecialised(p.accumulate, nwg) != 0u);
}

// A(i, d) = dy[d][i]: lane l reads rows r0 + 4l .. 4l + 3 of each depth's row of dy as one vec4.
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
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    var a = tile.r0 / 4u + lane;
    var b = tile.col / 4u;
    var b_upper = upper_columns(tile).col / 4u;
    // Four depths at a time, then the last k mod 4 one by one.
    var d = 0u;
    let k = unspecialised(p.k, nwg);
    for (; d + 4u <= k; d += 4u) {
        let qx = a_cols[a];
        let qy = a_cols[a + m4];
        let qz = a_cols[a + 2u * m4];
        let qw = a_cols[a + 3u * m4];
        rank4_cols(qx, qy, qz, qw, b_n_rows[b], b_n_rows[b + n4], b_n_rows[b + 2u * n4], b_n_rows[b + 3u * n4]);
        rank4_cols_upper(
            qx, qy, qz, qw,
            b_n_rows[b_upper],
            b_n_rows[b_upper + n4],
            b_n_rows[b_upper + 2u * n4],
            b_n_rows[b_upper + 3u * n4],
        );
        a += 4u * m4;
        b += 4u * n4;
        b_upper += 4u * n4;
    }
    for (; d < k; d++) {
        let q = a_cols[a];
        rank1_cols(q, b_n_rows[b]);
        rank1_cols_upper(q, b_n_rows[b_upper]);
        a += m4;
        b += n4;
        b_upper += n4;
    }
    store_blocks(tile, vec4<f32>(0.0), vec4<f32>(0.0), unspecialised(p.accumulate, nwg) != 0u);
}
