//! D: Conv2d(1→64,k4,s2,p1) LeakyReLU(0.2) · Conv2d(64→128,k4,s2,p1) BN2d LeakyReLU(0.2) · view(N,6272) ·
//! Linear(6272,1024) BN1d LeakyReLU(0.2) · Linear(1024,1) · Sigmoid.

use super::{GradientPool, Mode, Net, NetSpec, buffer};
use crate::error::Result;
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, Conv, Linear};
use crate::model::IMAGE_SIDE;
use crate::tensor::Tensor;

const CONV0_CHANNELS: usize = 64;
const CONV0_SIDE: usize = 14;
const CONV2_CHANNELS: usize = 128;
const CONV2_SIDE: usize = 7;
const FLAT: usize = CONV2_CHANNELS * CONV2_SIDE * CONV2_SIDE;
const FC: usize = 1024;
const LEAKY: Activation = Activation::LeakyRelu {
    negative_slope: 0.2,
};

const PARAMS: &[(&str, &[usize])] = &[
    ("conv.0.weight", &[CONV0_CHANNELS, 1, 4, 4]),
    ("conv.0.bias", &[CONV0_CHANNELS]),
    ("conv.2.weight", &[CONV2_CHANNELS, CONV0_CHANNELS, 4, 4]),
    ("conv.2.bias", &[CONV2_CHANNELS]),
    ("conv.3.weight", &[CONV2_CHANNELS]),
    ("conv.3.bias", &[CONV2_CHANNELS]),
    ("fc.0.weight", &[FC, FLAT]),
    ("fc.0.bias", &[FC]),
    ("fc.1.weight", &[FC]),
    ("fc.1.bias", &[FC]),
    ("fc.3.weight", &[1, FC]),
    ("fc.3.bias", &[1]),
];

const STATS: &[(&str, &[usize])] = &[
    ("conv.3.running_mean", &[CONV2_CHANNELS]),
    ("conv.3.running_var", &[CONV2_CHANNELS]),
    ("fc.1.running_mean", &[FC]),
    ("fc.1.running_var", &[FC]),
];

/// Every tensor of D's `state_dict()` but the BatchNorms' `num_batches_tracked`.
pub const SPEC: NetSpec = NetSpec {
    label: "D",
    params: PARAMS,
    stats: STATS,
};

// conv.0 stores its LeakyReLU (conv.1) as it goes.
const CONV0: Conv = Conv::conv2d(1, CONV0_CHANNELS, 4, 2, 1).followed_by(LEAKY);
const CONV2: Conv = Conv::conv2d(CONV0_CHANNELS, CONV2_CHANNELS, 4, 2, 1);
const FC0: Linear = Linear::new(FLAT, FC);
const FC3: Linear = Linear::new(FC, 1);

pub struct Discriminator {
    pub net: Net,
}

/// What a backward pass does with D's parameter gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamGrads {
    /// Write them (the first of D's two passes in a D step).
    Overwrite,
    /// Add to them (the second pass: real and fake losses are summed).
    Accumulate,
    /// Leave Linear and convolution gradients alone: G's step only needs the gradient at D's input.
    /// (BatchNorm's backward kernel still writes its two; D's next step overwrites them.)
    Skip,
}

/// Activations and their gradients for one batch size. Names follow the layer that wrote them.
pub struct DiscriminatorPass {
    pub batch: usize,
    /// conv.0 and its LeakyReLU conv.1 in one pass: only the LeakyReLU's output is kept.
    conv1: Tensor,
    conv2: Tensor,
    /// conv.3 and conv.4, the BatchNorm and its LeakyReLU, in one pass (likewise fc.1 and fc.2): only
    /// the LeakyReLU's output is kept.
    conv_saved3: Tensor,
    conv4: Tensor,
    fc0: Tensor,
    fc_saved1: Tensor,
    fc2: Tensor,
    fc3: Tensor,
    /// D(x): [N, 1] probabilities.
    pub prob: Tensor,
    /// The loss gradient at fc.3's output, the Sigmoid's input, [N, 1]: the backward pass starts from
    /// it (the loss's kernel takes its gradient through the Sigmoid: `GradientAt::SigmoidInput`).
    pub d_logit: Tensor,
    grad: Grads,
}

/// Gradients at the outputs of D's layers. The activations have no backward pass of their own: a
/// BatchNorm's backward takes the gradient at its activation's output (fc.2, conv.4), and conv.2's
/// input gradient is stored through conv.1's LeakyReLU (the gradient at conv.0's output).
#[derive(Clone)]
struct Grads {
    fc2: Tensor,
    fc0: Tensor,
    conv4: Tensor,
    conv2: Tensor,
    conv0: Tensor,
}

impl DiscriminatorPass {
    /// Activation buffers for `batch` images; the gradients come from `gradients`.
    pub fn new(
        gpu: &Gpu,
        batch: usize,
        label: &str,
        gradients: &mut GradientPool,
    ) -> Result<DiscriminatorPass> {
        let b = |name: &str, shape: &[usize]| buffer(gpu, &format!("D {label} {name}"), shape);
        let c0 = [batch, CONV0_CHANNELS, CONV0_SIDE, CONV0_SIDE];
        let c2 = [batch, CONV2_CHANNELS, CONV2_SIDE, CONV2_SIDE];
        let mut g = gradients.for_pass();
        Ok(DiscriminatorPass {
            batch,
            conv1: b("conv.1", &c0)?,
            conv2: b("conv.2", &c2)?,
            conv_saved3: b("conv.3 saved", &[2, CONV2_CHANNELS])?,
            conv4: b("conv.4", &c2)?,
            fc0: b("fc.0", &[batch, FC])?,
            fc_saved1: b("fc.1 saved", &[2, FC])?,
            fc2: b("fc.2", &[batch, FC])?,
            fc3: b("fc.3", &[batch, 1])?,
            prob: b("prob", &[batch, 1])?,
            d_logit: b("grad logit", &[batch, 1])?,
            grad: Grads {
                fc2: g.take(gpu, &[batch, FC])?,
                fc0: g.take(gpu, &[batch, FC])?,
                conv4: g.take(gpu, &c2)?,
                conv2: g.take(gpu, &c2)?,
                conv0: g.take(gpu, &c0)?,
            },
        })
    }

    /// A pass over this pass's activation buffers with a D(x) and loss gradient of its own. Two
    /// passes may share activations when each one's backward runs before the other's forward (D's
    /// passes on real and on fake images in a D step).
    pub fn sharing_activations(&self, gpu: &Gpu, label: &str) -> Result<DiscriminatorPass> {
        let b = |name: &str| buffer(gpu, &format!("D {label} {name}"), &[self.batch, 1]);
        Ok(DiscriminatorPass {
            prob: b("prob")?,
            d_logit: b("grad logit")?,
            grad: self.grad.clone(),
            conv1: self.conv1.clone(),
            conv2: self.conv2.clone(),
            conv_saved3: self.conv_saved3.clone(),
            conv4: self.conv4.clone(),
            fc0: self.fc0.clone(),
            fc_saved1: self.fc_saved1.clone(),
            fc2: self.fc2.clone(),
            fc3: self.fc3.clone(),
            batch: self.batch,
        })
    }

    /// The outputs of the pass's three LeakyReLUs (conv.1, conv.4, fc.2) after a training-mode forward:
    /// an element is > 0 exactly where the LeakyReLU's input is, which decides the branch its gradient
    /// takes.
    pub fn kinks(&self) -> [&Tensor; 3] {
        [&self.conv1, &self.conv4, &self.fc2]
    }

    /// conv.4 seen as the [N, 6272] rows the Linear layer takes (PyTorch's view).
    fn flat(t: &Tensor, batch: usize) -> Result<Tensor> {
        t.reshape(&[batch, FLAT])
    }
}

impl Discriminator {
    pub fn new(gpu: &Gpu) -> Result<Discriminator> {
        Ok(Discriminator {
            net: Net::new(gpu, &SPEC)?,
        })
    }

    /// x: [N, 1, 28, 28] → pass.prob: [N, 1].
    pub fn forward(
        &self,
        gpu: &Gpu,
        pass: &DiscriminatorPass,
        x: &Tensor,
        mode: Mode,
    ) -> Result<Vec<Dispatch>> {
        let p = |name| self.net.value(gpu, name);
        let flat = |t: &Tensor| DiscriminatorPass::flat(t, pass.batch);
        debug_assert_eq!(x.shape()[2..], [IMAGE_SIDE, IMAGE_SIDE]);
        Ok(vec![
            CONV0.forward(
                gpu,
                x,
                &p("conv.0.weight")?,
                &p("conv.0.bias")?,
                &pass.conv1,
            )?,
            CONV2.forward(
                gpu,
                &pass.conv1,
                &p("conv.2.weight")?,
                &p("conv.2.bias")?,
                &pass.conv2,
            )?,
            self.net.batchnorm(
                gpu,
                "conv.3",
                mode,
                &pass.conv2,
                LEAKY,
                &pass.conv4,
                &pass.conv_saved3,
            )?,
            FC0.forward(
                gpu,
                &flat(&pass.conv4)?,
                &p("fc.0.weight")?,
                &p("fc.0.bias")?,
                &pass.fc0,
            )?,
            self.net.batchnorm(
                gpu,
                "fc.1",
                mode,
                &pass.fc0,
                LEAKY,
                &pass.fc2,
                &pass.fc_saved1,
            )?,
            FC3.forward(
                gpu,
                &pass.fc2,
                &p("fc.3.weight")?,
                &p("fc.3.bias")?,
                &pass.fc3,
            )?,
            Activation::Sigmoid.forward(gpu, &pass.fc3, &pass.prob)?,
        ])
    }

    /// From pass.d_logit (after a training-mode forward of x on `pass`): D's parameter gradients as
    /// `grads` says, and with `dx` = (tensor, activation) the gradient at D's input into the tensor:
    /// with an activation, at that activation's input, D's input being its output (G's Sigmoid).
    pub fn backward(
        &self,
        gpu: &Gpu,
        pass: &DiscriminatorPass,
        x: &Tensor,
        grads: ParamGrads,
        dx: Option<(&Tensor, Option<Activation>)>,
    ) -> Result<Vec<Dispatch>> {
        let (p, g) = (
            |name| self.net.value(gpu, name),
            |name| self.net.grad(gpu, name),
        );
        let d = &pass.grad;
        let flat = |t: &Tensor| DiscriminatorPass::flat(t, pass.batch);
        let accumulate = grads == ParamGrads::Accumulate;
        let d_fc3 = &pass.d_logit;
        let mut out = vec![];
        // Each layer's parameter gradients (unless skipped), then the gradient at its input.
        if grads != ParamGrads::Skip {
            out.push(FC3.backward_weight(gpu, d_fc3, &pass.fc2, &g("fc.3.weight")?, accumulate)?);
            out.push(FC3.backward_bias(gpu, d_fc3, &g("fc.3.bias")?, accumulate)?);
        }
        out.push(FC3.backward_input(gpu, d_fc3, &p("fc.3.weight")?, &d.fc2)?);
        // The LeakyReLU's backward in the BatchNorm's, which also gives the cancelled bias before it
        // its gradient (Σ dx).
        let bias_before = |name| (grads != ParamGrads::Skip).then_some(name);
        out.push(self.net.batchnorm_backward(
            gpu,
            "fc.1",
            LEAKY,
            &pass.fc0,
            &pass.fc_saved1,
            &pass.fc2,
            &d.fc2,
            &d.fc0,
            bias_before("fc.0.bias"),
            accumulate,
        )?);
        if grads != ParamGrads::Skip {
            out.push(FC0.backward_weight(
                gpu,
                &d.fc0,
                &flat(&pass.conv4)?,
                &g("fc.0.weight")?,
                accumulate,
            )?);
        }
        out.push(FC0.backward_input(gpu, &d.fc0, &p("fc.0.weight")?, &flat(&d.conv4)?)?);
        out.push(self.net.batchnorm_backward(
            gpu,
            "conv.3",
            LEAKY,
            &pass.conv2,
            &pass.conv_saved3,
            &pass.conv4,
            &d.conv4,
            &d.conv2,
            bias_before("conv.2.bias"),
            accumulate,
        )?);
        if grads != ParamGrads::Skip {
            out.push(CONV2.backward_weight(
                gpu,
                &d.conv2,
                &pass.conv1,
                &g("conv.2.weight")?,
                accumulate,
            )?);
        }
        if grads != ParamGrads::Skip || dx.is_some() {
            // Through conv.1's LeakyReLU as it is stored: the gradient at conv.0's output.
            out.push(CONV2.backward_input_through(
                gpu,
                &d.conv2,
                &p("conv.2.weight")?,
                (LEAKY, &pass.conv1),
                &d.conv0,
            )?);
        }
        if grads != ParamGrads::Skip {
            out.push(CONV0.backward_weight(gpu, &d.conv0, x, &g("conv.0.weight")?, accumulate)?);
            out.push(CONV0.backward_bias(gpu, &d.conv0, &g("conv.0.bias")?, accumulate)?);
        }
        if let Some((dx, through)) = dx {
            let w = &p("conv.0.weight")?;
            out.push(match through {
                Some(activation) => {
                    CONV0.backward_input_through(gpu, &d.conv0, w, (activation, x), dx)?
                }
                None => CONV0.backward_input(gpu, &d.conv0, w, dx)?,
            });
        }
        Ok(out)
    }
}
