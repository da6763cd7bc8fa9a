//! PyTorch's layer oracle (`layers.safetensors`, written by the oracle folder's `make_oracle.py`; its
//! README gives the cases and bounds) run through this crate's layers on a device and compared,
//! tensor by tensor. One runner for both places that check it: the native tests
//! (`tests/oracle_layers.rs`, on every kernel family) and the page's (`web/tests/`, through Chrome's
//! WebGPU). Shapes come from the file, so oracles written with other seeds and batch sizes run too.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::adam::Adam;
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use crate::tensor::Tensor;

/// ‖out − ref‖ / ‖ref‖ bound of outputs, gradients and running statistics (the oracle's README).
pub const LAYER_BOUND: f64 = 1e-4;
/// Max abs error bound of Adam's parameters after each step.
pub const ADAM_BOUND: f64 = 1e-7;
/// The oracle's convolutions are all kernel 4, stride 2, padding 1 (its README).
const STRIDE: usize = 2;
const PADDING: usize = 1;

/// ‖out − ref‖ / ‖ref‖ in double precision (‖out‖ when the reference is all zeros).
pub fn relative_l2(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len(), "lengths differ");
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

pub fn max_abs_error(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len(), "lengths differ");
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
        self.error <= self.bound
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
    used: RefCell<BTreeSet<String>>,
}

impl Oracle {
    /// The float32 tensors of the oracle file `name` (its bytes; int64 index tensors are skipped).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Oracle> {
        let bad = |message: String| Error::Data {
            path: name.into(),
            message,
        };
        let file = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let mut tensors = HashMap::new();
        for (key, view) in file.tensors() {
            match view.dtype() {
                safetensors::Dtype::F32 => {
                    let values = bytemuck::pod_collect_to_vec::<u8, f32>(view.data());
                    tensors.insert(key, (view.shape().to_vec(), values));
                }
                safetensors::Dtype::I64 => {}
                other => return Err(bad(format!("`{key}` has dtype {other:?}"))),
            }
        }
        Ok(Oracle {
            name: name.into(),
            tensors,
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

    fn upload(&self, gpu: &Gpu, key: &str) -> Result<Tensor> {
        let (shape, values) = self.entry(key)?;
        Tensor::from_slice(gpu, key, shape, values)
    }

    fn zeros_like(&self, gpu: &Gpu, key: &str) -> Result<Tensor> {
        let shape = self.shape(key)?.to_vec();
        Tensor::zeros(gpu, key, &shape)
    }

    /// Fails unless every tensor of `case` was looked at.
    fn all_used(&self, case: &str) -> Result<()> {
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
