//! The classifier that scores images (src/model/classifier.rs, src/classifier.rs) against PyTorch:
//! the oracle `tests/oracles/classifier.safetensors`, written by `make_classifier_oracle.py` beside
//! it. One training step's forward (logits, cross-entropy), every parameter's gradient and the
//! BatchNorms' running statistics, and an eval-mode forward (logits, fc.2's features), on a batch of
//! 32 and one of 7, with the tiled and the subgroup products. Each tensor is held to four times
//! float32 PyTorch's own error on the same inputs (relative L2, floor 1e-6), or where float32 cannot
//! resolve it at all (the biases before a BatchNorm, whose gradient is zero but for rounding) to four
//! times its largest absolute difference.
//!
//! ```python
//! m = ModuleDict({"conv": Sequential(Conv2d(1, 32, 4, 2, 1), LeakyReLU(0.2), Conv2d(32, 64, 4, 2, 1),
//!                                    BatchNorm2d(64), LeakyReLU(0.2)),
//!                 "fc": Sequential(Linear(3136, 128), BatchNorm1d(128), LeakyReLU(0.2), Linear(128, 10))})
//! m.train(); loss = cross_entropy(m["fc"](m["conv"](x).flatten(1)), labels); loss.backward()
//! m.eval(); eval_logits = m["fc"](m["conv"](eval_x).flatten(1))
//! ```

mod common;

use common::{KernelFamily, gpu_with};
use gan_wgpu::Gpu;
use gan_wgpu::classifier::Classifier;
use gan_wgpu::classifier::training::{TrainingConfig, TrainingStep};
use gan_wgpu::oracle::{Oracle, kept_as_stored, max_abs_error, relative_l2, within};

fn oracle() -> Oracle {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracles/classifier.safetensors"
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Oracle::parse(path, &bytes).unwrap()
}

/// Every output of the classifier the oracle holds for `case`, by the oracle's name.
fn outputs(gpu: &Gpu, o: &Oracle, case: &str) -> Vec<(String, Vec<f32>)> {
    let batch = o.shape(&format!("{case}.labels")).unwrap()[0];
    let classifier = Classifier::new(gpu).unwrap();
    let net = &classifier.net.net;
    for key in o.keys_with_prefix("init.param.") {
        let name = key.strip_prefix("init.param.").unwrap();
        net.params
            .write(gpu, name, o.values(&key).unwrap())
            .unwrap();
    }
    for key in o.keys_with_prefix("init.stat.") {
        let name = key.strip_prefix("init.stat.").unwrap();
        net.stats.write(gpu, name, o.values(&key).unwrap()).unwrap();
    }
    let config = TrainingConfig {
        batch,
        ..TrainingConfig::default()
    };
    let step = TrainingStep::new(gpu, &classifier, &config).unwrap();
    step.x
        .write(gpu, o.values(&format!("{case}.x")).unwrap())
        .unwrap();
    step.labels
        .write(gpu, o.values(&format!("{case}.labels")).unwrap())
        .unwrap();
    gpu.run(&step.gradients().iter().collect::<Vec<_>>())
        .unwrap();
    let read = |t: &gan_wgpu::Tensor| t.read(gpu).unwrap();
    let mut out = vec![
        ("logits".to_string(), read(step.pass.logits())),
        ("loss".to_string(), read(&step.loss)),
    ];
    for e in net.params.entries() {
        out.push((
            format!("grad.{}", e.name),
            read(&net.params.grad(gpu, e.name).unwrap()),
        ));
    }
    for e in net.stats.entries() {
        out.push((
            format!("stat_after.{}", e.name),
            net.stats.read(gpu, e.name).unwrap(),
        ));
    }
    let eval = classifier
        .outputs(gpu, o.values(&format!("{case}.eval_x")).unwrap())
        .unwrap();
    out.push(("eval_logits".to_string(), eval.logits));
    out.push(("eval_features".to_string(), eval.features));
    out
}

/// Failures of `family`'s outputs against every reference of the oracle.
fn failures(family: KernelFamily) -> Vec<String> {
    let o = oracle();
    let gpu = gpu_with(family);
    let mut failures = Vec::new();
    for case in ["batch", "odd"] {
        for (name, got) in outputs(gpu, &o, case) {
            let key = format!("{case}.{name}");
            let reference = o.values(&key).unwrap();
            let got = kept_as_stored(got, o.subsample_index(&key));
            let f32_relative = o.values(&format!("{case}.f32_error.{name}")).unwrap()[0] as f64;
            let f32_absolute = o.values(&format!("{case}.f32_abs_error.{name}")).unwrap()[0] as f64;
            let (error, bound, measure) = if f32_relative <= 0.01 {
                (
                    relative_l2(&got, reference),
                    (4.0 * f32_relative).max(1e-6),
                    "relative",
                )
            } else {
                (
                    max_abs_error(&got, reference),
                    (4.0 * f32_absolute).max(1e-9),
                    "absolute",
                )
            };
            eprintln!("{family:?} {key}: {measure} error {error:.3e} (bound {bound:.1e})");
            if !within(error, bound) {
                failures.push(format!("{key}: {measure} error {error:.3e} > {bound:.1e}"));
            }
        }
    }
    failures
}

#[test]
fn a_training_step_and_an_eval_pass_match_pytorch_with_tiled_products() {
    let failures = failures(KernelFamily::TiledSplitK);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_training_step_and_an_eval_pass_match_pytorch_with_subgroup_products() {
    let failures = failures(KernelFamily::Subgroup);
    assert!(failures.is_empty(), "{failures:#?}");
}
