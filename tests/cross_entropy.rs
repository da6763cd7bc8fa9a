//! The cross-entropy kernel (`CrossEntropyLoss`, shaders/cross_entropy.wgsl) against PyTorch: the
//! oracle `tests/oracles/cross_entropy.safetensors`, written by `make_cross_entropy_oracle.py` beside
//! it (float64 references of nn.CrossEntropyLoss() and its gradient, and float32 PyTorch's own error
//! on the same inputs). Each tensor is held to four times float32 PyTorch's error (relative L2, with
//! a floor of 1e-6); where float32 cannot resolve the reference at all (float32 PyTorch's own
//! relative error above 1%: a loss of 3e-12 next to logits of 30), to four times its largest absolute
//! difference instead, with a floor of 1e-9.
//!
//! ```python
//! loss = torch.nn.functional.cross_entropy(logits.double().requires_grad_(), labels)
//! loss.backward()  # dlogits
//! ```

mod common;

use common::{gpu, read, upload, zeros};
use gan_wgpu::layers::CrossEntropyLoss;
use gan_wgpu::oracle::{Oracle, max_abs_error, relative_l2, within};

const CASES: [&str; 5] = ["batch", "confident", "huge", "many_rows", "wrong"];

fn oracle() -> Oracle {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/oracles/cross_entropy.safetensors"
    );
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Oracle::parse(path, &bytes).unwrap()
}

/// The kernel's loss and gradient for `logits` and `labels`.
fn run(logits: (&[usize], &[f32]), labels: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let g = gpu();
    let logits = upload(logits.0, logits.1);
    let labels = upload(&[labels.len()], labels);
    let (loss, dlogits) = (zeros(&[1]), zeros(logits.shape()));
    let d = CrossEntropyLoss
        .forward_backward(g, &logits, &labels, &loss, &dlogits, None)
        .unwrap();
    common::run(&[&d]);
    (read(&loss), read(&dlogits))
}

/// `got` against the oracle's `case.name`, as the file's header says; (error, bound, measure).
fn compare(o: &Oracle, case: &str, name: &str, got: &[f32]) -> (f64, f64, &'static str) {
    let reference = o.values(&format!("{case}.{name}")).unwrap();
    let f32_relative = o.values(&format!("{case}.f32_error_{name}")).unwrap()[0] as f64;
    let f32_absolute = o.values(&format!("{case}.f32_abs_error_{name}")).unwrap()[0] as f64;
    if f32_relative <= 0.01 {
        let bound = (4.0 * f32_relative).max(1e-6);
        (relative_l2(got, reference), bound, "relative")
    } else {
        let bound = (4.0 * f32_absolute).max(1e-9);
        (max_abs_error(got, reference), bound, "absolute")
    }
}

#[test]
fn cross_entropy_and_its_gradient_match_pytorch() {
    let o = oracle();
    assert_eq!(o.cases(), CASES, "the oracle's cases");
    let mut failures = Vec::new();
    for case in CASES {
        let key = |t: &str| format!("{case}.{t}");
        let logits = (
            o.shape(&key("logits")).unwrap(),
            o.values(&key("logits")).unwrap(),
        );
        let (loss, dlogits) = run(logits, o.values(&key("labels")).unwrap());
        for (name, got) in [("loss", &loss), ("dlogits", &dlogits)] {
            let (error, bound, measure) = compare(&o, case, name, got);
            eprintln!("{case}.{name}: {measure} error {error:.3e} (bound {bound:.1e})");
            if !within(error, bound) {
                failures.push(format!(
                    "{case}.{name}: {measure} error {error:.3e} > {bound:.1e}"
                ));
            }
        }
        o.all_used(case).unwrap();
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_label_that_is_no_class_makes_the_loss_nan() {
    let logits = [0.5f32, -1.0, 2.0, 0.0, 1.0, 3.0];
    let (loss, dlogits) = run((&[2, 3], &logits), &[2.0, 1.0]);
    assert!(loss[0].is_finite() && dlogits.iter().all(|g| g.is_finite()));
    for bad in [3.0, -1.0, 1.5, f32::NAN] {
        let (loss, dlogits) = run((&[2, 3], &logits), &[2.0, bad]);
        assert!(loss[0].is_nan(), "label {bad}: loss {}", loss[0]);
        assert!(dlogits[..3].iter().all(|g| g.is_finite()), "label {bad}");
        assert!(dlogits[3..].iter().all(|g| g.is_nan()), "label {bad}");
    }
}

#[test]
fn shapes_are_checked() {
    let g = gpu();
    let logits = zeros(&[4, 10]);
    let (loss, dlogits) = (zeros(&[1]), zeros(&[4, 10]));
    let errors = [
        CrossEntropyLoss.forward_backward(g, &logits, &zeros(&[3]), &loss, &dlogits, None),
        CrossEntropyLoss.forward_backward(g, &logits, &zeros(&[4]), &zeros(&[2]), &dlogits, None),
        CrossEntropyLoss.forward_backward(
            g,
            &zeros(&[40]),
            &zeros(&[4]),
            &loss,
            &zeros(&[40]),
            None,
        ),
        CrossEntropyLoss.forward_backward(g, &logits, &zeros(&[4]), &loss, &zeros(&[4, 9]), None),
    ];
    for (i, e) in errors.into_iter().enumerate() {
        assert!(e.is_err(), "case {i} was accepted");
    }
}
