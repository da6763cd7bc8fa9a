// activation.wgsl's *_vec4_* kernels eight elements per invocation, for CPU adapters with 64-bit
// integers (adam_u64.wgsl's header says why): each access moves a vec4<u64> (wide.wgsl). Same
// arithmetic per element as activation.wgsl; the host uses them where the count is a multiple of 8.

@group(0) @binding(0) var<uniform> p: ActivationParams;
@group(0) @binding(1) var<storage, read> src: array<vec4<u64>>;       // x, or y for sigmoid_backward
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<u64>>; // y; backward: dy in, dx out

fn relu(x: vec4<f32>) -> vec4<f32> {
    return max(x, vec4<f32>(0.0));
}

fn relu_grad(g: vec4<f32>, x: vec4<f32>) -> vec4<f32> {
    return select(vec4<f32>(0.0), g, x > vec4<f32>(0.0));
}

fn leaky_relu(x: vec4<f32>) -> vec4<f32> {
    return select(x * p.negative_slope, x, x > vec4<f32>(0.0));
}

fn leaky_relu_grad(g: vec4<f32>, x: vec4<f32>) -> vec4<f32> {
    return select(g * p.negative_slope, g, x > vec4<f32>(0.0));
}

fn sigmoid(x: vec4<f32>) -> vec4<f32> {
    return 1.0 / (1.0 + exp(-x));
}

fn sigmoid_grad(g: vec4<f32>, y: vec4<f32>) -> vec4<f32> {
    return g * y * (1.0 - y);
}

@compute @workgroup_size(256)
fn relu_u64_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let x = src[i];
        dst[i] = pack4(relu(even_floats(x)), relu(odd_floats(x)));
    }
}

@compute @workgroup_size(256)
fn relu_u64_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let x = src[i];
        let g = dst[i];
        dst[i] = pack4(relu_grad(even_floats(g), even_floats(x)), relu_grad(odd_floats(g), odd_floats(x)));
    }
}

@compute @workgroup_size(256)
fn leaky_relu_u64_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let x = src[i];
        dst[i] = pack4(leaky_relu(even_floats(x)), leaky_relu(odd_floats(x)));
    }
}

@compute @workgroup_size(256)
fn leaky_relu_u64_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let x = src[i];
        let g = dst[i];
        dst[i] = pack4(leaky_relu_grad(even_floats(g), even_floats(x)), leaky_relu_grad(odd_floats(g), odd_floats(x)));
    }
}

@compute @workgroup_size(256)
fn sigmoid_u64_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let x = src[i];
        dst[i] = pack4(sigmoid(even_floats(x)), sigmoid(odd_floats(x)));
    }
}

@compute @workgroup_size(256)
fn sigmoid_u64_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i < p.count / 8u {
        let y = src[i];
        let g = dst[i];
        dst[i] = pack4(sigmoid_grad(even_floats(g), even_floats(y)), sigmoid_grad(odd_floats(g), odd_floats(y)));
    }
}
