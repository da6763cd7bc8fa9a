// CrossEntropyLoss with mean reduction on logits, PyTorch's nn.CrossEntropyLoss(): for each row, the
// log of the sum of exp over its classes less its labelled class's logit (−log softmax), the mean over
// rows; and in the same pass its gradient at the logits, (softmax − one-hot) / rows. Each row's
// largest logit is taken out before exp, as log_softmax does, so logits of any size stay finite.

struct CrossEntropyParams {
    rows: u32,
    classes: u32,
    health_bit: u32, // set in health[0] when the loss is NaN or ±Inf
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: CrossEntropyParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>; // class indices 0 … classes − 1
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> health: array<atomic<u32>>;

// One workgroup, each lane a row at a time: the mean loss, summed in a fixed order, and every
// gradient. A label that is no class index gives its row a NaN loss (PyTorch refuses it) and
// gradient, and so sets the health bit.
@compute @workgroup_size(256)
fn cross_entropy_forward_backward(@builtin(local_invocation_index) lane: u32) {
    let nan = bitcast<f32>(0x7fc00000u);
    var partial = 0.0;
    for (var r = lane; r < p.rows; r += WG) {
        let base = r * p.classes;
        var top = logits[base];
        for (var c = 1u; c < p.classes; c++) {
            top = max(top, logits[base + c]);
        }
        var total = 0.0;
        for (var c = 0u; c < p.classes; c++) {
            total += exp(logits[base + c] - top);
        }
        let log_total = log(total);
        let label_value = labels[r];
        let label = u32(label_value);
        let valid = label_value >= 0.0 && f32(label) == label_value && label < p.classes;
        if valid {
            partial += log_total - (logits[base + label] - top);
        } else {
            partial += nan;
        }
        for (var c = 0u; c < p.classes; c++) {
            let prob = exp(logits[base + c] - top - log_total);
            let g = (prob - select(0.0, 1.0, c == label)) / f32(p.rows);
            grad[base + c] = select(nan, g, valid);
        }
    }
    let mean = workgroup_sum(partial, lane) / f32(p.rows);
    if lane == 0u {
        loss[0] = mean;
        if !is_finite(mean) {
            atomicOr(&health[0], p.health_bit);
        }
    }
}
