// Conv2d and ConvTranspose2d products for adapters whose subgroups are CPU SIMD lanes (lavapipe), on the
// schedule of shaders/cpu/linear_subgroup.wgsl (read its header for why): one workgroup of 8 invocations,
// one subgroup, computes two 32×32 blocks (acc0..acc31 and the upper bank acc32..acc63); lane l owns
// four columns of each and all 32 rows of them, and each depth is a rank-1 update whose row values are
// broadcast from the lane that loaded them, applied four depths at a time. The two blocks share loads:
// the gathers' lanes take neighbouring positions of one map row, whose taps overlap, and the weight
// gradient's two blocks share the lo values. The index arithmetic of a map position is done once per
// lane, and the depth runs as nested loops, so no load divides.
//
// The same three products as shaders/conv.wgsl (its header has the hi/lo vocabulary), for kernels of
// size 4 and stride 2 (the DCGAN's) and row counts that are whole blocks of 32; the host keeps the
// general kernels for everything else:
//   gather_lo  rows: lo channels, columns: lo positions (n, u, v), depth: (hi channel, ky, kx)
//              conv2d_subgroup_forward, conv_transpose2d_subgroup_backward_input
//   gather_hi  rows: hi channels, columns: hi positions of one residue class of (y + pad, x + pad)
//              mod 2, depth: (lo channel, the class's 2×2 taps)
//              conv2d_subgroup_backward_input, conv_transpose2d_subgroup_forward
//   weight     rows: lo channels, columns: (hi channel, ky, kx), depth: lo positions (n, u, v)
//              conv2d_subgroup_backward_weight, conv_transpose2d_subgroup_backward_weight
// and gather_hi onto a single-channel hi map (single_channel_hi, at the end), a product of one column.
// Positions past the end of a map are read clamped and not stored. Each output is summed in one fixed
// order: results are bit-reproducible.

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;          // the map gathered from (hi for weight)
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>; // rows (l, h, ky, 0..3)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;         // the forward products'
@group(0) @binding(5) var<storage, read> lo_map: array<f32>;       // weight: the lo map
// gather_lo's map as pairs of neighbouring elements, where the map's width is even (so is every row
// start, and a pair lies wholly inside a row or wholly outside it).
@group(0) @binding(6) var<storage, read> src_pairs: array<vec2<f32>>;

// The weight gradient's lo map again, as vec4s (its channel count is a multiple of 32, so the map is
// whole vec4s): four consecutive depths of one lo plane come from two aligned loads, the first carried
// over from the depths before (see lo_depths). The second may reach into the next plane, or past the
// map's end (a read the runtime's bounds checks keep inside the buffer): lo_depths takes none of those
// elements.
@group(0) @binding(7) var<storage, read> lo_quads: array<vec4<f32>>;

// A map element at (row start + x), 0 outside the map: `row` comes from map_row, and the index is
// clamped so the load itself never leaves the map.
fn map_at(row: vec2<u32>, x: i32, width: u32) -> f32 {
    let v = src[row.x + u32(clamp(x, 0, i32(width) - 1))];
    return select(0.0, v, row.y != 0u && x >= 0 && x < i32(width));
}

// Start of row y of a plane starting at `plane`, and whether y lies inside [0, height).
fn map_row(plane: u32, y: i32, height: u32, width: u32) -> vec2<u32> {
    return vec2<u32>(plane + u32(clamp(y, 0, i32(height) - 1)) * width, u32(y >= 0 && y < i32(height)));
}

// The four output positions of this lane: where channel r0's value of each goes in dst, and whether
// it exists. Row r of the block adds r planes.
struct Outputs {
    at: vec4<u32>,
    valid: vec4<bool>,
    plane: u32,
}

fn store_outputs(out: Outputs, r: u32, value: vec4<f32>) {
    let offset = r * out.plane;
    if out.valid.x {
        dst[out.at.x + offset] = value.x;
    }
    if out.valid.y {
        dst[out.at.y + offset] = value.y;
    }
    if out.valid.z {
        dst[out.at.z + offset] = value.z;
    }
    if out.valid.w {
        dst[out.at.w + offset] = value.w;
    }
}

// dst[at] = v through the forward activation p.activation. (These kernels take no activation's
// gradient: the host runs it as a pass of its own after them, cheaper here than scattered loads.)
fn store_gathered(at: u32, v: f32) {
    dst[at] = activation_of(p.activation, p.negative_slope, v);
}

// A block row's four outputs through the forward activation, in registers, as activation_of computes
// each.
fn activated4(v: vec4<f32>) -> vec4<f32> {
    if p.activation == 1u {
        return max(v, vec4<f32>(0.0));
    } else if p.activation == 2u {
        return select(v * p.negative_slope, v, v > vec4<f32>(0.0));
    } else if p.activation == 3u {
        return 1.0 / (1.0 + exp(-v));
    }
    return v;
}

// Both banks' rows, plus the bias, through the forward activation: one row of each bank per
// iteration, taken from acc0 and acc32 as shift_rows brings them there.
fn store_blocks(lower: Outputs, upper: Outputs, r0: u32, with_bias: bool) {
    for (var r = 0u; r < 32u; r++) {
        let b = row_bias(r0 + r, with_bias);
        store_outputs(lower, r, activated4(acc0 + b));
        store_outputs(upper, r, activated4(acc32 + b));
        shift_rows();
    }
}

// Output channel c's bias, or 0.
fn row_bias(c: u32, with_bias: bool) -> vec4<f32> {
    return select(vec4<f32>(0.0), vec4<f32>(bias[c]), with_bias);
}

// This lane's four rows of weight, as vec4 indices of (row, 0, ky = 0): rows r0 + 8·g + lane.
fn weight_rows(r0: u32, lane: u32, row_stride: u32) -> vec4<u32> {
    let r = r0 + lane;
    return vec4<u32>(r, r + 8u, r + 16u, r + 24u) * (row_stride / 4u);
}

// ---- gather_lo -------------------------------------------------------------------------------------

// Lane slots: a lane takes eight neighbouring positions of one map row, (n, u, v0 .. v0 + 7) with v0 a
// multiple of 8, the first four in the lower accumulator bank and the others in the upper (the last
// slot of a row may reach past its end: those positions are not stored). The eight positions read the
// same map rows, and their taps overlap: through one kernel row they read 18 map columns where eight
// scattered positions would read 32, and every weight loaded serves 64 columns.

// Slot `slot` of maps of `rows` rows of `slots_per_row` slots of `size` positions: (n, row, first
// column).
fn slot_position(slot: u32, rows: u32, slots_per_row: u32, size: u32) -> vec3<u32> {
    return vec3<u32>(slot / (rows * slots_per_row), (slot / slots_per_row) % rows, (slot % slots_per_row) * size);
}

// One kernel row's map values for a lane's slot, as rank4_rows's `b` for taps kx = 0..3 of the lower
// bank's positions (lower_x .. lower_w) and of the upper bank's (upper_x .. upper_w).
struct SlotTaps {
    lower_x: vec4<f32>,
    lower_y: vec4<f32>,
    lower_z: vec4<f32>,
    lower_w: vec4<f32>,
    upper_x: vec4<f32>,
    upper_y: vec4<f32>,
    upper_z: vec4<f32>,
    upper_w: vec4<f32>,
}

// Slot positions v0 + i, i = 0..7, read hi columns x + 2i + kx: m_j = map column x + j, j = 0..17.
fn slot_taps(m0: f32, m1: f32, m2: f32, m3: f32, m4: f32, m5: f32, m6: f32, m7: f32, m8: f32, m9: f32, m10: f32, m11: f32, m12: f32, m13: f32, m14: f32, m15: f32, m16: f32, m17: f32) -> SlotTaps {
    return SlotTaps(
        vec4<f32>(m0, m2, m4, m6),
        vec4<f32>(m1, m3, m5, m7),
        vec4<f32>(m2, m4, m6, m8),
        vec4<f32>(m3, m5, m7, m9),
        vec4<f32>(m8, m10, m12, m14),
        vec4<f32>(m9, m11, m13, m15),
        vec4<f32>(m10, m12, m14, m16),
        vec4<f32>(m11, m13, m15, m17),
    );
}

// The 18 map columns x .. x + 17 of `row`, one load each.
fn row_taps_scalar(row: vec2<u32>, x: i32) -> SlotTaps {
    let w = p.hi_w;
    return slot_taps(
        map_at(row, x, w), map_at(row, x + 1, w), map_at(row, x + 2, w), map_at(row, x + 3, w),
        map_at(row, x + 4, w), map_at(row, x + 5, w), map_at(row, x + 6, w), map_at(row, x + 7, w),
        map_at(row, x + 8, w), map_at(row, x + 9, w), map_at(row, x + 10, w), map_at(row, x + 11, w),
        map_at(row, x + 12, w), map_at(row, x + 13, w), map_at(row, x + 14, w), map_at(row, x + 15, w),
        map_at(row, x + 16, w), map_at(row, x + 17, w),
    );
}

// Pair q of `row` (columns 2q and 2q + 1), zeros outside the map (the width is even).
fn map_pair_at(row: vec2<u32>, q: i32) -> vec2<f32> {
    let pairs = i32(p.hi_w / 2u);
    let v = src_pairs[row.x / 2u + u32(clamp(q, 0, pairs - 1))];
    return select(vec2<f32>(0.0), v, row.y != 0u && q >= 0 && q < pairs);
}

// The same 18 columns from 10 pair loads (an even width): pairs q0 .. q0 + 9 hold columns 2·q0 ..
// 2·q0 + 19, and x = 2·q0 + `odd`.
fn row_taps_paired(row: vec2<u32>, q0: i32, odd: bool) -> SlotTaps {
    let a = map_pair_at(row, q0);
    let b = map_pair_at(row, q0 + 1);
    let c = map_pair_at(row, q0 + 2);
    let d = map_pair_at(row, q0 + 3);
    let e = map_pair_at(row, q0 + 4);
    let f = map_pair_at(row, q0 + 5);
    let g = map_pair_at(row, q0 + 6);
    let h = map_pair_at(row, q0 + 7);
    let i = map_pair_at(row, q0 + 8);
    let j = map_pair_at(row, q0 + 9);
    return slot_taps(
        select(a.x, a.y, odd), select(a.y, b.x, odd), select(b.x, b.y, odd), select(b.y, c.x, odd),
        select(c.x, c.y, odd), select(c.y, d.x, odd), select(d.x, d.y, odd), select(d.y, e.x, odd),
        select(e.x, e.y, odd), select(e.y, f.x, odd), select(f.x, f.y, odd), select(f.y, g.x, odd),
        select(g.x, g.y, odd), select(g.y, h.x, odd), select(h.x, h.y, odd), select(h.y, i.x, odd),
        select(i.x, i.y, odd), select(i.y, j.x, odd),
    );
}

// `paired` (a constant at every call) reads the map through src_pairs: the host chooses it where the
// hi map's width is even. Loads cost per lane and component, so ten pairs cost less than 18 floats.
// Hi channels (16 depths each) per run of gather_lo's compensated sums (flush_blocks). Only forward
// products compensate (`compensated`, a constant at every call): their outputs feed BatchNorms and
// kinks (common.wgsl); an input gradient's rounding only scales its own error, and skipping the
// flushes there saves lavapipe a fifth of those products' time.
const GATHER_LO_RUN: u32 = 1u;

fn gather_lo(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool, paired: bool, compensated: bool) {
    let row_blocks = p.lo_channels / 32u;
    let slots_per_row = (p.lo_w + 7u) / 8u;
    let slots = p.batch * p.lo_h * slots_per_row;
    let index = workgroup_index(wid, nwg);
    if index >= row_blocks * ((slots + 7u) / 8u) {
        return;
    }
    let r0 = (index % row_blocks) * 32u;
    let slot = (index / row_blocks) * 8u + lane;
    let at_slot = slot_position(min(slot, slots - 1u), p.lo_h, slots_per_row, 8u);
    // Top-left hi position lo position (u, v0) sees: (u·2 − pad, v0·2 − pad); position v0 + i reads
    // through tap kx the hi column x + 2i + kx.
    let pad = i32(p.pad);
    let y = i32(at_slot.y) * 2 - pad;
    let x = i32(at_slot.z) * 2 - pad;
    // x = 2·q0 + odd: the first pair holding column x (an exact division: the numerator is even).
    let odd = (p.pad & 1u) == 1u;
    let q0 = (x - i32(p.pad & 1u)) / 2;
    let hi_plane = p.hi_h * p.hi_w;
    var plane = at_slot.x * p.hi_channels * hi_plane;
    var w = weight_rows(r0, lane, p.w_stride_lo);
    let w_step = p.w_stride_hi / 4u;
    let one = opaque_one(p.hi_channels);
    let run_length = select(p.hi_channels, GATHER_LO_RUN, compensated);
    for (var run = 0u; run < p.hi_channels; run += run_length) {
        for (var h = run; h < min(run + run_length, p.hi_channels); h++) {
            for (var ky = 0u; ky < 4u; ky++) {
                let w0 = weight[w.x + ky];
                let w1 = weight[w.y + ky];
                let w2 = weight[w.z + ky];
                let w3 = weight[w.w + ky];
                let ax = vec4<f32>(w0.x, w1.x, w2.x, w3.x);
                let ay = vec4<f32>(w0.y, w1.y, w2.y, w3.y);
                let az = vec4<f32>(w0.z, w1.z, w2.z, w3.z);
                let aw = vec4<f32>(w0.w, w1.w, w2.w, w3.w);
                let row = map_row(plane, y + i32(ky), p.hi_h, p.hi_w);
                var t: SlotTaps;
                if paired {
                    t = row_taps_paired(row, q0, odd);
                } else {
                    t = row_taps_scalar(row, x);
                }
                rank4_rows(ax, ay, az, aw, t.lower_x, t.lower_y, t.lower_z, t.lower_w);
                rank4_rows_upper(ax, ay, az, aw, t.upper_x, t.upper_y, t.upper_z, t.upper_w);
            }
            plane += hi_plane;
            w += vec4<u32>(w_step);
        }
        if compensated {
            flush_blocks(one);
        }
    }
    if compensated {
        settle_blocks(one);
    }
    // out[n][l][u][v] for l = r0
    let lo_plane = p.lo_h * p.lo_w;
    let first = (at_slot.x * p.lo_channels + r0) * lo_plane + at_slot.y * p.lo_w + at_slot.z;
    let in_map = vec4<bool>(slot < slots);
    let lower = vec4<u32>(0u, 1u, 2u, 3u);
    let upper = vec4<u32>(4u, 5u, 6u, 7u);
    let lower_valid = vec4<u32>(at_slot.z) + lower < vec4<u32>(p.lo_w) & in_map;
    let lower_out = Outputs(vec4<u32>(first) + lower, lower_valid, lo_plane);
    let upper_valid = vec4<u32>(at_slot.z) + upper < vec4<u32>(p.lo_w) & in_map;
    let upper_out = Outputs(vec4<u32>(first) + upper, upper_valid, lo_plane);
    store_blocks(lower_out, upper_out, r0, with_bias);

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

// The depths of one kernel row of gather_hi for both banks: rank1_rows's `a` (weights) and `b` (map
// values) for taps kx = b + 2·jx of bank b (`a01`, `b01`: bank 0, jx = 1).
struct RowTaps {
    a00: vec4<f32>,
    a01: vec4<f32>,
    a10: vec4<f32>,
    a11: vec4<f32>,
    b00: vec4<f32>,
    b01: vec4<f32>,
    b10: vec4<f32>,
    b11: vec4<f32>,
}

// Kernel row ky = ry + 2·dy for lo channel plane `plane`: lo row u − dy. Bank 1's positions i = 0..3
// read lo columns v + i (jx = 0) and v + i − 1 (jx = 1); bank 0's are `shift` columns further on
// (bank 0 holds the hi columns of class rx = 0, bank 1 those of rx = 1). One weight vec4 per row
// serves both banks (kx = 0, 2 and 1, 3), and the banks share 6 of the map loads. Called with constant
// ky offsets and dy, so it inlines to straight-line code (a loop over dy cost lavapipe 15–30%).
fn row_taps(plane: u32, u: i32, v: i32, w: vec4<u32>, ky: u32, dy: i32, shift: bool) -> RowTaps {
    let w0 = weight[w.x + ky];
    let w1 = weight[w.y + ky];
    let w2 = weight[w.z + ky];
    let w3 = weight[w.w + ky];
    let row = map_row(plane, u - dy, p.lo_h, p.lo_w);
    let m0 = map_at(row, v - 1, p.lo_w);
    let m1 = map_at(row, v, p.lo_w);
    let m2 = map_at(row, v + 1, p.lo_w);
    let m3 = map_at(row, v + 2, p.lo_w);
    let m4 = map_at(row, v + 3, p.lo_w);
    let m5 = map_at(row, v + 4, p.lo_w);
    let from0 = vec4<f32>(m0, m1, m2, m3);
    let from1 = vec4<f32>(m1, m2, m3, m4);
    let from2 = vec4<f32>(m2, m3, m4, m5);
    return RowTaps(
        vec4<f32>(w0.x, w1.x, w2.x, w3.x),
        vec4<f32>(w0.z, w1.z, w2.z, w3.z),
        vec4<f32>(w0.y, w1.y, w2.y, w3.y),
        vec4<f32>(w0.w, w1.w, w2.w, w3.w),
        select(from1, from2, shift),
        select(from0, from1, shift),
        from1,
        from0,
    );
}

// The hi positions of one residue class (ry, rx) form a grid with every other row and column. A lane's
// slot holds four neighbouring positions of one row of class (ry, 0), in the lower bank, and the same
// four of class (ry, 1), in the upper bank: eight neighbouring hi columns of one hi row.
// Lo channels (4 depths of each bank each) per run of gather_hi's compensated sums (flush_blocks),
// which only forward products take, as in gather_lo.
const GATHER_HI_RUN: u32 = 8u;

fn gather_hi(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool, compensated: bool) {
    let row_blocks = p.hi_channels / 32u;
    var index = workgroup_index(wid, nwg);
    let axis_x0 = class_axis(0u, p.hi_w);
    let axis_x1 = class_axis(1u, p.hi_w);
    let slots_per_row = (max(axis_x0.y, axis_x1.y) + 3u) / 4u;
    // Find the row class ry whose blocks hold this workgroup's.
    var ry = 0u;
    var axis_y = vec2<u32>(0u);
    var class_slots = 0u;
    for (; ry < 2u; ry++) {
        axis_y = class_axis(ry, p.hi_h);
        class_slots = p.batch * axis_y.y * slots_per_row;
        let blocks = row_blocks * ((class_slots + 7u) / 8u);
        if index < blocks {
            break;
        }
        index -= blocks;
    }
    if ry == 2u {
        return;
    }
    let r0 = (index % row_blocks) * 32u;
    let slot = (index / row_blocks) * 8u + lane;
    let at_slot = slot_position(min(slot, class_slots - 1u), axis_y.y, slots_per_row, 4u);
    // Hi position (y, x) = (first + 2·iy, first + 2·ix) of class (ry, rx) reads lo (u − jy, v − jx)
    // through taps (ry + 2·jy, rx + 2·jx), with u = (y + pad − ry) / 2 and v = (x + pad − rx) / 2
    // (exact: the class was chosen so). The slot's positions ix0 + i of class rx = 1 read lo column
    // v + i; those of class 0 read one column further when pad is odd.
    let u = i32((axis_y.x + p.pad - ry + 2u * at_slot.y) / 2u);
    let v = i32((axis_x1.x + p.pad - 1u + 2u * at_slot.z) / 2u);
    let shift = p.pad % 2u == 1u;
    let lo_plane = p.lo_h * p.lo_w;
    var plane = at_slot.x * p.lo_channels * lo_plane;
    // weight rows (l, c, ky) as vec4s over kx, for this lane's rows c = r0 + 8·g + lane.
    var w = weight_rows(r0, lane, p.w_stride_hi);
    let w_step = p.w_stride_lo / 4u;
    let one = opaque_one(p.lo_channels);
    let run_length = select(p.lo_channels, GATHER_HI_RUN, compensated);
    for (var run = 0u; run < p.lo_channels; run += run_length) {
        for (var l = run; l < min(run + run_length, p.lo_channels); l++) {
            let top = row_taps(plane, u, v, w, ry, 0, shift);
            let bottom = row_taps(plane, u, v, w, ry + 2u, 1, shift);
            rank4_rows(top.a00, top.a01, bottom.a00, bottom.a01, top.b00, top.b01, bottom.b00, bottom.b01);
            rank4_rows_upper(top.a10, top.a11, bottom.a10, bottom.a11, top.b10, top.b11, bottom.b10, bottom.b11);
            plane += lo_plane;
            w += vec4<u32>(w_step);
        }
        if compensated {
            flush_blocks(one);
        }
    }
    if compensated {
        settle_blocks(one);
    }
    // out[n][c][y][x] for c = r0
    let hi_plane = p.hi_h * p.hi_w;
    let ix = vec4<u32>(at_slot.z) + vec4<u32>(0u, 1u, 2u, 3u);
    let hy = axis_y.x + 2u * at_slot.y;
    let row_start = vec4<u32>((at_slot.x * p.hi_channels + r0) * hi_plane + hy * p.hi_w);
    let in_class = vec4<bool>(slot < class_slots);
    let at0 = row_start + vec4<u32>(axis_x0.x) + 2u * ix;
    let lower_out = Outputs(at0, ix < vec4<u32>(axis_x0.y) & in_class, hi_plane);
    let at1 = row_start + vec4<u32>(axis_x1.x) + 2u * ix;
    let upper_out = Outputs(at1, ix < vec4<u32>(axis_x1.y) & in_class, hi_plane);
    store_blocks(lower_out, upper_out, r0, with_bias);

}

// ---- weight ----------------------------------------------------------------------------------------

// The four taps kx = 0..3 of kernel row ky at lo position (u, v) = uv in the hi plane starting at
// `plane`.
fn weight_taps(plane: u32, uv: vec2<u32>, ky: u32) -> vec4<f32> {
    let row = map_row(plane, i32(uv.x * 2u + ky) - i32(p.pad), p.hi_h, p.hi_w);
    let x = i32(uv.y * 2u) - i32(p.pad);
    return vec4<f32>(map_at(row, x, p.hi_w), map_at(row, x + 1, p.hi_w), map_at(row, x + 2, p.hi_w), map_at(row, x + 3, p.hi_w));
}

// The lo values of depth q of this lane's rows (planes starting at `lo`), one float each.
fn lo_depth(lo: vec4<u32>, q: u32) -> vec4<f32> {
    return vec4<f32>(lo_map[lo.x + q], lo_map[lo.y + q], lo_map[lo.z + q], lo_map[lo.w + q]);
}

// Four consecutive elements of a map that starts `shift` (0..3) elements into `current`, the aligned
// vec4 before `next`.
fn window4(current: vec4<f32>, next: vec4<f32>, shift: u32) -> vec4<f32> {
    let by1 = vec4<f32>(current.yzw, next.x);
    let by2 = vec4<f32>(current.zw, next.xy);
    let by3 = vec4<f32>(current.w, next.xyz);
    return select(select(select(current, by1, shift == 1u), by2, shift == 2u), by3, shift == 3u);
}

// Four depths' lo values of this lane's four rows, from the aligned vec4s `current` (carried over) and
// `next` of each row: rank4_rows's `ax`..`aw`.
struct LoDepths {
    ax: vec4<f32>,
    ay: vec4<f32>,
    az: vec4<f32>,
    aw: vec4<f32>,
}

fn lo_depths(current: array<vec4<f32>, 4>, next: array<vec4<f32>, 4>, shift: u32) -> LoDepths {
    let r0 = window4(current[0], next[0], shift);
    let r1 = window4(current[1], next[1], shift);
    let r2 = window4(current[2], next[2], shift);
    let r3 = window4(current[3], next[3], shift);
    return LoDepths(
        vec4<f32>(r0.x, r1.x, r2.x, r3.x),
        vec4<f32>(r0.y, r1.y, r2.y, r3.y),
        vec4<f32>(r0.z, r1.z, r2.z, r3.z),
        vec4<f32>(r0.w, r1.w, r2.w, r3.w),
    );
}

// The lo position after (u, v) in row-major order.
fn next_lo_position(uv: vec2<u32>) -> vec2<u32> {
    if uv.y + 1u == p.lo_w {
        return vec2<u32>(uv.x + 1u, 0u);
    }
    return vec2<u32>(uv.x, uv.y + 1u);
}

// dW(l, h, ky, kx) = Σ over (n, u, v) of lo[n][l][u][v] · hi[n][h][u·2 − pad + ky][v·2 − pad + kx].
// A workgroup computes 32 lo channels × four hi channels' 16 taps, as two blocks: lane l owns hi
// channel h0 + l / 4 in the lower bank and h0 + 2 + l / 4 in the upper, row ky = l % 4 of its taps,
// kx = 0..3; both banks share the lo values. (Hi channels past the last, when their count is not a
// multiple of 4, are read clamped and not stored.)
fn weight_gradient(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, two_banks: bool) {
    let row_blocks = p.lo_channels / 32u;
    let index = workgroup_index(wid, nwg);
    if index >= row_blocks * ((p.hi_channels + 3u) / 4u) {
        return;
    }
    let r0 = (index % row_blocks) * 32u;
    let h_wanted = (index / row_blocks) * 4u + lane / 4u;
    let h = min(vec2<u32>(h_wanted, h_wanted + 2u), vec2<u32>(p.hi_channels - 1u));
    let ky = lane % 4u;
    let lo_plane = p.lo_h * p.lo_w;
    let hi_plane = p.hi_h * p.hi_w;
    // Whether any of the upper bank's hi channels exists (the same for every lane): it is skipped
    // otherwise. lavapipe runs an `if` on a value only known at run time with lanes masked off, the
    // multiply-adds included, so maps of one or two hi channels have entry points of their own, which
    // pass a constant false (`two_banks`) that leaves no upper bank in the code.
    let upper = two_banks && (index / row_blocks) * 4u + 2u < p.hi_channels;
    for (var n = 0u; n < p.batch; n++) {
        let lo0 = (n * p.lo_channels + r0 + lane) * lo_plane;
        let lo = vec4<u32>(lo0, lo0 + 8u * lo_plane, lo0 + 16u * lo_plane, lo0 + 24u * lo_plane);
        let planes = (vec2<u32>(n * p.hi_channels) + h) * hi_plane;
        // Depths q = u·lo_w + v of this image four at a time (lo position (u, v) stepped along, not
        // divided out: a division is eight scalar ones here), then the last lo_plane mod 4 one by one.
        // A lane's lo values come as aligned vec4s (its four planes lie a multiple of 4 apart, so
        // they share the misalignment `shift`), each loaded once and used for two groups of depths:
        // four loads per group instead of sixteen floats.
        let shift = lo.x % 4u;
        var quad = lo / 4u;
        var current = array<vec4<f32>, 4>(lo_quads[quad.x], lo_quads[quad.y], lo_quads[quad.z], lo_quads[quad.w]);
        var q = 0u;
        var uv0 = vec2<u32>(0u);
        for (; q + 4u <= lo_plane; q += 4u) {
            quad += vec4<u32>(1u);
            let next = array<vec4<f32>, 4>(lo_quads[quad.x], lo_quads[quad.y], lo_quads[quad.z], lo_quads[quad.w]);
            let a = lo_depths(current, next, shift);
            current = next;
            let uv1 = next_lo_position(uv0);
            let uv2 = next_lo_position(uv1);
            let uv3 = next_lo_position(uv2);
            rank4_rows(
                a.ax, a.ay, a.az, a.aw,
                weight_taps(planes.x, uv0, ky),
                weight_taps(planes.x, uv1, ky),
                weight_taps(planes.x, uv2, ky),
                weight_taps(planes.x, uv3, ky),
            );
            if upper {
                rank4_rows_upper(
                    a.ax, a.ay, a.az, a.aw,
                    weight_taps(planes.y, uv0, ky),
                    weight_taps(planes.y, uv1, ky),
                    weight_taps(planes.y, uv2, ky),
                    weight_taps(planes.y, uv3, ky),
                );
            }
            uv0 = next_lo_position(uv3);
        }
        for (; q < lo_plane; q++) {
            let a = lo_depth(lo, q);
            rank1_rows(a, weight_taps(planes.x, uv0, ky));
            if upper {
                rank1_rows_upper(a, weight_taps(planes.y, uv0, ky));
            }
            uv0 = next_lo_position(uv0);
        }
    }
    // Row r of each bank, from acc0 and acc32 as shift_rows brings them there.
    let lower_at = r0 * p.w_stride_lo + h.x * p.w_stride_hi + ky * 4u;
    let upper_at = r0 * p.w_stride_lo + h.y * p.w_stride_hi + ky * 4u;
    for (var r = 0u; r < 32u; r++) {
        if h_wanted < p.hi_channels {
            store_taps(lower_at + r * p.w_stride_lo, acc0);
        }
        if two_banks && h_wanted + 2u < p.hi_channels {
            store_taps(upper_at + r * p.w_stride_lo, acc32);
        }
        shift_rows();
    }
}

// Stores one row's four taps (kx = 0..3), added to what dst holds when p.accumulate.
fn store_taps(at: u32, value: vec4<f32>) {
    var v = value;
    if p.accumulate != 0u {
        v += vec4<f32>(dst[at], dst[at + 1u], dst[at + 2u], dst[at + 3u]);
    }
    dst[at] = v.x;
    dst[at + 1u] = v.y;
    dst[at + 2u] = v.z;
    dst[at + 3u] = v.w;
}

// ---- gather_hi onto a single-channel map -------------------------------------------------------------

// GATHER_HI when the hi map has one channel (G's last layer, the image gradient of D's first), for
// pad 1 and a hi map twice the lo map's size: a product with one column, so the 32×32 blocks do not
// apply. Lane l takes four 2×2 quads of hi positions (2i + a, 2j + b), j = j0 .. j0 + 3, of one row i of
// one image; together they read lo rows i − 1 .. i + 1 and columns j0 − 1 .. j0 + 4 of each channel,
// 18 loads for 64 multiply-adds. Quad position a = 0 takes taps ky = 1 (lo row i) and 3 (row i − 1),
// a = 1 taps 0 (row i + 1) and 2 (row i); the same for columns. The 16 weights of channel l are
// loaded by lane l mod 8 and handed to every lane with subgroupShuffle (as fast here as unrolled
// broadcasts, whose lane must be a constant).
fn single_channel_hi(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool) {
    let slots_per_row = (p.lo_w + 3u) / 4u;
    let slot = workgroup_index(wid, nwg) * 8u + lane;
    let slots = p.batch * p.lo_h * slots_per_row;
    let s = min(slot, slots - 1u);
    let n = s / (p.lo_h * slots_per_row);
    let i = (s / slots_per_row) % p.lo_h;
    let j0 = (s % slots_per_row) * 4u;
    let lo_plane = p.lo_h * p.lo_w;
    let plane = n * p.lo_channels * lo_plane;
    var w_row = lane * (p.w_stride_lo / 4u);
    let w_step = 8u * (p.w_stride_lo / 4u);
    var out0_00 = 0.0;
    var out0_01 = 0.0;
    var out0_10 = 0.0;
    var out0_11 = 0.0;
    var out1_00 = 0.0;
    var out1_01 = 0.0;
    var out1_10 = 0.0;
    var out1_11 = 0.0;
    var out2_00 = 0.0;
    var out2_01 = 0.0;
    var out2_10 = 0.0;
    var out2_11 = 0.0;
    var out3_00 = 0.0;
    var out3_01 = 0.0;
    var out3_10 = 0.0;
    var out3_11 = 0.0;
    let rows = array<vec2<u32>, 3>(
        map_row(plane, i32(i) - 1, p.lo_h, p.lo_w),
        map_row(plane, i32(i), p.lo_h, p.lo_w),
        map_row(plane, i32(i) + 1, p.lo_h, p.lo_w),
    );
    for (var l0 = 0u; l0 < p.lo_channels; l0 += 8u) {
        // This lane's weight row: channel l0 + lane's 16 taps (ky-major).
        let w0 = weight[w_row];
        let w1 = weight[w_row + 1u];
        let w2 = weight[w_row + 2u];
        let w3 = weight[w_row + 3u];
        for (var t = 0u; t < 8u; t++) {
            // channel l0 + t: its 16 taps from lane t
            let k00 = subgroupShuffle(w0.x, t);
            let k01 = subgroupShuffle(w0.y, t);
            let k02 = subgroupShuffle(w0.z, t);
            let k03 = subgroupShuffle(w0.w, t);
            let k10 = subgroupShuffle(w1.x, t);
            let k11 = subgroupShuffle(w1.y, t);
            let k12 = subgroupShuffle(w1.z, t);
            let k13 = subgroupShuffle(w1.w, t);
            let k20 = subgroupShuffle(w2.x, t);
            let k21 = subgroupShuffle(w2.y, t);
            let k22 = subgroupShuffle(w2.z, t);
            let k23 = subgroupShuffle(w2.w, t);
            let k30 = subgroupShuffle(w3.x, t);
            let k31 = subgroupShuffle(w3.y, t);
            let k32 = subgroupShuffle(w3.z, t);
            let k33 = subgroupShuffle(w3.w, t);
            let at = vec2<u32>((l0 + t) * lo_plane, 0u);
            let row0 = rows[0] + at;
            let row1 = rows[1] + at;
            let row2 = rows[2] + at;
            let m00 = map_at(row0, i32(j0) - 1, p.lo_w);
            let m01 = map_at(row0, i32(j0), p.lo_w);
            let m02 = map_at(row0, i32(j0) + 1, p.lo_w);
            let m03 = map_at(row0, i32(j0) + 2, p.lo_w);
            let m04 = map_at(row0, i32(j0) + 3, p.lo_w);
            let m05 = map_at(row0, i32(j0) + 4, p.lo_w);
            let m10 = map_at(row1, i32(j0) - 1, p.lo_w);
            let m11 = map_at(row1, i32(j0), p.lo_w);
            let m12 = map_at(row1, i32(j0) + 1, p.lo_w);
            let m13 = map_at(row1, i32(j0) + 2, p.lo_w);
            let m14 = map_at(row1, i32(j0) + 3, p.lo_w);
            let m15 = map_at(row1, i32(j0) + 4, p.lo_w);
            let m20 = map_at(row2, i32(j0) - 1, p.lo_w);
            let m21 = map_at(row2, i32(j0), p.lo_w);
            let m22 = map_at(row2, i32(j0) + 1, p.lo_w);
            let m23 = map_at(row2, i32(j0) + 2, p.lo_w);
            let m24 = map_at(row2, i32(j0) + 3, p.lo_w);
            let m25 = map_at(row2, i32(j0) + 4, p.lo_w);
            out0_00 = fma(k11, m11, out0_00);
            out0_00 = fma(k13, m10, out0_00);
            out0_00 = fma(k31, m01, out0_00);
            out0_00 = fma(k33, m00, out0_00);
            out0_01 = fma(k10, m12, out0_01);
            out0_01 = fma(k12, m11, out0_01);
            out0_01 = fma(k30, m02, out0_01);
            out0_01 = fma(k32, m01, out0_01);
            out0_10 = fma(k01, m21, out0_10);
            out0_10 = fma(k03, m20, out0_10);
            out0_10 = fma(k21, m11, out0_10);
            out0_10 = fma(k23, m10, out0_10);
            out0_11 = fma(k00, m22, out0_11);
            out0_11 = fma(k02, m21, out0_11);
            out0_11 = fma(k20, m12, out0_11);
            out0_11 = fma(k22, m11, out0_11);
            out1_00 = fma(k11, m12, out1_00);
            out1_00 = fma(k13, m11, out1_00);
            out1_00 = fma(k31, m02, out1_00);
            out1_00 = fma(k33, m01, out1_00);
            out1_01 = fma(k10, m13, out1_01);
            out1_01 = fma(k12, m12, out1_01);
            out1_01 = fma(k30, m03, out1_01);
            out1_01 = fma(k32, m02, out1_01);
            out1_10 = fma(k01, m22, out1_10);
            out1_10 = fma(k03, m21, out1_10);
            out1_10 = fma(k21, m12, out1_10);
            out1_10 = fma(k23, m11, out1_10);
            out1_11 = fma(k00, m23, out1_11);
            out1_11 = fma(k02, m22, out1_11);
            out1_11 = fma(k20, m13, out1_11);
            out1_11 = fma(k22, m12, out1_11);
            out2_00 = fma(k11, m13, out2_00);
            out2_00 = fma(k13, m12, out2_00);
            out2_00 = fma(k31, m03, out2_00);
            out2_00 = fma(k33, m02, out2_00);
            out2_01 = fma(k10, m14, out2_01);
            out2_01 = fma(k12, m13, out2_01);
            out2_01 = fma(k30, m04, out2_01);
            out2_01 = fma(k32, m03, out2_01);
            out2_10 = fma(k01, m23, out2_10);
            out2_10 = fma(k03, m22, out2_10);
            out2_10 = fma(k21, m13, out2_10);
            out2_10 = fma(k23, m12, out2_10);
            out2_11 = fma(k00, m24, out2_11);
            out2_11 = fma(k02, m23, out2_11);
            out2_11 = fma(k20, m14, out2_11);
            out2_11 = fma(k22, m13, out2_11);
            out3_00 = fma(k11, m14, out3_00);
            out3_00 = fma(k13, m13, out3_00);
            out3_00 = fma(k31, m04, out3_00);
            out3_00 = fma(k33, m03, out3_00);
            out3_01 = fma(k10, m15, out3_01);
            out3_01 = fma(k12, m14, out3_01);
            out3_01 = fma(k30, m05, out3_01);
            out3_01 = fma(k32, m04, out3_01);
            out3_10 = fma(k01, m24, out3_10);
            out3_10 = fma(k03, m23, out3_10);
            out3_10 = fma(k21, m14, out3_10);
            out3_10 = fma(k23, m13, out3_10);
            out3_11 = fma(k00, m25, out3_11);
            out3_11 = fma(k02, m24, out3_11);
            out3_11 = fma(k20, m15, out3_11);
            out3_11 = fma(k22, m14, out3_11);
        }
        w_row += w_step;
    }
    if slot >= slots {
        return;
    }
    let offset = select(0.0, bias[0], with_bias);
    let hi_plane = p.hi_h * p.hi_w;
    let top = n * hi_plane + 2u * i * p.hi_w;
    if j0 + 0u < p.lo_w {
        let x = 2u * (j0 + 0u);
        store_gathered(top + x, out0_00 + offset);
        store_gathered(top + x + 1u, out0_01 + offset);
        store_gathered(top + p.hi_w + x, out0_10 + offset);
        store_gathered(top + p.hi_w + x + 1u, out0_11 + offset);
    }
    if j0 + 1u < p.lo_w {
        let x = 2u * (j0 + 1u);
        store_gathered(top + x, out1_00 + offset);
        store_gathered(top + x + 1u, out1_01 + offset);
        store_gathered(top + p.hi_w + x, out1_10 + offset);
        store_gathered(top + p.hi_w + x + 1u, out1_11 + offset);
    }
    if j0 + 2u < p.lo_w {
        let x = 2u * (j0 + 2u);
        store_gathered(top + x, out2_00 + offset);
        store_gathered(top + x + 1u, out2_01 + offset);
        store_gathered(top + p.hi_w + x, out2_10 + offset);
        store_gathered(top + p.hi_w + x + 1u, out2_11 + offset);
    }
    if j0 + 3u < p.lo_w {
        let x = 2u * (j0 + 3u);
        store_gathered(top + x, out3_00 + offset);
        store_gathered(top + x + 1u, out3_01 + offset);
        store_gathered(top + p.hi_w + x, out3_10 + offset);
        store_gathered(top + p.hi_w + x + 1u, out3_11 + offset);
    }
}

// gather_hi, or single_channel_hi where the host chose it (a hi map of one channel).
fn gather_hi_any(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, with_bias: bool, compensated: bool) {
    if p.hi_channels == 1u {
        single_channel_hi(wid, nwg, lane, with_bias);
    } else {
        gather_hi(wid, nwg, lane, with_bias, compensated);
    }
}

// The gather_lo entry points read the hi map in pairs; their _odd_width versions, for hi maps of odd
// width, one element at a time.
@compute @workgroup_size(8)
fn conv2d_subgroup_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, true, true, true);
}

@compute @workgroup_size(8)
fn conv2d_subgroup_forward_odd_width(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, true, false, true);
}

@compute @workgroup_size(8)
fn conv2d_subgroup_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_hi_any(wid, nwg, lane, false, false);
}

@compute @workgroup_size(8)
fn conv2d_subgroup_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane, true);
}

// conv2d_subgroup_backward_weight for hi maps of one or two channels (the lower bank only).
@compute @workgroup_size(8)
fn conv2d_subgroup_backward_weight_one_bank(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane, false);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_hi_any(wid, nwg, lane, true, true);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, false, true, false);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_input_odd_width(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    gather_lo(wid, nwg, lane, false, false, false);
}

@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane, true);
}

// conv_transpose2d_subgroup_backward_weight for hi maps of one or two channels (the lower bank only).
@compute @workgroup_size(8)
fn conv_transpose2d_subgroup_backward_weight_one_bank(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    weight_gradient(wid, nwg, lane, false);
}
