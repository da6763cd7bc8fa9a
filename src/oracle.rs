//! PyTorch's oracles (written by the oracle folder's `make_oracle.py`; its README gives the cases and
//! bounds) run through this crate on a device and compared, tensor by tensor: every case of
//! `layers.safetensors` through the layers, and the first D step and a G step of `step.safetensors`
//! through the step scheduler. One runner for both places that check it: the native tests
//! (`tests/oracle_layers.rs`, on every kernel family) and the page's (`web/tests/`, through Chrome's
//! WebGPU). Shapes come from the file, so oracles written with other seeds and batch sizes run too.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::adam::Adam;
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use crate::step::Trainer;
use crate::tensor::Tensor;

/// ‖out − ref‖ / ‖ref‖ bound of outputs, gradients and running statistics (the oracle's README).
pub const LAYER_BOUND: f64 = 1e-4;
/// Max abs error bound of Adam's parameters after each step.
pub const ADAM_BOUND: f64 = 1e-7;
/// The oracle's convolutions are all kernel 4, stride 2, padding 1 (its README).
const STRIDE: usize = 2;
const PADDING: usize = 1;

/// Whether an error is within its bound. A NaN or infinite error never is, whichever way a caller
/// would have written the comparison (`err > bound` is false for NaN).
pub fn within(error: f64, bound: f64) -> bool {
    error.is_finite() && error <= bound
}

fn all_finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// ‖out − ref‖ / ‖ref‖ in double precision (‖out‖ when the reference is all zeros); infinite where
/// either side holds a NaN or an infinity.
pub fn relative_l2(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len(), "lengths differ");
    if !all_finite(out) || !all_finite(reference) {
        return f64::INFINITY;
    }
    let diff: f64 = out
        .iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    let norm: f64 = reference.iter().map(|&b| (b as f64).powi(2)).sum();
    if norm == 0.0 {
        diff.sqrt()
    } else {
        (diff / norm).sqrt()
    }
}

/// The largest |out − ref|; infinite where either side holds a NaN or an infinity (a fold over
/// `f64::max` would skip a NaN).
pub fn max_abs_error(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len(), "lengths differ");
    if !all_finite(out) || !all_finite(reference) {
        return f64::INFINITY;
    }
    out.iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .fold(0.0, f64::max)
}

/// The op a layer case exercises, from its name (the oracle README's table).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CaseKind {
    Linear,
    BatchNorm,
    Conv2d,
    ConvTranspose2d,
    Activation(Activation),
    Bce,
    Adam,
}

impl CaseKind {
    pub fn of(case: &str) -> Option<CaseKind> {
        Some(match case {
            c if c.starts_with("linear_") => CaseKind::Linear,
            c if c.starts_with("bn1d_") || c.starts_with("bn2d_") => CaseKind::BatchNorm,
            c if c.starts_with("conv_") => CaseKind::Conv2d,
            c if c.starts_with("deconv_") => CaseKind::ConvTranspose2d,
            "relu" => CaseKind::Activation(Activation::Relu),
            "leaky_relu" => CaseKind::Activation(Activation::LeakyRelu {
                negative_slope: 0.2,
            }),
            "sigmoid" => CaseKind::Activation(Activation::Sigmoid),
            c if c.starts_with("bce_") => CaseKind::Bce,
            "adam" => CaseKind::Adam,
            _ => return None,
        })
    }
}

/// One compared tensor.
#[derive(Clone, Debug)]
pub struct Check {
    /// The oracle key, `<case>.<tensor>`.
    pub key: String,
    /// Relative L2 error, or for Adam's parameters the max abs error.
    pub error: f64,
    pub bound: f64,
}

impl Check {
    pub fn passed(&self) -> bool {
        within(self.error, self.bound)
    }
}

/// What running one case gave: every compared tensor, and the entry points that ran (so a caller can
/// tell which kernel family computed it).
#[derive(Clone, Debug)]
pub struct CaseRun {
    pub case: String,
    pub checks: Vec<Check>,
    pub entries: Vec<&'static str>,
}

/// The tensors of an oracle file, remembering which ones a case looked at so that a run can prove it
/// compared every tensor of its case.
pub struct Oracle {
    name: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// The int64 tensors (`index.<name>` of step.safetensors: where only a subsample of `<name>` is
    /// kept, the flat indices kept).
    indices: HashMap<String, Vec<usize>>,
    used: RefCell<BTreeSet<String>>,
}

impl Oracle {
    /// The tensors of the oracle file `name` (its bytes): float32 values and int64 indices.
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Oracle> {
        let bad = |message: String| Error::Data {
            path: name.into(),
            message,
        };
        let file = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let mut tensors = HashMap::new();
        let mut indices = HashMap::new();
        for (key, view) in file.tensors() {
            match view.dtype() {
                safetensors::Dtype::F32 => {
                    let values = bytemuck::pod_collect_to_vec::<u8, f32>(view.data());
                    tensors.insert(key, (view.shape().to_vec(), values));
                }
                safetensors::Dtype::I64 => {
                    let values = bytemuck::pod_collect_to_vec::<u8, i64>(view.data());
                    indices.insert(key, values.into_iter().map(|i| i as usize).collect());
                }
                other => return Err(bad(format!("`{key}` has dtype {other:?}"))),
            }
        }
        Ok(Oracle {
            name: name.into(),
            tensors,
            indices,
            used: RefCell::default(),
        })
    }

    /// Case names (each key's part before its first '.'), sorted.
    pub fn cases(&self) -> Vec<String> {
        let names: BTreeSet<String> = self
            .tensors
            .keys()
            .filter_map(|k| k.split_once('.').map(|(case, _)| case.to_string()))
            .collect();
        names.into_iter().collect()
    }

    fn entry(&self, key: &str) -> Result<&(Vec<usize>, Vec<f32>)> {
        self.used.borrow_mut().insert(key.to_string());
        self.tensors.get(key).ok_or_else(|| Error::Data {
            path: self.name.clone().into(),
            message: format!("no tensor `{key}`"),
        })
    }

    pub fn shape(&self, key: &str) -> Result<&[usize]> {
        Ok(&self.entry(key)?.0)
    }

    pub fn values(&self, key: &str) -> Result<&[f32]> {
        Ok(&self.entry(key)?.1)
    }

    /// Scales one reference tensor, to prove that the comparisons notice a wrong oracle.
    pub fn corrupt(&mut self, key: &str, factor: f32) {
        if let Some((_, values)) = self.tensors.get_mut(key) {
            values.iter_mut().for_each(|v| *v *= factor);
        }
    }

    /// Every key starting with `prefix`, sorted.
    pub fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    /// The flat indices kept of `<name>` where the oracle stores only a subsample of it
    /// (`index.<name>`), else None.
    pub fn subsample_index(&self, name: &str) -> Option<&[usize]> {
        self.indices
            .get(&format!("index.{name}"))
            .map(Vec::as_slice)
    }

    /// The reference tensor `key` on the GPU.
    pub fn upload(&self, gpu: &Gpu, key: &str) -> Result<Tensor> {
        let (shape, values) = self.entry(key)?;
        Tensor::from_slice(gpu, key, shape, values)
    }

    /// A zeroed GPU tensor shaped like the reference tensor `key`.
    pub fn zeros_like(&self, gpu: &Gpu, key: &str) -> Result<Tensor> {
        let shape = self.shape(key)?.to_vec();
        Tensor::zeros(gpu, key, &shape)
    }

    /// Fails unless every tensor of `case` was looked at.
    pub fn all_used(&self, case: &str) -> Result<()> {
        let prefix = format!("{case}.");
        let used = self.used.borrow();
        let mut unused: Vec<&String> = self
            .tensors
            .keys()
            .filter(|k| k.starts_with(&prefix) && !used.contains(*k))
            .collect();
        unused.sort();
        if unused.is_empty() {
            Ok(())
        } else {
            Err(Error::Data {
                path: self.name.clone().into(),
                message: format!("{case}: tensors never compared: {unused:?}"),
            })
        }
    }

    /// `out` against the reference `key` (relative L2; shapes must agree).
    async fn compare(&self, gpu: &Gpu, key: &str, out: &Tensor) -> Result<Check> {
        let shape = self.shape(key)?;
        if out.shape() != shape {
            return Err(Error::Data {
                path: self.name.clone().into(),
                message: format!("{key}: shape {shape:?}, output {:?}", out.shape()),
            });
        }
        let got = out.read_async(gpu).await?;
        Ok(Check {
            key: key.to_string(),
            error: relative_l2(&got, self.values(key)?),
            bound: LAYER_BOUND,
        })
    }
}

/// Runs `case` of the layer oracle on `gpu`: its forward and backward (or Adam's three steps) through
/// the layers, every output compared with PyTorch's. An unknown case, a missing tensor or a tensor of
/// the case left uncompared is an error; a comparison over its bound is a failed `Check`, not an
/// error.
pub async fn run_layer_case(gpu: &Gpu, oracle: &Oracle, case: &str) -> Result<CaseRun> {
    let kind = CaseKind::of(case).ok_or_else(|| Error::Data {
        path: oracle.name.clone().into(),
        message: format!("`{case}` is no case this runner knows"),
    })?;
    let key = |t: &str| format!("{case}.{t}");
    let up = |t: &str| oracle.upload(gpu, &key(t));
    let out = |t: &str| oracle.zeros_like(gpu, &key(t));
    let mut outputs: Vec<(&str, Tensor)> = Vec::new();
    let dispatches: Vec<Dispatch> = match kind {
        CaseKind::Linear | CaseKind::Conv2d | CaseKind::ConvTranspose2d => {
            let w = oracle.shape(&key("weight"))?.to_vec();
            let (x, weight, bias, dy) = (up("x")?, up("weight")?, up("bias")?, up("dy")?);
            let (y, dx, dweight, dbias) = (out("y")?, out("dx")?, out("dweight")?, out("dbias")?);
            let dispatches = if kind == CaseKind::Linear {
                let layer = Linear::new(w[1], w[0]);
                vec![
                    layer.forward(gpu, &x, &weight, &bias, &y)?,
                    layer.backward_input(gpu, &dy, &weight, &dx)?,
                    layer.backward_weight(gpu, &dy, &x, &dweight, false)?,
                    layer.backward_bias(gpu, &dy, &dbias, false)?,
                ]
            } else {
                let layer = if kind == CaseKind::Conv2d {
                    Conv::conv2d(w[1], w[0], w[2], STRIDE, PADDING)
                } else {
                    Conv::conv_transpose2d(w[0], w[1], w[2], STRIDE, PADDING)
                };
                vec![
                    layer.forward(gpu, &x, &weight, &bias, &y)?,
                    layer.backward_input(gpu, &dy, &weight, &dx)?,
                    layer.backward_weight(gpu, &dy, &x, &dweight, false)?,
                    layer.backward_bias(gpu, &dy, &dbias, false)?,
                ]
            };
            outputs.extend([("y", y), ("dx", dx), ("dweight", dweight), ("dbias", dbias)]);
            dispatches
        }
        CaseKind::BatchNorm => {
            let channels = oracle.shape(&key("weight"))?[0];
            let layer = BatchNorm::new(channels);
            let (x, weight, bias) = (up("x")?, up("weight")?, up("bias")?);
            let (running_mean, running_var, dy) =
                (up("running_mean")?, up("running_var")?, up("dy")?);
            let (y, y_eval, dx) = (out("y")?, out("y_eval")?, out("dx")?);
            let (dweight, dbias) = (out("dweight")?, out("dbias")?);
            let saved = Tensor::zeros(gpu, "saved", &[2, channels])?;
            let grads = BatchNormGrads::new(&dy, &dx, &dweight, &dbias);
            let dispatches = vec![
                layer.forward_train(
                    gpu,
                    &x,
                    &weight,
                    &bias,
                    &running_mean,
                    &running_var,
                    &y,
                    &saved,
                )?,
                layer.backward(gpu, &x, &weight, &saved, &grads)?,
                layer.forward_eval(
                    gpu,
                    &x,
                    &weight,
                    &bias,
                    &running_mean,
                    &running_var,
                    &y_eval,
                )?,
            ];
            outputs.extend([
                ("y", y),
                ("dx", dx),
                ("dweight", dweight),
                ("dbias", dbias),
                ("running_mean_after", running_mean),
                ("running_var_after", running_var),
                ("y_eval", y_eval),
            ]);
            dispatches
        }
        CaseKind::Activation(activation) => {
            // The backward turns dy into dx in place; autograd keeps the input of ReLU and LeakyReLU
            // and the output of Sigmoid.
            let (x, dx) = (up("x")?, up("dy")?);
            let y = out("y")?;
            let saved = if activation == Activation::Sigmoid {
                &y
            } else {
                &x
            };
            let dispatches = vec![
                activation.forward(gpu, &x, &y)?,
                activation.backward(gpu, saved, &dx)?,
            ];
            outputs.extend([("y", y), ("dx", dx)]);
            dispatches
        }
        CaseKind::Bce => {
            let (prob, target) = (up("p")?, up("target")?);
            let (loss, dprob) = (out("loss")?, out("dp")?);
            let dispatches = vec![
                BceLoss::new(GradientAt::Probabilities)
                    .forward_backward(gpu, &prob, &target, &loss, &dprob, None)?,
            ];
            outputs.extend([("loss", loss), ("dp", dprob)]);
            dispatches
        }
        CaseKind::Adam => return run_adam(gpu, oracle, case).await,
    };
    gpu.submit_dispatches(case, &dispatches.iter().collect::<Vec<_>>())?;
    let mut checks = Vec::with_capacity(outputs.len());
    for (name, tensor) in &outputs {
        checks.push(oracle.compare(gpu, &key(name), tensor).await?);
    }
    oracle.all_used(case)?;
    Ok(CaseRun {
        case: case.to_string(),
        checks,
        entries: dispatches
            .iter()
            .flat_map(|d| d.parts())
            .map(|d| d.entry())
            .collect(),
    })
}

/// torch.optim.Adam(lr 2e-4, betas (0.5, 0.999), eps 1e-8): three steps with gradients grad1..3,
/// the parameters after each (max abs error) and the moments after the third.
async fn run_adam(gpu: &Gpu, oracle: &Oracle, case: &str) -> Result<CaseRun> {
    let key = |t: &str| format!("{case}.{t}");
    let count = oracle.shape(&key("param"))?[0];
    let adam = Adam::new(2e-4, 0.5, 0.999);
    let param = oracle.upload(gpu, &key("param"))?;
    let [grad, exp_avg, exp_avg_sq] =
        ["grad", "exp_avg", "exp_avg_sq"].map(|label| Tensor::zeros(gpu, label, &[count]));
    let (grad, exp_avg, exp_avg_sq) = (grad?, exp_avg?, exp_avg_sq?);
    let update = adam.update(gpu, &grad, &param, &exp_avg, &exp_avg_sq, 1, None)?;
    let mut checks = Vec::new();
    for step in 1..=3u64 {
        grad.write(gpu, oracle.values(&key(&format!("grad{step}")))?)?;
        adam.set_step(gpu, &update, count, step, 0)?;
        gpu.submit_dispatches(case, &[&update])?;
        let want = key(&format!("param{step}"));
        let got = param.read_async(gpu).await?;
        checks.push(Check {
            error: max_abs_error(&got, oracle.values(&want)?),
            key: want,
            bound: ADAM_BOUND,
        });
    }
    checks.push(oracle.compare(gpu, &key("exp_avg3"), &exp_avg).await?);
    checks.push(
        oracle
            .compare(gpu, &key("exp_avg_sq3"), &exp_avg_sq)
            .await?,
    );
    oracle.all_used(case)?;
    Ok(CaseRun {
        case: case.to_string(),
        checks,
        entries: vec![update.entry()],
    })
}

/// Relative error bound of D(x), D(G(z)) and the losses of the first step (and of a G step from the
/// initial weights): the step oracle's README.
pub const STEP1_BOUND: f64 = 1e-5;
/// A gradient's bound: this many times float32 PyTorch's own error on the same inputs
/// (`f32_errors.json` beside the oracle)…
pub const F32_ERROR_FACTOR: f64 = 4.0;
/// …and never below this.
pub const GRAD_BOUND_FLOOR: f64 = 1e-4;
/// Layers whose bias feeds a BatchNorm, which cancels the bias's gradient (0 in exact arithmetic).
pub const CANCELLED_BIASES: [&str; 5] = ["G.fc.0", "G.fc.3", "G.deconv.0", "D.conv.2", "D.fc.0"];

/// The bound of a gradient that float32 PyTorch computes with relative error `f32_error`.
pub fn gradient_bound(f32_error: f64) -> f64 {
    (F32_ERROR_FACTOR * f32_error).max(GRAD_BOUND_FLOOR)
}

/// A gradient's error, as `f32_errors.py` measures float32 PyTorch's: ‖out − ref‖ / ‖ref‖, or for a
/// bias BatchNorm cancels (`name` like `G.fc.0.bias`) ‖bias grad‖ / ‖reference weight grad‖; infinite
/// where a value is not finite.
/// `reference` gives the oracle's gradient of a parameter by name.
pub fn gradient_error(
    name: &str,
    values: &[f32],
    reference: impl Fn(&str) -> Result<Vec<f32>>,
) -> Result<f64> {
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let layer = name.trim_end_matches(".bias");
    if name.ends_with(".bias") && CANCELLED_BIASES.contains(&layer) {
        let weight = reference(&format!("{layer}.weight"))?;
        if !all_finite(values) || !all_finite(&weight) {
            return Ok(f64::INFINITY);
        }
        Ok(norm(values) / norm(&weight))
    } else {
        Ok(relative_l2(values, &reference(name)?))
    }
}

/// `full` where the oracle keeps a tensor whole (`index` None), else the elements at its subsample
/// indices; where any element of `full` is not finite, kept or not, the first kept element is a NaN,
/// so that the comparison of the subsample still refuses it.
pub fn kept_as_stored(full: Vec<f32>, index: Option<&[usize]>) -> Vec<f32> {
    let finite = all_finite(&full);
    let mut kept = match index {
        Some(index) => index.iter().map(|&i| full[i]).collect(),
        None => full,
    };
    if !finite && let Some(first) = kept.first_mut() {
        *first = f32::NAN;
    }
    kept
}

/// PyTorch's whole-model oracle (`step.safetensors`) with float32 PyTorch's own gradient errors on
/// its inputs (`f32_errors.json`): the first D step and a G step from the initial weights, checked
/// as the native tests (`tests/oracle_step.rs`) check them.
pub struct StepOracle {
    tensors: Oracle,
    f32_errors: HashMap<String, f64>,
}

impl StepOracle {
    /// The oracle file `name`'s bytes and the text of its `f32_errors.json`.
    pub fn parse(name: &str, bytes: &[u8], f32_errors_json: &str) -> Result<StepOracle> {
        let tensors = Oracle::parse(name, bytes)?;
        let bad = |message: String| Error::Data {
            path: name.into(),
            message,
        };
        let json: serde_json::Value = serde_json::from_str(f32_errors_json)
            .map_err(|e| bad(format!("f32_errors.json: not JSON ({e})")))?;
        let f32_errors = json["errors"]
            .as_object()
            .ok_or_else(|| bad("f32_errors.json: no \"errors\" object".into()))?
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
            .collect();
        Ok(StepOracle {
            tensors,
            f32_errors,
        })
    }

    /// The batch of the oracle's steps.
    pub fn batch(&self) -> Result<usize> {
        Ok(self.tensors.shape("step1.x")?[0])
    }

    /// Writes the oracle's `init.G.*` and `init.D.*` (parameters and running statistics) into the nets.
    pub fn load_init(&self, gpu: &Gpu, t: &Trainer) -> Result<()> {
        for (net, store) in net_stores(t) {
            for e in store.entries() {
                let values = self.tensors.values(&format!("init.{net}.{}", e.name))?;
                store.write(gpu, e.name, values)?;
            }
        }
        Ok(())
    }

    /// `full` as the oracle keeps `name` (`kept_as_stored`).
    pub fn as_stored(&self, name: &str, full: Vec<f32>) -> Vec<f32> {
        kept_as_stored(full, self.tensors.subsample_index(name))
    }

    /// float32 PyTorch's error on the oracle's gradient `key` (`d_step_grad.D.fc.0.weight`).
    pub fn f32_error(&self, key: &str) -> Result<f64> {
        self.f32_errors
            .get(key)
            .copied()
            .ok_or_else(|| Error::Data {
                path: "f32_errors.json".into(),
                message: format!("no `{key}`: write it anew with f32_errors.py"),
            })
    }

    fn relative(&self, key: &str, got: &[f32]) -> Result<Check> {
        Ok(Check {
            key: key.to_string(),
            error: relative_l2(got, self.tensors.values(key)?),
            bound: STEP1_BOUND,
        })
    }

    /// Every gradient of `net` (`store`, its parameters) against the oracle's `<prefix>.<net>.*`.
    async fn gradients(
        &self,
        gpu: &Gpu,
        store: &crate::params::ParamStore,
        net: &str,
        prefix: &str,
    ) -> Result<Vec<Check>> {
        let mut checks = Vec::new();
        for e in store.entries() {
            let name = format!("{net}.{}", e.name);
            let full = store.grad(gpu, e.name)?.read_async(gpu).await?;
            let values = self.as_stored(&name, full);
            let reference = |n: &str| Ok(self.tensors.values(&format!("{prefix}.{n}"))?.to_vec());
            let key = format!("{prefix}.{name}");
            checks.push(Check {
                error: gradient_error(&name, &values, reference)?,
                bound: gradient_bound(self.f32_error(&key)?),
                key,
            });
        }
        Ok(checks)
    }

    /// PyTorch's `d_loss = bce(D(x), 1) + bce(D(G(z_d).detach()), 0); d_loss.backward()` from the
    /// initial weights with step 1's x and z_d, on `t` (made at the oracle's batch, `load_init` done):
    /// D(x), D(G(z_d)), the loss and D's every gradient.
    pub async fn first_d_step(&self, gpu: &Gpu, t: &Trainer) -> Result<Vec<Check>> {
        t.x.write(gpu, self.tensors.values("step1.x")?)?;
        t.z_d.write(gpu, self.tensors.values("step1.z_d")?)?;
        gpu.submit_dispatches("D step", &t.d_gradients().iter().collect::<Vec<_>>())?;
        self.d_step_checks(gpu, t).await
    }

    /// What `first_d_step` left in `t`'s buffers (D's outputs, the loss, D's gradients) against the
    /// oracle: the comparison alone, so that a test can change a result and see it refused.
    pub async fn d_step_checks(&self, gpu: &Gpu, t: &Trainer) -> Result<Vec<Check>> {
        let mut real = t.d_pass.prob.read_async(gpu).await?;
        let fake = real.split_off(t.hyper.batch);
        let loss = t.d_loss.read_async(gpu).await?;
        let mut checks = vec![
            self.relative("step1.d_real", &real)?,
            self.relative("step1.d_fake", &fake)?,
            self.relative("step1.d_loss", &loss)?,
        ];
        checks.extend(
            self.gradients(gpu, &t.d.net.params, "D", "d_step_grad")
                .await?,
        );
        Ok(checks)
    }

    /// PyTorch's `g_loss = bce(D(G(z_g)), 1); g_loss.backward()` from the initial weights (D not yet
    /// updated) with step 1's z_g, on `t` (made at the oracle's batch, `load_init` done): the loss
    /// and G's every gradient.
    pub async fn g_step(&self, gpu: &Gpu, t: &Trainer) -> Result<Vec<Check>> {
        t.z_g.write(gpu, self.tensors.values("step1.z_g")?)?;
        gpu.submit_dispatches("G step", &t.g_gradients().iter().collect::<Vec<_>>())?;
        self.g_step_checks(gpu, t).await
    }

    /// What `g_step` left in `t`'s buffers (the loss, G's gradients) against the oracle.
    pub async fn g_step_checks(&self, gpu: &Gpu, t: &Trainer) -> Result<Vec<Check>> {
        let loss = t.g_loss.read_async(gpu).await?;
        let mut checks = vec![self.relative("g_step_grad.g_loss", &loss)?];
        checks.extend(
            self.gradients(gpu, &t.g.net.params, "G", "g_step_grad")
                .await?,
        );
        Ok(checks)
    }
}

/// The nets' stores with the name the oracle gives each net.
fn net_stores(t: &Trainer) -> [(&'static str, &crate::params::ParamStore); 4] {
    [
        ("G", &t.g.net.params),
        ("G", &t.g.net.stats),
        ("D", &t.d.net.params),
        ("D", &t.d.net.stats),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each measure of error, fed a NaN or an infinity on either side, gives an error no bound admits
    /// (before, `max_abs_error` folded with `f64::max`, which drops a NaN, and a caller writing
    /// `err > bound` passed a NaN relative error).
    #[test]
    fn a_non_finite_value_is_past_every_bound() {
        let reference = [1.0f32, -2.0, 3.0, 0.5];
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in 0..reference.len() {
                let mut out = reference;
                out[at] = bad;
                for err in [
                    relative_l2(&out, &reference),
                    relative_l2(&reference, &out),
                    max_abs_error(&out, &reference),
                    max_abs_error(&reference, &out),
                    gradient_error("D.fc.1.weight", &out, |_| Ok(reference.to_vec())).unwrap(),
                    gradient_error("D.fc.0.bias", &out, |_| Ok(reference.to_vec())).unwrap(),
                    gradient_error("D.fc.0.bias", &reference, |_| Ok(out.to_vec())).unwrap(),
                ] {
                    assert!(!within(err, f64::MAX), "{bad} at {at}: error {err}");
                    let check = Check {
                        key: "k".into(),
                        error: err,
                        bound: 1e30,
                    };
                    assert!(!check.passed());
                }
            }
        }
        assert!(within(relative_l2(&reference, &reference), 0.0));
        assert!(!within(f64::NAN, f64::INFINITY));
    }
}
