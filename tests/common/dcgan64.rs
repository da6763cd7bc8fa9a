//! The DCGAN's first D step and a G step in double precision on the CPU, chained from reference.rs, with
//! every kink's branch (ReLU, LeakyReLU) taken either from the float64 value's own sign or from signs
//! a float32 run chose.
//!
//! Why: a kink input that lies within float32's rounding of 0 takes whichever branch the rounding of a
//! float32 implementation gives it, and that branch moves every gradient behind it by ~1e-3 relative.
//! The oracle's float64 gradients follow float64's branches, float32 PyTorch follows its own, and a
//! float32 implementation that rounds differently follows others, even one whose every layer is
//! correctly rounded. Given a float32 run's branches, this reference computes what that run should
//! have computed: the same maths, in float64, down the same branches.

use std::collections::HashMap;

use super::reference::{self, ConvKind, ConvShape};

const LEAKY_SLOPE: f64 = 0.2;
const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;
const Z: usize = 62;
const G_FC1: usize = 1024;
const G_FC2: usize = 128 * 7 * 7;
const D_FLAT: usize = 128 * 7 * 7;
const D_FC: usize = 1024;

/// Parameters or gradients by PyTorch name (`G.fc.0.weight`), in float64.
pub type Params = HashMap<String, Vec<f64>>;

/// The three kinks of a pass, in order (G: fc.2, fc.5, deconv.2; D: conv.1, conv.4, fc.2): their
/// inputs and the branch each element took (true: the identity side).
#[derive(Clone, Debug, Default)]
pub struct Kinks {
    pub inputs: [Vec<f64>; 3],
    pub branches: [Vec<bool>; 3],
}

/// Branches to take instead of the values' own signs, for each kink of a pass.
pub type Forced<'a> = Option<&'a [Vec<bool>; 3]>;

fn kink(x: Vec<f64>, forced: Option<&Vec<bool>>, slope: f64) -> (Vec<f64>, Vec<bool>, Vec<f64>) {
    let branches: Vec<bool> = match forced {
        Some(b) => {
            assert_eq!(b.len(), x.len(), "forced branches: length");
            b.clone()
        }
        None => x.iter().map(|v| *v > 0.0).collect(),
    };
    let y = x
        .iter()
        .zip(&branches)
        .map(|(v, &identity)| if identity { *v } else { slope * v })
        .collect();
    (y, branches, x)
}

fn kink_backward(dy: &mut [f64], branches: &[bool], slope: f64) {
    for (g, &identity) in dy.iter_mut().zip(branches) {
        if !identity {
            *g *= slope;
        }
    }
}

fn sigmoid(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect()
}

/// Training-mode BatchNorm's output (the running statistics are not needed here).
fn batchnorm(p: &Params, layer: &str, x: &[f64], shape: (usize, usize, usize)) -> Vec<f64> {
    let c = shape.1;
    let (y, _, _) = reference::batchnorm_train(
        x,
        &p[&format!("{layer}.weight")],
        &p[&format!("{layer}.bias")],
        &vec![0.0; c],
        &vec![1.0; c],
        shape,
        EPS,
        MOMENTUM,
    );
    y
}

/// BatchNorm's input gradient, its parameters' gradients stored in `grads`.
fn batchnorm_backward(
    p: &Params,
    grads: &mut Params,
    layer: &str,
    x: &[f64],
    dy: &[f64],
    shape: (usize, usize, usize),
) -> Vec<f64> {
    let (dx, dw, db) =
        reference::batchnorm_backward(x, &p[&format!("{layer}.weight")], dy, shape, EPS);
    grads.insert(format!("{layer}.weight"), dw);
    grads.insert(format!("{layer}.bias"), db);
    dx
}

fn shape(batch: usize, hi: (usize, usize, usize), lo: (usize, usize, usize)) -> ConvShape {
    ConvShape {
        batch,
        hi,
        lo,
        k: 4,
        stride: 2,
        pad: 1,
    }
}

/// One pass of G: what its backward needs.
pub struct GeneratorPass {
    batch: usize,
    z: Vec<f64>,
    fc0: Vec<f64>,
    relu2: Vec<f64>,
    fc3: Vec<f64>,
    relu5: Vec<f64>,
    deconv0: Vec<f64>,
    relu_deconv2: Vec<f64>,
    pub image: Vec<f64>,
    pub kinks: Kinks,
}

pub fn generator_forward(p: &Params, z: &[f64], batch: usize, forced: Forced) -> GeneratorPass {
    let w = |name: &str| &p[&format!("G.{name}")];
    let f = |i: usize| forced.map(|b| &b[i]);
    let fc0 = reference::linear_forward(z, w("fc.0.weight"), w("fc.0.bias"), batch, Z, G_FC1);
    let bn1 = batchnorm(p, "G.fc.1", &fc0, (batch, G_FC1, 1));
    let (relu2, b0, i0) = kink(bn1, f(0), 0.0);
    let fc3 = reference::linear_forward(
        &relu2,
        w("fc.3.weight"),
        w("fc.3.bias"),
        batch,
        G_FC1,
        G_FC2,
    );
    let bn4 = batchnorm(p, "G.fc.4", &fc3, (batch, G_FC2, 1));
    let (relu5, b1, i1) = kink(bn4, f(1), 0.0);
    let s0 = shape(batch, (64, 14, 14), (128, 7, 7));
    let deconv0 = reference::conv_forward(
        ConvKind::ConvTranspose2d,
        &s0,
        &relu5,
        w("deconv.0.weight"),
        w("deconv.0.bias"),
    );
    let bn_deconv1 = batchnorm(p, "G.deconv.1", &deconv0, (batch, 64, 196));
    let (relu_deconv2, b2, i2) = kink(bn_deconv1, f(2), 0.0);
    let s3 = shape(batch, (1, 28, 28), (64, 14, 14));
    let deconv3 = reference::conv_forward(
        ConvKind::ConvTranspose2d,
        &s3,
        &relu_deconv2,
        w("deconv.3.weight"),
        w("deconv.3.bias"),
    );
    GeneratorPass {
        batch,
        z: z.to_vec(),
        fc0,
        relu2,
        fc3,
        relu5,
        deconv0,
        relu_deconv2,
        image: sigmoid(&deconv3),
        kinks: Kinks {
            inputs: [i0, i1, i2],
            branches: [b0, b1, b2],
        },
    }
}

/// Every gradient of G from the loss gradient at its image.
pub fn generator_backward(p: &Params, pass: &GeneratorPass, d_image: &[f64]) -> Params {
    let n = pass.batch;
    let w = |name: &str| &p[&format!("G.{name}")];
    let mut grads = Params::new();
    let d_deconv3: Vec<f64> = d_image
        .iter()
        .zip(&pass.image)
        .map(|(g, y)| g * y * (1.0 - y))
        .collect();
    let s3 = shape(n, (1, 28, 28), (64, 14, 14));
    let (mut d, dw, db) = reference::conv_backward(
        ConvKind::ConvTranspose2d,
        &s3,
        &pass.relu_deconv2,
        w("deconv.3.weight"),
        &d_deconv3,
    );
    grads.insert("G.deconv.3.weight".into(), dw);
    grads.insert("G.deconv.3.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[2], 0.0);
    let d = batchnorm_backward(p, &mut grads, "G.deconv.1", &pass.deconv0, &d, (n, 64, 196));
    let s0 = shape(n, (64, 14, 14), (128, 7, 7));
    let (mut d, dw, db) = reference::conv_backward(
        ConvKind::ConvTranspose2d,
        &s0,
        &pass.relu5,
        w("deconv.0.weight"),
        &d,
    );
    grads.insert("G.deconv.0.weight".into(), dw);
    grads.insert("G.deconv.0.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[1], 0.0);
    let d = batchnorm_backward(p, &mut grads, "G.fc.4", &pass.fc3, &d, (n, G_FC2, 1));
    let (mut d, dw, db) =
        reference::linear_backward(&pass.relu2, w("fc.3.weight"), &d, n, G_FC1, G_FC2);
    grads.insert("G.fc.3.weight".into(), dw);
    grads.insert("G.fc.3.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[0], 0.0);
    let d = batchnorm_backward(p, &mut grads, "G.fc.1", &pass.fc0, &d, (n, G_FC1, 1));
    let (_, dw, db) = reference::linear_backward(&pass.z, w("fc.0.weight"), &d, n, Z, G_FC1);
    grads.insert("G.fc.0.weight".into(), dw);
    grads.insert("G.fc.0.bias".into(), db);
    grads
}

/// One pass of D: what its backward needs.
pub struct DiscriminatorPass {
    batch: usize,
    x: Vec<f64>,
    conv1: Vec<f64>,
    conv2: Vec<f64>,
    conv4: Vec<f64>,
    fc0: Vec<f64>,
    fc2: Vec<f64>,
    pub prob: Vec<f64>,
    pub kinks: Kinks,
}

pub fn discriminator_forward(
    p: &Params,
    x: &[f64],
    batch: usize,
    forced: Forced,
) -> DiscriminatorPass {
    let w = |name: &str| &p[&format!("D.{name}")];
    let f = |i: usize| forced.map(|b| &b[i]);
    let s0 = shape(batch, (1, 28, 28), (64, 14, 14));
    let conv0 = reference::conv_forward(
        ConvKind::Conv2d,
        &s0,
        x,
        w("conv.0.weight"),
        w("conv.0.bias"),
    );
    let (conv1, b0, i0) = kink(conv0, f(0), LEAKY_SLOPE);
    let s2 = shape(batch, (64, 14, 14), (128, 7, 7));
    let conv2 = reference::conv_forward(
        ConvKind::Conv2d,
        &s2,
        &conv1,
        w("conv.2.weight"),
        w("conv.2.bias"),
    );
    let conv3 = batchnorm(p, "D.conv.3", &conv2, (batch, 128, 49));
    let (conv4, b1, i1) = kink(conv3, f(1), LEAKY_SLOPE);
    let fc0 = reference::linear_forward(
        &conv4,
        w("fc.0.weight"),
        w("fc.0.bias"),
        batch,
        D_FLAT,
        D_FC,
    );
    let fc1 = batchnorm(p, "D.fc.1", &fc0, (batch, D_FC, 1));
    let (fc2, b2, i2) = kink(fc1, f(2), LEAKY_SLOPE);
    let fc3 = reference::linear_forward(&fc2, w("fc.3.weight"), w("fc.3.bias"), batch, D_FC, 1);
    DiscriminatorPass {
        batch,
        x: x.to_vec(),
        conv1,
        conv2,
        conv4,
        fc0,
        fc2,
        prob: sigmoid(&fc3),
        kinks: Kinks {
            inputs: [i0, i1, i2],
            branches: [b0, b1, b2],
        },
    }
}

/// D's gradients from the loss gradient at its output probabilities, and the gradient at its input.
pub fn discriminator_backward(
    p: &Params,
    pass: &DiscriminatorPass,
    d_prob: &[f64],
) -> (Params, Vec<f64>) {
    let n = pass.batch;
    let w = |name: &str| &p[&format!("D.{name}")];
    let mut grads = Params::new();
    let d_fc3: Vec<f64> = d_prob
        .iter()
        .zip(&pass.prob)
        .map(|(g, y)| g * y * (1.0 - y))
        .collect();
    let (mut d, dw, db) =
        reference::linear_backward(&pass.fc2, w("fc.3.weight"), &d_fc3, n, D_FC, 1);
    grads.insert("D.fc.3.weight".into(), dw);
    grads.insert("D.fc.3.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[2], LEAKY_SLOPE);
    let d = batchnorm_backward(p, &mut grads, "D.fc.1", &pass.fc0, &d, (n, D_FC, 1));
    let (mut d, dw, db) =
        reference::linear_backward(&pass.conv4, w("fc.0.weight"), &d, n, D_FLAT, D_FC);
    grads.insert("D.fc.0.weight".into(), dw);
    grads.insert("D.fc.0.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[1], LEAKY_SLOPE);
    let d = batchnorm_backward(p, &mut grads, "D.conv.3", &pass.conv2, &d, (n, 128, 49));
    let s2 = shape(n, (64, 14, 14), (128, 7, 7));
    let (mut d, dw, db) =
        reference::conv_backward(ConvKind::Conv2d, &s2, &pass.conv1, w("conv.2.weight"), &d);
    grads.insert("D.conv.2.weight".into(), dw);
    grads.insert("D.conv.2.bias".into(), db);
    kink_backward(&mut d, &pass.kinks.branches[0], LEAKY_SLOPE);
    let s0 = shape(n, (1, 28, 28), (64, 14, 14));
    let (dx, dw, db) =
        reference::conv_backward(ConvKind::Conv2d, &s0, &pass.x, w("conv.0.weight"), &d);
    grads.insert("D.conv.0.weight".into(), dw);
    grads.insert("D.conv.0.bias".into(), db);
    (grads, dx)
}

/// BCELoss's gradient at p for target t (PyTorch: the denominator clamped at 1e-12).
fn bce_gradient(p: &[f64], target: f64) -> Vec<f64> {
    let n = p.len() as f64;
    p.iter()
        .map(|&p| (p - target) / (p * (1.0 - p)).max(1e-12) / n)
        .collect()
}

/// The branches each kink of the D step's three passes takes: D(x), G(z_d), D(G(z_d)).
pub type DStepBranches = [[Vec<bool>; 3]; 3];
/// …and of the G step's two: G(z_g), D(G(z_g)).
pub type GStepBranches = [[Vec<bool>; 3]; 2];

/// D's gradients of BCE(D(x), 1) + BCE(D(G(z_d)), 0), and each pass's kinks.
pub fn d_step(
    p: &Params,
    x: &[f64],
    z_d: &[f64],
    batch: usize,
    forced: Option<&DStepBranches>,
) -> (Params, [Kinks; 3]) {
    let f = |i: usize| forced.map(|b| &b[i]);
    let real = discriminator_forward(p, x, batch, f(0));
    let (mut grads, _) = discriminator_backward(p, &real, &bce_gradient(&real.prob, 1.0));
    let g = generator_forward(p, z_d, batch, f(1));
    let fake = discriminator_forward(p, &g.image, batch, f(2));
    let (fake_grads, _) = discriminator_backward(p, &fake, &bce_gradient(&fake.prob, 0.0));
    for (name, values) in fake_grads {
        let sum = grads
            .get_mut(&name)
            .expect("both passes have every gradient");
        sum.iter_mut().zip(values).for_each(|(s, v)| *s += v);
    }
    (grads, [real.kinks, g.kinks, fake.kinks])
}

/// G's gradients of BCE(D(G(z_g)), 1), and each pass's kinks.
pub fn g_step(
    p: &Params,
    z_g: &[f64],
    batch: usize,
    forced: Option<&GStepBranches>,
) -> (Params, [Kinks; 2]) {
    let f = |i: usize| forced.map(|b| &b[i]);
    let g = generator_forward(p, z_g, batch, f(0));
    let d = discriminator_forward(p, &g.image, batch, f(1));
    let (_, d_image) = discriminator_backward(p, &d, &bce_gradient(&d.prob, 1.0));
    (generator_backward(p, &g, &d_image), [g.kinks, d.kinks])
}
