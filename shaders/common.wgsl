// Prepended to every shader file of gan-wgpu when its module is built (WGSL has no #include).

// WG, the invocations of a one-dimensional workgroup, and the tiled products' TILE, DEPTH and
// NARROW come from the host (src/kernels/mod.rs: HOST_CONSTANTS), which sizes dispatches by them.

// Scratch for workgroup_sum.
var<workgroup> scratch: array<f32, WG>;

// Workgroup grids are folded into two dimensions because each may hold at most 65,535 workgroups.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Bounds that lavapipe must not specialise on. Mesa 22.3's lavapipe replaces uniforms that bound a
// loop or decide a branch with their values at each dispatch, and where that shrinks a kernel enough
// (a batch-sized loop run a few times, unrolled) it compiles the kernel again for every new set of
// values, at the dispatch, every time it is bound. `unspecialised(v, nwg)` is v plus a zero taken from
// the grid, which it cannot see through, so a bound built with it is compiled once. (From the grid,
// not a private variable: WGSL's uniformity analysis counts a private variable as varying.)
fn unspecialised(v: u32, nwg: vec3<u32>) -> u32 {
    // Every dispatch has at least one workgroup along z.
    return v + (min(nwg.z, 1u) - 1u);
}

fn invocation_index(wid: vec3<u32>, nwg: vec3<u32>, lane: u32) -> u32 {
    return workgroup_index(wid, nwg) * WG + lane;
}

// Sum of `value` over the workgroup's 256 invocations, added in one fixed tree order so the result is
// the same bits on every run; every invocation receives it. Call from uniform control flow only.
fn workgroup_sum(value: f32, lane: u32) -> f32 {
    workgroupBarrier(); // the previous call's readers of scratch[0] are done
    scratch[lane] = value;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half = half / 2u) {
        if lane < half {
            scratch[lane] += scratch[lane + half];
        }
        workgroupBarrier();
    }
    return scratch[0];
}

// False for NaN and ±Inf. Tested on the exponent bits: a compiler may assume `x != x` never holds.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// How lane `lane` of a per-channel workgroup of `lanes` walks channel ch of an [N, C, S] tensor: the
// positions s0, s0 + s_step, … < S of planes n0, n0 + n_step, … < N, each plane starting at
// (n·C + ch)·S. Neither walk divides per element (a GPU divides by a number known only at run time
// in tens of instructions; lavapipe does a vector division as eight scalar ones). Plane by plane
// (by_plane), each lane takes whole planes, as a CPU adapter wants. Otherwise neighbouring lanes read
// neighbouring positions of a plane, and where planes are shorter than the workgroup each pass takes
// as many whole planes as fit (the lanes left over idle), as a GPU wants.
struct ChannelWalk {
    n0: u32,
    n_step: u32,
    s0: u32,
    s_step: u32,
}

fn channel_walk_of(by_plane: bool, lane: u32, lanes: u32, batch: u32, spatial: u32) -> ChannelWalk {
    if by_plane {
        return ChannelWalk(lane, lanes, 0u, 1u);
    }
    if spatial >= lanes {
        return ChannelWalk(0u, 1u, lane, lanes);
    }
    let planes = lanes / spatial;
    if lane / spatial >= planes {
        return ChannelWalk(batch, 1u, 0u, 1u);
    }
    return ChannelWalk(lane / spatial, planes, lane % spatial, spatial);
}

// A plane [start, end) of one channel and sample, as the plane-by-plane walk reads it on a CPU adapter:
// floats [start, body.x·4) and [max(body.y·4, start), end) one at a time, the vec4s [body.x, body.y)
// between them through a vec4 view of the same buffer. lavapipe pays every access per lane and
// component, ~13 + 7 instructions for a float and ~13 + 28 for a vec4: whole vec4s cost half.
struct Plane {
    start: u32,
    end: u32,
    body: vec2<u32>,
}

// Plane n of channel ch of an [N, C, S] tensor.
fn plane_of(n: u32, ch: u32, channels: u32, spatial: u32) -> Plane {
    let start = (n * channels + ch) * spatial;
    let end = start + spatial;
    let first = min((start + 3u) / 4u, end / 4u);
    return Plane(start, end, vec2<u32>(first, max(first, end / 4u)));
}

// ---- compensated sums ---------------------------------------------------------------------------------
// Sums whose result feeds a BatchNorm and then a kink (ReLU, LeakyReLU) must not lose more than float32
// must: BatchNorm subtracts the batch mean, which magnifies the error of every input that lies close to
// it, and an input pushed across 0 flips the kink's gradient. A product therefore sums a short run of
// depths in its accumulators and adds each run into a running total kept as hi + lo (Knuth's TwoSum:
// lo collects what rounding dropped from hi), so an output's error is that of one run, not of all K.
// A compiler allowed to reassociate rewrites (a + b) − a to b and the compensation to 0 (lavapipe
// does); `one` is 1.0 from a value it cannot see (opaque_one), and the products by it leave no such
// pattern.

// 1.0 for any `nonzero` ≠ 0 (a count the shader reads at run time), so that no compiler can fold it.
fn opaque_one(nonzero: u32) -> f32 {
    return select(0.0, 1.0, nonzero != 0u);
}

struct Sum4 {
    hi: vec4<f32>,
    lo: vec4<f32>,
}

// total + b, exactly as hi + lo (up to lo's own rounding).
fn add_compensated4(total: Sum4, b: vec4<f32>, one: f32) -> Sum4 {
    let a = total.hi;
    let s = (a + b) * one;
    let b_part = (s - a) * one;
    let a_part = s - b_part;
    return Sum4(s, total.lo + ((a - a_part) + (b - b_part)));
}

struct Sum1 {
    hi: f32,
    lo: f32,
}

fn add_compensated(total: Sum1, b: f32, one: f32) -> Sum1 {
    let a = total.hi;
    let s = (a + b) * one;
    let b_part = (s - a) * one;
    let a_part = s - b_part;
    return Sum1(s, total.lo + ((a - a_part) + (b - b_part)));
}

// An activation of v, as shaders/activation.wgsl's forward kernels compute it; kinds as activation_grad's.
fn activation_of(kind: u32, slope: f32, v: f32) -> f32 {
    switch kind {
        case 1u: {
            return max(v, 0.0);
        }
        case 2u: {
            return select(v * slope, v, v > 0.0);
        }
        case 3u: {
            return 1.0 / (1.0 + exp(-v));
        }
        default: {
            return v;
        }
    }
}

// The gradient at an activation's input from g, the gradient at its output `out`, as
// shaders/activation.wgsl's backward kernels compute it; kind 1 ReLU, 2 LeakyReLU (with `slope`), 3
// Sigmoid, anything else none. ReLU's and LeakyReLU's outputs are > 0 exactly where their inputs are.
// The kernels that produce or consume a gradient apply it on the way, so the activation's backward
// needs no pass of its own.
fn activation_grad(kind: u32, slope: f32, g: f32, out: f32) -> f32 {
    switch kind {
        case 1u: {
            return select(0.0, g, out > 0.0);
        }
        case 2u: {
            return select(g * slope, g, out > 0.0);
        }
        case 3u: {
            return g * out * (1.0 - out);
        }
        default: {
            return g;
        }
    }
}
