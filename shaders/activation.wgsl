// Elementwise activations and their gradients. Backward kernels read what PyTorch's autograd saves:
// the input for ReLU and LeakyReLU, the output for Sigmoid, and turn the gradient at the output into
// the one at the input in place (each element needs only its own value, and a backward pass then
// needs one gradient buffer fewer per activation). The *_vec4_* kernels do four elements per
// invocation where the count is a multiple of 4: a CPU adapter pays its per-lane cost once per vector
// load.

@group(0) @binding(0) var<uniform> p: ActivationParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;       // x, or y for sigmoid_backward
@group(0) @binding(3) var<storage, read_write> dst: array<f32>; // y; backward: dy in, dx out
@group(0) @binding(4) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dst4: array<vec4<f32>>;

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
        dst[i] = select(0.0, dst[i], src[i] > 0.0);
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
        let g = dst[i];
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
        dst[i] = dst[i] * y * (1.0 - y);
    }
}

@compute @workgroup_size(256)
fn relu_vec4_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        dst4[i] = max(src4[i], vec4<f32>(0.0));
    }
}

@compute @workgroup_size(256)
fn relu_vec4_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        dst4[i] = select(vec4<f32>(0.0), dst4[i], src4[i] > vec4<f32>(0.0));
    }
}

@compute @workgroup_size(256)
fn leaky_relu_vec4_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        let v = src4[i];
        dst4[i] = select(v * p.negative_slope, v, v > vec4<f32>(0.0));
    }
}

@compute @workgroup_size(256)
fn leaky_relu_vec4_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        let g = dst4[i];
        dst4[i] = select(g * p.negative_slope, g, src4[i] > vec4<f32>(0.0));
    }
}

@compute @workgroup_size(256)
fn sigmoid_vec4_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        dst4[i] = 1.0 / (1.0 + exp(-src4[i]));
    }
}

@compute @workgroup_size(256)
fn sigmoid_vec4_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 4u {
        let y = src4[i];
        dst4[i] = dst4[i] * y * (1.0 - y);
    }
}
