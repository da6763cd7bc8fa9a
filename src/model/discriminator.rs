//! D: Conv2d(1→64,k4,s2,p1) LeakyReLU(0.2) · Conv2d(64→128,k4,s2,p1) BN2d LeakyReLU(0.2) · view(N,6272) ·
//! Linear(6272,1024) BN1d LeakyReLU(0.2) · Linear(1024,1) · Sigmoid.
//!
//! The same layers with other widths and a 10-way output are the classifier that scores images
//! ([`super::classifier`]): an [`Architecture`] says which.

use super::{GradientPool, Mode, Net, NetSpec, buffer};
use crate::error::{Error, Result};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, Conv, Linear};
use crate::model::IMAGE_SIDE;
use crate::tensor::{Tensor, expect_shape};

const LEAKY: Activation = Activation::LeakyRelu {
    negative_slope: 0.2,
};

/// Side of conv.0's output (28 → 14) and of conv.2's (14 → 7).
const CONV0_SIDE: usize = 14;
const CONV2_SIDE: usize = 7;

/// D's layer widths and what follows its last Linear layer.
#[derive(Debug, PartialEq)]
pub struct Architecture {
    /// Its tensors; their shapes must be those the widths give.
    pub spec: &'static NetSpec,
    pub conv0_channels: usize,
    pub conv2_channels: usize,
    /// Width of fc.0 (and its BatchNorm, fc.1).
    pub fc: usize,
    /// Width of fc.3, the last layer.
    pub outputs: usize,
    /// A Sigmoid after fc.3 (D's probability), or fc.3's logits are the output (the classifier's).
    pub sigmoid: bool,
}

impl Architecture {
    /// conv.0 stores its LeakyReLU (conv.1) as it goes.
    fn conv0(&self) -> Conv {
        Conv::conv2d(1, self.conv0_channels, 4, 2, 1).followed_by(LEAKY)
    }

    fn conv2(&self) -> Conv {
        Conv::conv2d(self.conv0_channels, self.conv2_channels, 4, 2, 1)
    }

    /// conv.4's output seen as rows: PyTorch's view(N, C·7·7).
    pub fn flat(&self) -> usize {
        self.conv2_channels * CONV2_SIDE * CONV2_SIDE
    }

    fn fc0(&self) -> Linear {
        Linear::new(self.flat(), self.fc)
    }

    fn fc3(&self) -> Linear {
        Linear::new(self.fc, self.outputs)
    }
}

const CONV0_CHANNELS: usize = 64;
const CONV2_CHANNELS: usize = 128;
const FLAT: usize = CONV2_CHANNELS * CONV2_SIDE * CONV2_SIDE;
const FC: usize = 1024;

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

/// The DCGAN's D.
pub const DCGAN: Architecture = Architecture {
    spec: &SPEC,
    conv0_channels: CONV0_CHANNELS,
    conv2_channels: CONV2_CHANNELS,
    fc: FC,
    outputs: 1,
    sigmoid: true,
};

pub struct Discriminator {
    pub net: Net,
    pub architecture: &'static Architecture,
}

/// What a backward pass does with D's parameter gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamGrads {
    /// Write them (the D step: one pass over the real and the fake images).
    Overwrite,
    /// Leave Linear and convolution gradients alone: G's step only needs the gradient at D's input.
    /// (BatchNorm's backward kernel still writes its two; D's next step overwrites them.)
    Skip,
}

/// Activations and their gradients for `groups` batches of `batch / groups` images run as one batch
/// of `batch` rows: the D step's real and fake images (two groups), the G step's fake ones (one).
/// Every layer but BatchNorm treats each row alone, so it runs once over all of them, and its weight
/// gradients sum over both groups as the real and fake losses' gradients add. Each BatchNorm
/// normalises every group with that group's own statistics and moves its running estimates group
/// after group, as D(x) and then D(G(z)) do in the original (one BatchNorm batch over both would be
/// another model). Names follow the layer that wrote them.
pub struct DiscriminatorPass {
    pub architecture: &'static Architecture,
    pub batch: usize,
    pub groups: usize,
    /// conv.0 and its LeakyReLU conv.1 in one pass: only the LeakyReLU's output is kept.
    conv1: Tensor,
    conv2: Tensor,
    /// conv.3 and conv.4, the BatchNorm and its LeakyReLU, in one pass (likewise fc.1 and fc.2): only
    /// the LeakyReLU's output is kept. The saved statistics are [groups, 2, C].
    conv_saved3: Tensor,
    conv4: Tensor,
    fc0: Tensor,
    fc_saved1: Tensor,
    fc2: Tensor,
    /// fc.3's output, [N, outputs]: the classifier's logits.
    fc3: Tensor,
    /// D's output: [N, 1] probabilities, group after group (unused without a Sigmoid).
    pub prob: Tensor,
    /// The loss gradient at fc.3's output, the Sigmoid's input, [N, outputs]: the backward pass
    /// starts from it (the BCE kernel takes its gradient through the Sigmoid:
    /// `GradientAt::SigmoidInput`).
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
    /// Activation buffers of `architecture` for `groups` groups of images, `batch` in all; the
    /// gradients come from `gradients`.
    pub fn new(
        gpu: &Gpu,
        architecture: &'static Architecture,
        batch: usize,
        groups: usize,
        label: &str,
        gradients: &mut GradientPool,
    ) -> Result<DiscriminatorPass> {
        if groups == 0 || !batch.is_multiple_of(groups) {
            return Err(Error::InvalidArgument {
                op: "DiscriminatorPass::new",
                message: format!("{batch} images do not make {groups} equal groups"),
            });
        }
        let b = |name: &str, shape: &[usize]| buffer(gpu, &format!("D {label} {name}"), shape);
        let a = architecture;
        let c0 = [batch, a.conv0_channels, CONV0_SIDE, CONV0_SIDE];
        let c2 = [batch, a.conv2_channels, CONV2_SIDE, CONV2_SIDE];
        let mut g = gradients.for_pass();
        Ok(DiscriminatorPass {
            architecture,
            batch,
            groups,
            conv1: b("conv.1", &c0)?,
            conv2: b("conv.2", &c2)?,
            conv_saved3: b("conv.3 saved", &[groups, 2, a.conv2_channels])?,
            conv4: b("conv.4", &c2)?,
            fc0: b("fc.0", &[batch, a.fc])?,
            fc_saved1: b("fc.1 saved", &[groups, 2, a.fc])?,
            fc2: b("fc.2", &[batch, a.fc])?,
            fc3: b("fc.3", &[batch, a.outputs])?,
            prob: b("prob", &[batch, 1])?,
            d_logit: b("grad logit", &[batch, a.outputs])?,
            grad: Grads {
                fc2: g.take(gpu, &[batch, a.fc])?,
                fc0: g.take(gpu, &[batch, a.fc])?,
                conv4: g.take(gpu, &c2)?,
                conv2: g.take(gpu, &c2)?,
                conv0: g.take(gpu, &c0)?,
            },
        })
    }

    /// Images in each group.
    pub fn group_size(&self) -> usize {
        self.batch / self.groups
    }

    /// A one-group pass over the first group's rows of every buffer of this one (the G step's pass
    /// over the D step's: each runs only while the other does not).
    pub fn first_group(&self, gpu: &Gpu) -> Result<DiscriminatorPass> {
        let n = self.group_size();
        let rows = |t: &Tensor| t.rows(gpu, 0, n);
        let saved = |t: &Tensor| t.rows(gpu, 0, 1);
        Ok(DiscriminatorPass {
            architecture: self.architecture,
            batch: n,
            groups: 1,
            conv1: rows(&self.conv1)?,
            conv2: rows(&self.conv2)?,
            conv_saved3: saved(&self.conv_saved3)?,
            conv4: rows(&self.conv4)?,
            fc0: rows(&self.fc0)?,
            fc_saved1: saved(&self.fc_saved1)?,
            fc2: rows(&self.fc2)?,
            fc3: rows(&self.fc3)?,
            prob: rows(&self.prob)?,
            d_logit: rows(&self.d_logit)?,
            grad: Grads {
                fc2: rows(&self.grad.fc2)?,
                fc0: rows(&self.grad.fc0)?,
                conv4: rows(&self.grad.conv4)?,
                conv2: rows(&self.grad.conv2)?,
                conv0: rows(&self.grad.conv0)?,
            },
        })
    }

    /// The outputs of the pass's three LeakyReLUs (conv.1, conv.4, fc.2) after a training-mode forward:
    /// an element is > 0 exactly where the LeakyReLU's input is, which decides the branch its gradient
    /// takes.
    pub fn kinks(&self) -> [&Tensor; 3] {
        [&self.conv1, &self.conv4, &self.fc2]
    }

    /// conv.4 seen as the [N, C·7·7] rows the Linear layer takes (PyTorch's view).
    fn flat(&self, t: &Tensor) -> Result<Tensor> {
        t.reshape(&[self.batch, self.architecture.flat()])
    }

    /// fc.3's output after a forward pass, [N, outputs]: the classifier's logits.
    pub fn logits(&self) -> &Tensor {
        &self.fc3
    }

    /// fc.2's output after a forward pass, [N, fc]: the last hidden layer's activations, the
    /// features the Fréchet distance compares.
    pub fn features(&self) -> &Tensor {
        &self.fc2
    }

    /// Group `g`'s rows of `t`.
    fn group(&self, gpu: &Gpu, g: usize, t: &Tensor) -> Result<Tensor> {
        let n = self.group_size();
        t.rows(gpu, g * n, n)
    }

    /// Group `g`'s [2, C] statistics in a BatchNorm's saved [groups, 2, C].
    fn saved(&self, gpu: &Gpu, g: usize, saved: &Tensor) -> Result<Tensor> {
        let shape = saved.shape()[1..].to_vec();
        saved.rows(gpu, g, 1)?.reshape(&shape)
    }

    /// One input per group, each [group_size, 1, 28, 28].
    fn check_inputs(
        &self,
        op: &'static str,
        architecture: &Architecture,
        xs: &[&Tensor],
    ) -> Result<()> {
        if architecture != self.architecture {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "a pass made for {} run on {}",
                    self.architecture.spec.label, architecture.spec.label
                ),
            });
        }
        if xs.len() != self.groups {
            return Err(Error::InvalidArgument {
                op,
                message: format!("{} inputs for a pass of {} groups", xs.len(), self.groups),
            });
        }
        let image = [self.group_size(), 1, IMAGE_SIDE, IMAGE_SIDE];
        xs.iter().try_for_each(|x| expect_shape(op, "x", x, &image))
    }
}

impl Discriminator {
    /// The DCGAN's D.
    pub fn new(gpu: &Gpu) -> Result<Discriminator> {
        Discriminator::with_architecture(gpu, &DCGAN)
    }

    pub fn with_architecture(
        gpu: &Gpu,
        architecture: &'static Architecture,
    ) -> Result<Discriminator> {
        Ok(Discriminator {
            net: Net::new(gpu, architecture.spec)?,
            architecture,
        })
    }

    /// xs: one [N / groups, 1, 28, 28] batch per group of the pass → pass.prob: [N, 1].
    pub fn forward(
        &self,
        gpu: &Gpu,
        pass: &DiscriminatorPass,
        xs: &[&Tensor],
        mode: Mode,
    ) -> Result<Vec<Dispatch>> {
        pass.check_inputs("Discriminator::forward", self.architecture, xs)?;
        let p = |name| self.net.value(gpu, name);
        let flat = |t: &Tensor| pass.flat(t);
        let a = self.architecture;
        let groups = 0..pass.groups;
        let mut out = vec![];
        for (g, x) in xs.iter().enumerate() {
            out.push(a.conv0().forward(
                gpu,
                x,
                &p("conv.0.weight")?,
                &p("conv.0.bias")?,
                &pass.group(gpu, g, &pass.conv1)?,
            )?);
        }
        out.push(a.conv2().forward(
            gpu,
            &pass.conv1,
            &p("conv.2.weight")?,
            &p("conv.2.bias")?,
            &pass.conv2,
        )?);
        for g in groups.clone() {
            out.push(self.net.batchnorm(
                gpu,
                "conv.3",
                mode,
                &pass.group(gpu, g, &pass.conv2)?,
                LEAKY,
                &pass.group(gpu, g, &pass.conv4)?,
                &pass.saved(gpu, g, &pass.conv_saved3)?,
            )?);
        }
        out.push(a.fc0().forward(
            gpu,
            &flat(&pass.conv4)?,
            &p("fc.0.weight")?,
            &p("fc.0.bias")?,
            &pass.fc0,
        )?);
        for g in groups {
            out.push(self.net.batchnorm(
                gpu,
                "fc.1",
                mode,
                &pass.group(gpu, g, &pass.fc0)?,
                LEAKY,
                &pass.group(gpu, g, &pass.fc2)?,
                &pass.saved(gpu, g, &pass.fc_saved1)?,
            )?);
        }
        out.push(a.fc3().forward(
            gpu,
            &pass.fc2,
            &p("fc.3.weight")?,
            &p("fc.3.bias")?,
            &pass.fc3,
        )?);
        if a.sigmoid {
            out.push(Activation::Sigmoid.forward(gpu, &pass.fc3, &pass.prob)?);
        }
        Ok(out)
    }

    /// From pass.d_logit (after a training-mode forward of `xs` on `pass`): D's parameter gradients
    /// as `grads` says (the sum over all groups), and, for a one-group pass, with `dx` = (tensor,
    /// activation) the gradient at D's input into the tensor: with an activation, at that
    /// activation's input, D's input being its output (G's Sigmoid).
    pub fn backward(
        &self,
        gpu: &Gpu,
        pass: &DiscriminatorPass,
        xs: &[&Tensor],
        grads: ParamGrads,
        dx: Option<(&Tensor, Option<Activation>)>,
    ) -> Result<Vec<Dispatch>> {
        const OP: &str = "Discriminator::backward";
        pass.check_inputs(OP, self.architecture, xs)?;
        if dx.is_some() && pass.groups != 1 {
            return Err(Error::InvalidArgument {
                op: OP,
                message: "the gradient at D's input is given for a one-group pass only".into(),
            });
        }
        let (p, g) = (
            |name| self.net.value(gpu, name),
            |name| self.net.grad(gpu, name),
        );
        let d = &pass.grad;
        let flat = |t: &Tensor| pass.flat(t);
        let a = self.architecture;
        let weights = grads == ParamGrads::Overwrite;
        let d_fc3 = &pass.d_logit;
        let mut out = vec![];
        // Each layer's parameter gradients (unless skipped), then the gradient at its input.
        if weights {
            out.push(
                a.fc3()
                    .backward_weight(gpu, d_fc3, &pass.fc2, &g("fc.3.weight")?, false)?,
            );
            out.push(a.fc3().backward_bias(gpu, d_fc3, &g("fc.3.bias")?, false)?);
        }
        out.push(
            a.fc3()
                .backward_input(gpu, d_fc3, &p("fc.3.weight")?, &d.fc2)?,
        );
        // A BatchNorm's backward, group by group (the later ones add to its parameter gradients):
        // with the LeakyReLU's backward in it, and the gradient of the cancelled bias before it
        // (Σ dx).
        let batchnorm_backward = |layer: &str,
                                  (x, saved, activated): (&Tensor, &Tensor, &Tensor),
                                  (dy, dx): (&Tensor, &Tensor),
                                  bias_before: &'static str|
         -> Result<Vec<Dispatch>> {
            (0..pass.groups)
                .map(|group| {
                    let rows = |t: &Tensor| pass.group(gpu, group, t);
                    self.net.batchnorm_backward(
                        gpu,
                        layer,
                        LEAKY,
                        &rows(x)?,
                        &pass.saved(gpu, group, saved)?,
                        &rows(activated)?,
                        &rows(dy)?,
                        &rows(dx)?,
                        weights.then_some(bias_before),
                        group > 0,
                    )
                })
                .collect()
        };
        out.extend(batchnorm_backward(
            "fc.1",
            (&pass.fc0, &pass.fc_saved1, &pass.fc2),
            (&d.fc2, &d.fc0),
            "fc.0.bias",
        )?);
        if weights {
            out.push(a.fc0().backward_weight(
                gpu,
                &d.fc0,
                &flat(&pass.conv4)?,
                &g("fc.0.weight")?,
                false,
            )?);
        }
        out.push(
            a.fc0()
                .backward_input(gpu, &d.fc0, &p("fc.0.weight")?, &flat(&d.conv4)?)?,
        );
        out.extend(batchnorm_backward(
            "conv.3",
            (&pass.conv2, &pass.conv_saved3, &pass.conv4),
            (&d.conv4, &d.conv2),
            "conv.2.bias",
        )?);
        if weights {
            out.push(a.conv2().backward_weight(
                gpu,
                &d.conv2,
                &pass.conv1,
                &g("conv.2.weight")?,
                false,
            )?);
        }
        if weights || dx.is_some() {
            // Through conv.1's LeakyReLU as it is stored: the gradient at conv.0's output.
            out.push(a.conv2().backward_input_through(
                gpu,
                &d.conv2,
                &p("conv.2.weight")?,
                (LEAKY, &pass.conv1),
                &d.conv0,
            )?);
        }
        if weights {
            // Each group's images are a buffer of their own: conv.0's weight gradient group by group.
            for (group, x) in xs.iter().enumerate() {
                out.push(a.conv0().backward_weight(
                    gpu,
                    &pass.group(gpu, group, &d.conv0)?,
                    x,
                    &g("conv.0.weight")?,
                    group > 0,
                )?);
            }
            out.push(
                a.conv0()
                    .backward_bias(gpu, &d.conv0, &g("conv.0.bias")?, false)?,
            );
        }
        if let Some((dx, through)) = dx {
            let w = &p("conv.0.weight")?;
            out.push(match through {
                Some(activation) => {
                    a.conv0()
                        .backward_input_through(gpu, &d.conv0, w, (activation, xs[0]), dx)?
                }
                None => a.conv0().backward_input(gpu, &d.conv0, w, dx)?,
            });
        }
        Ok(out)
    }
}
