//! The whole model against PyTorch: `step.safetensors` (from `GAN_WGPU_ORACLE_DIR`, default
//! ../shared/oracle) holds PyTorch's initial weights, three real training steps' inputs, gradients,
//! losses and resulting weights, and eval-mode images. Every quantity is compared with the bound the
//! oracle's README gives it; each gradient tensor's bound is four times the error float32 PyTorch
//! itself makes on the same inputs (`f32_errors.json` beside the oracle), never below 1e-4.
//!
//! The gradients of the first D step and of a G step are checked on every family of matrix-product
//! kernels (tiled, split, the split variants, subgroup): each computes the same maths in its own order.

mod common;

use common::{
    KernelFamily, Oracle, dcgan64, gpu, gpu_with, max_abs_error, read, relative_l2, run, run_on,
};
use gan_wgpu::gpu::wait;
use gan_wgpu::model::{DiscriminatorPass, GeneratorPass, GradientPool, Mode};
use gan_wgpu::oracle::{
    CANCELLED_BIASES, Check, STEP1_BOUND, StepOracle, gradient_bound, gradient_error,
};
use gan_wgpu::params::ParamStore;
use gan_wgpu::step::{Hyper, Trainer};
use gan_wgpu::{Gpu, Tensor};

/// Relative error of the losses (and D's outputs) of steps 2 and 3, where Adam's first step has turned
/// float32 rounding of near-zero gradients into weight differences.
const LOSS_BOUND: [f64; 3] = [1e-3, 1e-3, 3e-3];
const RUNNING_VAR_BOUND: f64 = 3e-3;
const RUNNING_MEAN_BOUND: f64 = 0.2;
const EVAL_IMAGES_BOUND: f64 = 5e-3;
const EVAL_INIT_IMAGES_BOUND: f64 = 1e-5;

fn oracle() -> Oracle {
    Oracle::load("step.safetensors")
}

/// The step oracle with `f32_errors.json` of the oracle folder (float32 PyTorch's error on each
/// gradient tensor), as the library's runner reads them.
fn step_oracle() -> StepOracle {
    let dir = common::oracle_dir();
    let path = dir.join("step.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors = std::fs::read_to_string(dir.join("f32_errors.json")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The gradient bounds are relative to float32 PyTorch's own error on this oracle's \
             inputs; write that file with `python3 ../shared/oracle/f32_errors.py {}` (needs torch and \
             safetensors)",
            dir.join("f32_errors.json").display(),
            dir.display()
        )
    });
    StepOracle::parse(&path.display().to_string(), &bytes, &errors)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn trainer_at_init_on(device: &Gpu, step: &StepOracle) -> Trainer {
    let batch = step.batch().unwrap();
    let t = Trainer::new(
        device,
        Hyper {
            batch,
            ..Hyper::default()
        },
    )
    .unwrap();
    step.load_init(device, &t).unwrap();
    t
}

fn trainer_at_init() -> Trainer {
    trainer_at_init_on(gpu(), &step_oracle())
}

/// `full` where the oracle keeps `name` whole, else the elements at its subsample indices.
fn as_stored(oracle: &Oracle, name: &str, full: Vec<f32>) -> Vec<f32> {
    match oracle.subsample_index(name) {
        Some(idx) => idx.iter().map(|&i| full[i]).collect(),
        None => full,
    }
}

fn check_relative(what: &str, got: &[f32], want: &[f32], bound: f64) {
    let err = relative_l2(got, want);
    eprintln!("{what}: relative error {err:.3e} (bound {bound:.0e})");
    assert!(
        err <= bound,
        "{what}: relative error {err:.3e} exceeds {bound:.0e}"
    );
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

/// A net's gradients as the GPU computed them, by the oracle's names (`G.fc.0.weight`), each kept
/// where the oracle keeps it (`as_stored`).
fn gpu_gradients(
    device: &Gpu,
    oracle: &Oracle,
    store: &ParamStore,
    net: &str,
) -> Vec<(String, Vec<f32>)> {
    store
        .entries()
        .iter()
        .map(|e| {
            let name = format!("{net}.{}", e.name);
            let full = store.grad(device, e.name).unwrap().read(device).unwrap();
            let stored = as_stored(oracle, &name, full);
            (name, stored)
        })
        .collect()
}

/// Every gradient against `reference` (by the oracle's names, kept as the oracle keeps them) with its
/// bound from f32_errors.json, measured as f32_errors.py measures float32 PyTorch: ‖out − ref‖ / ‖ref‖,
/// or for a bias that feeds a BatchNorm (0 in exact arithmetic) ‖bias grad‖ / ‖reference weight
/// grad‖. Prints each; returns the tensors past their bounds and the largest ratio of an error to
/// float32 PyTorch's.
fn compare_gradients(
    label: &str,
    prefix: &str,
    got: &[(String, Vec<f32>)],
    reference: &dyn Fn(&str) -> Vec<f32>,
) -> (Vec<String>, f64) {
    let step = step_oracle();
    let mut failures = Vec::new();
    let mut worst_ratio: f64 = 0.0;
    for (name, values) in got {
        let key = format!("{prefix}.{name}");
        let layer = name.trim_end_matches(".bias");
        let cancelled = name.ends_with(".bias") && CANCELLED_BIASES.contains(&layer);
        let err = gradient_error(name, values, |n| Ok(reference(n))).unwrap();
        let f32_error = step.f32_error(&key).unwrap_or_else(|e| panic!("{e}"));
        let bound = gradient_bound(f32_error);
        let ratio = err / f32_error;
        worst_ratio = worst_ratio.max(ratio);
        let measure = if cancelled {
            "‖bias grad‖/‖weight grad‖"
        } else {
            "relative error"
        };
        eprintln!(
            "[{label}] {key}: {measure} {err:.3e}, bound {bound:.2e} (float32 PyTorch {f32_error:.2e}, \
             ratio {ratio:.2})"
        );
        if err > bound {
            failures.push(format!("{key}: {err:.3e} > {bound:.2e}"));
        }
    }
    eprintln!("[{label}] {prefix}: largest ratio to float32 PyTorch's error {worst_ratio:.2}");
    (failures, worst_ratio)
}

// ---- when a bound is exceeded: float32 rounding across a kink? (tests/common/dcgan64.rs) -----------

/// A kink input whose branch a float32 run may take differently from float64 lies this close to 0,
/// relative to the root mean square of its layer's inputs: float32 PyTorch's own errors there are up
/// to 4e-6 relative, and the branches it took against float64's lay within 1.2e-6 of 0.
const FLOAT32_REACH: f64 = 2e-5;

/// The oracle's initial weights in float64.
fn params64(oracle: &Oracle) -> dcgan64::Params {
    oracle
        .keys_with_prefix("init.")
        .into_iter()
        .map(|k| {
            let values = oracle.values(&k).iter().map(|&v| v as f64).collect();
            (k["init.".len()..].to_string(), values)
        })
        .collect()
}

fn values64(oracle: &Oracle, key: &str) -> Vec<f64> {
    oracle.values(key).iter().map(|&v| v as f64).collect()
}

/// The branch each element of a pass's kinks took on the GPU (an activation's output is > 0 exactly
/// where its input is).
fn gpu_branches(device: &Gpu, kinks: [&Tensor; 3]) -> [Vec<bool>; 3] {
    kinks.map(|t| t.read(device).unwrap().iter().map(|&v| v > 0.0).collect())
}

/// Asserts that every kink where the GPU took another branch than float64 lies within float32's reach
/// of 0, and says how many there were.
fn assert_branches_within_reach(
    label: &str,
    pass: &str,
    float64: &dcgan64::Kinks,
    gpu: &[Vec<bool>; 3],
) {
    for (k, (inputs, branches)) in float64.inputs.iter().zip(gpu).enumerate() {
        let rms = (inputs.iter().map(|v| v * v).sum::<f64>() / inputs.len() as f64).sqrt();
        let crossed: Vec<f64> = inputs
            .iter()
            .zip(branches)
            .filter(|(v, b)| (**v > 0.0) != **b)
            .map(|(v, _)| v / rms)
            .collect();
        let at: Vec<String> = crossed.iter().map(|v| format!("{v:.2e}")).collect();
        eprintln!(
            "[{label}] {pass}, kink {k}: the GPU took the other branch at {} of {} inputs {at:?} \
             (float64 values / rms)",
            crossed.len(),
            inputs.len()
        );
        for v in crossed {
            assert!(
                v.abs() <= FLOAT32_REACH,
                "[{label}] {pass}, kink {k}: a branch crossed at {v:.3e} of the rms from 0, beyond \
                 float32's reach ({FLOAT32_REACH:.0e})"
            );
        }
    }
}

/// The gradients of the float64 reference with the oracle's own branches must be the oracle's: it is
/// the same maths (an error here is a bug in the reference, not in the kernels).
fn assert_reference_reproduces_the_oracle(oracle: &Oracle, prefix: &str, grads: &dcgan64::Params) {
    for (name, values) in grads {
        let key = format!("{prefix}.{name}");
        let want = oracle.values(&key);
        let got: Vec<f32> = as_stored(oracle, name, values.iter().map(|&v| v as f32).collect());
        let scale = if name.ends_with(".bias")
            && CANCELLED_BIASES.contains(&name.trim_end_matches(".bias"))
        {
            norm(oracle.values(&format!("{prefix}.{}", name.replace(".bias", ".weight"))))
        } else {
            norm(want)
        };
        let diff: Vec<f32> = got.iter().zip(want).map(|(a, b)| a - b).collect();
        let err = norm(&diff) / scale;
        assert!(
            err <= 1e-6,
            "float64 reference against the oracle: {key} {err:.3e}"
        );
    }
}

/// One step's gradients in float64 twice: down float64's own branches and down the GPU's.
struct FollowedBranches<'a> {
    /// The passes' names, in order.
    passes: &'a [&'a str],
    own: dcgan64::Params,
    own_kinks: &'a [dcgan64::Kinks],
    gpu: &'a [[Vec<bool>; 3]],
    along: dcgan64::Params,
}

/// The GPU's gradients against the float64 reference that takes the GPU's branches, with the oracle's
/// bounds; the branches must differ from float64's only within float32's reach of 0.
fn check_along_gpu_branches(
    label: &str,
    oracle: &Oracle,
    prefix: &str,
    got: &[(String, Vec<f32>)],
    followed: FollowedBranches,
) {
    assert_reference_reproduces_the_oracle(oracle, prefix, &followed.own);
    for ((pass, kinks), branches) in followed
        .passes
        .iter()
        .zip(followed.own_kinks)
        .zip(followed.gpu)
    {
        assert_branches_within_reach(label, pass, kinks, branches);
    }
    let along = &followed.along;
    let reference = |name: &str| {
        as_stored(
            oracle,
            name,
            along[name].iter().map(|&v| v as f32).collect(),
        )
    };
    let (failures, worst) = compare_gradients(
        &format!("{label} along its branches"),
        prefix,
        got,
        &reference,
    );
    assert!(
        failures.is_empty(),
        "[{label}] past the bounds even along the GPU's own branches: {failures:#?}"
    );
    eprintln!(
        "[{label}] {prefix}: every bound holds against float64 along the GPU's branches (largest ratio \
         {worst:.2}); the oracle's float64 branches differ only within float32's reach of 0"
    );
}

/// Passes of the trainer's nets on the GPU, for the branches their kinks take.
struct BranchProbe {
    d: DiscriminatorPass,
    g: GeneratorPass,
}

impl BranchProbe {
    fn new(device: &Gpu, batch: usize) -> BranchProbe {
        let mut pool = GradientPool::default();
        BranchProbe {
            d: DiscriminatorPass::new(device, batch, 1, "branches", &mut pool).unwrap(),
            g: GeneratorPass::new(device, batch, None).unwrap(),
        }
    }

    /// G(z): the branches of its kinks; its image stays in `self.g.image`.
    fn generator(&self, device: &Gpu, t: &Trainer, z: &Tensor) -> [Vec<bool>; 3] {
        let forward = t.g.forward(device, &self.g, z, Mode::Train).unwrap();
        run_on(device, &forward.iter().collect::<Vec<_>>());
        gpu_branches(device, self.g.kinks())
    }

    /// D(x): the branches of its kinks.
    fn discriminator(&self, device: &Gpu, t: &Trainer, x: &Tensor) -> [Vec<bool>; 3] {
        let forward = t.d.forward(device, &self.d, &[x], Mode::Train).unwrap();
        run_on(device, &forward.iter().collect::<Vec<_>>());
        gpu_branches(device, self.d.kinks())
    }
}

/// When the D step's gradients exceed a bound: the GPU's branches of D(x), G(z_d) and D(G(z_d)), and
/// the gradients along them.
fn explain_d_step(
    device: &Gpu,
    label: &str,
    oracle: &Oracle,
    t: &Trainer,
    got: &[(String, Vec<f32>)],
) {
    let batch = t.hyper.batch;
    let probe = BranchProbe::new(device, batch);
    let real = probe.discriminator(device, t, &t.x);
    let g = probe.generator(device, t, &t.z_d);
    let fake = probe.discriminator(device, t, &probe.g.image);
    let gpu = [real, g, fake];
    let p = params64(oracle);
    let (x, z_d) = (values64(oracle, "step1.x"), values64(oracle, "step1.z_d"));
    let (own, own_kinks) = dcgan64::d_step(&p, &x, &z_d, batch, None);
    let (along, _) = dcgan64::d_step(&p, &x, &z_d, batch, Some(&gpu));
    let followed = FollowedBranches {
        passes: &["D(x)", "G(z_d)", "D(G(z_d))"],
        own,
        own_kinks: &own_kinks,
        gpu: &gpu,
        along,
    };
    check_along_gpu_branches(label, oracle, "d_step_grad", got, followed);
}

/// The same for the G step: the branches of G(z_g) and D(G(z_g)).
fn explain_g_step(
    device: &Gpu,
    label: &str,
    oracle: &Oracle,
    t: &Trainer,
    got: &[(String, Vec<f32>)],
) {
    let batch = t.hyper.batch;
    let probe = BranchProbe::new(device, batch);
    let g = probe.generator(device, t, &t.z_g);
    let d = probe.discriminator(device, t, &probe.g.image);
    let gpu = [g, d];
    let p = params64(oracle);
    let z_g = values64(oracle, "step1.z_g");
    let (own, own_kinks) = dcgan64::g_step(&p, &z_g, batch, None);
    let (along, _) = dcgan64::g_step(&p, &z_g, batch, Some(&gpu));
    let followed = FollowedBranches {
        passes: &["G(z_g)", "D(G(z_g))"],
        own,
        own_kinks: &own_kinks,
        gpu: &gpu,
        along,
    };
    check_along_gpu_branches(label, oracle, "g_step_grad", got, followed);
}

/// Prints each check; asserts the step's outputs and losses within their bounds; returns the
/// gradients past theirs.
fn assess(label: &str, checks: &[Check]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in checks {
        eprintln!(
            "[{label}] {}: error {:.3e}, bound {:.2e}",
            c.key, c.error, c.bound
        );
        if c.passed() {
            continue;
        }
        let gradient = c.key.starts_with("d_step_grad.") || c.key.starts_with("g_step_grad.");
        assert!(
            gradient && !c.key.ends_with("g_loss"),
            "[{label}] {}: error {:.3e} exceeds {:.0e}",
            c.key,
            c.error,
            c.bound
        );
        failures.push(format!("{}: {:.3e} > {:.2e}", c.key, c.error, c.bound));
    }
    failures
}

// PyTorch: d_loss = bce(D(x), 1) + bce(D(G(z_d).detach()), 0); d_loss.backward() from init, step 1:
// through the library's runner (which the page runs too); when a gradient is past its bound, a
// second look along the GPU's own branches.
fn first_d_step_matches_pytorch(family: KernelFamily) {
    let device = gpu_with(family);
    let label = format!("{family:?}");
    let step = step_oracle();
    let t = trainer_at_init_on(device, &step);
    let checks = wait(step.first_d_step(device, &t)).unwrap_or_else(|e| panic!("{e}"));
    let failures = assess(&label, &checks);
    if !failures.is_empty() {
        eprintln!(
            "[{label}] past the oracle's bounds: {failures:#?}; following the GPU's branches"
        );
        let oracle = oracle();
        oracle.use_gpu(device);
        let got = gpu_gradients(device, &oracle, &t.d.net.params, "D");
        explain_d_step(device, &label, &oracle, &t, &got);
    }
}

// PyTorch: g_loss = bce(D(G(z_g)), 1); g_loss.backward() from init (D not yet updated).
fn g_step_from_the_initial_weights_matches_pytorch(family: KernelFamily) {
    let device = gpu_with(family);
    let label = format!("{family:?}");
    let step = step_oracle();
    let t = trainer_at_init_on(device, &step);
    let checks = wait(step.g_step(device, &t)).unwrap_or_else(|e| panic!("{e}"));
    let failures = assess(&label, &checks);
    if !failures.is_empty() {
        eprintln!(
            "[{label}] past the oracle's bounds: {failures:#?}; following the GPU's branches"
        );
        let oracle = oracle();
        oracle.use_gpu(device);
        let got = gpu_gradients(device, &oracle, &t.g.net.params, "G");
        explain_g_step(device, &label, &oracle, &t, &got);
    }
}

/// One test per kernel family for each step's gradients, so the families run in parallel.
macro_rules! gradient_tests {
    ($($d_test:ident, $g_test:ident: $family:expr;)*) => {$(
        #[test]
        fn $d_test() {
            first_d_step_matches_pytorch($family);
        }

        #[test]
        fn $g_test() {
            g_step_from_the_initial_weights_matches_pytorch($family);
        }
    )*};
}

gradient_tests! {
    the_first_d_step_matches_pytorch_tiled, a_g_step_matches_pytorch_tiled: KernelFamily::Tiled;
    the_first_d_step_matches_pytorch_split, a_g_step_matches_pytorch_split: KernelFamily::TiledSplitK;
    the_first_d_step_matches_pytorch_block8_split, a_g_step_matches_pytorch_block8_split:
        KernelFamily::TiledBlock8SplitK;
    the_first_d_step_matches_pytorch_prefetch_split, a_g_step_matches_pytorch_prefetch_split:
        KernelFamily::TiledPrefetchSplitK;
    the_first_d_step_matches_pytorch_block8_prefetch_split,
        a_g_step_matches_pytorch_block8_prefetch_split: KernelFamily::TiledBlock8PrefetchSplitK;
    the_first_d_step_matches_pytorch_subgroup, a_g_step_matches_pytorch_subgroup:
        KernelFamily::Subgroup;
}

/// Fails to compile when a kernel family is added without its pair of tests above.
#[allow(dead_code)]
fn every_family_has_gradient_tests(family: KernelFamily) {
    match family {
        KernelFamily::Tiled
        | KernelFamily::TiledSplitK
        | KernelFamily::TiledBlock8SplitK
        | KernelFamily::TiledPrefetchSplitK
        | KernelFamily::TiledBlock8PrefetchSplitK
        | KernelFamily::Subgroup => {}
    }
}

/// G in eval mode on the oracle's `<prefix>.z`: the images it gives.
fn eval_images(t: &Trainer, oracle: &Oracle, prefix: &str) -> Vec<f32> {
    let z_key = format!("{prefix}.z");
    let count = oracle.shape(&z_key)[0];
    let pass = GeneratorPass::new(gpu(), count, None).unwrap();
    let z = oracle.upload(&z_key);
    let forward = t.g.forward(gpu(), &pass, &z, Mode::Eval).unwrap();
    run(&forward.iter().collect::<Vec<_>>());
    assert_eq!(
        pass.image.shape(),
        oracle.shape(&format!("{prefix}.images"))
    );
    read(&pass.image)
}

// PyTorch: G.eval(); G(eval_init.z) with the initial weights, as sampling from a loaded checkpoint does.
#[test]
fn eval_images_from_the_initial_weights_match_pytorch() {
    let oracle = oracle();
    let t = trainer_at_init();
    let err = max_abs_error(
        &eval_images(&t, &oracle, "eval_init"),
        oracle.values("eval_init.images"),
    );
    eprintln!("eval_init.images: max abs error {err:.3e} (bound {EVAL_INIT_IMAGES_BOUND:.0e})");
    assert!(err <= EVAL_INIT_IMAGES_BOUND);
}

// PyTorch: three full steps (D step, Adam, G step with fresh z_g, Adam) from init; then G.eval() on eval.z.
#[test]
fn three_training_steps_match_pytorch() {
    let oracle = oracle();
    let mut t = trainer_at_init();
    for s in 1..=3usize {
        let key = |name: &str| format!("step{s}.{name}");
        t.x.write(gpu(), oracle.values(&key("x"))).unwrap();
        t.z_d.write(gpu(), oracle.values(&key("z_d"))).unwrap();
        t.z_g.write(gpu(), oracle.values(&key("z_g"))).unwrap();
        t.d_step(gpu()).unwrap();
        // D(x) and D(G(z_d)) are bounded at step 1 (where the_first_d_step_matches_pytorch checks
        // them); at later steps the README bounds the losses only.
        if s == 1 {
            let (real, fake) = t.d_step_probabilities(gpu()).unwrap();
            check_relative(
                &key("d_real"),
                &real,
                oracle.values(&key("d_real")),
                STEP1_BOUND,
            );
            check_relative(
                &key("d_fake"),
                &fake,
                oracle.values(&key("d_fake")),
                STEP1_BOUND,
            );
        }
        let bound = if s == 1 {
            STEP1_BOUND
        } else {
            LOSS_BOUND[s - 1]
        };
        check_relative(
            &key("d_loss"),
            &read(&t.d_loss),
            oracle.values(&key("d_loss")),
            bound,
        );
        t.g_step(gpu()).unwrap();
        check_relative(
            &key("g_loss"),
            &read(&t.g_loss),
            oracle.values(&key("g_loss")),
            LOSS_BOUND[s - 1],
        );

        // The README bounds the running statistics (after step 3; earlier steps are held to the same
        // bounds). Weights after a step have no bound of their own: Adam's first step turns float32
        // rounding of near-zero gradients into differences of ±lr, which the losses of steps 2 and 3
        // and the eval images measure.
        for (net, store) in [("G", &t.g.net.stats), ("D", &t.d.net.stats)] {
            for e in store.entries() {
                let name = format!("{net}.{}", e.name);
                let bound = if e.name.ends_with("running_var") {
                    RUNNING_VAR_BOUND
                } else {
                    RUNNING_MEAN_BOUND
                };
                let got = as_stored(&oracle, &name, store.read(gpu(), e.name).unwrap());
                check_relative(
                    &format!("after{s}.{name}"),
                    &got,
                    oracle.values(&format!("after{s}.{name}")),
                    bound,
                );
            }
        }
    }
    let err = max_abs_error(
        &eval_images(&t, &oracle, "eval"),
        oracle.values("eval.images"),
    );
    eprintln!("eval.images: max abs error {err:.3e} (bound {EVAL_IMAGES_BOUND:.0e})");
    assert!(err <= EVAL_IMAGES_BOUND);
}
