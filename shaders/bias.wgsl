// Bias gradient of Linear, Conv2d and ConvTranspose2d: db[c] = Σ_{n,s} dy[n, c, s] over the batch and
// the spatial positions s (one position for Linear), summed in a fixed order: by one workgroup per
// channel, or for Linear (S = 1) by one invocation per channel, whose N values are too few to be worth
// a workgroup's barriers.

struct BiasParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    accumulate: u32, // add to dbias instead of overwriting it
    by_plane: u32, // how the workgroups walk a channel: ChannelWalk in common.wgsl
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: BiasParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;

@compute @workgroup_size(256)
fn bias_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg);
    if ch >= p.channels {
        return;
    }
    let walk = channel_walk_of(p.by_plane != 0u, lane, WG, p.batch, p.spatial);
    var partial = 0.0;
    for (var n = walk.n0; n < p.batch; n += walk.n_step) {
        let plane = (n * p.channels + ch) * p.spatial;
        for (var s = walk.s0; s < p.spatial; s += walk.s_step) {
            partial += dy[plane + s];
        }
    }
    let total = workgroup_sum(partial, lane);
    if lane == 0u {
        if p.accumulate != 0u {
            dbias[ch] += total;
        } else {
            dbias[ch] = total;
        }
    }
}

@compute @workgroup_size(256)
fn bias_backward_by_channel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = invocation_index(wid, nwg, lane);
    if ch >= p.channels {
        return;
    }
    var total = 0.0;
    for (var n = 0u; n < p.batch; n++) {
        total += dy[n * p.channels + ch];
    }
    if p.accumulate != 0u {
        dbias[ch] += total;
    } else {
        dbias[ch] = total;
    }
}
