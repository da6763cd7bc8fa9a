// BCELoss with mean reduction on probabilities, PyTorch semantics: each log is clamped at −100 and the
// gradient's denominator p·(1 − p) at 1e-12, so p = 0 or 1 gives finite values. One pass gives the
// loss and its gradient, at the probabilities or, through the Sigmoid that made them, at its input.

struct BceParams {
    count: u32,
    part: u32,            // elements in each of the equal parts whose means are summed
    health_bit: u32,      // set in health[0] when the loss is NaN or ±Inf
    through_sigmoid: u32, // grad is taken at the input of the Sigmoid whose output prob is
}

@group(0) @binding(0) var<uniform> p: BceParams;
@group(0) @binding(1) var<storage, read> prob: array<f32>;
@group(0) @binding(2) var<storage, read> label: array<f32>; // the target (`target` is reserved in WGSL)
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> health: array<atomic<u32>>;

// max(log(v), −100). log is undefined at 0 in SPIR-V and MSL; below the smallest normal float
// (where log would be < −87.3) the only input that reaches here in practice is 0, whose answer is −100.
// NaN stays NaN, as torch.clamp keeps it (WGSL's max may drop a NaN operand).
fn clamped_log(v: f32) -> f32 {
    if (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u {
        return v;
    }
    if v < 1.17549435e-38 {
        return -100.0;
    }
    return max(log(v), -100.0);
}

// One workgroup: the sum of the means over each part of p.part elements (the mean, for one part; D's
// real and fake losses, for two), in a fixed order, and every element's gradient (as PyTorch's BCELoss
// backward and then, with p.through_sigmoid, its Sigmoid backward compute them).
@compute @workgroup_size(256)
fn bce_forward_backward(@builtin(local_invocation_index) lane: u32) {
    var partial = 0.0;
    for (var i = lane; i < p.count; i += WG) {
        let t = label[i];
        let q = prob[i];
        partial -= t * clamped_log(q) + (1.0 - t) * clamped_log(1.0 - q);
        var g = (q - t) / max(q * (1.0 - q), 1e-12) / f32(p.part);
        if p.through_sigmoid != 0u {
            g = g * q * (1.0 - q);
        }
        grad[i] = g;
    }
    let mean = workgroup_sum(partial, lane) / f32(p.part);
    if lane == 0u {
        loss[0] = mean;
        if !is_finite(mean) {
            atomicOr(&health[0], p.health_bit);
        }
    }
}
