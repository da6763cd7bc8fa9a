//! G: Linear(62,1024) BN1d ReLU · Linear(1024,6272) BN1d ReLU · view(N,128,7,7) ·
//! ConvTranspose2d(128→64,k4,s2,p1) BN2d ReLU · ConvTranspose2d(64→1,k4,s2,p1) · Sigmoid.

use super::{GradientPool, Mode, Net, NetSpec, buffer};
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, Conv, Linear};
use crate::tensor::Tensor;

pub const Z_DIM: usize = 62;
pub use crate::data::IMAGE_SIDE;
const FC1: usize = 1024;
const MAP_CHANNELS: usize = 128;
const MAP_SIDE: usize = 7;
const FC2: usize = MAP_CHANNELS * MAP_SIDE * MAP_SIDE;
const DECONV_CHANNELS: usize = 64;
const DECONV_SIDE: usize = 14;

const PARAMS: &[(&str, &[usize])] = &[
    ("fc.0.weight", &[FC1, Z_DIM]),
    ("fc.0.bias", &[FC1]),
    ("fc.1.weight", &[FC1]),
    ("fc.1.bias", &[FC1]),
    ("fc.3.weight", &[FC2, FC1]),
    ("fc.3.bias", &[FC2]),
    ("fc.4.weight", &[FC2]),
    ("fc.4.bias", &[FC2]),
    ("deconv.0.weight", &[MAP_CHANNELS, DECONV_CHANNELS, 4, 4]),
    ("deconv.0.bias", &[DECONV_CHANNELS]),
    ("deconv.1.weight", &[DECONV_CHANNELS]),
    ("deconv.1.bias", &[DECONV_CHANNELS]),
    ("deconv.3.weight", &[DECONV_CHANNELS, 1, 4, 4]),
    ("deconv.3.bias", &[1]),
];

const STATS: &[(&str, &[usize])] = &[
    ("fc.1.running_mean", &[FC1]),
    ("fc.1.running_var", &[FC1]),
    ("fc.4.running_mean", &[FC2]),
    ("fc.4.running_var", &[FC2]),
    ("deconv.1.running_mean", &[DECONV_CHANNELS]),
    ("deconv.1.running_var", &[DECONV_CHANNELS]),
];

/// Every tensor of G's `state_dict()` but the BatchNorms' `num_batches_tracked`.
pub const SPEC: NetSpec = NetSpec {
    label: "G",
    params: PARAMS,
    stats: STATS,
};

const FC0: Linear = Linear::new(Z_DIM, FC1);
const FC3: Linear = Linear::new(FC1, FC2);
const DECONV0: Conv = Conv::conv_transpose2d(MAP_CHANNELS, DECONV_CHANNELS, 4, 2, 1);
// deconv.3 stores its Sigmoid (G's image) as it goes.
const DECONV3: Conv =
    Conv::conv_transpose2d(DECONV_CHANNELS, 1, 4, 2, 1).followed_by(Activation::Sigmoid);

pub struct Generator {
    pub net: Net,
}

/// Activations and their gradients for one batch size. Names follow the layer that wrote them.
pub struct GeneratorPass {
    pub batch: usize,
    fc0: Tensor,
    /// fc.1 and fc.2, the BatchNorm and its ReLU, in one pass (likewise fc.4 and fc.5, deconv.1 and
    /// deconv.2): only the ReLU's output is kept.
    relu2: Tensor,
    saved1: Tensor,
    fc3: Tensor,
    relu5: Tensor,
    saved4: Tensor,
    deconv0: Tensor,
    deconv_relu2: Tensor,
    deconv_saved1: Tensor,
    /// G(z): [N, 1, 28, 28] in (0, 1), deconv.3 and its Sigmoid in one pass.
    pub image: Tensor,
    /// Gradients, each shaped like the activation of the same name (none for a pass only sampled from).
    grad: Option<Grads>,
}

/// Gradients at the outputs of G's layers: each BatchNorm's backward takes the gradient at its ReLU's
/// output, so no activation has a backward pass of its own.
struct Grads {
    deconv_relu2: Tensor,
    deconv0: Tensor,
    relu5: Tensor,
    fc3: Tensor,
    relu2: Tensor,
    fc0: Tensor,
}

impl GeneratorPass {
    /// Device bytes a pass without gradients takes per sample (its activations), and the most of
    /// them in one buffer (a deconv.0 map): what sizes a batch to a memory budget and to the
    /// adapter's largest binding.
    pub const SAMPLE_BYTES: (u64, u64) = {
        let deconv_map = DECONV_CHANNELS * DECONV_SIDE * DECONV_SIDE;
        let floats = 2 * FC1 + 2 * FC2 + 2 * deconv_map + IMAGE_SIDE * IMAGE_SIDE;
        (4 * floats as u64, 4 * deconv_map as u64)
    };

    /// Activation buffers for `batch` samples; with `gradients`, a pass that can also run backward.
    pub fn new(
        gpu: &Gpu,
        batch: usize,
        gradients: Option<&mut GradientPool>,
    ) -> Result<GeneratorPass> {
        let b = |name: &str, shape: &[usize]| buffer(gpu, &format!("G {name}"), shape);
        let deconv_shape = [batch, DECONV_CHANNELS, DECONV_SIDE, DECONV_SIDE];
        let image_shape = [batch, 1, IMAGE_SIDE, IMAGE_SIDE];
        let grad = match gradients {
            None => None,
            Some(pool) => {
                let mut g = pool.for_pass();
                Some(Grads {
                    deconv_relu2: g.take(gpu, &deconv_shape)?,
                    deconv0: g.take(gpu, &deconv_shape)?,
                    relu5: g.take(gpu, &[batch, FC2])?,
                    fc3: g.take(gpu, &[batch, FC2])?,
                    relu2: g.take(gpu, &[batch, FC1])?,
                    fc0: g.take(gpu, &[batch, FC1])?,
                })
            }
        };
        Ok(GeneratorPass {
            batch,
            fc0: b("fc.0", &[batch, FC1])?,
            relu2: b("fc.2", &[batch, FC1])?,
            saved1: b("fc.1 saved", &[2, FC1])?,
            fc3: b("fc.3", &[batch, FC2])?,
            relu5: b("fc.5", &[batch, FC2])?,
            saved4: b("fc.4 saved", &[2, FC2])?,
            deconv0: b("deconv.0", &deconv_shape)?,
            deconv_relu2: b("deconv.2", &deconv_shape)?,
            deconv_saved1: b("deconv.1 saved", &[2, DECONV_CHANNELS])?,
            image: b("image", &image_shape)?,
            grad,
        })
    }

    /// The outputs of the pass's three ReLUs (fc.2, fc.5, deconv.2) after a training-mode forward: an
    /// element is > 0 exactly where the ReLU's input is, which decides the branch its gradient takes.
    pub fn kinks(&self) -> [&Tensor; 3] {
        [&self.relu2, &self.relu5, &self.deconv_relu2]
    }

    /// relu5 seen as the [N, 128, 7, 7] maps the convolutions take.
    fn maps(t: &Tensor, batch: usize) -> Result<Tensor> {
        t.reshape(&[batch, MAP_CHANNELS, MAP_SIDE, MAP_SIDE])
    }
}

impl Generator {
    pub fn new(gpu: &Gpu) -> Result<Generator> {
        Ok(Generator {
            net: Net::new(gpu, &SPEC)?,
        })
    }

    /// z: [N, 62] → pass.image: [N, 1, 28, 28].
    pub fn forward(
        &self,
        gpu: &Gpu,
        pass: &GeneratorPass,
        z: &Tensor,
        mode: Mode,
    ) -> Result<Vec<Dispatch>> {
        let n = pass.batch;
        let p = |name| self.net.value(gpu, name);
        // In eval mode a sample's image is the same whatever the batch around it (sampling in
        // chunks relies on it); training splits K where that is faster.
        let (fc0, fc3, deconv0, deconv3) = if mode == Mode::Eval {
            (
                FC0.with_whole_k(),
                FC3.with_whole_k(),
                DECONV0.with_whole_k(),
                DECONV3.with_whole_k(),
            )
        } else {
            (FC0, FC3, DECONV0, DECONV3)
        };
        Ok(vec![
            fc0.forward(gpu, z, &p("fc.0.weight")?, &p("fc.0.bias")?, &pass.fc0)?,
            self.net.batchnorm(
                gpu,
                "fc.1",
                mode,
                &pass.fc0,
                Activation::Relu,
                &pass.relu2,
                &pass.saved1,
            )?,
            fc3.forward(
                gpu,
                &pass.relu2,
                &p("fc.3.weight")?,
                &p("fc.3.bias")?,
                &pass.fc3,
            )?,
            self.net.batchnorm(
                gpu,
                "fc.4",
                mode,
                &pass.fc3,
                Activation::Relu,
                &pass.relu5,
                &pass.saved4,
            )?,
            deconv0.forward(
                gpu,
                &GeneratorPass::maps(&pass.relu5, n)?,
                &p("deconv.0.weight")?,
                &p("deconv.0.bias")?,
                &pass.deconv0,
            )?,
            self.net.batchnorm(
                gpu,
                "deconv.1",
                mode,
                &pass.deconv0,
                Activation::Relu,
                &pass.deconv_relu2,
                &pass.deconv_saved1,
            )?,
            deconv3.forward(
                gpu,
                &pass.deconv_relu2,
                &p("deconv.3.weight")?,
                &p("deconv.3.bias")?,
                &pass.image,
            )?,
        ])
    }

    /// d_deconv3: [N, 1, 28, 28], the loss gradient at deconv.3's output, the input of G's Sigmoid
    /// (D's backward stores the gradient at its input through that Sigmoid), after a training-mode
    /// forward on `pass` → every parameter gradient, overwritten. z: the forward's input.
    pub fn backward(
        &self,
        gpu: &Gpu,
        pass: &GeneratorPass,
        z: &Tensor,
        d_deconv3: &Tensor,
    ) -> Result<Vec<Dispatch>> {
        let n = pass.batch;
        let (p, g) = (
            |name| self.net.value(gpu, name),
            |name| self.net.grad(gpu, name),
        );
        let d = pass.grad.as_ref().ok_or_else(|| Error::InvalidArgument {
            op: "Generator::backward",
            message: "this pass was made without gradient buffers (for sampling only)".into(),
        })?;
        let maps = |t: &Tensor| GeneratorPass::maps(t, n);
        Ok(vec![
            DECONV3.backward_weight(
                gpu,
                d_deconv3,
                &pass.deconv_relu2,
                &g("deconv.3.weight")?,
                false,
            )?,
            DECONV3.backward_bias(gpu, d_deconv3, &g("deconv.3.bias")?, false)?,
            DECONV3.backward_input(gpu, d_deconv3, &p("deconv.3.weight")?, &d.deconv_relu2)?,
            // Each ReLU's backward in its BatchNorm's, which also gives the cancelled bias before it
            // its gradient (Σ dx).
            self.net.batchnorm_backward(
                gpu,
                "deconv.1",
                Activation::Relu,
                &pass.deconv0,
                &pass.deconv_saved1,
                &pass.deconv_relu2,
                &d.deconv_relu2,
                &d.deconv0,
                Some("deconv.0.bias"),
                false,
            )?,
            DECONV0.backward_weight(
                gpu,
                &d.deconv0,
                &maps(&pass.relu5)?,
                &g("deconv.0.weight")?,
                false,
            )?,
            DECONV0.backward_input(gpu, &d.deconv0, &p("deconv.0.weight")?, &maps(&d.relu5)?)?,
            self.net.batchnorm_backward(
                gpu,
                "fc.4",
                Activation::Relu,
                &pass.fc3,
                &pass.saved4,
                &pass.relu5,
                &d.relu5,
                &d.fc3,
                Some("fc.3.bias"),
                false,
            )?,
            FC3.backward_weight(gpu, &d.fc3, &pass.relu2, &g("fc.3.weight")?, false)?,
            FC3.backward_input(gpu, &d.fc3, &p("fc.3.weight")?, &d.relu2)?,
            self.net.batchnorm_backward(
                gpu,
                "fc.1",
                Activation::Relu,
                &pass.fc0,
                &pass.saved1,
                &pass.relu2,
                &d.relu2,
                &d.fc0,
                Some("fc.0.bias"),
                false,
            )?,
            FC0.backward_weight(gpu, &d.fc0, z, &g("fc.0.weight")?, false)?,
        ])
    }
}
