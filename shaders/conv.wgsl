// Conv2d and ConvTranspose2d (square kernel, stride and padding as parameters), forward and backward,
// as implicit matrix products on shaders/gemm.wgsl's tiles (no im2col buffer).
//
// Both layers connect a high-resolution map "hi" and a low-resolution map "lo" through the same index
// relation: lo position u sees hi position u·stride − pad + k. Conv2d maps hi → lo, ConvTranspose2d
// maps lo → hi, and each one's input gradient runs the other direction. So there are three products:
//   GATHER_LO  rows: lo positions (n, u, v), columns: lo channels, depth: (hi channel, ky, kx)
//              conv2d_forward, conv_transpose2d_backward_input
//   GATHER_HI  rows: hi positions (n, y, x), columns: hi channels, depth: (lo channel, jy, jx)
//              conv_transpose2d_forward, conv2d_backward_input
//              Only taps with ky ≡ y + pad (mod stride) reach a hi position, so its rows are grouped by
//              that residue class (ry, rx) and its depth runs over those taps alone, ky = ry + stride·jy:
//              1/stride² of the multiply-adds. Each class's rows are padded to whole 64-row tiles, so a
//              tile never mixes classes and its weight slice is one matrix.
//   WEIGHT     rows: lo channels, columns: (hi channel, ky, kx), depth: lo positions (n, u, v)
//              conv2d_backward_weight, conv_transpose2d_backward_weight
// Weight element (lo channel l, hi channel h, ky, kx) sits at l·w_stride_lo + h·w_stride_hi + ky·ksize +
// kx, which covers PyTorch's (C_out, C_in, k, k) Conv2d layout and its (C_in, C_out, k, k)
// ConvTranspose2d layout. Maps are NCHW.

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;    // the map gathered from (the hi map for WEIGHT)
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
// The forward products' bias, per output channel; an input-gradient product's activation output, like
// dst (p.activation_grad).
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> lo_map: array<f32>; // WEIGHT: the lo map

const GATHER_LO: u32 = 0u;
const GATHER_HI: u32 = 1u;
const WEIGHT: u32 = 2u;
// Which product this invocation computes and how it stores it; set first thing by each entry point.
var<private> product: u32;
var<private> with_bias: bool;
var<private> add_to_dst: bool;

// GATHER_HI: the residue class of the rows being computed (set by enter_class).
var<private> class_ry: u32;
var<private> class_rx: u32;
var<private> class_first_row: u32;
var<private> class_rows: u32;
// (first coordinate, count) of the class's hi rows and columns, kept to spare each load the division.
var<private> class_y: vec2<u32>;
var<private> class_x: vec2<u32>;
// The lo row and column that tap (0, 0) of the class's first hi row and column reads:
// (first + pad − r) / stride on each axis.
var<private> class_base: vec2<u32>;

// Taps per axis that one residue class uses: ⌈ksize / stride⌉.
fn taps_per_class() -> u32 {
    return (p.ksize + p.stride - 1u) / p.stride;
}

// First hi coordinate in [0, size) whose (coordinate + pad) mod stride is r, and how many there are.
fn class_axis(r: u32, size: u32) -> vec2<u32> {
    let first = (r + p.stride - p.pad % p.stride) % p.stride;
    if first >= size {
        return vec2<u32>(first, 0u);
    }
    return vec2<u32>(first, (size - first + p.stride - 1u) / p.stride);
}

// Rows of class c, and the same rounded up to whole tiles.
fn class_size(c: u32) -> vec2<u32> {
    let rows = p.batch * class_axis(c / p.stride, p.hi_h).y * class_axis(c % p.stride, p.hi_w).y;
    return vec2<u32>(rows, (rows + TILE - 1u) / TILE * TILE);
}

// Finds the class that GATHER_HI row `row` belongs to.
fn enter_class(row: u32) {
    var start = 0u;
    for (var c = 0u; c < p.stride * p.stride; c++) {
        let size = class_size(c);
        if row < start + size.y || c + 1u == p.stride * p.stride {
            class_ry = c / p.stride;
            class_rx = c % p.stride;
            class_first_row = start;
            class_rows = size.x;
            class_y = class_axis(class_ry, p.hi_h);
            class_x = class_axis(class_rx, p.hi_w);
            class_base = vec2<u32>((class_y.x + p.pad - class_ry) / p.stride, (class_x.x + p.pad - class_rx) / p.stride);
            return;
        }
        start += size.y;
    }
}

// (n, y, x) of GATHER_HI row `row` (which must be < class_first_row + class_rows).
fn class_position(row: u32) -> vec3<u32> {
    let local = row - class_first_row;
    let ix = local % class_x.y;
    let iy = (local / class_x.y) % class_y.y;
    return vec3<u32>(local / (class_x.y * class_y.y), class_y.x + iy * p.stride, class_x.x + ix * p.stride);
}

// (lo channel, jy, jx) of GATHER_HI depth index d: the class's taps ky = ry + stride·jy, kx likewise.
// Two taps per axis (the DCGAN's kernel 4, stride 2) take shifts instead of divisions: a GPU divides
// by a number it only knows at run time in tens of instructions, for every element staged.
fn class_taps(d: u32) -> vec3<u32> {
    let j = taps_per_class();
    if j == 2u {
        return vec3<u32>(d >> 2u, (d >> 1u) & 1u, d & 1u);
    }
    return vec3<u32>(d / (j * j), (d / j) % j, d % j);
}

// (lo channel, ky, kx) of GATHER_HI depth index d; ky or kx ≥ ksize marks a tap past the kernel.
fn class_tap(d: u32) -> vec3<u32> {
    let j = class_taps(d);
    return vec3<u32>(j.x, class_ry + p.stride * j.y, class_rx + p.stride * j.z);
}

// (n, row, column) of flat position `i` of a map of h×w, with two divisions.
fn position(i: u32, h: u32, w: u32) -> vec3<u32> {
    let rows = i / w;
    let n = rows / h;
    return vec3<u32>(n, rows - n * h, i - rows * w);
}

// (channel, ky, kx) of flat depth index `d`; shifts for the DCGAN's kernel 4 (see class_tap).
fn tap(d: u32) -> vec3<u32> {
    if p.ksize == 4u {
        return vec3<u32>(d >> 4u, (d >> 2u) & 3u, d & 3u);
    }
    let kk = p.ksize * p.ksize;
    return vec3<u32>(d / kk, (d / p.ksize) % p.ksize, d % p.ksize);
}

// hi[n, h, u·s − p + ky, v·s − p + kx], 0 in the padding.
fn hi_at(n: u32, h: u32, u: u32, v: u32, ky: u32, kx: u32) -> f32 {
    let y = i32(u * p.stride + ky) - i32(p.pad);
    let x = i32(v * p.stride + kx) - i32(p.pad);
    if y < 0 || x < 0 || y >= i32(p.hi_h) || x >= i32(p.hi_w) {
        return 0.0;
    }
    return src[((n * p.hi_channels + h) * p.hi_h + u32(y)) * p.hi_w + u32(x)];
}

fn weight_at(l: u32, h: u32, ky: u32, kx: u32) -> f32 {
    return weight[l * p.w_stride_lo + h * p.w_stride_hi + ky * p.ksize + kx];
}

fn load_a(row: u32, d: u32) -> f32 {
    if product == GATHER_LO {
        let pos = position(row, p.lo_h, p.lo_w);
        let t = tap(d);
        return hi_at(pos.x, t.x, pos.y, pos.z, t.y, t.z);
    }
    if product == GATHER_HI {
        // lo[n, l, u, v] with y = u·s − p + ky, x = v·s − p + kx: ky and kx are on the lattice by
        // construction, so u = iy − jy + class_base.x for the class's iy-th hi row (v likewise), and
        // only the edges of the lo map and of the kernel remain to check.
        let local = row - class_first_row;
        if local >= class_rows {
            return 0.0;
        }
        let ix = local % class_x.y;
        let rows = local / class_x.y;
        let iy = rows % class_y.y;
        let j = class_taps(d);
        let u = i32(iy + class_base.x) - i32(j.y);
        let v = i32(ix + class_base.y) - i32(j.z);
        let past_kernel = class_ry + p.stride * j.y >= p.ksize || class_rx + p.stride * j.z >= p.ksize;
        if past_kernel || u < 0 || v < 0 || u >= i32(p.lo_h) || v >= i32(p.lo_w) {
            return 0.0;
        }
        return src[(((rows / class_y.y) * p.lo_channels + j.x) * p.lo_h + u32(u)) * p.lo_w + u32(v)];
    }
    // WEIGHT: lo[n, l = row, u, v] at depth d = (n, u, v).
    let pos = position(d, p.lo_h, p.lo_w);
    return lo_map[((pos.x * p.lo_channels + row) * p.lo_h + pos.y) * p.lo_w + pos.z];
}

fn load_b(d: u32, col: u32) -> f32 {
    if product == GATHER_LO {
        let t = tap(d);
        return weight_at(col, t.x, t.y, t.z);
    }
    if product == GATHER_HI {
        let t = class_tap(d);
        if t.y >= p.ksize || t.z >= p.ksize {
            return 0.0;
        }
        return weight_at(t.x, col, t.y, t.z);
    }
    // WEIGHT: hi[n, h, u·s − p + ky, v·s − p + kx] for depth d = (n, u, v), column (h, ky, kx).
    let pos = position(d, p.lo_h, p.lo_w);
    let t = tap(col);
    return hi_at(pos.x, t.x, pos.y, pos.z, t.y, t.z);
}

// Where element (row, col) of the product goes in dst, and its channel for the bias.
fn destination(row: u32, col: u32) -> vec2<u32> {
    if product == GATHER_LO {
        let pos = position(row, p.lo_h, p.lo_w);
        return vec2<u32>(((pos.x * p.lo_channels + col) * p.lo_h + pos.y) * p.lo_w + pos.z, col);
    }
    if product == GATHER_HI {
        let pos = class_position(row);
        return vec2<u32>(((pos.x * p.hi_channels + col) * p.hi_h + pos.y) * p.hi_w + pos.z, col);
    }
    let t = tap(col);
    return vec2<u32>(row * p.w_stride_lo + t.x * p.w_stride_hi + t.y * p.ksize + t.z, 0u);
}

// Stores one element of the product: plus the bias when `with_bias`, then through p.activation (the
// activation itself, or its gradient with p.activation_grad), added to dst when `add_to_dst`.
fn store_element(row: u32, col: u32, value: f32) {
    if product == GATHER_HI && row - class_first_row >= class_rows {
        return; // padding rows of a residue class
    }
    let at = destination(row, col);
    var v = value;
    if with_bias {
        v += bias[at.y];
    }
    if p.activation_grad != 0u {
        v = activation_grad(p.activation, p.negative_slope, v, bias[at.x]);
    } else {
        v = activation_of(p.activation, p.negative_slope, v);
    }
    if add_to_dst {
        dst[at.x] += v;
    } else {
        dst[at.x] = v;
    }
}

// Products with fewer columns than this (a single output channel, as in G's last layer and the image
// gradient of D's first) would leave most of a 64-wide tile idle: each invocation sums one element.
// NARROW comes from the host (HOST_CONSTANTS).

// One GATHER_HI element without the general loads' index arithmetic: the taps that reach hi position
// (n, y, x) are found once, and for each the sum runs down the lo channels with two strided loads.
fn narrow_gather_hi(row: u32, col: u32) -> f32 {
    if row - class_first_row >= class_rows {
        return 0.0;
    }
    let pos = class_position(row);
    let j = taps_per_class();
    let lo_plane = p.lo_h * p.lo_w;
    var sum = 0.0;
    for (var jy = 0u; jy < j; jy++) {
        let ky = class_ry + p.stride * jy;
        let ty = i32(pos.y + p.pad) - i32(ky);
        if ky >= p.ksize || ty < 0 || u32(ty) / p.stride >= p.lo_h {
            continue;
        }
        for (var jx = 0u; jx < j; jx++) {
            let kx = class_rx + p.stride * jx;
            let tx = i32(pos.z + p.pad) - i32(kx);
            if kx >= p.ksize || tx < 0 || u32(tx) / p.stride >= p.lo_w {
                continue;
            }
            // ty and tx are multiples of the stride: the class was chosen so.
            var at_src = pos.x * p.lo_channels * lo_plane + (u32(ty) / p.stride) * p.lo_w + u32(tx) / p.stride;
            var at_weight = col * p.w_stride_hi + ky * p.ksize + kx;
            for (var l = 0u; l < p.lo_channels; l++) {
                sum += src[at_src] * weight[at_weight];
                at_src += lo_plane;
                at_weight += p.w_stride_lo;
            }
        }
    }
    return sum;
}

// One element i of a product narrower than NARROW columns, by a plain dot product (a function of its
// own, so that its early returns leave `run`'s control flow uniform for the tiles' barriers).
fn run_narrow(i: u32, which: u32) {
    if i >= p.m * p.n {
        return;
    }
    let row = i / p.n;
    let col = i % p.n;
    if which == GATHER_HI {
        enter_class(row);
        store_element(row, col, narrow_gather_hi(row, col));
        return;
    }
    var sum = 0.0;
    for (var d = 0u; d < p.k; d++) {
        sum += load_a(row, d) * load_b(d, col);
    }
    store_element(row, col, sum);
}

// Runs this workgroup's share of `which` product and stores it, or with `split` (a constant in each
// entry point) keeps its tile as a partial sum. Branches test `which`, not `product`: a uniformity
// analysis (Tint's) cannot see that a private variable holds the same value in every invocation.
// The forward products (those that add a bias) sum in compensated runs (gemm_product).
fn run(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, which: u32, bias_added: bool, accumulate: bool, split: bool) {
    product = which;
    with_bias = bias_added;
    add_to_dst = accumulate;
    if p.n < NARROW {
        run_narrow(invocation_index(wid, nwg, lid.y * 16u + lid.x), which);
        return;
    }
    if gemm_done(p.m, p.n, p.splits, wid, nwg) {
        return;
    }
    let work = gemm_work(p.m, p.n, wid, nwg);
    if which == GATHER_HI {
        enter_class(work.origin.x);
    }
    let k_begin = work.split * p.split_depth;
    let k_end = min(k_begin + p.split_depth, p.k);
    gemm_product(p.m, p.n, k_begin, k_end, which == WEIGHT, false, work, lid, split, bias_added);
}

// Stores the sum of the splits of `which` product (split by `run`), one element per invocation.
fn reduce(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, which: u32, bias_added: bool, accumulate: bool) {
    product = which;
    with_bias = bias_added;
    add_to_dst = accumulate;
    let i = invocation_index(wid, nwg, lid.y * 16u + lid.x);
    if i >= p.m * p.n {
        return;
    }
    let row = i / p.n;
    if which == GATHER_HI {
        enter_class(row);
    }
    store_element(row, i % p.n, gemm_reduce(p.m, p.n, p.splits, i));
}

@compute @workgroup_size(16, 16)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_LO, true, false, false);
}

@compute @workgroup_size(16, 16)
fn conv2d_forward_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_LO, true, false, true);
}

@compute @workgroup_size(16, 16)
fn conv2d_forward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, GATHER_LO, true, false);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_HI, false, false, false);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_input_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_HI, false, false, true);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_input_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, GATHER_HI, false, false);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u, false);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_weight_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u, true);
}

@compute @workgroup_size(16, 16)
fn conv2d_backward_weight_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_HI, true, false, false);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_forward_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_HI, true, false, true);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_forward_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, GATHER_HI, true, false);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_LO, false, false, false);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_input_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, GATHER_LO, false, false, true);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_input_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, GATHER_LO, false, false);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u, false);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_weight_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    run(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u, true);
}

@compute @workgroup_size(16, 16)
fn conv_transpose2d_backward_weight_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    reduce(wid, nwg, lid, WEIGHT, false, p.accumulate != 0u);
}
