// Conv2d and ConvTranspose2d products for adapters whose subgroups are CPU SIMD lanes (lavapipe), on the
// schedule of shaders/linear_subgroup.wgsl (read its header for why): one workgroup of 8 invocations,
// one subgroup, computes a 16×16 block; lane l owns two columns, keeps all 16 rows of them in registers
// (acc0..acc15), and each depth is a rank-1 update whose row values are broadcast from the lane that
// loaded them. The index arithmetic of a map position is done once per lane, and the depth runs as
// nested loops, so no load divides.
//
// The same three products as shaders/conv.wgsl (its header has the hi/lo vocabulary), for kernels of
// size 4 and stride 2 (the DCGAN's) and row counts that are whole blocks of 16; the host keeps the
// general kernels for everything else:
//   gather_lo  rows: lo channels, columns: lo positions (n, u, v), depth: (hi channel, ky, kx)
//              conv2d_subgroup_forward, conv_transpose2d_subgroup_backward_input
//   gather_hi  rows: hi channels, columns: hi positions of one residue class of (y + pad, x + pad)
//              mod 2, depth: (lo channel, the class's 2×2 taps)
//              conv2d_subgroup_backward_input, conv_transpose2d_subgroup_forward
//   weight     rows: lo channels, columns: (hi channel, ky, kx), depth: lo positions (n, u, v)
//              conv2d_subgroup_backward_weight, conv_transpose2d_subgroup_backward_weight
// Positions past the end of a map are read clamped and not stored. Each output is summed in one fixed
// order: results are bit-reproducible.

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
    m: u32,
    n: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;              // the map gathered from (hi for weight)
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;     // rows (l, h, ky, 0..3)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> lo_map: array<f32>;           // weight: the lo map

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

// Adds one depth's rank-1 update: `lo` holds this lane's row r0 + lane value, `hi` row r0 + 8 + lane's,
// `b` this lane's two columns.
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

fn accumulator(r: u32) -> vec2<f32> {
    return array<vec2<f32>, 16>(acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7, acc8, acc9, acc10, acc11, acc12, acc13, acc14, acc15)[r];
}

// A map element at (plane start + row·width + x), 0 outside [0, height) × [0, width): the index is
// clamped so the load itself never leaves the map.
fn map_at(map_row: u32, row_inside: bool, x: i32, width: u32) -> f32 {
    let v = src[map_row + u32(clamp(x, 0, i32(width) - 1))];
    return select(0.0, v, row_inside && x >= 0 && x < i32(width));
}

// Start of row y of a plane starting at `plane`, and whether y lies inside [0, height).
fn map_row(plane: u32, y: i32, height: u32, width: u32) -> vec2<u32> {
    return vec2<u32>(plane + u32(clamp(y, 0, i32(height) - 1)) * width, u32(y >= 0 && y < i32(height)));
}

// (n, row, column) of flat position q of maps of h×w.
fn position(q: u32, h: u32, w: u32) -> vec3<u32> {
    return vec3<u32>(q / (h * w), (q / w) % h, q % w);
}

// ---- gather_lo -------------------------------------------------------------------------------------

fn gather_lo(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool) {
    let row_blocks = p.lo_channels / 16u;
    let lo_plane = p.lo_h * p.lo_w;
    let positions = p.batch * lo_plane;
    let index = workgroup_index(wid, nwg);
    if index >= row_blocks * ((positions + 15u) / 16u) {
        return;
    }
    let r0 = (index % row_blocks) * 16u;
    let q = (index / row_blocks) * 16u + 2u * lane;
    let pa = position(min(q, positions - 1u), p.lo_h, p.lo_w);
    let pb = position(min(q + 1u, positions - 1u), p.lo_h, p.lo_w);
    let hi_plane = p.hi_h * p.hi_w;
    // Top-left hi position each lo position sees: (u·2 − pad, v·2 − pad).
    let ya = i32(pa.y * 2u) - i32(p.pad);
    let xa = i32(pa.z * 2u) - i32(p.pad);
    let yb = i32(pb.y * 2u) - i32(p.pad);
    let xb = i32(pb.z * 2u) - i32(p.pad);
    var plane_a = pa.x * p.hi_channels * hi_plane;
    var plane_b = pb.x * p.hi_channels * hi_plane;
    var w_lo = (r0 + lane) * p.w_stride_lo / 4u;
    var w_hi = (r0 + 8u + lane) * p.w_stride_lo / 4u;
    let w_step = p.w_stride_hi / 4u;
    for (var h = 0u; h < p.hi_channels; h++) {
        for (var ky = 0u; ky < 4u; ky++) {
            let lo = weight[w_lo + ky];
            let hi = weight[w_hi + ky];
            let ra = map_row(plane_a, ya + i32(ky), p.hi_h, p.hi_w);
            let rb = map_row(plane_b, yb + i32(ky), p.hi_h, p.hi_w);
            let ia = ra.y != 0u;
            let ib = rb.y != 0u;
            rank1(lo.x, hi.x, vec2<f32>(map_at(ra.x, ia, xa, p.hi_w), map_at(rb.x, ib, xb, p.hi_w)));
            rank1(lo.y, hi.y, vec2<f32>(map_at(ra.x, ia, xa + 1, p.hi_w), map_at(rb.x, ib, xb + 1, p.hi_w)));
            rank1(lo.z, hi.z, vec2<f32>(map_at(ra.x, ia, xa + 2, p.hi_w), map_at(rb.x, ib, xb + 2, p.hi_w)));
            rank1(lo.w, hi.w, vec2<f32>(map_at(ra.x, ia, xa + 3, p.hi_w), map_at(rb.x, ib, xb + 3, p.hi_w)));
        }
        plane_a += hi_plane;
        plane_b += hi_plane;
        w_lo += w_step;
        w_hi += w_step;
    }
    // out[n][l][u][v]
    let out_a = (pa.x * p.lo_channels + r0) * lo_plane + pa.y * p.lo_w + pa.z;
    let out_b = (pb.x * p.lo_channels + r0) * lo_plane + pb.y * p.lo_w + pb.z;
    for (var r = 0u; r < 16u; r++) {
        var v = accumulator(r);
        if with_bias {
            v += vec2<f32>(bias[r0 + r]);
        }
        if q < positions {
            dst[out_a + r * lo_plane] = v.x;
        }
        if q + 1u < positions {
            dst[out_b + r * lo_plane] = v.y;
        }
    }
}

// ---- gather_hi -------------------------------------------------------------------------------------

// First hi coordinate in [0, size) whose (coordinate + pad) mod 2 is r, and how many there are.
fn class_axis(r: u32, size: u32) -> vec2<u32> {
    let first = (r + 2u - p.pad % 2u) % 2u;
    if first >= size {
        return vec2<u32>(first, 0u);
    }
    return vec2<u32>(first, (size - first + 1u) / 2u);
}

fn gather_hi(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool) {
    let row_blocks = p.hi_channels / 16u;
    var index = workgroup_index(wid, nwg);
    // Find the residue class (ry, rx) whose blocks hold this workgroup's.
    var residue = 0u;
    var axis_y = vec2<u32>(0u);
    var axis_x = vec2<u32>(0u);
    var class_positions = 0u;
    for (; residue < 4u; residue++) {
        axis_y = class_axis(residue / 2u, p.hi_h);
        axis_x = class_axis(residue % 2u, p.hi_w);
        class_positions = p.batch * axis_y.y * axis_x.y;
        let blocks = row_blocks * ((class_positions + 15u) / 16u);
        if index < blocks {
            break;
        }
        index -= blocks;
    }
    if residue == 4u {
        return;
    }
    let ry = residue / 2u;
    let rx = residue % 2u;
    let r0 = (index % row_blocks) * 16u;
    let q = (index / row_blocks) * 16u + 2u * lane;
    let pa = position(min(q, class_positions - 1u), axis_y.y, axis_x.y);
    let pb = position(min(q + 1u, class_positions - 1u), axis_y.y, axis_x.y);
    // Hi position (y, x) = (first + 2·iy, first + 2·ix) reads lo (u0 − jy, v0 − jx) through taps
    // (ry + 2·jy, rx + 2·jx), with u0 = (y + pad − ry) / 2 (exact: the residue was chosen so).
    let ua = i32((axis_y.x + 2u * pa.y + p.pad - ry) / 2u);
    let va = i32((axis_x.x + 2u * pa.z + p.pad - rx) / 2u);
    let ub = i32((axis_y.x + 2u * pb.y + p.pad - ry) / 2u);
    let vb = i32((axis_x.x + 2u * pb.z + p.pad - rx) / 2u);
    let lo_plane = p.lo_h * p.lo_w;
    var plane_a = pa.x * p.lo_channels * lo_plane;
    var plane_b = pb.x * p.lo_channels * lo_plane;
    // weight rows (l, c, ky) as vec4s over kx: this lane's rows c = r0 + lane and r0 + 8 + lane.
    var w_lo = (r0 + lane) * p.w_stride_hi / 4u;
    var w_hi = (r0 + 8u + lane) * p.w_stride_hi / 4u;
    let w_step = p.w_stride_lo / 4u;
    let odd_x = rx == 1u;
    for (var l = 0u; l < p.lo_channels; l++) {
        let a0 = map_row(plane_a, ua, p.lo_h, p.lo_w);
        let a1 = map_row(plane_a, ua - 1, p.lo_h, p.lo_w);
        let b0 = map_row(plane_b, ub, p.lo_h, p.lo_w);
        let b1 = map_row(plane_b, ub - 1, p.lo_h, p.lo_w);
        for (var jy = 0u; jy < 2u; jy++) {
            let lo_w4 = weight[w_lo + ry + 2u * jy];
            let hi_w4 = weight[w_hi + ry + 2u * jy];
            let ra = select(a0, a1, jy == 1u);
            let rb = select(b0, b1, jy == 1u);
            let ia = ra.y != 0u;
            let ib = rb.y != 0u;
            // taps kx = rx (jx = 0, lo column v0) and rx + 2 (jx = 1, column v0 − 1)
            rank1(select(lo_w4.x, lo_w4.y, odd_x), select(hi_w4.x, hi_w4.y, odd_x),
                vec2<f32>(map_at(ra.x, ia, va, p.lo_w), map_at(rb.x, ib, vb, p.lo_w)));
            rank1(select(lo_w4.z, lo_w4.w, odd_x), select(hi_w4.z, hi_w4.w, odd_x),
                vec2<f32>(map_at(ra.x, ia, va - 1, p.lo_w), map_at(rb.x, ib, vb - 1, p.lo_w)));
        }
        plane_a += lo_plane;
        plane_b += lo_plane;
        w_lo += w_step;
        w_hi += w_step;
    }
    // out[n][c][y][x]
    let hi_plane = p.hi_h * p.hi_w;
    let out_a = (pa.x * p.hi_channels + r0) * hi_plane + (axis_y.x + 2u * pa.y) * p.hi_w + axis_x.x + 2u * pa.z;
    let out_b = (pb.x * p.hi_channels + r0) * hi_plane + (axis_y.x + 2u * pb.y) * p.hi_w + axis_x.x + 2u * pb.z;
    for (var r = 0u; r < 16u; r++) {
        var v = accumulator(r);
        if with_bias {
            v += vec2<f32>(bias[r0 + r]);
        }
        if q < class_positions {
            dst[out_a + r * hi_plane] = v.x;
        }
        if q + 1u < class_positions {
            dst[out_b + r * hi_plane] = v.y;
        }
    }
}

// ---- weight ----------------------------------------------------------------------------------------

// dW(l, h, ky, kx) = Σ over (n, u, v) of lo[n][l][u][v] · hi[n][h][u·2 − pad + ky][v·2 − pad + kx].
// A block is 16 lo channels × one hi channel's 16 taps; lane l owns taps (ky, kx) = (l / 2, 2·(l % 2))
// and the one to its right.
fn weight_gradient(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) {
    let row_blocks = p.lo_channels / 16u;
    let index = workgroup_index(wid, nwg);
    if index >= row_blocks * p.hi_channels {
        return;
    }
    let r0 = (index % row_blocks) * 16u;
    let h = index / row_blocks;
    let ky = lane / 2u;
    let kx = 2u * (lane % 2u);
    let lo_plane = p.lo_h * p.lo_w;
    let hi_plane = p.hi_h * p.hi_w;
    for (var n = 0u; n < p.batch; n++) {
        let lo_a = (n * p.lo_channels + r0 + lane) * lo_plane;
        let lo_b = lo_a + 8u * lo_plane;
        let plane = (n * p.hi_channels + h) * hi_plane;
        for (var u = 0u; u < p.lo_h; u++) {
            let row = map_row(plane, i32(u * 2u + ky) - i32(p.pad), p.hi_h, p.hi_w);
            let inside = row.y != 0u;
            let lo_row = u * p.lo_w;
            for (var v = 0u; v < p.lo_w; v++) {
                let x = i32(v * 2u + kx) - i32(p.pad);
                rank1(lo_map[lo_a + lo_row + v], lo_map[lo_b + lo_row + v],
                    vec2<f32>(map_at(row.x, inside, x, p.hi_w), map_at(row.x, inside, x + 1, p.hi_w)));
            }
        }
    }
    let at = r0 * p.w_stride_lo + h * p.w_stride_hi + ky * 4u + kx;
    for (var r = 0u; r < 16u; r++) {
        var v = accumulator(r);
        let o = at + r * p.w_stride_lo;
        if p.accumulate != 0u {
            v += vec2<f32>(dst[o], dst[o + 1u]);
        }
        dst[o] = v.x;
        dst[o + 1u] = v.y;
    }
}

@compute @workgroup_size(8)
fn conv2d_subgroup_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, true);
}

@compute @workgroup_size(8)
fn conv2d_subgroup_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_hi(wid, nwg, lane, false);
}

@compute @workgroup_size(8)
fn conv2d_subgroup_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_hi(wid, nwg, lane, true);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, false);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane);
}
