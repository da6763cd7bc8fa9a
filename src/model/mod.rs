//! The DCGAN of the 2018 PyTorch blog post: a [`Generator`] and a [`Discriminator`], their parameters in
//! flat stores named as PyTorch's `state_dict()`, and the activation buffers of one pass at a batch size.

pub mod classifier;
pub mod discriminator;
pub mod generator;

use std::collections::HashMap;

pub use discriminator::{Architecture, DCGAN, Discriminator, DiscriminatorPass, ParamGrads};
pub use generator::{Generator, GeneratorPass, IMAGE_SIDE, Z_DIM};

use crate::error::Result;
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, BatchNorm, BatchNormGrads};
use crate::noise::NormalStream;
use crate::params::ParamStore;
use crate::tensor::Tensor;

/// Whether BatchNorm uses batch statistics (and moves its running estimates) or the running estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// Standard deviation of the N(0, σ) initialisation of every Linear, Conv2d and ConvTranspose2d weight.
pub const INIT_STD: f32 = 0.02;

/// One network's tensors: trainable parameters (with gradients and Adam moments) and BatchNorm running
/// statistics, looked up by their PyTorch names.
pub struct Net {
    pub spec: &'static NetSpec,
    pub params: ParamStore,
    pub stats: ParamStore,
}

/// A network's tensors by PyTorch name and shape, known without a GPU: what its checkpoints and the
/// training state must hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetSpec {
    /// "G", "D" or "classifier".
    pub label: &'static str,
    /// Trainable parameters, in store order.
    pub params: &'static [(&'static str, &'static [usize])],
    /// BatchNorm running statistics, in store order.
    pub stats: &'static [(&'static str, &'static [usize])],
}

impl NetSpec {
    /// The BatchNorm layers (those with running statistics), e.g. `fc.1`.
    pub fn batchnorm_layers(&self) -> Vec<&'static str> {
        self.stats
            .iter()
            .filter_map(|(name, _)| name.strip_suffix(".running_mean"))
            .collect()
    }
}

impl Net {
    pub(crate) fn new(gpu: &Gpu, spec: &'static NetSpec) -> Result<Net> {
        let label = spec.label;
        Ok(Net {
            spec,
            params: ParamStore::new(gpu, &format!("{label} params"), spec.params, true)?,
            stats: ParamStore::new(gpu, &format!("{label} stats"), spec.stats, false)?,
        })
    }

    /// The original's initialisation, drawing N(0, 1) samples from `normal`.
    pub fn initialise(&self, gpu: &Gpu, normal: &mut NormalStream) -> Result<()> {
        initialise(gpu, &self.params, &self.stats, normal)
    }

    pub(crate) fn value(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        self.params.value(gpu, name)
    }

    pub(crate) fn grad(&self, gpu: &Gpu, name: &str) -> Result<Tensor> {
        self.params.grad(gpu, name)
    }

    /// BatchNorm layer `layer` in `mode` from x to y (saved: batch statistics kept for backward).
    /// The BatchNorm `layer` and the activation after it in one pass: x → y = activation(BN(x)).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batchnorm(
        &self,
        gpu: &Gpu,
        layer: &str,
        mode: Mode,
        x: &Tensor,
        then: Activation,
        y: &Tensor,
        saved: &Tensor,
    ) -> Result<Dispatch> {
        let bn = BatchNorm::new(x.shape()[1]).followed_by(then);
        let w = self.value(gpu, &format!("{layer}.weight"))?;
        let b = self.value(gpu, &format!("{layer}.bias"))?;
        let rm = self.stats.value(gpu, &format!("{layer}.running_mean"))?;
        let rv = self.stats.value(gpu, &format!("{layer}.running_var"))?;
        match mode {
            Mode::Train => bn.forward_train(gpu, x, &w, &b, &rm, &rv, y, saved),
            Mode::Eval => bn.forward_eval(gpu, x, &w, &b, &rm, &rv, y),
        }
    }

    /// The backward of BatchNorm `layer` and the activation `then` after it, from dy (at the
    /// activation's output, `activated`) to dx, writing (or adding to) the BatchNorm's parameter
    /// gradients and, when given, `bias_before`'s: the bias of the layer whose output is x.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn batchnorm_backward(
        &self,
        gpu: &Gpu,
        layer: &str,
        then: Activation,
        x: &Tensor,
        saved: &Tensor,
        activated: &Tensor,
        dy: &Tensor,
        dx: &Tensor,
        bias_before: Option<&str>,
        accumulate: bool,
    ) -> Result<Dispatch> {
        let dbias_before = bias_before.map(|name| self.grad(gpu, name)).transpose()?;
        BatchNorm::new(x.shape()[1]).followed_by(then).backward(
            gpu,
            x,
            &self.value(gpu, &format!("{layer}.weight"))?,
            saved,
            &BatchNormGrads {
                dy,
                activated: Some(activated),
                dx,
                dweight: &self.grad(gpu, &format!("{layer}.weight"))?,
                dbias: &self.grad(gpu, &format!("{layer}.bias"))?,
                dbias_before: dbias_before.as_ref(),
                accumulate,
            },
        )
    }
}

/// A new zeroed activation buffer.
pub(crate) fn buffer(gpu: &Gpu, label: &str, shape: &[usize]) -> Result<Tensor> {
    Tensor::zeros(gpu, label, shape)
}

/// Buffers for the activation gradients of backward passes that never run at the same time. Within a
/// step D's backward passes and G's run one after another, and each needs its activation gradients
/// only while it runs, so every pass draws on one shared set instead of owning one.
#[derive(Default)]
pub struct GradientPool {
    /// Buffers by their number of floats.
    by_size: HashMap<usize, Vec<Tensor>>,
}

impl GradientPool {
    /// Hands out buffers to one pass: never the same one twice, reusing those of earlier passes.
    pub fn for_pass(&mut self) -> PassGradients<'_> {
        PassGradients {
            pool: self,
            taken: HashMap::new(),
        }
    }
}

pub struct PassGradients<'a> {
    pool: &'a mut GradientPool,
    taken: HashMap<usize, usize>,
}

impl PassGradients<'_> {
    /// A gradient buffer of `shape` that no other gradient of this pass uses.
    pub fn take(&mut self, gpu: &Gpu, shape: &[usize]) -> Result<Tensor> {
        let floats = shape.iter().product();
        let taken = self.taken.entry(floats).or_default();
        let buffers = self.pool.by_size.entry(floats).or_default();
        if *taken == buffers.len() {
            buffers.push(Tensor::zeros(gpu, "activation gradient", &[floats])?);
        }
        *taken += 1;
        buffers[*taken - 1].reshape(shape)
    }
}

/// The original's initialisation: weights of Linear and convolution layers ~ N(0, 0.02), their biases 0;
/// BatchNorm weight 1, bias 0, running mean 0, running variance 1. `normal` draws N(0, 1) samples.
fn initialise(
    gpu: &Gpu,
    params: &ParamStore,
    stats: &ParamStore,
    normal: &mut NormalStream,
) -> Result<()> {
    // BatchNorm's affine parameters are the 1-d weights and biases of a layer that also has running statistics.
    let is_batchnorm = |name: &str| {
        let layer = name.rsplit_once('.').map_or(name, |(l, _)| l);
        stats.entry(&format!("{layer}.running_mean")).is_ok()
    };
    for e in params.entries() {
        let values: Vec<f32> = if is_batchnorm(e.name) {
            vec![
                if e.name.ends_with(".weight") {
                    1.0
                } else {
                    0.0
                };
                e.numel()
            ]
        } else if e.name.ends_with(".weight") {
            let mut values = vec![0.0; e.numel()];
            normal.fill(&mut values, INIT_STD);
            values
        } else {
            vec![0.0; e.numel()]
        };
        params.write(gpu, e.name, &values)?;
    }
    for e in stats.entries() {
        let fill = if e.name.ends_with("running_var") {
            1.0
        } else {
            0.0
        };
        stats.write(gpu, e.name, &vec![fill; e.numel()])?;
    }
    Ok(())
}
