//! BatchNorm1d / BatchNorm2d with PyTorch semantics (affine, running statistics tracked): x is [N, C]
//! or [N, C, H, W], statistics are per channel C.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
use crate::kernels::{
    Dispatch, Gpu, Kernel, Shader, Storage, WORKGROUP, as_u32, dispatch, groups_for, read, write,
};
use crate::layers::Activation;
use crate::tensor::{Tensor, expect_shape};

const FORWARD_TRAIN: Kernel = Kernel {
    shader: Shader::BatchNorm,
    entry: "batchnorm_forward_train",
    storage: &[
        read(1),
        read(2),
        read(3),
        write(4),
        write(5),
        write(6),
        write(7),
        read(12),
    ],
};
// The running statistics are declared read_write in the shader (the training kernel moves them), so
// the eval kernel binds them writable too; it only reads them.
const FORWARD_EVAL: Kernel = Kernel {
    shader: Shader::BatchNorm,
    entry: "batchnorm_forward_eval",
    storage: &[read(1), read(2), read(3), write(4), write(5), write(6)],
};
// BatchNorm1d's versions (one invocation per channel), with the same bindings.
const FORWARD_TRAIN_BY_CHANNEL: Kernel = Kernel {
    entry: "batchnorm_forward_train_by_channel",
    ..FORWARD_TRAIN
};
const BACKWARD_BY_CHANNEL: Kernel = Kernel {
    entry: "batchnorm_backward_by_channel",
    ..BACKWARD
};
// The same with four channels per invocation, read as vec4s: with `by_plane`, C a multiple of 4; in
// workgroups of BY_CHANNEL4_WG (batchnorm.wgsl).
const BY_CHANNEL4_WG: usize = 64;
const FORWARD_TRAIN_BY_CHANNEL4: Kernel = Kernel {
    entry: "batchnorm_forward_train_by_channel4",
    ..FORWARD_TRAIN
};
const BACKWARD_BY_CHANNEL4: Kernel = Kernel {
    entry: "batchnorm_backward_by_channel4",
    ..BACKWARD_BY_PLANE
};
// Binding 4 is the activation's output (`activated`), read-only here, as is its vec4 view (14).
// Nine storage buffers: what a browser's WebGPU grants (10) takes them.
const BACKWARD_STORAGE: [Storage; 9] = [
    read(1),
    read(2),
    read(4),
    write(7),
    read(8),
    write(9),
    write(10),
    write(11),
    write(15),
];
const BACKWARD: Kernel = Kernel {
    shader: Shader::BatchNorm,
    entry: "batchnorm_backward",
    storage: &BACKWARD_STORAGE,
};
// The plane-by-plane walk (`by_plane`) also reads x, dy and the activation's output as vec4s: twelve.
const BACKWARD_BY_PLANE: Kernel = Kernel {
    shader: Shader::BatchNorm,
    entry: "batchnorm_backward_by_plane",
    storage: &with_vec4_views(BACKWARD_STORAGE),
};

/// `storage` followed by the vec4 views of x, dy and the activation's output.
const fn with_vec4_views(storage: [Storage; 9]) -> [Storage; 12] {
    let views = [read(12), read(13), read(14)];
    let mut all = [views[0]; 12];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < storage.len() {
            storage[i]
        } else {
            views[i - storage.len()]
        };
        i += 1;
    }
    all
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BatchNormParams {
    batch: u32,
    channels: u32,
    spatial: u32,
    accumulate: u32,
    eps: f32,
    momentum: f32,
    activation: u32,
    negative_slope: f32,
    bias_before: u32,
    _pad: [u32; 3],
}

#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    pub channels: usize,
    pub eps: f32,
    pub momentum: f32,
    /// The activation applied to the output as it is stored (`followed_by`): y is then that
    /// activation's output, and the layer after the BatchNorm needs no pass of its own.
    pub then: Option<Activation>,
}

impl BatchNorm {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1.
    pub fn new(channels: usize) -> BatchNorm {
        BatchNorm {
            channels,
            eps: 1e-5,
            momentum: 0.1,
            then: None,
        }
    }

    /// The layer with `activation` (ReLU or LeakyReLU) applied to its output in the same pass.
    pub fn followed_by(self, activation: Activation) -> BatchNorm {
        BatchNorm {
            then: Some(activation),
            ..self
        }
    }

    /// (N, S) of x: [N, C] or [N, C, H, W], S being the positions per channel and sample.
    fn layout(&self, op: &'static str, tensor: &'static str, x: &Tensor) -> Result<(usize, usize)> {
        let shape = x.shape();
        let fits =
            (shape.len() == 2 || shape.len() == 4) && shape[0] > 0 && shape[1] == self.channels;
        if !fits {
            let mut expected = vec![shape.first().copied().unwrap_or(1).max(1), self.channels];
            if shape.len() == 4 {
                expected.extend_from_slice(&shape[2..]);
            }
            return Err(Error::Shape {
                op,
                tensor,
                expected,
                got: shape.to_vec(),
            });
        }
        Ok((shape[0], shape[2..].iter().product()))
    }

    fn params(
        &self,
        op: &'static str,
        batch: usize,
        spatial: usize,
        accumulate: bool,
        bias_before: bool,
    ) -> Result<BatchNormParams> {
        let (activation, negative_slope) = match self.then {
            None => (0, 0.0),
            Some(Activation::Sigmoid) => {
                return Err(Error::InvalidArgument {
                    op,
                    message: "Sigmoid cannot follow a BatchNorm in its pass".into(),
                });
            }
            Some(then) => then.code(),
        };
        Ok(BatchNormParams {
            batch: as_u32(op, batch)?,
            channels: as_u32(op, self.channels)?,
            spatial: as_u32(op, spatial)?,
            accumulate: accumulate as u32,
            eps: self.eps,
            momentum: self.momentum,
            activation,
            negative_slope,
            bias_before: bias_before as u32,
            _pad: [0; 3],
        })
    }

    fn check_per_channel(&self, op: &'static str, pairs: &[(&'static str, &Tensor)]) -> Result<()> {
        pairs
            .iter()
            .try_for_each(|(name, t)| expect_shape(op, name, t, &[self.channels]))
    }

    /// The kernel that reduces over each channel and its workgroup count: BatchNorm1d's one invocation
    /// per channel (`by_channel`; with `by_plane`, when C is a multiple of 4, one per four channels:
    /// `by_channel4`), or BatchNorm2d's one workgroup per channel (`by_workgroup`), whose lanes share
    /// the N·H·W values.
    fn reduction(
        &self,
        gpu: &Gpu,
        op: &'static str,
        spatial: usize,
        [by_channel, by_channel4, by_workgroup]: [&'static Kernel; 3],
    ) -> Result<(&'static Kernel, u32)> {
        if spatial == 1 && gpu.by_plane() && self.channels.is_multiple_of(4) {
            Ok((
                by_channel4,
                as_u32(op, (self.channels / 4).div_ceil(BY_CHANNEL4_WG))?,
            ))
        } else if spatial == 1 {
            let (_, rows) = gpu.batchnorm_lanes();
            let channels_per_workgroup = WORKGROUP / rows;
            Ok((
                by_channel,
                as_u32(op, self.channels.div_ceil(channels_per_workgroup))?,
            ))
        } else {
            Ok((by_workgroup, as_u32(op, self.channels)?))
        }
    }

    /// Training mode. x: [N, C(, H, W)], weight, bias, running_mean, running_var: [C] → y: like x (the
    /// activation of the output with `followed_by`), saved: [2, C] (batch mean and 1/sqrt(var + eps), for `backward`); the running statistics move.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_train(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        y: &Tensor,
        saved: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "batchnorm_forward_train";
        let (batch, spatial) = self.layout(OP, "x", x)?;
        if batch * spatial < 2 {
            return Err(Error::InvalidArgument {
                op: OP,
                message: "training needs more than one value per channel (as in PyTorch)".into(),
            });
        }
        self.check_per_channel(
            OP,
            &[
                ("weight", weight),
                ("bias", bias),
                ("running_mean", running_mean),
                ("running_var", running_var),
            ],
        )?;
        expect_shape(OP, "y", y, x.shape())?;
        expect_shape(OP, "saved", saved, &[2, self.channels])?;
        let params = self.params(OP, batch, spatial, false, false)?;
        let (kernel, workgroups) = self.reduction(
            gpu,
            OP,
            spatial,
            [
                &FORWARD_TRAIN_BY_CHANNEL,
                &FORWARD_TRAIN_BY_CHANNEL4,
                &FORWARD_TRAIN,
            ],
        )?;
        dispatch(
            gpu,
            kernel,
            &params,
            &[x, weight, bias, y, running_mean, running_var, saved, x],
            workgroups,
        )
    }

    /// Eval mode: normalise with the running statistics. Shapes as in `forward_train`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_eval(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        y: &Tensor,
    ) -> Result<Dispatch> {
        const OP: &str = "batchnorm_forward_eval";
        let (batch, spatial) = self.layout(OP, "x", x)?;
        self.check_per_channel(
            OP,
            &[
                ("weight", weight),
                ("bias", bias),
                ("running_mean", running_mean),
                ("running_var", running_var),
            ],
        )?;
        expect_shape(OP, "y", y, x.shape())?;
        let params = self.params(OP, batch, spatial, false, false)?;
        dispatch(
            gpu,
            &FORWARD_EVAL,
            &params,
            &[x, weight, bias, y, running_mean, running_var],
            groups_for(OP, x.numel())?,
        )
    }

    /// x: the forward input, weight: [C], saved: [2, C] from `forward_train`, and `grads`: dy → dx,
    /// dweight, dbias (and dbias_before).
    pub fn backward(
        &self,
        gpu: &Gpu,
        x: &Tensor,
        weight: &Tensor,
        saved: &Tensor,
        grads: &BatchNormGrads,
    ) -> Result<Dispatch> {
        const OP: &str = "batchnorm_backward";
        let (batch, spatial) = self.layout(OP, "x", x)?;
        let BatchNormGrads {
            dy,
            activated,
            dx,
            dweight,
            dbias,
            dbias_before,
            accumulate,
        } = *grads;
        expect_shape(OP, "dy", dy, x.shape())?;
        expect_shape(OP, "dx", dx, x.shape())?;
        expect_shape(OP, "saved", saved, &[2, self.channels])?;
        self.check_per_channel(
            OP,
            &[("weight", weight), ("dweight", dweight), ("dbias", dbias)],
        )?;
        // Unused bindings get dx, which the kernel binds writable anyway.
        let activated = match (self.then, activated) {
            (Some(_), Some(a)) => {
                expect_shape(OP, "activated", a, x.shape())?;
                a
            }
            // Never read without an activation; its own buffer, as WebGPU forbids binding dx twice.
            (None, None) => &unread(gpu, "no activation output")?,
            (then, _) => {
                return Err(Error::InvalidArgument {
                    op: OP,
                    message: format!(
                        "the activation's output is needed exactly when an activation follows \
                         (followed by {then:?})"
                    ),
                });
            }
        };
        if let Some(b) = dbias_before {
            self.check_per_channel(OP, &[("dbias_before", b)])?;
        }
        let params = self.params(OP, batch, spatial, accumulate, dbias_before.is_some())?;
        let (kernel, workgroups) = self.reduction(
            gpu,
            OP,
            spatial,
            [
                &BACKWARD_BY_CHANNEL,
                &BACKWARD_BY_CHANNEL4,
                if gpu.by_plane() {
                    &BACKWARD_BY_PLANE
                } else {
                    &BACKWARD
                },
            ],
        )?;
        let no_bias_before;
        let dbias_before = match dbias_before {
            Some(b) => b,
            None => {
                no_bias_before = unread(gpu, "no bias before")?;
                &no_bias_before
            }
        };
        let tensors = [
            x,
            weight,
            activated,
            saved,
            dy,
            dx,
            dweight,
            dbias,
            dbias_before,
            x,
            dy,
            activated,
        ];
        dispatch(
            gpu,
            kernel,
            &params,
            &tensors[..kernel.storage.len()],
            workgroups,
        )
    }
}

/// A binding the kernel never touches in this configuration: four floats (one vec4) of its own.
fn unread(gpu: &Gpu, label: &str) -> Result<Tensor> {
    Tensor::zeros(gpu, label, &[4])
}

/// What a BatchNorm's backward pass reads and writes besides x, weight and the saved statistics.
#[derive(Clone, Copy)]
pub struct BatchNormGrads<'a> {
    /// The gradient at the layer's output, like x; with `followed_by`, at the activation's output.
    pub dy: &'a Tensor,
    /// With `followed_by` (and only then): the forward's output, the activation's, like x. Its sign
    /// says which branch of the activation's gradient each element takes, so that backward needs no
    /// pass of its own.
    pub activated: Option<&'a Tensor>,
    /// The gradient at x.
    pub dx: &'a Tensor,
    /// [C] each.
    pub dweight: &'a Tensor,
    pub dbias: &'a Tensor,
    /// [C]: the gradient of the bias of the layer before, whose output is x (Σ dx over each channel).
    pub dbias_before: Option<&'a Tensor>,
    /// Add the parameter gradients to what they hold instead of overwriting them.
    pub accumulate: bool,
}

impl<'a> BatchNormGrads<'a> {
    /// A BatchNorm's own gradients, overwritten: no activation after it, no bias before it.
    pub fn new(
        dy: &'a Tensor,
        dx: &'a Tensor,
        dweight: &'a Tensor,
        dbias: &'a Tensor,
    ) -> BatchNormGrads<'a> {
        BatchNormGrads {
            dy,
            activated: None,
            dx,
            dweight,
            dbias,
            dbias_before: None,
            accumulate: false,
        }
    }
}
