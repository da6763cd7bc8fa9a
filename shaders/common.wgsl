// Prepended to every shader file of gan-wgpu when its module is built (WGSL has no #include).

// Invocations of a one-dimensional workgroup.
const WG: u32 = 256u;

// Scratch for workgroup_sum.
var<workgroup> scratch: array<f32, 256>;

// Workgroup grids are folded into two dimensions because each may hold at most 65,535 workgroups.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
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

// How a per-channel reduction walks channel ch of an [N, C, S] tensor: as `runs` runs of `run_len`
// neighbouring elements, lane l taking runs l, l + (lanes), ... Walked element by element
// (by_plane false), neighbouring lanes read neighbouring addresses, as a GPU wants; walked plane by
// plane (by_plane true), a CPU adapter is spared the two integer divisions per element that locating
// the i-th element costs (lavapipe does a vector division as eight scalar ones).
struct ChannelWalk {
    runs: u32,
    run_len: u32,
}

fn channel_walk_of(by_plane: bool, batch: u32, spatial: u32) -> ChannelWalk {
    if by_plane {
        return ChannelWalk(batch, spatial);
    }
    return ChannelWalk(batch * spatial, 1u);
}

// Flat index of the first element of run r of channel ch.
fn channel_run_start(by_plane: bool, ch: u32, r: u32, channels: u32, spatial: u32) -> u32 {
    if by_plane {
        return (r * channels + ch) * spatial;
    }
    return ((r / spatial) * channels + ch) * spatial + r % spatial;
}
