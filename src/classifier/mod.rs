//! The classifier that scores images (src/model/classifier.rs): trained by the same kernels as the
//! DCGAN, with a softmax cross-entropy; run in eval mode over any images for their class
//! probabilities and features; saved as a checkpoint PyTorch's `load_state_dict` takes, beside the
//! feature statistics of the real images it compares generated ones with.
//!
//! One ships with the program for each data set (`assets/classifier/`), trained by
//! `gan-wgpu classifier --dataset <set>` ([`training`]).

#[cfg(not(target_arch = "wasm32"))]
pub mod training;

use std::collections::HashMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::data::{Dataset, IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::model::classifier::{ARCHITECTURE, CLASSES, FEATURES};
use crate::model::{Discriminator, DiscriminatorPass, GradientPool, Mode};
use crate::quality::Gaussian;
use crate::tensor::Tensor;

/// Images per eval-mode batch: rows are independent in eval mode, so any size gives the same outputs.
const EVAL_BATCH: usize = 256;

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

/// The images of `set` as floats in [0, 1] (PyTorch's ToTensor: v / 255 in float32).
pub fn images_of(set: &Dataset) -> Vec<f32> {
    set.pixels().iter().map(|&v| v as f32 / 255.0).collect()
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

/// The file of real-image feature statistics that goes with the weights at `weights`:
/// `<stem>.features.safetensors` beside it.
pub fn features_path(weights: &Path) -> std::path::PathBuf {
    let stem = weights
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".safetensors").unwrap_or(&stem);
    weights.with_file_name(format!("{stem}.features.safetensors"))
}
