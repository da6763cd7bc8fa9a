// BatchNorm over a batch, PyTorch semantics: x is [N, C, S] (S = H·W for BatchNorm2d, 1 for BatchNorm1d).
// Training normalises with the batch mean and biased variance and moves the running estimates with the
// unbiased variance; eval normalises with the running estimates. One workgroup per channel for the
// batch reductions (or, for BatchNorm1d, one invocation per channel), summed in a fixed order.

struct BatchNormParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    accumulate: u32, // batchnorm_backward adds to dweight and dbias instead of overwriting them
    eps: f32,
    momentum: f32,
    by_plane: u32, // how the per-channel workgroups walk a channel: ChannelWalk in common.wgsl
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: BatchNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> running_var: array<f32>;
// The batch statistics the backward pass needs: mean in [0, C), 1/sqrt(var + eps) in [C, 2C).
@group(0) @binding(7) var<storage, read_write> saved: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read_write> dx: array<f32>;
@group(0) @binding(10) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(11) var<storage, read_write> dbias: array<f32>;

// Lanes of the per-channel workgroups: 64 rather than common.wgsl's 256. A CPU adapter (lavapipe) runs a
// workgroup as one coroutine per 8 lanes and switches between them at every barrier: a step's BatchNorm2d
// passes took 150–180 ms instead of 200 there (16 lanes measured the same as 64), and 64 lanes still
// keep a GPU's channel busy.
const CHANNEL_WG: u32 = 64u;

// Sum of `value` over a per-channel workgroup's 64 invocations, in one fixed tree order; every
// invocation receives it. Call from uniform control flow only.
fn channel_sum(value: f32, lane: u32) -> f32 {
    workgroupBarrier(); // the previous call's readers of scratch[0] are done
    scratch[lane] = value;
    workgroupBarrier();
    for (var half = CHANNEL_WG / 2u; half > 0u; half = half / 2u) {
        if lane < half {
            scratch[lane] += scratch[lane + half];
        }
        workgroupBarrier();
    }
    return scratch[0];
}

// How this layer's per-channel workgroups walk a channel (ChannelWalk in common.wgsl).
fn channel_walk() -> ChannelWalk {
    return channel_walk_of(p.by_plane != 0u, p.batch, p.spatial);
}

fn run_start(ch: u32, r: u32) -> u32 {
    return channel_run_start(p.by_plane != 0u, ch, r, p.channels, p.spatial);
}

@compute @workgroup_size(64)
fn batchnorm_forward_train(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg);
    if ch >= p.channels {
        return;
    }
    let count = p.batch * p.spatial;
    let walk = channel_walk();
    var partial = 0.0;
    for (var r = lane; r < walk.runs; r += CHANNEL_WG) {
        let start = run_start(ch, r);
        for (var e = start; e < start + walk.run_len; e++) {
            partial += x[e];
        }
    }
    let mean = channel_sum(partial, lane) / f32(count);
    // Second pass over centred values: no cancellation when |mean| ≫ std.
    partial = 0.0;
    for (var r = lane; r < walk.runs; r += CHANNEL_WG) {
        let start = run_start(ch, r);
        for (var e = start; e < start + walk.run_len; e++) {
            let d = x[e] - mean;
            partial += d * d;
        }
    }
    let biased_var = channel_sum(partial, lane) / f32(count);
    let inv_std = 1.0 / sqrt(biased_var + p.eps);
    let scale = weight[ch] * inv_std;
    let shift = bias[ch];
    for (var r = lane; r < walk.runs; r += CHANNEL_WG) {
        let start = run_start(ch, r);
        for (var e = start; e < start + walk.run_len; e++) {
            y[e] = (x[e] - mean) * scale + shift;
        }
    }
    if lane == 0u {
        saved[ch] = mean;
        saved[p.channels + ch] = inv_std;
        let unbiased_var = biased_var * (f32(count) / f32(count - 1u));
        running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mean;
        running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased_var;
    }
}

@compute @workgroup_size(256)
fn batchnorm_forward_eval(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let i = invocation_index(wid, nwg, lane);
    if i >= p.batch * p.channels * p.spatial {
        return;
    }
    let ch = (i / p.spatial) % p.channels;
    let inv_std = 1.0 / sqrt(running_var[ch] + p.eps);
    y[i] = (x[i] - running_mean[ch]) * (weight[ch] * inv_std) + bias[ch];
}

// dbias = Σ dy, dweight = Σ dy·x̂, dx = weight·inv_std·(dy − dbias/M − x̂·dweight/M), M = N·S.
@compute @workgroup_size(64)
fn batchnorm_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg);
    if ch >= p.channels {
        return;
    }
    let count = p.batch * p.spatial;
    let mean = saved[ch];
    let inv_std = saved[p.channels + ch];
    let walk = channel_walk();
    var partial_dy = 0.0;
    var partial_dy_xhat = 0.0;
    for (var r = lane; r < walk.runs; r += CHANNEL_WG) {
        let start = run_start(ch, r);
        for (var e = start; e < start + walk.run_len; e++) {
            partial_dy += dy[e];
            partial_dy_xhat += dy[e] * (x[e] - mean) * inv_std;
        }
    }
    let sum_dy = channel_sum(partial_dy, lane);
    let sum_dy_xhat = channel_sum(partial_dy_xhat, lane);
    let mean_dy = sum_dy / f32(count);
    let mean_dy_xhat = sum_dy_xhat / f32(count);
    let scale = weight[ch] * inv_std;
    for (var r = lane; r < walk.runs; r += CHANNEL_WG) {
        let start = run_start(ch, r);
        for (var e = start; e < start + walk.run_len; e++) {
            let xhat = (x[e] - mean) * inv_std;
            dx[e] = scale * (dy[e] - mean_dy - xhat * mean_dy_xhat);
        }
    }
    if lane == 0u {
        if p.accumulate != 0u {
            dweight[ch] += sum_dy_xhat;
            dbias[ch] += sum_dy;
        } else {
            dweight[ch] = sum_dy_xhat;
            dbias[ch] = sum_dy;
        }
    }
}

// BatchNorm1d (S = 1) with one invocation per channel: each sums its channel's N values itself, and
// consecutive invocations read consecutive addresses. The per-channel workgroups above would spend
// most of their time in workgroup_sum's barriers for the N = 128 values a channel has here.
@compute @workgroup_size(256)
fn batchnorm_forward_train_by_channel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = invocation_index(wid, nwg, lane);
    if ch >= p.channels {
        return;
    }
    let count = p.batch;
    var sum = 0.0;
    for (var n = 0u; n < count; n++) {
        sum += x[n * p.channels + ch];
    }
    let mean = sum / f32(count);
    sum = 0.0;
    for (var n = 0u; n < count; n++) {
        let d = x[n * p.channels + ch] - mean;
        sum += d * d;
    }
    let biased_var = sum / f32(count);
    let inv_std = 1.0 / sqrt(biased_var + p.eps);
    let scale = weight[ch] * inv_std;
    let shift = bias[ch];
    for (var n = 0u; n < count; n++) {
        let e = n * p.channels + ch;
        y[e] = (x[e] - mean) * scale + shift;
    }
    saved[ch] = mean;
    saved[p.channels + ch] = inv_std;
    let unbiased_var = biased_var * (f32(count) / f32(count - 1u));
    running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mean;
    running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased_var;
}

@compute @workgroup_size(256)
fn batchnorm_backward_by_channel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = invocation_index(wid, nwg, lane);
    if ch >= p.channels {
        return;
    }
    let count = p.batch;
    let mean = saved[ch];
    let inv_std = saved[p.channels + ch];
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var n = 0u; n < count; n++) {
        let e = n * p.channels + ch;
        sum_dy += dy[e];
        sum_dy_xhat += dy[e] * (x[e] - mean) * inv_std;
    }
    let mean_dy = sum_dy / f32(count);
    let mean_dy_xhat = sum_dy_xhat / f32(count);
    let scale = weight[ch] * inv_std;
    for (var n = 0u; n < count; n++) {
        let e = n * p.channels + ch;
        let xhat = (x[e] - mean) * inv_std;
        dx[e] = scale * (dy[e] - mean_dy - xhat * mean_dy_xhat);
    }
    if p.accumulate != 0u {
        dweight[ch] += sum_dy_xhat;
        dbias[ch] += sum_dy;
    } else {
        dweight[ch] = sum_dy_xhat;
        dbias[ch] = sum_dy;
    }
}
