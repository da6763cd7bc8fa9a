//! Every kernel against PyTorch: every case and every tensor of `layers.safetensors` (from
//! `GAN_WGPU_ORACLE_DIR`, default ../shared/oracle), with the bounds of the oracle's README. Shapes come
//! from the file, so oracles written with other seeds and batch sizes run through the same tests.

mod common;

use common::{
    KERNEL_FAMILIES, KernelFamily, Oracle, gpu, gpu_with, max_abs_error, read, relative_l2, run,
    run_on, upload, zeros,
};
use gan_wgpu::adam::Adam;
use gan_wgpu::kernels::Dispatch;
use gan_wgpu::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use gan_wgpu::{Gpu, Tensor};

/// ‖out − ref‖ / ‖ref‖ for outputs, gradients and running statistics.
const LAYER_BOUND: f64 = 1e-4;
/// Max abs error of Adam's parameters after each step.
const ADAM_BOUND: f64 = 1e-7;

fn oracle() -> Oracle {
    Oracle::load("layers.safetensors")
}

fn is_linear(case: &str) -> bool {
    case.starts_with("linear_")
}
fn is_batchnorm(case: &str) -> bool {
    case.starts_with("bn1d_") || case.starts_with("bn2d_")
}
fn is_conv2d(case: &str) -> bool {
    case.starts_with("conv_")
}
fn is_conv_transpose2d(case: &str) -> bool {
    case.starts_with("deconv_")
}
fn is_activation(case: &str) -> bool {
    matches!(case, "relu" | "leaky_relu" | "sigmoid")
}
fn is_bce(case: &str) -> bool {
    case.starts_with("bce_")
}
fn is_adam(case: &str) -> bool {
    case == "adam"
}

const FAMILIES: [fn(&str) -> bool; 7] = [
    is_linear,
    is_batchnorm,
    is_conv2d,
    is_conv_transpose2d,
    is_activation,
    is_bce,
    is_adam,
];

#[test]
fn every_case_in_the_oracle_belongs_to_a_tested_family() {
    let oracle = oracle();
    let all = oracle.cases(|_| true);
    assert!(!all.is_empty());
    for case in &all {
        let owners = FAMILIES.iter().filter(|f| f(case)).count();
        assert_eq!(owners, 1, "case `{case}` is covered by {owners} tests");
    }
}

// F.linear(x, w, b) with a random upstream dy; dx, dweight, dbias from torch.autograd.grad.
fn check_linear(oracle: &Oracle, case: &str, g: &'static Gpu) {
    oracle.use_gpu(g);
    let key = |t: &str| format!("{case}.{t}");
    let w = oracle.shape(&key("weight"));
    let layer = Linear::new(w[1], w[0]);
    let (x, weight, bias, dy) = (
        oracle.upload(&key("x")),
        oracle.upload(&key("weight")),
        oracle.upload(&key("bias")),
        oracle.upload(&key("dy")),
    );
    let (y, dx, dweight, dbias) = (
        oracle.zeros_like(&key("y")),
        oracle.zeros_like(&key("dx")),
        oracle.zeros_like(&key("dweight")),
        oracle.zeros_like(&key("dbias")),
    );
    let dispatches = [
        layer.forward(g, &x, &weight, &bias, &y).unwrap(),
        layer.backward_input(g, &dy, &weight, &dx).unwrap(),
        layer.backward_weight(g, &dy, &x, &dweight, false).unwrap(),
        layer.backward_bias(g, &dy, &dbias, false).unwrap(),
    ];
    let products = &dispatches[..3];
    let split = products.iter().any(|d| d.parts().len() == 2);
    assert_eq!(
        split,
        g.tuning().products.split_target > 0,
        "{case}: a product split"
    );
    run_on(g, &dispatches.iter().collect::<Vec<_>>());
    for (name, t) in [
        ("y", &y),
        ("dx", &dx),
        ("dweight", &dweight),
        ("dbias", &dbias),
    ] {
        oracle.check(&key(name), t, LAYER_BOUND);
    }
    oracle.assert_all_used(case);
}

/// Proves each family's kernels ran, not a fallback: on the subgroup family's device every convolution
/// case has a product (a 64- or 128-channel side) that the subgroup kernels take, and on the split
/// device every case has a product at least 128 deep, which is split and reduced.
fn assert_family_ran(g: &Gpu, case: &str, dispatches: &[Dispatch]) {
    let parts: Vec<Dispatch> = dispatches.iter().flat_map(|d| d.parts()).collect();
    let entries: Vec<&str> = parts.iter().map(|d| d.entry()).collect();
    let subgroup = entries.iter().any(|e| e.contains("_subgroup_"));
    assert_eq!(
        subgroup,
        g.runs_subgroup_kernels(),
        "{case}: kernels {entries:?}"
    );
    let split = entries.iter().any(|e| e.ends_with("_reduce"));
    assert_eq!(
        split,
        g.tuning().products.split_target > 0,
        "{case}: kernels {entries:?}"
    );
}

/// Every case on the device of each family of matrix-product kernels (tiled, split, split variants,
/// subgroup), with the oracle uploading to and reading from that device.
fn every_kernel_family<'a>(
    oracle: &'a Oracle,
    cases: &'a [String],
) -> impl Iterator<Item = (&'static Gpu, &'a String)> + 'a {
    KERNEL_FAMILIES.into_iter().flat_map(move |family| {
        let g = gpu_with(family);
        eprintln!(
            "{family:?} kernels (subgroup products: {})",
            g.runs_subgroup_kernels()
        );
        if family == KernelFamily::Subgroup && g.is_software() {
            assert!(
                g.runs_subgroup_kernels(),
                "{} is a CPU adapter: it should run the subgroup kernels",
                g.info.name
            );
        }
        cases.iter().map(move |case| {
            oracle.use_gpu(g);
            (g, case)
        })
    })
}

// Every family of matrix-product kernels: the tiled ones real GPUs run (K whole, and split as GPUs
// split it), and the subgroup ones a CPU adapter runs where a product fits them (linear_wide here; the
// others fall back to tiles).
#[test]
fn linear_matches_pytorch() {
    let oracle = oracle();
    let cases = oracle.cases(is_linear);
    assert!(!cases.is_empty());
    for (g, case) in every_kernel_family(&oracle, &cases) {
        check_linear(&oracle, case, g);
    }
}

#[test]
fn a_wrong_oracle_value_fails_the_comparison() {
    let mut oracle = oracle();
    let case = oracle.cases(is_linear).into_iter().next().unwrap();
    oracle.corrupt(&format!("{case}.dweight"), 1.01);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_linear(&oracle, &case, gpu())
    }));
    assert!(
        failed.is_err(),
        "a dweight scaled by 1.01 passed the {LAYER_BOUND:.0e} bound"
    );
}

// F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5), its gradients for dy, and
// y_eval = F.batch_norm(..., training=False) with the updated running statistics.
#[test]
fn batchnorm_matches_pytorch() {
    let oracle = oracle();
    let cases = oracle.cases(is_batchnorm);
    assert!(!cases.is_empty());
    // Both families: the subgroup one also walks BatchNorm2d's channels plane by plane.
    for (g, case) in every_kernel_family(&oracle, &cases) {
        let key = |t: &str| format!("{case}.{t}");
        let channels = oracle.shape(&key("weight"))[0];
        let layer = BatchNorm::new(channels);
        let (x, weight, bias, running_mean, running_var, dy) = (
            oracle.upload(&key("x")),
            oracle.upload(&key("weight")),
            oracle.upload(&key("bias")),
            oracle.upload(&key("running_mean")),
            oracle.upload(&key("running_var")),
            oracle.upload(&key("dy")),
        );
        let (y, y_eval, dx, dweight, dbias) = (
            oracle.zeros_like(&key("y")),
            oracle.zeros_like(&key("y_eval")),
            oracle.zeros_like(&key("dx")),
            oracle.zeros_like(&key("dweight")),
            oracle.zeros_like(&key("dbias")),
        );
        let saved = Tensor::zeros(g, "saved", &[2, channels]).unwrap();
        run_on(
            g,
            &[
                &layer
                    .forward_train(
                        g,
                        &x,
                        &weight,
                        &bias,
                        &running_mean,
                        &running_var,
                        &y,
                        &saved,
                    )
                    .unwrap(),
                &layer
                    .backward(
                        g,
                        &x,
                        &weight,
                        &saved,
                        &BatchNormGrads::new(&dy, &dx, &dweight, &dbias),
                    )
                    .unwrap(),
                &layer
                    .forward_eval(g, &x, &weight, &bias, &running_mean, &running_var, &y_eval)
                    .unwrap(),
            ],
        );
        for (name, t) in [
            ("y", &y),
            ("dx", &dx),
            ("dweight", &dweight),
            ("dbias", &dbias),
            ("running_mean_after", &running_mean),
            ("running_var_after", &running_var),
            ("y_eval", &y_eval),
        ] {
            oracle.check(&key(name), t, LAYER_BOUND);
        }
        oracle.assert_all_used(case);
    }
}

/// The conv cases of the oracle are all kernel 4, stride 2, padding 1 (README); the file's shapes
/// must agree with that.
const STRIDE: usize = 2;
const PADDING: usize = 1;

// F.conv2d(x, w, b, stride=2, padding=1) and its gradients for dy.
#[test]
fn conv2d_matches_pytorch() {
    let oracle = oracle();
    let cases = oracle.cases(is_conv2d);
    assert!(!cases.is_empty());
    for (g, case) in every_kernel_family(&oracle, &cases) {
        let key = |t: &str| format!("{case}.{t}");
        let w = oracle.shape(&key("weight")).to_vec();
        let layer = Conv::conv2d(w[1], w[0], w[2], STRIDE, PADDING);
        let (x, weight, bias, dy) = (
            oracle.upload(&key("x")),
            oracle.upload(&key("weight")),
            oracle.upload(&key("bias")),
            oracle.upload(&key("dy")),
        );
        let (y, dx, dweight, dbias) = (
            oracle.zeros_like(&key("y")),
            oracle.zeros_like(&key("dx")),
            oracle.zeros_like(&key("dweight")),
            oracle.zeros_like(&key("dbias")),
        );
        let dispatches = [
            layer.forward(g, &x, &weight, &bias, &y).unwrap(),
            layer.backward_input(g, &dy, &weight, &dx).unwrap(),
            layer.backward_weight(g, &dy, &x, &dweight, false).unwrap(),
            layer.backward_bias(g, &dy, &dbias, false).unwrap(),
        ];
        assert_family_ran(g, case, &dispatches);
        run_on(g, &dispatches.iter().collect::<Vec<_>>());
        for (name, t) in [
            ("y", &y),
            ("dx", &dx),
            ("dweight", &dweight),
            ("dbias", &dbias),
        ] {
            oracle.check(&key(name), t, LAYER_BOUND);
        }
        oracle.assert_all_used(case);
    }
}

// F.conv_transpose2d(x, w, b, stride=2, padding=1), w of shape (C_in, C_out, 4, 4), and its gradients.
#[test]
fn conv_transpose2d_matches_pytorch() {
    let oracle = oracle();
    let cases = oracle.cases(is_conv_transpose2d);
    assert!(!cases.is_empty());
    for (g, case) in every_kernel_family(&oracle, &cases) {
        let key = |t: &str| format!("{case}.{t}");
        let w = oracle.shape(&key("weight")).to_vec();
        let layer = Conv::conv_transpose2d(w[0], w[1], w[2], STRIDE, PADDING);
        let (x, weight, bias, dy) = (
            oracle.upload(&key("x")),
            oracle.upload(&key("weight")),
            oracle.upload(&key("bias")),
            oracle.upload(&key("dy")),
        );
        let (y, dx, dweight, dbias) = (
            oracle.zeros_like(&key("y")),
            oracle.zeros_like(&key("dx")),
            oracle.zeros_like(&key("dweight")),
            oracle.zeros_like(&key("dbias")),
        );
        let dispatches = [
            layer.forward(g, &x, &weight, &bias, &y).unwrap(),
            layer.backward_input(g, &dy, &weight, &dx).unwrap(),
            layer.backward_weight(g, &dy, &x, &dweight, false).unwrap(),
            layer.backward_bias(g, &dy, &dbias, false).unwrap(),
        ];
        assert_family_ran(g, case, &dispatches);
        run_on(g, &dispatches.iter().collect::<Vec<_>>());
        for (name, t) in [
            ("y", &y),
            ("dx", &dx),
            ("dweight", &dweight),
            ("dbias", &dbias),
        ] {
            oracle.check(&key(name), t, LAYER_BOUND);
        }
        oracle.assert_all_used(case);
    }
}

// F.relu, F.leaky_relu(x, 0.2), torch.sigmoid on x ~ 3·N(0, 1), and their gradients for dy. Each
// width of kernel runs on a prefix of the oracle's 4000 elements whose count selects it: 4000 the
// eight-per-invocation kernels where the device has wide loads (else four), 3996 the four-per-invocation
// ones, 3999 one per invocation; the entry point that ran is asserted.
#[test]
fn activations_match_pytorch_at_every_width() {
    let oracle = oracle();
    let cases = oracle.cases(is_activation);
    assert_eq!(cases.len(), 3);
    let g = gpu();
    let widths: [(usize, &str); 3] = [
        (4000, if g.wide_loads() { "_u64_" } else { "_vec4_" }),
        (3996, "_vec4_"),
        (3999, "scalar"),
    ];
    for case in cases {
        let key = |t: &str| format!("{case}.{t}");
        let activation = match case.as_str() {
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu {
                negative_slope: 0.2,
            },
            _ => Activation::Sigmoid,
        };
        assert_eq!(oracle.shape(&key("x")).iter().product::<usize>(), 4000);
        for (count, width) in widths {
            let prefix = |t: &str| &oracle.values(&key(t))[..count];
            // The backward turns dy into dx in place.
            let (x, dx) = (
                upload(&[count], prefix("x")),
                upload(&[count], prefix("dy")),
            );
            let y = zeros(&[count]);
            // Autograd keeps the input of ReLU and LeakyReLU and the output of Sigmoid.
            let saved = if activation == Activation::Sigmoid {
                &y
            } else {
                &x
            };
            let dispatches = [
                activation.forward(g, &x, &y).unwrap(),
                activation.backward(g, saved, &dx).unwrap(),
            ];
            for d in &dispatches {
                let ran = d.entry();
                let scalar = !ran.contains("_vec4_") && !ran.contains("_u64_");
                assert!(
                    if width == "scalar" {
                        scalar
                    } else {
                        ran.contains(width)
                    },
                    "{case}, {count} elements: {ran} ran, a {width} kernel was due"
                );
            }
            run(&dispatches.iter().collect::<Vec<_>>());
            for (out, want) in [(&y, "y"), (&dx, "dx")] {
                let err = relative_l2(&read(out), prefix(want));
                eprintln!("{case}.{want} ({count} elements, {width}): relative error {err:.3e}");
                assert!(err <= LAYER_BOUND, "{case}.{want} at {count}: {err:.3e}");
            }
        }
        oracle.assert_all_used(&case);
    }
}

// F.binary_cross_entropy(p, target) (mean) and its gradient, with targets all ones or all zeros; the
// edge cases put p = 0, 1, 1e-30, 1-1e-7, 1e-12 in the first rows.
#[test]
fn bce_matches_pytorch() {
    let oracle = oracle();
    let cases = oracle.cases(is_bce);
    assert!(!cases.is_empty());
    let g = gpu();
    for case in cases {
        let key = |t: &str| format!("{case}.{t}");
        let (prob, target) = (oracle.upload(&key("p")), oracle.upload(&key("target")));
        let (loss, dprob) = (
            oracle.zeros_like(&key("loss")),
            oracle.zeros_like(&key("dp")),
        );
        run(&[&BceLoss::new(GradientAt::Probabilities)
            .forward_backward(g, &prob, &target, &loss, &dprob, None)
            .unwrap()]);
        oracle.check(&key("loss"), &loss, LAYER_BOUND);
        oracle.check(&key("dp"), &dprob, LAYER_BOUND);
        oracle.assert_all_used(&case);
    }
}

// torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8), three steps with gradients grad1..3.
#[test]
fn adam_matches_pytorch() {
    let oracle = oracle();
    assert_eq!(oracle.cases(is_adam), ["adam"]);
    let count = oracle.shape("adam.param")[0];
    assert!(
        count.is_multiple_of(8) && count > 8,
        "the oracle's Adam case has {count} elements"
    );
    // All of it (eight elements per invocation on devices with wide loads, else four), all but the
    // last four elements (four per invocation), all but the last element (one per invocation): the
    // update is elementwise, so a prefix of the oracle is an oracle.
    let widest = if gpu().wide_loads() {
        "adam_update_u64"
    } else {
        "adam_update_vec4"
    };
    let (exp_avg, exp_avg_sq) = check_adam(&oracle, count, widest);
    oracle.check("adam.exp_avg3", &exp_avg, LAYER_BOUND);
    oracle.check("adam.exp_avg_sq3", &exp_avg_sq, LAYER_BOUND);
    check_adam(&oracle, count - 4, "adam_update_vec4");
    check_adam(&oracle, count - 1, "adam_update");
    oracle.assert_all_used("adam");
}

// torch.optim.Adam(lr 2e-4, betas (0.5, 0.999)), three steps on the first `used` elements.
fn check_adam(oracle: &Oracle, used: usize, entry: &str) -> (Tensor, Tensor) {
    let g = gpu();
    let adam = Adam::new(2e-4, 0.5, 0.999);
    let prefix = |key: &str| oracle.values(key)[..used].to_vec();
    let param = common::upload(&[used], &prefix("adam.param"));
    let grad = common::zeros(&[used]);
    let exp_avg = common::zeros(&[used]);
    let exp_avg_sq = common::zeros(&[used]);
    let update = adam
        .update(g, &grad, &param, &exp_avg, &exp_avg_sq, 1, None)
        .unwrap();
    assert_eq!(update.entry(), entry, "{used} elements");
    for step in 1..=3u64 {
        grad.write(g, &prefix(&format!("adam.grad{step}"))).unwrap();
        adam.set_step(g, &update, grad.numel(), step, 0).unwrap();
        run(&[&update]);
        let key = format!("adam.param{step}");
        let err = max_abs_error(&read(&param), &prefix(&key));
        eprintln!("{entry}, {key}: max abs error {err:.3e} (bound {ADAM_BOUND:.0e})");
        assert!(err <= ADAM_BOUND, "{entry}, {key}: max abs error {err:.3e}");
    }
    (exp_avg, exp_avg_sq)
}
