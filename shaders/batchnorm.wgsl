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
    activation: u32,     // what y holds: 0 the BatchNorm's output, 1 its ReLU, 2 its LeakyReLU
    negative_slope: f32, // LeakyReLU's
    bias_before: u32,    // batchnorm_backward also writes dbias_before (added to with accumulate)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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
// x and dy again, four floats per element: the per-channel kernels' plane-by-plane walk (CPU adapters)
// reads each plane's whole vec4s through these (Plane in common.wgsl).
@group(0) @binding(12) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> dy4: array<vec4<f32>>;
// The backward kernels read binding 4 as `activated` (and as vec4s, y4): the forward's output when an
// activation follows (p.activation ≠ 0), dy then being the gradient at the activation's output, and
// its sign saying which branch of the activation's gradient each element takes. Declared read-only
// for them (the forward's `y` is the same binding, written): WebGPU lets a buffer be bound twice in
// one kernel only when neither binding is writable.
@group(0) @binding(4) var<storage, read> activated: array<f32>;
@group(0) @binding(14) var<storage, read> y4: array<vec4<f32>>;
// The gradient of the bias of the layer before the BatchNorm (a Linear's or a convolution's), Σ dx over
// each channel, as PyTorch's autograd sums it: that layer's bias backward needs no pass of its own.
@group(0) @binding(15) var<storage, read_write> dbias_before: array<f32>;

// Lanes of the per-channel workgroups, set when the pipeline is made: 64 on CPU adapters, 256 on GPUs
// (kernels/mod.rs). A CPU adapter (lavapipe) runs a workgroup as one coroutine per 8 lanes and switches
// between them at every barrier, so fewer lanes cost it less (BENCHMARKS.md). A GPU runs one
// workgroup per channel, 64 or 128 of them here, so it needs the wider ones to keep enough loads in
// flight.
override CHANNEL_WG: u32 = 64u;
// How the per-channel workgroups walk a channel (ChannelWalk in common.wgsl): plane by plane on CPU
// adapters (each lane its own samples' planes, read as vec4s), across the planes' positions on GPUs
// (consecutive lanes at consecutive addresses). Set with CHANNEL_WG.
override BY_PLANE: bool = true;

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

// How this lane walks a channel (ChannelWalk in common.wgsl).
fn channel_walk(lane: u32) -> ChannelWalk {
    return channel_walk_of(BY_PLANE, lane, CHANNEL_WG, p.batch, p.spatial);
}

// y[at] = v, or the activation that follows the BatchNorm of v (as shaders/activation.wgsl computes it):
// the layer after a BatchNorm needs no pass of its own.
fn store_y(at: u32, v: f32) {
    var out = v;
    if p.activation == 1u {
        out = max(v, 0.0);
    } else if p.activation == 2u {
        out = select(v * p.negative_slope, v, v > 0.0);
    }
    y[at] = out;
}

// Four neighbouring floats of y or dx from one vec4, and four of weight.
fn store_y4(at: u32, v: vec4<f32>) {
    store_y(at, v.x);
    store_y(at + 1u, v.y);
    store_y(at + 2u, v.z);
    store_y(at + 3u, v.w);
}

// activation_grad (common.wgsl) on four elements: the gradient at the BatchNorm's output from g, the
// gradient at what y holds.
fn through_activation4(g: vec4<f32>, out: vec4<f32>) -> vec4<f32> {
    if p.activation == 1u {
        return select(vec4<f32>(0.0), g, out > vec4<f32>(0.0));
    } else if p.activation == 2u {
        return select(g * p.negative_slope, g, out > vec4<f32>(0.0));
    }
    return g;
}

// The gradient at the BatchNorm's output, element e; four of them from vec4 i.
fn grad_y(e: u32) -> f32 {
    if p.activation == 0u {
        return dy[e];
    }
    return activation_grad(p.activation, p.negative_slope, dy[e], activated[e]);
}

fn grad_y4(i: u32) -> vec4<f32> {
    if p.activation == 0u {
        return dy4[i];
    }
    return through_activation4(dy4[i], y4[i]);
}

fn store_dx4(at: u32, v: vec4<f32>) {
    dx[at] = v.x;
    dx[at + 1u] = v.y;
    dx[at + 2u] = v.z;
    dx[at + 3u] = v.w;
}

fn weight4(ch: u32) -> vec4<f32> {
    return vec4<f32>(weight[ch], weight[ch + 1u], weight[ch + 2u], weight[ch + 3u]);
}

// Σ x over a plane.
fn plane_sum(q: Plane) -> f32 {
    var sum = 0.0;
    for (var e = q.start; e < q.body.x * 4u; e++) {
        sum += x[e];
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        let v = x4[i];
        sum += (v.x + v.y) + (v.z + v.w);
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        sum += x[e];
    }
    return sum;
}

// Σ (x − mean)² over a plane.
fn plane_squares(q: Plane, mean: f32) -> f32 {
    var sum = 0.0;
    for (var e = q.start; e < q.body.x * 4u; e++) {
        let d = x[e] - mean;
        sum += d * d;
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        let d = x4[i] - vec4<f32>(mean);
        sum += dot(d, d);
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        let d = x[e] - mean;
        sum += d * d;
    }
    return sum;
}

// y = (x − mean)·scale + shift over a plane.
fn plane_normalise(q: Plane, mean: f32, scale: f32, shift: f32) {
    for (var e = q.start; e < q.body.x * 4u; e++) {
        store_y(e, (x[e] - mean) * scale + shift);
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        store_y4(4u * i, (x4[i] - vec4<f32>(mean)) * scale + vec4<f32>(shift));
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        store_y(e, (x[e] - mean) * scale + shift);
    }
}

// (Σ dy, Σ dy·x̂) over a plane.
fn plane_backward_sums(q: Plane, mean: f32, inv_std: f32) -> vec2<f32> {
    var sums = vec2<f32>(0.0);
    for (var e = q.start; e < q.body.x * 4u; e++) {
        let g = grad_y(e);
        sums += vec2<f32>(g, g * (x[e] - mean) * inv_std);
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        let g = grad_y4(i);
        let xhat = (x4[i] - vec4<f32>(mean)) * inv_std;
        sums += vec2<f32>((g.x + g.y) + (g.z + g.w), dot(g, xhat));
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        let g = grad_y(e);
        sums += vec2<f32>(g, g * (x[e] - mean) * inv_std);
    }
    return sums;
}

// dx[e] = scale·(dy − mean_dy − x̂·mean_dy_xhat), returned.
fn store_dx(e: u32, mean: f32, inv_std: f32, scale: f32, mean_dy: f32, mean_dy_xhat: f32) -> f32 {
    let v = scale * (grad_y(e) - mean_dy - (x[e] - mean) * inv_std * mean_dy_xhat);
    dx[e] = v;
    return v;
}

// store_dx over a plane; returns Σ dx.
fn plane_dx(q: Plane, mean: f32, inv_std: f32, scale: f32, mean_dy: f32, mean_dy_xhat: f32) -> f32 {
    var sum = 0.0;
    for (var e = q.start; e < q.body.x * 4u; e++) {
        sum += store_dx(e, mean, inv_std, scale, mean_dy, mean_dy_xhat);
    }
    for (var i = q.body.x; i < q.body.y; i++) {
        let xhat = (x4[i] - vec4<f32>(mean)) * inv_std;
        let v = scale * (grad_y4(i) - vec4<f32>(mean_dy) - xhat * mean_dy_xhat);
        store_dx4(4u * i, v);
        sum += (v.x + v.y) + (v.z + v.w);
    }
    for (var e = max(q.body.y * 4u, q.start); e < q.end; e++) {
        sum += store_dx(e, mean, inv_std, scale, mean_dy, mean_dy_xhat);
    }
    return sum;
}

// Channel ch's batch statistics for the backward pass, and its running estimates moved (with the
// unbiased variance of the `count` values).
fn store_batch_stats(ch: u32, mean: f32, inv_std: f32, biased_var: f32, count: u32) {
    saved[ch] = mean;
    saved[p.channels + ch] = inv_std;
    let unbiased_var = biased_var * (f32(count) / f32(count - 1u));
    running_mean[ch] = (1.0 - p.momentum) * running_mean[ch] + p.momentum * mean;
    running_var[ch] = (1.0 - p.momentum) * running_var[ch] + p.momentum * unbiased_var;
}

@compute @workgroup_size(CHANNEL_WG)
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
    let walk = channel_walk(lane);
    let one = opaque_one(count);
    var lane_sum = Sum1(0.0, 0.0);
    for (var n = walk.n0; n < p.batch; n += walk.n_step) {
        if BY_PLANE {
            lane_sum = add_compensated(lane_sum, plane_sum(plane_of(n, ch, p.channels, p.spatial)), one);
            continue;
        }
        let plane = (n * p.channels + ch) * p.spatial;
        for (var e = plane + walk.s0; e < plane + p.spatial; e += walk.s_step) {
            lane_sum = add_compensated(lane_sum, x[e], one);
        }
    }
    // The mean's error is every output's (BatchNorm's header): its sum is compensated (common.wgsl).
    let mean = channel_sum(lane_sum.hi + lane_sum.lo, lane) / f32(count);
    // Second pass over centred values: no cancellation when |mean| ≫ std.
    var partial = 0.0;
    for (var n = walk.n0; n < p.batch; n += walk.n_step) {
        if BY_PLANE {
            partial += plane_squares(plane_of(n, ch, p.channels, p.spatial), mean);
            continue;
        }
        let plane = (n * p.channels + ch) * p.spatial;
        for (var e = plane + walk.s0; e < plane + p.spatial; e += walk.s_step) {
            let d = x[e] - mean;
            partial += d * d;
        }
    }
    let biased_var = channel_sum(partial, lane) / f32(count);
    let inv_std = 1.0 / sqrt(biased_var + p.eps);
    let scale = weight[ch] * inv_std;
    let shift = bias[ch];
    for (var n = walk.n0; n < p.batch; n += walk.n_step) {
        if BY_PLANE {
            plane_normalise(plane_of(n, ch, p.channels, p.spatial), mean, scale, shift);
            continue;
        }
        let plane = (n * p.channels + ch) * p.spatial;
        for (var e = plane + walk.s0; e < plane + p.spatial; e += walk.s_step) {
            store_y(e, (x[e] - mean) * scale + shift);
        }
    }
    if lane == 0u {
        store_batch_stats(ch, mean, inv_std, biased_var, count);
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
    store_y(i, (x[i] - running_mean[ch]) * (weight[ch] * inv_std) + bias[ch]);
}

// Channel ch's dweight, dbias and (with p.bias_before) dbias_before, added to what they hold with
// p.accumulate.
fn store_param_grads(ch: u32, sum_dy_xhat: f32, sum_dy: f32, sum_dx: f32) {
    if p.accumulate != 0u {
        dweight[ch] += sum_dy_xhat;
        dbias[ch] += sum_dy;
    } else {
        dweight[ch] = sum_dy_xhat;
        dbias[ch] = sum_dy;
    }
    if p.bias_before != 0u {
        if p.accumulate != 0u {
            dbias_before[ch] += sum_dx;
        } else {
            dbias_before[ch] = sum_dx;
        }
    }
}

// dbias = Σ dy, dweight = Σ dy·x̂, dx = weight·inv_std·(dy − dbias/M − x̂·dweight/M), M = N·S: one
// workgroup per channel, in two walks over the channel (its sums, then dx), across the planes'
// positions (batchnorm_backward: GPUs) or plane by plane (batchnorm_backward_by_plane: CPU adapters,
// which also read through the vec4 views). Two entry points rather than BY_PLANE's branch, so that the
// GPU one binds nine storage buffers, within what browsers' WebGPU grants (10), not twelve.

// What both walks of channel ch need: its batch statistics and this lane's share of the walk (each
// entry point says which walk it is, rather than BY_PLANE).
struct BackwardChannel {
    mean: f32,
    inv_std: f32,
    walk: ChannelWalk,
}

fn backward_channel(ch: u32, lane: u32, by_plane: bool) -> BackwardChannel {
    let walk = channel_walk_of(by_plane, lane, CHANNEL_WG, p.batch, p.spatial);
    return BackwardChannel(saved[ch], saved[p.channels + ch], walk);
}

// The channel's means of dy and dy·x̂ from each lane's partial sums (x: Σ dy, y: Σ dy·x̂); every lane
// receives them. Call from uniform control flow only.
struct BackwardSums {
    sum_dy: f32,
    sum_dy_xhat: f32,
    mean_dy: f32,
    mean_dy_xhat: f32,
}

fn backward_sums(partial: vec2<f32>, lane: u32) -> BackwardSums {
    let count = f32(p.batch * p.spatial);
    let sum_dy = channel_sum(partial.x, lane);
    let sum_dy_xhat = channel_sum(partial.y, lane);
    return BackwardSums(sum_dy, sum_dy_xhat, sum_dy / count, sum_dy_xhat / count);
}

// Stores channel ch's parameter gradients once dx is written (partial_dx: this lane's Σ dx). Call
// from uniform control flow only.
fn finish_backward(ch: u32, lane: u32, sums: BackwardSums, partial_dx: f32) {
    var sum_dx = 0.0;
    if p.bias_before != 0u {
        sum_dx = channel_sum(partial_dx, lane);
    }
    if lane == 0u {
        store_param_grads(ch, sums.sum_dy_xhat, sums.sum_dy, sum_dx);
    }
}

@compute @workgroup_size(CHANNEL_WG)
fn batchnorm_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg);
    if ch >= p.channels {
        return;
    }
    let c = backward_channel(ch, lane, false);
    var partial = vec2<f32>(0.0);
    for (var n = c.walk.n0; n < p.batch; n += c.walk.n_step) {
        let plane = (n * p.channels + ch) * p.spatial;
        for (var e = plane + c.walk.s0; e < plane + p.spatial; e += c.walk.s_step) {
            let g = grad_y(e);
            partial += vec2<f32>(g, g * (x[e] - c.mean) * c.inv_std);
        }
    }
    let sums = backward_sums(partial, lane);
    let scale = weight[ch] * c.inv_std;
    var partial_dx = 0.0;
    for (var n = c.walk.n0; n < p.batch; n += c.walk.n_step) {
        let plane = (n * p.channels + ch) * p.spatial;
        for (var e = plane + c.walk.s0; e < plane + p.spatial; e += c.walk.s_step) {
            partial_dx += store_dx(e, c.mean, c.inv_std, scale, sums.mean_dy, sums.mean_dy_xhat);
        }
    }
    finish_backward(ch, lane, sums, partial_dx);
}

@compute @workgroup_size(CHANNEL_WG)
fn batchnorm_backward_by_plane(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg);
    if ch >= p.channels {
        return;
    }
    let c = backward_channel(ch, lane, true);
    var partial = vec2<f32>(0.0);
    for (var n = c.walk.n0; n < p.batch; n += c.walk.n_step) {
        partial += plane_backward_sums(plane_of(n, ch, p.channels, p.spatial), c.mean, c.inv_std);
    }
    let sums = backward_sums(partial, lane);
    let scale = weight[ch] * c.inv_std;
    var partial_dx = 0.0;
    for (var n = c.walk.n0; n < p.batch; n += c.walk.n_step) {
        let q = plane_of(n, ch, p.channels, p.spatial);
        partial_dx += plane_dx(q, c.mean, c.inv_std, scale, sums.mean_dy, sums.mean_dy_xhat);
    }
    finish_backward(ch, lane, sums, partial_dx);
}

// BatchNorm1d (S = 1): a workgroup takes BN1D_CHANNELS neighbouring channels, and lane (g, c) =
// (lane / BN1D_CHANNELS, lane % BN1D_CHANNELS) sums rows g, g + BN1D_ROWS, … of its channel, so
// consecutive lanes read consecutive addresses; a channel's BN1D_ROWS partial sums are then added in
// row-group order (rows_sum). Set when the pipeline is made (kernels/mod.rs): one row group on CPU
// adapters, one invocation per channel, which suits them (no barriers); eight on GPUs, where one
// invocation per channel would leave 25 workgroups each walking 128 rows one after another. The
// per-channel workgroups above would spend most of their time in barriers for the N = 128 values a
// channel has here.
override BN1D_ROWS: u32 = 1u;
override BN1D_CHANNELS: u32 = WG / BN1D_ROWS;

// Sum of `value` over the row groups of this lane's channel, in row-group order; every lane of the
// channel receives it. Call from uniform control flow only.
fn rows_sum(value: f32, lane: u32) -> f32 {
    if BN1D_ROWS == 1u {
        return value;
    }
    workgroupBarrier(); // the previous call's readers of scratch are done
    scratch[lane] = value;
    workgroupBarrier();
    var total = 0.0;
    for (var g = 0u; g < BN1D_ROWS; g++) {
        total += scratch[g * BN1D_CHANNELS + lane % BN1D_CHANNELS];
    }
    return total;
}

@compute @workgroup_size(256)
fn batchnorm_forward_train_by_channel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg) * BN1D_CHANNELS + lane % BN1D_CHANNELS;
    let first_row = lane / BN1D_CHANNELS;
    let live = ch < p.channels;
    let count = p.batch;
    let one = opaque_one(count);
    var compensated = Sum1(0.0, 0.0);
    if live {
        for (var n = first_row; n < count; n += BN1D_ROWS) {
            compensated = add_compensated(compensated, x[n * p.channels + ch], one);
        }
    }
    let mean = rows_sum(compensated.hi + compensated.lo, lane) / f32(count);
    var sum = 0.0;
    if live {
        for (var n = first_row; n < count; n += BN1D_ROWS) {
            let d = x[n * p.channels + ch] - mean;
            sum += d * d;
        }
    }
    let biased_var = rows_sum(sum, lane) / f32(count);
    if !live {
        return;
    }
    let inv_std = 1.0 / sqrt(biased_var + p.eps);
    let scale = weight[ch] * inv_std;
    let shift = bias[ch];
    for (var n = first_row; n < count; n += BN1D_ROWS) {
        let e = n * p.channels + ch;
        store_y(e, (x[e] - mean) * scale + shift);
    }
    if first_row == 0u {
        store_batch_stats(ch, mean, inv_std, biased_var, count);
    }
}

@compute @workgroup_size(256)
fn batchnorm_backward_by_channel(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let ch = workgroup_index(wid, nwg) * BN1D_CHANNELS + lane % BN1D_CHANNELS;
    let first_row = lane / BN1D_CHANNELS;
    let live = ch < p.channels;
    let count = p.batch;
    var mean = 0.0;
    var inv_std = 0.0;
    var partial_dy = 0.0;
    var partial_dy_xhat = 0.0;
    if live {
        mean = saved[ch];
        inv_std = saved[p.channels + ch];
        for (var n = first_row; n < count; n += BN1D_ROWS) {
            let e = n * p.channels + ch;
            let g = grad_y(e);
            partial_dy += g;
            partial_dy_xhat += g * (x[e] - mean) * inv_std;
        }
    }
    let sum_dy = rows_sum(partial_dy, lane);
    let sum_dy_xhat = rows_sum(partial_dy_xhat, lane);
    let mean_dy = sum_dy / f32(count);
    let mean_dy_xhat = sum_dy_xhat / f32(count);
    var partial_dx = 0.0;
    if live {
        let scale = weight[ch] * inv_std;
        for (var n = first_row; n < count; n += BN1D_ROWS) {
            let e = n * p.channels + ch;
            partial_dx += store_dx(e, mean, inv_std, scale, mean_dy, mean_dy_xhat);
        }
    }
    // rows_sum is called from uniform control flow only; p.bias_before is uniform.
    var sum_dx = 0.0;
    if p.bias_before != 0u {
        sum_dx = rows_sum(partial_dx, lane);
    }
    if live && first_row == 0u {
        store_param_grads(ch, sum_dy_xhat, sum_dy, sum_dx);
    }
}

// BatchNorm1d on CPU adapters when C is a multiple of 4: the by-channel kernels above with four
// neighbouring channels per invocation, each row's four read as one vec4 (half the cost of four floats
// there: Plane in common.wgsl), the statistics computed four channels at a time. Workgroups of 64, so
// that 1024 channels still make four workgroups for lavapipe's threads to share (256 lanes: one).
const BY_CHANNEL4_WG: u32 = 64u;

@compute @workgroup_size(BY_CHANNEL4_WG)
fn batchnorm_forward_train_by_channel4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let c4 = workgroup_index(wid, nwg) * BY_CHANNEL4_WG + lane;
    let row = p.channels / 4u;
    if c4 >= row {
        return;
    }
    let count = unspecialised(p.batch, nwg);
    let one = opaque_one(count);
    var compensated = Sum4(vec4<f32>(0.0), vec4<f32>(0.0));
    for (var n = 0u; n < count; n++) {
        compensated = add_compensated4(compensated, x4[n * row + c4], one);
    }
    let mean = (compensated.hi + compensated.lo) / f32(count);
    var sum = vec4<f32>(0.0);
    for (var n = 0u; n < count; n++) {
        let d = x4[n * row + c4] - mean;
        sum += d * d;
    }
    let biased_var = sum / f32(count);
    let inv_std = 1.0 / sqrt(biased_var + vec4<f32>(p.eps));
    let ch = 4u * c4;
    let scale = weight4(ch) * inv_std;
    let shift = vec4<f32>(bias[ch], bias[ch + 1u], bias[ch + 2u], bias[ch + 3u]);
    for (var n = 0u; n < count; n++) {
        store_y4(n * p.channels + ch, (x4[n * row + c4] - mean) * scale + shift);
    }
    for (var j = 0u; j < 4u; j++) {
        store_batch_stats(ch + j, mean[j], inv_std[j], biased_var[j], count);
    }
}

@compute @workgroup_size(BY_CHANNEL4_WG)
fn batchnorm_backward_by_channel4(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let c4 = workgroup_index(wid, nwg) * BY_CHANNEL4_WG + lane;
    let row = p.channels / 4u;
    if c4 >= row {
        return;
    }
    let count = unspecialised(p.batch, nwg);
    let ch = 4u * c4;
    let mean = vec4<f32>(saved[ch], saved[ch + 1u], saved[ch + 2u], saved[ch + 3u]);
    let at = p.channels + ch;
    let inv_std = vec4<f32>(saved[at], saved[at + 1u], saved[at + 2u], saved[at + 3u]);
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_xhat = vec4<f32>(0.0);
    for (var n = 0u; n < count; n++) {
        let g = grad_y4(n * row + c4);
        sum_dy += g;
        sum_dy_xhat += g * (x4[n * row + c4] - mean) * inv_std;
    }
    let mean_dy = sum_dy / f32(count);
    let mean_dy_xhat = sum_dy_xhat / f32(count);
    let scale = weight4(ch) * inv_std;
    var sum_dx = vec4<f32>(0.0);
    for (var n = 0u; n < count; n++) {
        let xhat = (x4[n * row + c4] - mean) * inv_std;
        let v = scale * (grad_y4(n * row + c4) - mean_dy - xhat * mean_dy_xhat);
        store_dx4(n * p.channels + ch, v);
        sum_dx += v;
    }
    for (var j = 0u; j < 4u; j++) {
        store_param_grads(ch + j, sum_dy_xhat[j], sum_dy[j], sum_dx[j]);
    }
}
