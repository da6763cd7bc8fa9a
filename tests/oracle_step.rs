//! The whole model against PyTorch: `step.safetensors` (from `GAN_WGPU_ORACLE_DIR`, default
//! ../shared/oracle) holds PyTorch's initial weights, three real training steps' inputs, gradients,
//! losses and resulting weights, and eval-mode images. Every quantity is compared with the bound the
//! oracle's README gives it; each gradient tensor's bound is four times the error float32 PyTorch
//! itself makes on the same inputs (`f32_errors.json` beside the oracle), never below 1e-4.
//!
//! The gradients of the first D step and of a G step are checked on every family of matrix-product
//! kernels (tiled, split, the split variants, subgroup): each computes the same maths in its own order.

mod common;

use common::report::{self, Note};
use common::{
    KernelFamily, Oracle, dcgan64, gpu, gpu_with, max_abs_error, read, relative_l2, run, run_on,
};
use gan_wgpu::gpu::wait;
use gan_wgpu::model::{DCGAN, DiscriminatorPass, GeneratorPass, GradientPool, Mode};
use gan_wgpu::oracle::{
    CANCELLED_BIASES, Check, STEP1_BOUND, StepOracle, gradient_bound, gradient_error,
    kept_as_stored, within,
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

/// `full` as the oracle keeps `name` (`kept_as_stored`: a non-finite value anywhere poisons it).
fn as_stored(oracle: &Oracle, name: &str, full: Vec<f32>) -> Vec<f32> {
    kept_as_stored(full, oracle.subsample_index(name))
}

fn check_relative(what: &str, got: &[f32], want: &[f32], bound: f64) {
    let err = relative_l2(got, want);
    eprintln!("{what}: relative error {err:.3e} (bound {bound:.0e})");
    assert!(
        within(err, bound),
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
/// grad‖. Prints each; returns the tensors past their bounds (a non-finite error is past any bound)
/// and the largest ratio of an error to float32 PyTorch's.
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
        if !within(err, bound) {
            failures.push(format!("{key}: {err:.3e} > {bound:.2e}"));
            worst_ratio = f64::INFINITY;
        } else {
            worst_ratio = worst_ratio.max(ratio);
        }
        let measure = if cancelled {
            "‖bias grad‖/‖weight grad‖"
        } else {
            "relative error"
        };
        eprintln!(
            "[{label}] {key}: {measure} {err:.3e}, bound {bound:.2e} (float32 PyTorch {f32_error:.2e}, \
             ratio {ratio:.2})"
        );
    }
    eprintln!("[{label}] {prefix}: largest ratio to float32 PyTorch's error {worst_ratio:.2}");
    (failures, worst_ratio)
}

// ---- when a bound is exceeded: float32 rounding across a kink? (tests/common/dcgan64.rs) -----------

/// A kink input whose branch a float32 run may take differently from float64 lies this close to 0,
/// relative to the root mean square of its layer's inputs: float32 PyTorch's own errors there are up
/// to 4e-6 relative, and the branches it took against float64's lay within 1.2e-6 of 0. Five times
/// float32 PyTorch's largest error, as the gradient bounds are four times its error.
const FLOAT32_REACH: f64 = 2e-5;

/// The most kink inputs, over every pass of one step, that may take the other branch on the GPU. The
/// kinks' inputs are BatchNorm outputs, near N(0, 1) per channel, so the expected number that float32
/// rounding carries across 0 is about (inputs) × 0.8 × (mean rounding error / rms): ~2.5 million
/// inputs a pass and errors of ~1e-7 of the rms give 0.2 a pass, and at most one was ever seen (one
/// family, oracles of other batches, 3.4e-8 and 2.85e-7 of the rms from 0). Four leaves a correct
/// kernel a chance of ~1e-4 of being refused; every crossing moves the gradients behind it by up to
/// ~0.3%, so more would be a kernel that rounds far worse than float32 should.
const MOST_CROSSED_KINKS: usize = 4;

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

/// Every kink input where the GPU took another branch than float64: the pass, the kink, and the
/// float64 input over its layer's rms.
fn crossed_kinks(
    passes: &[&str],
    float64: &[dcgan64::Kinks],
    gpu: &[[Vec<bool>; 3]],
) -> Vec<(String, f64)> {
    let mut crossed = Vec::new();
    for ((pass, kinks), branches) in passes.iter().zip(float64).zip(gpu) {
        for (k, (inputs, branches)) in kinks.inputs.iter().zip(branches).enumerate() {
            let rms = (inputs.iter().map(|v| v * v).sum::<f64>() / inputs.len() as f64).sqrt();
            for (v, &b) in inputs.iter().zip(branches) {
                if (*v > 0.0) != b {
                    crossed.push((format!("{pass} kink {k}"), v / rms));
                }
            }
        }
    }
    crossed
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
            within(err, 1e-6),
            "float64 reference against the oracle: {key} {err:.3e}"
        );
    }
}

/// One step recomputed in float64 down the GPU's branches: the passes' names, the branches the GPU
/// took in each, the kink inputs float64 saw, and the gradients along the GPU's branches.
#[derive(Clone)]
struct FollowedBranches {
    prefix: &'static str,
    passes: Vec<&'static str>,
    gpu: Vec<[Vec<bool>; 3]>,
    own_kinks: Vec<dcgan64::Kinks>,
    along: dcgan64::Params,
}

/// The GPU's gradients against the float64 reference down the GPU's branches, with the oracle's
/// bounds (the direct ones, no looser): every branch the GPU took differently from float64 must lie
/// within float32's reach of 0, and there may be at most `MOST_CROSSED_KINKS` of them. Returns the
/// summary, or every reason to refuse.
fn check_along_gpu_branches(
    label: &str,
    oracle: &Oracle,
    got: &[(String, Vec<f32>)],
    followed: &FollowedBranches,
) -> Result<String, Vec<String>> {
    let crossed = crossed_kinks(&followed.passes, &followed.own_kinks, &followed.gpu);
    let at: Vec<String> = crossed
        .iter()
        .map(|(kink, v)| format!("{kink} at {v:.2e}"))
        .collect();
    eprintln!(
        "[{label}] {}: the GPU took the other branch at {} kink inputs {at:?} (float64 value / rms)",
        followed.prefix,
        crossed.len()
    );
    let mut failures: Vec<String> = crossed
        .iter()
        .filter(|(_, v)| !within(v.abs(), FLOAT32_REACH))
        .map(|(kink, v)| {
            format!(
                "{kink}: a branch crossed at {v:.3e} of the rms from 0, beyond float32's reach \
                 ({FLOAT32_REACH:.0e})"
            )
        })
        .collect();
    if crossed.len() > MOST_CROSSED_KINKS {
        failures.push(format!(
            "{} kink inputs took the other branch; float32 rounding explains at most \
             {MOST_CROSSED_KINKS}",
            crossed.len()
        ));
    }
    let along = &followed.along;
    let reference = |name: &str| {
        as_stored(
            oracle,
            name,
            along[name].iter().map(|&v| v as f32).collect(),
        )
    };
    let (past, worst) = compare_gradients(
        &format!("{label} along its branches"),
        followed.prefix,
        got,
        &reference,
    );
    failures.extend(past);
    if failures.is_empty() {
        Ok(format!(
            "every bound held against float64 down the GPU's own branches (largest ratio to float32 \
             PyTorch's error {worst:.2}); {} kink input(s) took the other branch: {at:?}",
            crossed.len()
        ))
    } else {
        Err(failures)
    }
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
            d: DiscriminatorPass::new(device, &DCGAN, batch, 1, "branches", &mut pool).unwrap(),
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

/// The D step down the GPU's branches: those of D(x), G(z_d) and D(G(z_d)) on `device`, and the
/// gradients in float64 along them (after checking that float64 down its own branches is the oracle).
fn follow_d_step(device: &Gpu, oracle: &Oracle, t: &Trainer) -> FollowedBranches {
    let batch = t.hyper.batch;
    let probe = BranchProbe::new(device, batch);
    let real = probe.discriminator(device, t, &t.x);
    let g = probe.generator(device, t, &t.z_d);
    let fake = probe.discriminator(device, t, &probe.g.image);
    let gpu = [real, g, fake];
    let p = params64(oracle);
    let (x, z_d) = (values64(oracle, "step1.x"), values64(oracle, "step1.z_d"));
    let (own, own_kinks) = dcgan64::d_step(&p, &x, &z_d, batch, None);
    assert_reference_reproduces_the_oracle(oracle, "d_step_grad", &own);
    let (along, _) = dcgan64::d_step(&p, &x, &z_d, batch, Some(&gpu));
    FollowedBranches {
        prefix: "d_step_grad",
        passes: vec!["D(x)", "G(z_d)", "D(G(z_d))"],
        gpu: gpu.to_vec(),
        own_kinks: own_kinks.to_vec(),
        along,
    }
}

/// The same for the G step: the branches of G(z_g) and D(G(z_g)).
fn follow_g_step(device: &Gpu, oracle: &Oracle, t: &Trainer) -> FollowedBranches {
    let batch = t.hyper.batch;
    let probe = BranchProbe::new(device, batch);
    let g = probe.generator(device, t, &t.z_g);
    let d = probe.discriminator(device, t, &probe.g.image);
    let gpu = [g, d];
    let p = params64(oracle);
    let z_g = values64(oracle, "step1.z_g");
    let (own, own_kinks) = dcgan64::g_step(&p, &z_g, batch, None);
    assert_reference_reproduces_the_oracle(oracle, "g_step_grad", &own);
    let (along, _) = dcgan64::g_step(&p, &z_g, batch, Some(&gpu));
    FollowedBranches {
        prefix: "g_step_grad",
        passes: vec!["G(z_g)", "D(G(z_g))"],
        gpu: gpu.to_vec(),
        own_kinks: own_kinks.to_vec(),
        along,
    }
}

/// The checks past their bounds, printing each check: (those that fail outright, the gradients). Only
/// gradients may go on to the recomputation along the GPU's branches (a kink crossed by rounding moves
/// them); any other check past its bound (D's outputs, a loss) is a failure outright.
fn past_bounds(label: &str, checks: &[Check]) -> (Vec<String>, Vec<String>) {
    let (mut outright, mut gradients) = (Vec::new(), Vec::new());
    for c in checks {
        eprintln!(
            "[{label}] {}: error {:.3e}, bound {:.2e}",
            c.key, c.error, c.bound
        );
        if c.passed() {
            continue;
        }
        let failure = format!("{}: {:.3e} > {:.2e}", c.key, c.error, c.bound);
        let gradient = (c.key.starts_with("d_step_grad.") || c.key.starts_with("g_step_grad."))
            && !c.key.ends_with("g_loss");
        if gradient {
            gradients.push(failure);
        } else {
            outright.push(failure);
        }
    }
    (outright, gradients)
}

/// Which step of the oracle a check is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The first D step.
    D,
    /// A G step from the initial weights.
    G,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::D => "the first D step",
            Step::G => "a G step",
        }
    }

    /// Runs this step of the oracle on `t` (at its initial weights).
    fn run(self, device: &Gpu, step: &StepOracle, t: &Trainer) {
        let ran = match self {
            Step::D => wait(step.first_d_step(device, t)),
            Step::G => wait(step.g_step(device, t)),
        };
        ran.unwrap_or_else(|e| panic!("{e}"));
    }

    /// The step's results in `t`'s buffers against the oracle.
    fn checks(self, device: &Gpu, step: &StepOracle, t: &Trainer) -> Vec<Check> {
        let checks = match self {
            Step::D => wait(step.d_step_checks(device, t)),
            Step::G => wait(step.g_step_checks(device, t)),
        };
        checks.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The net whose gradients the step computes, by the oracle's name, and its parameters.
    fn net(self, t: &Trainer) -> (&'static str, &ParamStore) {
        match self {
            Step::D => ("D", &t.d.net.params),
            Step::G => ("G", &t.g.net.params),
        }
    }

    fn follow(self, device: &Gpu, oracle: &Oracle, t: &Trainer) -> FollowedBranches {
        match self {
            Step::D => follow_d_step(device, oracle, t),
            Step::G => follow_g_step(device, oracle, t),
        }
    }
}

/// The verdict on what `step` left in `t`'s buffers: every check within its bound directly, or the
/// gradients past theirs within them along the GPU's own branches (`followed`, computed on demand and
/// kept for the next verdict on the same run). Ok: a summary line; Err: every reason to refuse.
fn verdict(
    device: &'static Gpu,
    label: &str,
    which: Step,
    step: &StepOracle,
    t: &Trainer,
    followed: &mut Option<FollowedBranches>,
) -> Result<String, Vec<String>> {
    let checks = which.checks(device, step, t);
    let (outright, gradients) = past_bounds(label, &checks);
    if !outright.is_empty() {
        return Err(outright.into_iter().chain(gradients).collect());
    }
    if gradients.is_empty() {
        return Ok(format!(
            "{}: every check within the oracle's bounds directly",
            which.name()
        ));
    }
    eprintln!("[{label}] past the oracle's bounds: {gradients:#?}; following the GPU's branches");
    let oracle = oracle();
    oracle.use_gpu(device);
    let (net, store) = which.net(t);
    let got = gpu_gradients(device, &oracle, store, net);
    let followed = followed.get_or_insert_with(|| which.follow(device, &oracle, t));
    check_along_gpu_branches(label, &oracle, &got, followed).map(|summary| {
        format!(
            "{}: {} gradient(s) past the direct bounds; {summary}",
            which.name(),
            gradients.len()
        )
    })
}

// PyTorch: d_loss = bce(D(x), 1) + bce(D(G(z_d).detach()), 0); d_loss.backward() from init, step 1;
// or g_loss = bce(D(G(z_g)), 1); g_loss.backward() from init (D not yet updated). Through the
// library's runner (which the page runs too); where a gradient is past its bound, a second look along
// the GPU's own branches. Which of the two passed goes to CI's log.
fn step_matches_pytorch(family: KernelFamily, which: Step, test: &str) {
    let device = gpu_with(family);
    let label = format!("{family:?}");
    let step = step_oracle();
    let t = trainer_at_init_on(device, &step);
    which.run(device, &step, &t);
    match verdict(device, &label, which, &step, &t, &mut None) {
        Ok(summary) => report::note(Note::Ran, test, &format!("{label}: {summary}")),
        Err(failures) => panic!("[{label}] {}: {failures:#?}", which.name()),
    }
}

/// One test per kernel family for each step's gradients, so the families run in parallel.
macro_rules! gradient_tests {
    ($($d_test:ident, $g_test:ident: $family:expr;)*) => {$(
        #[test]
        fn $d_test() {
            step_matches_pytorch($family, Step::D, stringify!($d_test));
        }

        #[test]
        fn $g_test() {
            step_matches_pytorch($family, Step::G, stringify!($g_test));
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
    assert!(within(err, EVAL_INIT_IMAGES_BOUND));
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
    assert!(within(err, EVAL_IMAGES_BOUND));
}

// ---- what the comparison must refuse, on every path ------------------------------------------------

/// Sets one gradient tensor of `store` to `values`.
fn write_gradient(device: &Gpu, store: &ParamStore, name: &str, values: &[f32]) {
    store
        .grad(device, name)
        .unwrap()
        .write(device, values)
        .unwrap();
}

/// Asserts that the direct checks refuse `key` and that the recomputation along the GPU's branches
/// refuses it too; `what` says what was done to the gradients.
fn assert_refused_on_both_paths(
    device: &'static Gpu,
    step: &StepOracle,
    t: &Trainer,
    followed: &FollowedBranches,
    key: &str,
    what: &str,
) {
    let checks = Step::D.checks(device, step, t);
    let (_, past) = past_bounds(what, &checks);
    assert!(
        past.iter().any(|f| f.starts_with(&format!("{key}:"))),
        "{what}: the direct check passed {key}: {past:?}"
    );
    let oracle = oracle();
    oracle.use_gpu(device);
    let got = gpu_gradients(device, &oracle, &t.d.net.params, "D");
    match check_along_gpu_branches(what, &oracle, &got, followed) {
        Ok(summary) => panic!("{what}: passed along the GPU's branches: {summary}"),
        Err(failures) => assert!(
            failures.iter().any(|f| f.starts_with(&format!("{key}:"))),
            "{what}: refused, but not for {key}: {failures:#?}"
        ),
    }
}

// The first D step on a family other than the adapter's default (tiles with K split), then its
// results spoiled one way at a time: each must be refused by the direct comparison with the oracle
// and by the recomputation along the GPU's branches (which a failed direct check goes on to). A NaN
// or ±Inf anywhere in a gradient (at a position the oracle's subsample keeps and at one it does not),
// one layer's gradient 1% off, a branch taken on the other side far from 0, and more crossed branches
// than float32 rounding explains, each within its reach.
#[test]
fn the_comparison_refuses_what_float32_rounding_cannot_explain() {
    let family = KernelFamily::TiledSplitK;
    let device = gpu_with(family);
    let step = step_oracle();
    let t = trainer_at_init_on(device, &step);
    Step::D.run(device, &step, &t);
    let oracle = oracle();
    oracle.use_gpu(device);
    let followed = follow_d_step(device, &oracle, &t);
    let clean_verdict = verdict(device, "clean", Step::D, &step, &t, &mut None);
    assert!(clean_verdict.is_ok(), "{clean_verdict:?}");

    let store = &t.d.net.params;
    let layer = "fc.0.weight";
    let key = format!("d_step_grad.D.{layer}");
    let clean = store.grad(device, layer).unwrap().read(device).unwrap();
    let kept = oracle
        .subsample_index(&format!("D.{layer}"))
        .expect("D.fc.0.weight is stored as a subsample")
        .to_vec();
    let unkept = (0..clean.len())
        .find(|i| kept.binary_search(i).is_err())
        .unwrap();
    let spoiled: [(&str, usize, f32); 4] = [
        ("NaN at a kept position", kept[kept.len() / 2], f32::NAN),
        ("NaN at a position the subsample skips", unkept, f32::NAN),
        ("+Inf", kept[0], f32::INFINITY),
        ("-Inf", clean.len() - 1, f32::NEG_INFINITY),
    ];
    for (what, at, value) in spoiled {
        let mut values = clean.clone();
        values[at] = value;
        write_gradient(device, store, layer, &values);
        assert_refused_on_both_paths(device, &step, &t, &followed, &key, what);
    }
    let off: Vec<f32> = clean.iter().map(|v| v * 1.01).collect();
    write_gradient(device, store, layer, &off);
    assert_refused_on_both_paths(device, &step, &t, &followed, &key, "1% off");
    write_gradient(device, store, layer, &clean);

    // The branches: the gradients are the GPU's own (they pass), the branches it reports are changed.
    let oracle = step_oracle_tensors(device);
    let got = gpu_gradients(device, &oracle, store, "D");
    assert!(check_along_gpu_branches("clean", &oracle, &got, &followed).is_ok());
    // D(x)'s second kink (conv.4's LeakyReLU): the input farthest from 0 negated.
    let inputs = &followed.own_kinks[0].inputs[1];
    let farthest = (0..inputs.len())
        .max_by(|&a, &b| inputs[a].abs().total_cmp(&inputs[b].abs()))
        .unwrap();
    let mut far = followed.gpu.clone();
    far[0][1][farthest] = !far[0][1][farthest];
    let crossed_far = FollowedBranches {
        gpu: far,
        ..followed.clone()
    };
    let failures = check_along_gpu_branches("far", &oracle, &got, &crossed_far).unwrap_err();
    assert!(
        failures
            .iter()
            .any(|f| f.contains("beyond float32's reach")),
        "{failures:#?}"
    );
    // The inputs nearest 0 of D(x)'s first kink (conv.1's LeakyReLU, the most inputs of any), one
    // more than may cross. (Only inputs where the GPU took float64's branch: flipping one it had
    // crossed would uncross it.) Where all lie within float32's reach (the shared oracle's batch of
    // 128 has dozens there), the count alone must refuse them; on a small oracle some may lie beyond
    // it, which is refused too.
    let inputs = &followed.own_kinks[0].inputs[0];
    let rms = (inputs.iter().map(|v| v * v).sum::<f64>() / inputs.len() as f64).sqrt();
    let mut nearest: Vec<usize> = (0..inputs.len())
        .filter(|&i| followed.gpu[0][0][i] == (inputs[i] > 0.0))
        .collect();
    nearest.sort_by(|&a, &b| inputs[a].abs().total_cmp(&inputs[b].abs()));
    let flipped = &nearest[..=MOST_CROSSED_KINKS];
    let all_near = flipped
        .iter()
        .all(|&i| inputs[i].abs() / rms <= FLOAT32_REACH);
    let mut many = followed.gpu.clone();
    for &i in flipped {
        many[0][0][i] = !many[0][0][i];
    }
    let crossed_many = FollowedBranches {
        gpu: many,
        ..followed.clone()
    };
    let failures = check_along_gpu_branches("many", &oracle, &got, &crossed_many).unwrap_err();
    assert!(
        failures.iter().any(|f| f.contains("took the other branch")),
        "{failures:#?}"
    );
    if all_near {
        assert_eq!(failures.len(), 1, "{failures:#?}");
    }
}

/// The step oracle's tensors, read through `device`.
fn step_oracle_tensors(device: &'static Gpu) -> Oracle {
    let oracle = oracle();
    oracle.use_gpu(device);
    oracle
}
