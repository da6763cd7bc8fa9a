//! Every kernel against PyTorch: every case and every tensor of `layers.safetensors` (from
//! `GAN_WGPU_ORACLE_DIR`, default ../shared/oracle), with the bounds of the oracle's README, through
//! the library's runner (`gan_wgpu::oracle`, which the page's browser tests run too), the matrix
//! products on each kernel family. Shapes come from the file, so oracles written with other seeds and
//! batch sizes run through the same tests.

mod common;

use common::{KERNEL_FAMILIES, KernelFamily, gpu, gpu_with, read, run, upload, zeros};
use gan_wgpu::adam::Adam;
use gan_wgpu::gpu::wait;
use gan_wgpu::layers::Activation;
use gan_wgpu::oracle::{
    ADAM_BOUND, CaseKind, CaseRun, LAYER_BOUND, Oracle, max_abs_error, relative_l2, run_layer_case,
    within,
};
use gan_wgpu::{Gpu, Tensor};

fn oracle() -> Oracle {
    let path = common::oracle_dir().join("layers.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Oracle::parse(&path.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn cases(oracle: &Oracle, wanted: impl Fn(CaseKind) -> bool) -> Vec<String> {
    let cases: Vec<String> = oracle
        .cases()
        .into_iter()
        .filter(|c| CaseKind::of(c).is_some_and(&wanted))
        .collect();
    assert!(!cases.is_empty(), "the oracle has no such case");
    cases
}

/// Runs `case` on `g` and asserts every tensor within its bound (each error printed, for the margin).
fn check(oracle: &Oracle, case: &str, g: &Gpu) -> CaseRun {
    let run = wait(run_layer_case(g, oracle, case)).unwrap_or_else(|e| panic!("{e}"));
    for c in &run.checks {
        eprintln!("{}: error {:.3e} (bound {:.0e})", c.key, c.error, c.bound);
        assert!(
            c.passed(),
            "{}: error {:.3e} exceeds {:.0e}",
            c.key,
            c.error,
            c.bound
        );
    }
    run
}

#[test]
fn every_case_in_the_oracle_is_one_the_runner_knows() {
    let oracle = oracle();
    let all = oracle.cases();
    assert!(!all.is_empty());
    for case in &all {
        assert!(CaseKind::of(case).is_some(), "case `{case}` is not run");
    }
}

/// Proves each family's kernels ran, not a fallback: on the split device a product at least 128 deep
/// is split and reduced; with `subgroup`, on the subgroup family's device every case has a product
/// (a 64- or 128-channel side) that the subgroup kernels take.
fn assert_family_ran(g: &Gpu, run: &CaseRun, subgroup: bool) {
    let (case, entries) = (&run.case, &run.entries);
    if subgroup {
        let ran = entries.iter().any(|e| e.contains("_subgroup_"));
        assert_eq!(
            ran,
            g.runs_subgroup_kernels(),
            "{case}: kernels {entries:?}"
        );
    }
    let split = entries.iter().any(|e| e.ends_with("_reduce"));
    assert_eq!(
        split,
        g.tuning().products.split_target > 0,
        "{case}: kernels {entries:?}"
    );
}

/// Each family of matrix-product kernels' device (tiled, split, split variants, subgroup).
fn every_kernel_family() -> impl Iterator<Item = &'static Gpu> {
    KERNEL_FAMILIES.into_iter().map(|family| {
        let g = gpu_with(family);
        eprintln!(
            "{family:?} kernels (subgroup products: {})",
            g.runs_subgroup_kernels()
        );
        // Where the device has no subgroups of 8 lanes, the subgroup family's device runs tiles and
        // says so in the tests' notes (which CI checks against the fallbacks it expects).
        if family == KernelFamily::Subgroup && g.subgroups {
            assert!(
                g.runs_subgroup_kernels(),
                "{} has subgroups of 8 or more lanes: the subgroup family should run them",
                g.info.name
            );
        }
        g
    })
}

// F.linear(x, w, b) with a random upstream dy; dx, dweight, dbias from torch.autograd.grad. Every
// family of matrix-product kernels: the tiled ones real GPUs run (K whole, and split as GPUs split it),
// and the subgroup ones a CPU adapter runs where a product fits them (linear_wide here; the others
// fall back to tiles).
#[test]
fn linear_matches_pytorch() {
    let oracle = oracle();
    for g in every_kernel_family() {
        for case in cases(&oracle, |k| k == CaseKind::Linear) {
            assert_family_ran(g, &check(&oracle, &case, g), false);
        }
    }
}

#[test]
fn a_wrong_oracle_value_fails_the_comparison() {
    let mut oracle = oracle();
    let case = cases(&oracle, |k| k == CaseKind::Linear).remove(0);
    let key = format!("{case}.dweight");
    oracle.corrupt(&key, 1.01);
    let run = wait(run_layer_case(gpu(), &oracle, &case)).unwrap();
    let failed: Vec<&str> = run
        .checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(
        failed,
        [key.as_str()],
        "a dweight scaled by 1.01 against the {LAYER_BOUND:.0e} bound"
    );
}

// F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5), its gradients for dy, and
// y_eval = F.batch_norm(..., training=False) with the updated running statistics. Every family: the
// subgroup one also walks BatchNorm2d's channels plane by plane.
#[test]
fn batchnorm_matches_pytorch() {
    let oracle = oracle();
    for g in every_kernel_family() {
        for case in cases(&oracle, |k| k == CaseKind::BatchNorm) {
            check(&oracle, &case, g);
        }
    }
}

// F.conv2d(x, w, b, stride=2, padding=1) and F.conv_transpose2d(x, w, b, stride=2, padding=1), w of
// shape (C_in, C_out, 4, 4) there, and their gradients for dy, on every kernel family.
#[test]
fn convolutions_match_pytorch() {
    let oracle = oracle();
    let convolution = |k| k == CaseKind::Conv2d || k == CaseKind::ConvTranspose2d;
    for g in every_kernel_family() {
        for case in cases(&oracle, convolution) {
            assert_family_ran(g, &check(&oracle, &case, g), true);
        }
    }
}

// F.relu, F.leaky_relu(x, 0.2), torch.sigmoid on x ~ 3·N(0, 1) of shape (layer batch, 1000), and their
// gradients for dy. Each width of kernel runs on a prefix of the oracle's elements whose count selects
// it: the largest multiple of 8 (4000 at the shared oracle's batch 4) the eight-per-invocation kernels
// where the device has wide loads (else four), 4 fewer the four-per-invocation ones, 1 fewer one per
// invocation; the entry point that ran is asserted. The activation is elementwise, so a prefix of the
// oracle is an oracle.
#[test]
fn activations_match_pytorch_at_every_width() {
    let oracle = oracle();
    let cases = cases(&oracle, |k| matches!(k, CaseKind::Activation(_)));
    assert_eq!(cases.len(), 3);
    let g = gpu();
    for case in cases {
        let key = |t: &str| format!("{case}.{t}");
        let Some(CaseKind::Activation(activation)) = CaseKind::of(&case) else {
            unreachable!("an activation case")
        };
        let elements = oracle.shape(&key("x")).unwrap().iter().product::<usize>();
        let whole_eights = elements - elements % 8;
        assert!(whole_eights >= 8, "{case} has {elements} elements");
        let widths: [(usize, &str); 3] = [
            (
                whole_eights,
                if g.wide_loads() { "_u64_" } else { "_vec4_" },
            ),
            (whole_eights - 4, "_vec4_"),
            (whole_eights - 1, "scalar"),
        ];
        for (count, width) in widths {
            let prefix = |t: &str| &oracle.values(&key(t)).unwrap()[..count];
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
                assert!(
                    within(err, LAYER_BOUND),
                    "{case}.{want} at {count}: {err:.3e}"
                );
            }
        }
    }
}

// F.binary_cross_entropy(p, target) (mean) and its gradient, with targets all ones or all zeros; the
// edge cases put p = 0, 1, 1e-30, 1-1e-7, 1e-12 in the first rows.
#[test]
fn bce_matches_pytorch() {
    let oracle = oracle();
    for case in cases(&oracle, |k| k == CaseKind::Bce) {
        check(&oracle, &case, gpu());
    }
}

// torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8), three steps with gradients grad1..3:
// all of it through the runner (eight elements per invocation on devices with wide loads, else four),
// then all but the last four elements (four per invocation) and all but the last element (one per
// invocation): the update is elementwise, so a prefix of the oracle is an oracle.
#[test]
fn adam_matches_pytorch() {
    let oracle = oracle();
    assert_eq!(cases(&oracle, |k| k == CaseKind::Adam), ["adam"]);
    let count = oracle.shape("adam.param").unwrap()[0];
    assert!(
        count.is_multiple_of(8) && count > 8,
        "the oracle's Adam case has {count} elements"
    );
    let widest = if gpu().wide_loads() {
        "adam_update_u64"
    } else {
        "adam_update_vec4"
    };
    assert_eq!(check(&oracle, "adam", gpu()).entries, [widest]);
    check_adam(&oracle, count - 4, "adam_update_vec4");
    check_adam(&oracle, count - 1, "adam_update");
}

// torch.optim.Adam(lr 2e-4, betas (0.5, 0.999)), three steps on the first `used` elements.
fn check_adam(oracle: &Oracle, used: usize, entry: &str) -> (Tensor, Tensor) {
    let g = gpu();
    let adam = Adam::new(2e-4, 0.5, 0.999);
    let prefix = |key: &str| oracle.values(key).unwrap()[..used].to_vec();
    let param = upload(&[used], &prefix("adam.param"));
    let grad = zeros(&[used]);
    let exp_avg = zeros(&[used]);
    let exp_avg_sq = zeros(&[used]);
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
        assert!(
            within(err, ADAM_BOUND),
            "{entry}, {key}: max abs error {err:.3e}"
        );
    }
    (exp_avg, exp_avg_sq)
}
