// adam_update_u64: adam.wgsl's update (same parameters, same arithmetic per element) eight elements per
// invocation, for CPU adapters with 64-bit integers. lavapipe loads and stores a buffer element lane by
// lane, each lane's vector component by component with a bounds check, so an invocation that moves a
// vec4<u64> (eight floats, wide.wgsl) per component pays that cost once per two elements: the update, which is
// nothing but seven memory accesses per element, runs in ~0.7 of adam_update_vec4's time there.
// The host uses it where the count is a multiple of 8 (the flat parameter buffers always are).

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read> grad: array<vec4<u64>>;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<u64>>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<vec4<u64>>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<vec4<u64>>;
@group(0) @binding(5) var<storage, read_write> health: array<atomic<u32>>;

// One update of four elements: the new exp_avg, exp_avg_sq and parameter.
struct Updated {
    exp_avg: vec4<f32>,
    exp_avg_sq: vec4<f32>,
    param: vec4<f32>,
}

fn update4(g: vec4<f32>, exp_avg: vec4<f32>, exp_avg_sq: vec4<f32>, param: vec4<f32>) -> Updated {
    let m = exp_avg + (g - exp_avg) * p.one_minus_beta1;
    let v = exp_avg_sq * p.beta2 + p.one_minus_beta2 * g * g;
    let updated = param - p.step_size * m / (sqrt(v) / p.bias_correction2_sqrt + p.eps);
    return Updated(m, v, updated);
}

fn all_finite(x: vec4<f32>) -> bool {
    return is_finite(x.x) && is_finite(x.y) && is_finite(x.z) && is_finite(x.w);
}

@compute @workgroup_size(256)
fn adam_update_u64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i >= p.count / 8u {
        return;
    }
    let g = grad[i];
    let m = exp_avg[i];
    let v = exp_avg_sq[i];
    let w = param[i];
    let even = update4(even_floats(g), even_floats(m), even_floats(v), even_floats(w));
    let odd = update4(odd_floats(g), odd_floats(m), odd_floats(v), odd_floats(w));
    exp_avg[i] = pack4(even.exp_avg, odd.exp_avg);
    exp_avg_sq[i] = pack4(even.exp_avg_sq, odd.exp_avg_sq);
    param[i] = pack4(even.param, odd.param);
    if !all_finite(even.param) || !all_finite(even.exp_avg_sq) || !all_finite(odd.param) || !all_finite(odd.exp_avg_sq) {
        atomicOr(&health[0], p.health_bit);
    }
}
