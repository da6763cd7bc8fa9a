//! The classifier that scores images (src/model/classifier.rs): trained by the same kernels as the
//! DCGAN, with a softmax cross-entropy; run in eval mode over any images for their class
//! probabilities and features; saved as a checkpoint PyTorch's `load_state_dict` takes, beside the
//! feature statistics of the real images it compares generated ones with.
//!
//! One ships with the program for each data set (`assets/classifier/`), trained by
//! `gan-wgpu classifier --dataset <set>`.

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::adam::Adam;
use crate::data::{Dataset, GpuDataset, IMAGE_PIXELS, IMAGE_SIDE, epoch_order};
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::CrossEntropyLoss;
use crate::model::classifier::{ARCHITECTURE, CLASSES, FEATURES};
use crate::model::{Discriminator, DiscriminatorPass, GradientPool, Mode, ParamGrads};
use crate::noise::NormalStream;
use crate::quality::Gaussian;
use crate::tensor::Tensor;

/// Images per eval-mode batch: rows are independent in eval mode, so any size gives the same outputs.
const EVAL_BATCH: usize = 256;

/// Philox stream of the classifier's initial weights (G's and D's are 100 and 101).
const INIT_STREAM: u32 = 102;

/// The classifier's weights on the GPU, with an eval-mode pass over `EVAL_BATCH` images.
pub struct Classifier {
    pub net: Discriminator,
    pass: DiscriminatorPass,
    x: Tensor,
    forward: Vec<Dispatch>,
}

/// What the classifier says of a set of images.
pub struct Outputs {
    /// fc.3's outputs, [images, 10].
    pub logits: Vec<f32>,
    /// p(y|x), [images, 10] row after row (the softmax of the logits, in float64, rounded).
    pub probabilities: Vec<f32>,
    /// fc.2's activations, [images, 128].
    pub features: Vec<f32>,
}

impl Outputs {
    pub fn len(&self) -> usize {
        self.probabilities.len() / CLASSES
    }

    pub fn is_empty(&self) -> bool {
        self.probabilities.is_empty()
    }

    /// Each image's most probable class (the first of equals).
    pub fn predictions(&self) -> Vec<usize> {
        self.probabilities
            .chunks(CLASSES)
            .map(|row| (0..CLASSES).fold(0, |best, c| if row[c] > row[best] { c } else { best }))
            .collect()
    }
}

impl Classifier {
    /// A classifier with zero weights (load or train them).
    pub fn new(gpu: &Gpu) -> Result<Classifier> {
        let net = Discriminator::with_architecture(gpu, &ARCHITECTURE)?;
        let mut gradients = GradientPool::default();
        let pass = DiscriminatorPass::new(
            gpu,
            &ARCHITECTURE,
            EVAL_BATCH,
            1,
            "classifier eval",
            &mut gradients,
        )?;
        let x = Tensor::zeros(
            gpu,
            "classifier images",
            &[EVAL_BATCH, 1, IMAGE_SIDE, IMAGE_SIDE],
        )?;
        let forward = net.forward(gpu, &pass, &[&x], Mode::Eval)?;
        Ok(Classifier {
            net,
            pass,
            x,
            forward,
        })
    }

    /// The classifier of a checkpoint file's bytes (`path` names it in errors).
    pub fn from_checkpoint(gpu: &Gpu, path: &Path, bytes: &[u8]) -> Result<Classifier> {
        let classifier = Classifier::new(gpu)?;
        crate::checkpoint::load_bytes(gpu, &classifier.net.net, path, bytes)?;
        Ok(classifier)
    }

    /// Class probabilities and features of `images` ([count, 784] in [0, 1], row after row).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn outputs(&self, gpu: &Gpu, images: &[f32]) -> Result<Outputs> {
        crate::gpu::wait(self.outputs_async(gpu, images))
    }

    /// `outputs` for callers that await (the web build).
    pub async fn outputs_async(&self, gpu: &Gpu, images: &[f32]) -> Result<Outputs> {
        if !images.len().is_multiple_of(IMAGE_PIXELS) {
            return Err(Error::InvalidArgument {
                op: "Classifier::outputs",
                message: format!("{} values are no whole number of images", images.len()),
            });
        }
        let count = images.len() / IMAGE_PIXELS;
        let mut out = Outputs {
            logits: Vec::with_capacity(count * CLASSES),
            probabilities: Vec::with_capacity(count * CLASSES),
            features: Vec::with_capacity(count * FEATURES),
        };
        for first in (0..count).step_by(EVAL_BATCH) {
            let rows = EVAL_BATCH.min(count - first);
            // The rows past the last image keep whatever they held: eval mode treats rows alone.
            let batch = &images[first * IMAGE_PIXELS..(first + rows) * IMAGE_PIXELS];
            let x = self.x.rows(gpu, 0, rows)?;
            x.write(gpu, batch)?;
            let dispatches: Vec<&Dispatch> = self.forward.iter().collect();
            gpu.submit_dispatches("classifier", &dispatches)?;
            let (logits, features) = (self.pass.logits(), self.pass.features());
            let logits: Vec<f32> = bytemuck::pod_collect_to_vec(
                &gpu.read_bytes_async(
                    logits.buffer(),
                    logits.offset(),
                    (rows * CLASSES * 4) as u64,
                )
                .await?,
            );
            let features: Vec<f32> = bytemuck::pod_collect_to_vec(
                &gpu.read_bytes_async(
                    features.buffer(),
                    features.offset(),
                    (rows * FEATURES * 4) as u64,
                )
                .await?,
            );
            out.probabilities.extend(softmax_rows(&logits, CLASSES));
            out.logits.extend(logits);
            out.features.extend(features);
        }
        Ok(out)
    }
}

/// The softmax of each row of `logits`, in float64.
fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let top = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let exps: Vec<f64> = row.iter().map(|&v| (v as f64 - top).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.into_iter().map(move |e| (e / sum) as f32)
        })
        .collect()
}

/// How the classifier is trained.
#[derive(Clone, Debug)]
pub struct TrainingConfig {
    pub epochs: usize,
    pub batch: usize,
    /// Adam's learning rate and betas (PyTorch's defaults but the rate).
    pub lr: f64,
    pub betas: [f64; 2],
    /// Seeds the initial weights and the shuffling.
    pub seed: u64,
    /// The last `held_out` images of the set are never trained on: the accuracy is measured on them.
    pub held_out: usize,
}

impl Default for TrainingConfig {
    fn default() -> TrainingConfig {
        TrainingConfig {
            epochs: 10,
            batch: 128,
            lr: 1e-3,
            betas: [0.9, 0.999],
            seed: 1,
            held_out: 2000,
        }
    }
}

/// One training step's buffers and dispatches: forward in training mode, the cross-entropy and its
/// gradient, backward, Adam.
pub struct TrainingStep {
    pub pass: DiscriminatorPass,
    /// The batch: [N, 1, 28, 28] images and their [N] labels as float class indices.
    pub x: Tensor,
    pub labels: Tensor,
    /// The batch's mean cross-entropy, [1].
    pub loss: Tensor,
    gradients: Vec<Dispatch>,
    adam: Adam,
    update: Dispatch,
    parameters: usize,
    pub steps_done: u64,
}

impl TrainingStep {
    pub fn new(
        gpu: &Gpu,
        classifier: &Classifier,
        config: &TrainingConfig,
    ) -> Result<TrainingStep> {
        let n = config.batch;
        let net = &classifier.net;
        let mut pool = GradientPool::default();
        let pass = DiscriminatorPass::new(gpu, &ARCHITECTURE, n, 1, "classifier", &mut pool)?;
        let x = Tensor::zeros(gpu, "classifier batch", &[n, 1, IMAGE_SIDE, IMAGE_SIDE])?;
        let labels = Tensor::zeros(gpu, "classifier labels", &[n])?;
        let loss = Tensor::zeros(gpu, "classifier loss", &[1])?;
        let mut gradients = net.forward(gpu, &pass, &[&x], Mode::Train)?;
        gradients.push(CrossEntropyLoss.forward_backward(
            gpu,
            pass.logits(),
            &labels,
            &loss,
            &pass.d_logit,
            None,
        )?);
        gradients.extend(net.backward(gpu, &pass, &[&x], ParamGrads::Overwrite, None)?);
        let adam = Adam::new(config.lr, config.betas[0], config.betas[1]);
        let [values, grads, exp_avg, exp_avg_sq] = net.net.params.flat(gpu)?;
        let update = adam.update(gpu, &grads, &values, &exp_avg, &exp_avg_sq, 1, None)?;
        Ok(TrainingStep {
            pass,
            x,
            labels,
            loss,
            gradients,
            adam,
            update,
            parameters: values.numel(),
            steps_done: 0,
        })
    }

    /// Forward, loss and backward: the parameter gradients of the batch in `x` and `labels`.
    pub fn gradients(&self) -> &[Dispatch] {
        &self.gradients
    }

    /// The gradients, then Adam's update as step `steps_done + 1`.
    pub fn dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        self.adam
            .set_step(gpu, &self.update, self.parameters, self.steps_done + 1, 0)?;
        Ok(self.gradients.iter().chain([&self.update]).collect())
    }
}

/// What one epoch of training ended with.
pub struct EpochReport {
    pub epoch: usize,
    pub mean_loss: f64,
    /// Of the held-out images, the fraction classified right.
    pub held_out_accuracy: f64,
}

/// The images of `set` as floats in [0, 1] (PyTorch's ToTensor: v / 255 in float32).
pub fn images_of(set: &Dataset) -> Vec<f32> {
    set.pixels().iter().map(|&v| v as f32 / 255.0).collect()
}

/// The fraction of `set`'s images the classifier labels right.
#[cfg(not(target_arch = "wasm32"))]
pub fn accuracy(gpu: &Gpu, classifier: &Classifier, set: &Dataset) -> Result<f64> {
    let outputs = classifier.outputs(gpu, &images_of(set))?;
    let right = outputs
        .predictions()
        .iter()
        .zip(set.labels())
        .filter(|(p, l)| **p == **l as usize)
        .count();
    Ok(right as f64 / set.len() as f64)
}

/// Trains a new classifier on all but the last `config.held_out` images of `set`, telling `report`
/// after each epoch.
#[cfg(not(target_arch = "wasm32"))]
pub fn train(
    gpu: &Gpu,
    set: &Dataset,
    config: &TrainingConfig,
    mut report: impl FnMut(&EpochReport),
) -> Result<Classifier> {
    let op = "classifier training";
    if config.held_out >= set.len() || set.len() - config.held_out < config.batch {
        return Err(Error::InvalidArgument {
            op,
            message: format!(
                "{} images hold out {} and leave less than a batch of {} to train on",
                set.len(),
                config.held_out,
                config.batch
            ),
        });
    }
    let split = set.len() - config.held_out;
    let (training, held_out) = (set.slice(0..split), set.slice(split..set.len()));
    let classifier = Classifier::new(gpu)?;
    classifier
        .net
        .net
        .initialise(gpu, &mut NormalStream::new(config.seed, INIT_STREAM))?;
    let mut step = TrainingStep::new(gpu, &classifier, config)?;
    let data = GpuDataset::upload(gpu, &training)?;
    let images = data.gather(gpu, &step.x)?;
    let labels = data.gather_labels(gpu, &step.labels)?;
    let steps = images.batches_per_epoch;
    let losses = Tensor::zeros(gpu, "classifier losses", &[steps])?;
    for epoch in 1..=config.epochs {
        data.set_order(
            gpu,
            &epoch_order(config.seed, epoch as u64 - 1, training.len()),
        )?;
        for s in 0..steps {
            images.set_batch(gpu, s)?;
            labels.set_batch(gpu, s)?;
            let mut dispatches = vec![images.dispatch(), labels.dispatch()];
            dispatches.extend(step.dispatches(gpu)?);
            let mut encoder = gpu.encode("classifier step", &dispatches);
            encoder.copy_buffer_to_buffer(
                step.loss.buffer(),
                step.loss.offset(),
                losses.buffer(),
                losses.offset() + 4 * s as u64,
                4,
            );
            let index = gpu.submit(encoder, "classifier step")?;
            step.steps_done += 1;
            // Waiting now and then keeps the queue short without stalling every step.
            if s % 16 == 15 || s + 1 == steps {
                gpu.wait_for(index)?;
            }
        }
        let epoch_losses: Vec<f32> = bytemuck::pod_collect_to_vec(&gpu.read_bytes(
            losses.buffer(),
            losses.offset(),
            losses.bytes(),
        )?);
        let mean_loss = epoch_losses.iter().map(|&l| l as f64).sum::<f64>() / steps as f64;
        if !mean_loss.is_finite() {
            return Err(Error::InvalidArgument {
                op,
                message: format!("the loss of epoch {epoch} is {mean_loss}: training diverged"),
            });
        }
        report(&EpochReport {
            epoch,
            mean_loss,
            held_out_accuracy: accuracy(gpu, &classifier, &held_out)?,
        });
    }
    Ok(classifier)
}

/// What the shipped classifier files record of how their weights were made.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The data set's name and where its images came from.
    pub dataset: String,
    pub command: String,
    pub trained_images: usize,
    pub held_out_images: usize,
    pub held_out_accuracy: f64,
    pub epochs: usize,
}

impl Provenance {
    fn to_metadata(&self) -> HashMap<String, String> {
        [
            ("dataset", self.dataset.clone()),
            ("command", self.command.clone()),
            ("trained_images", self.trained_images.to_string()),
            ("held_out_images", self.held_out_images.to_string()),
            (
                "held_out_accuracy",
                format!("{:.4}", self.held_out_accuracy),
            ),
            ("epochs", self.epochs.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn from_metadata(path: &Path, metadata: &HashMap<String, String>) -> Result<Provenance> {
        let get = |key: &str| {
            metadata
                .get(key)
                .cloned()
                .ok_or_else(|| file_error(path, format!("its metadata has no `{key}`")))
        };
        let number = |key: &str| -> Result<f64> {
            get(key)?
                .parse()
                .map_err(|_| file_error(path, format!("its metadata's `{key}` is not a number")))
        };
        Ok(Provenance {
            dataset: get("dataset")?,
            command: get("command")?,
            trained_images: number("trained_images")? as usize,
            held_out_images: number("held_out_images")? as usize,
            held_out_accuracy: number("held_out_accuracy")?,
            epochs: number("epochs")? as usize,
        })
    }
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The feature statistics of the real images, with how the classifier was made: the file beside
/// the weights (`<set>.features.safetensors`), float64 `mean` [128] and `covariance` [128, 128].
#[derive(Clone, Debug)]
pub struct RealFeatures {
    pub gaussian: Gaussian,
    /// How many real images the statistics are of.
    pub images: usize,
    pub provenance: Provenance,
}

impl RealFeatures {
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mean: Vec<f64> = self.gaussian.mean.iter().copied().collect();
        // nalgebra stores columns first; the covariance is symmetric, so either order is the rows.
        let covariance: Vec<f64> = self.gaussian.covariance.iter().copied().collect();
        let dim = mean.len();
        let views = [
            ("mean", vec![dim], bytemuck::cast_slice::<f64, u8>(&mean)),
            (
                "covariance",
                vec![dim, dim],
                bytemuck::cast_slice::<f64, u8>(&covariance),
            ),
        ]
        .into_iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F64, shape, data)
                .map(|view| (name.to_string(), view))
                .map_err(|e| file_error(path, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
        let mut metadata = self.provenance.to_metadata();
        metadata.insert("real_images".into(), self.images.to_string());
        safetensors::serialize(views, Some(metadata)).map_err(|e| file_error(path, e.to_string()))
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<RealFeatures> {
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| file_error(path, format!("not a safetensors file ({e})")))?;
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| file_error(path, format!("not a safetensors file ({e})")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
            let view = file
                .tensor(name)
                .map_err(|_| file_error(path, format!("has no `{name}` tensor")))?;
            if view.dtype() != Dtype::F64 || view.shape() != shape {
                return Err(file_error(
                    path,
                    format!(
                        "`{name}` is {:?} {:?}, expected F64 {shape:?}",
                        view.dtype(),
                        view.shape()
                    ),
                ));
            }
            let values: Vec<f64> = bytemuck::pod_collect_to_vec(view.data());
            if values.iter().any(|v| !v.is_finite()) {
                return Err(file_error(path, format!("`{name}` holds NaN or infinity")));
            }
            Ok(values)
        };
        let mean = tensor("mean", &[FEATURES])?;
        let covariance = tensor("covariance", &[FEATURES, FEATURES])?;
        let images = metadata
            .get("real_images")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| file_error(path, "its metadata has no `real_images` count"))?;
        Ok(RealFeatures {
            gaussian: Gaussian {
                mean: nalgebra::DVector::from_vec(mean),
                covariance: nalgebra::DMatrix::from_vec(FEATURES, FEATURES, covariance),
            },
            images,
            provenance: Provenance::from_metadata(path, &metadata)?,
        })
    }
}
