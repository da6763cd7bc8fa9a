//! Training the classifier: softmax cross-entropy on all but the last `held_out` images of a set,
//! Adam, the held-out accuracy after each epoch; then the feature statistics of the whole set.

use super::{Classifier, Provenance, RealFeatures, images_of};
use crate::adam::Adam;
use crate::data::{Dataset, GpuDataset, IMAGE_SIDE, epoch_order};
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::CrossEntropyLoss;
use crate::model::classifier::{ARCHITECTURE, FEATURES};
use crate::model::{DiscriminatorPass, GradientPool, Mode, ParamGrads};
use crate::noise::NormalStream;
use crate::quality::Gaussian;
use crate::tensor::Tensor;

/// Philox stream of the classifier's initial weights (G's and D's are 100 and 101).
const INIT_STREAM: u32 = 102;

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
            epochs: 15,
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

/// The fraction of `set`'s images the classifier labels right.
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

/// The classifier's feature statistics of every image of `set`.
pub fn real_features(
    gpu: &Gpu,
    classifier: &Classifier,
    set: &Dataset,
    provenance: Provenance,
) -> Result<RealFeatures> {
    let outputs = classifier.outputs(gpu, &images_of(set))?;
    Ok(RealFeatures {
        gaussian: Gaussian::of(&outputs.features, set.len(), FEATURES)?,
        images: set.len(),
        provenance,
    })
}
