// Elementwise activations and their gradients. Backward kernels read what PyTorch's autograd saves:
// the input for ReLU and LeakyReLU, the output for Sigmoid.

struct ActivationParams {
    count: u32,
    negative_slope: f32, // LeakyReLU only
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ActivationParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;      // x, or y for sigmoid_backward
@group(0) @binding(2) var<storage, read> upstream: array<f32>; // dy (backward only)
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = max(src[i], 0.0);
    }
}

@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = select(0.0, upstream[i], src[i] > 0.0);
    }
}

@compute @workgroup_size(256)
fn leaky_relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        let v = src[i];
        dst[i] = select(v * p.negative_slope, v, v > 0.0);
    }
}

@compute @workgroup_size(256)
fn leaky_relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        let g = upstream[i];
        dst[i] = select(g * p.negative_slope, g, src[i] > 0.0);
    }
}

@compute @workgroup_size(256)
fn sigmoid_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        dst[i] = 1.0 / (1.0 + exp(-src[i]));
    }
}

@compute @workgroup_size(256)
fn sigmoid_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count {
        let y = src[i];
        dst[i] = upstream[i] * y * (1.0 - y);
    }
}
