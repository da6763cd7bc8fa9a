// torch.optim.Adam, one step for every element of a (flat) parameter buffer: bias-corrected, eps added
// outside the square root. The host folds the step number into step_size and bias_correction2_sqrt.
// A parameter or second moment that comes out NaN or ±Inf sets `health_bit` in health[0].
// adam_update_vec4 does the same four elements at a time where the count is a multiple of 4 (the flat
// parameter buffers always are): a CPU adapter pays its per-lane cost once per vector load. CPU
// adapters with 64-bit integers run adam_u64.wgsl's eight-element version instead.

@group(0) @binding(0) var<uniform> p: AdamParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> health: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> exp_avg4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> exp_avg_sq4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn adam_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i >= p.count {
        return;
    }
    let g = grad[i];
    let m = exp_avg[i] + (g - exp_avg[i]) * p.one_minus_beta1;
    let v = exp_avg_sq[i] * p.beta2 + p.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    let updated = param[i] - p.step_size * m / (sqrt(v) / p.bias_correction2_sqrt + p.eps);
    param[i] = updated;
    if !is_finite(updated) || !is_finite(v) {
        atomicOr(&health[0], p.health_bit);
    }
}

@compute @workgroup_size(256)
fn adam_update_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let i = invocation_index(wid, nwg, lane);
    if i >= p.count / 4u {
        return;
    }
    let g = grad4[i];
    let m = exp_avg4[i] + (g - exp_avg4[i]) * p.one_minus_beta1;
    let v = exp_avg_sq4[i] * p.beta2 + p.one_minus_beta2 * g * g;
    exp_avg4[i] = m;
    exp_avg_sq4[i] = v;
    let updated = param4[i] - p.step_size * m / (sqrt(v) / p.bias_correction2_sqrt + p.eps);
    param4[i] = updated;
    if !all_finite(updated) || !all_finite(v) {
        atomicOr(&health[0], p.health_bit);
    }
}

fn all_finite(x: vec4<f32>) -> bool {
    return is_finite(x.x) && is_finite(x.y) && is_finite(x.z) && is_finite(x.w);
}
