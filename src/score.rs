//! How good a set of images is in the view of the classifier for its data set (src/classifier.rs):
//! the classifier score (the Inception Score's formula), the Fréchet distance between the
//! classifier's features of the images and of the real training images, and how the images fall into
//! the classes. `gan-wgpu score` prints them; training keeps them per epoch (the quality curve).
//!
//! They are this program's classifier's view: comparable across runs of gan-wgpu, and with a PyTorch
//! G scored by the same command, not with Inception-based scores in papers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, RealFeatures};
use crate::data::SetName;
use crate::error::{Error, Result};
use crate::kernels::Gpu;
use crate::model::classifier::{CLASSES, FEATURES};
use crate::quality::{
    Gaussian, class_histogram, classifier_score, covered_classes, frechet_distance,
};

/// The scores of a set of images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub images: usize,
    /// exp of the mean KL divergence between p(y|x) and p(y): from 1 (one class, or no certainty) to
    /// 10 (every class equally often, each image certain).
    pub classifier_score: f64,
    /// Between the Gaussians of the images' features and of the real images': 0 for the same
    /// statistics.
    pub frechet_distance: f64,
    /// Classes that get at least half an even share of the images.
    pub covered_classes: usize,
    /// Images per most probable class.
    pub histogram: Vec<usize>,
}

/// Where a classifier came from, for messages.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassifierSource {
    Bundled(SetName),
    File(PathBuf),
}

impl std::fmt::Display for ClassifierSource {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ClassifierSource::Bundled(set) => write!(f, "the bundled {} classifier", set.title()),
            ClassifierSource::File(path) => write!(f, "the classifier {}", path.display()),
        }
    }
}

/// The classifier's two files as bytes: its weights and the real images' feature statistics.
#[derive(Clone)]
pub struct ClassifierFiles {
    pub source: ClassifierSource,
    pub weights: (PathBuf, Vec<u8>),
    pub features: (PathBuf, Vec<u8>),
}

impl ClassifierFiles {
    /// The classifier shipped for `set`, built into the program.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled(set: SetName) -> ClassifierFiles {
        let (weights, features): (&[u8], &[u8]) = match set {
            SetName::Mnist => (
                include_bytes!("../assets/classifier/mnist.safetensors"),
                include_bytes!("../assets/classifier/mnist.features.safetensors"),
            ),
            SetName::FashionMnist => (
                include_bytes!("../assets/classifier/fashion-mnist.safetensors"),
                include_bytes!("../assets/classifier/fashion-mnist.features.safetensors"),
            ),
        };
        let name = |file: &str| PathBuf::from(format!("bundled {file}"));
        let stem = set.folder_name();
        ClassifierFiles {
            source: ClassifierSource::Bundled(set),
            weights: (name(&format!("{stem}.safetensors")), weights.to_vec()),
            features: (
                name(&format!("{stem}.features.safetensors")),
                features.to_vec(),
            ),
        }
    }

    /// The weights at `weights` and the statistics beside them (`classifier::features_path`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(weights: &Path) -> Result<ClassifierFiles> {
        let features = crate::classifier::features_path(weights);
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| Error::Data {
                path: path.to_path_buf(),
                message: if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file (a classifier is its weights and <stem>.features.safetensors \
                     beside them, as `gan-wgpu classifier` writes them)"
                        .into()
                } else {
                    e.to_string()
                },
            })
        };
        Ok(ClassifierFiles {
            source: ClassifierSource::File(weights.to_path_buf()),
            weights: (weights.to_path_buf(), read(weights)?),
            features: (features.clone(), read(&features)?),
        })
    }
}

/// A classifier on the GPU with the statistics of the real images it compares others with.
pub struct Scorer {
    pub classifier: Classifier,
    pub real: RealFeatures,
    pub source: ClassifierSource,
}

impl Scorer {
    pub fn new(gpu: &Gpu, files: ClassifierFiles) -> Result<Scorer> {
        let real = RealFeatures::parse(&files.features.0, &files.features.1)?;
        let classifier = Classifier::from_checkpoint(gpu, &files.weights.0, &files.weights.1)?;
        Ok(Scorer {
            classifier,
            real,
            source: files.source,
        })
    }

    /// The scores of `images` ([count, 784] in [0, 1], row after row; at least two).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn score(&self, gpu: &Gpu, images: &[f32]) -> Result<Scores> {
        crate::gpu::wait(self.score_async(gpu, images))
    }

    /// `score` for callers that await (the web build).
    pub async fn score_async(&self, gpu: &Gpu, images: &[f32]) -> Result<Scores> {
        let outputs = self.classifier.outputs_async(gpu, images).await?;
        let n = outputs.len();
        let histogram = class_histogram(&outputs.probabilities, n, CLASSES);
        Ok(Scores {
            images: n,
            classifier_score: classifier_score(&outputs.probabilities, n, CLASSES)?,
            frechet_distance: frechet_distance(
                &Gaussian::of(&outputs.features, n, FEATURES)?,
                &self.real.gaussian,
            )?,
            covered_classes: covered_classes(&histogram),
            histogram,
        })
    }
}

/// The images of a safetensors file holding one float32 tensor of shape [N, 1, 28, 28] or [N, 784]
/// (or several, one of them named `images`, as `gan-wgpu sample --format safetensors` writes), every
/// value in [0, 1].
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<Vec<f32>> {
    use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
    let bad = |message: String| Error::Data {
        path: path.to_path_buf(),
        message,
    };
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let names = file.names();
    let name = match names.as_slice() {
        [only] => only.to_string(),
        _ if names.contains(&"images") => "images".to_string(),
        _ => {
            return Err(bad(format!(
                "holds {} tensors and none named `images`: expected one tensor of images",
                names.len()
            )));
        }
    };
    let view = file.tensor(&name).map_err(|e| bad(e.to_string()))?;
    let shape = view.shape().to_vec();
    let images = match shape.as_slice() {
        &[n, 1, IMAGE_SIDE, IMAGE_SIDE] | &[n, IMAGE_PIXELS] => n,
        _ => {
            return Err(bad(format!(
                "`{name}` has shape {shape:?}: expected [N, 1, 28, 28] or [N, 784]"
            )));
        }
    };
    if view.dtype() != safetensors::Dtype::F32 {
        return Err(bad(format!(
            "`{name}` is {:?}: expected float32 values in [0, 1]",
            view.dtype()
        )));
    }
    if images < 2 {
        return Err(bad(format!(
            "`{name}` holds {images} image(s): the scores need at least two"
        )));
    }
    let values: Vec<f32> = bytemuck::pod_collect_to_vec(view.data());
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(bad(format!(
            "`{name}` holds {v} (image {}, pixel {}): images must be in [0, 1]",
            i / IMAGE_PIXELS,
            i % IMAGE_PIXELS
        )));
    }
    Ok(values)
}
