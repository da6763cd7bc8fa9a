// Bias gradient of Linear, Conv2d and ConvTranspose2d: db[c] = Σ_{n,s} dy[n, c, s] over the batch and
// the spatial positions s (one position for Linear), summed in a fixed order: by one workgroup per
// channel, or for Linear (S = 1) by one invocation per channel, whose N values are too few to be worth
// a workgroup's barriers.

struct BiasParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    accumulate: u32, // add to dbias instead of overwriting it
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: BiasParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dbias: array<f32>;
// dy again, four floats per element, for the plane-by-plane walk (Plane in common.wgsl).
@group(0) @binding(3) var<storage, read> dy4: array<vec4<f32>>;

// How the workgroups walk a channel (ChannelWalk in common.wgsl): plane by plane on the CPU adapters
// that run the subgroup products, across positions elsewhere. Set by the host (layers::bias).
override BY_PLANE: bool = true;

// Σ dy over a plane.
fn plane_sum(q: Plane) -> f32 {
    var sum = 0.0;
    for (var e = q.start; e < q.body.x * 4u; e++) {
        sum += dy[e];
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        let v = dy4[i];
        sum += (v.x + v.y) + (v.z + v.w);
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        sum += dy[e];
    }
    return sum;
}

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
    let walk = channel_walk_of(BY_PLANE, lane, WG, p.batch, p.spatial);
    var partial = 0.0;
    for (var n = walk.n0; n < p.batch; n += walk.n_step) {
        if BY_PLANE {
            partial += plane_sum(plane_of(n, ch, p.channels, p.spatial));
            continue;
        }
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
    // Compensated (common.wgsl): D's last bias gradient is the sum of the real batch's gradients and
    // the fake batch's, two sums of opposite sign that nearly cancel.
    let one = opaque_one(p.batch);
    var compensated = Sum1(0.0, 0.0);
    for (var n = 0u; n < p.batch; n++) {
        compensated = add_compensated(compensated, dy[n * p.channels + ch], one);
    }
    let total = compensated.hi + compensated.lo;
    if p.accumulate != 0u {
        dbias[ch] += total;
    } else {
        dbias[ch] = total;
    }
}
