//! Every kernel run twice on the same inputs gives bit-identical outputs: reductions are summed in a
//! fixed order and no kernel uses floating-point atomics. Shapes are the model's (batch reduced), with
//! more values per channel than one workgroup has invocations so the tree reductions matter.

mod common;

use common::{gpu, random, read, run, upload, zeros};
use gan_wgpu::Tensor;
use gan_wgpu::adam::Adam;
use gan_wgpu::kernels::Dispatch;
use gan_wgpu::layers::{Activation, BatchNorm, BceLoss, Conv2d, ConvTranspose2d, Linear};

/// Builds fresh inputs and outputs, runs the dispatches, returns every output's bits.
fn outputs_of(build: impl Fn() -> (Vec<Dispatch>, Vec<Tensor>)) -> Vec<Vec<u32>> {
    let (dispatches, outputs) = build();
    run(&dispatches.iter().collect::<Vec<_>>());
    outputs
        .iter()
        .map(|t| read(t).iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn assert_bit_identical(what: &str, build: impl Fn() -> (Vec<Dispatch>, Vec<Tensor>)) {
    let first = outputs_of(&build);
    let second = outputs_of(&build);
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(
            differing, 0,
            "{what}: output {i} differs in {differing} elements between runs"
        );
    }
}

fn input(shape: &[usize], seed: u64) -> Tensor {
    upload(shape, &random(shape.iter().product(), seed, -1.0, 1.0))
}

/// Runs a weighted layer's four kernels twice on inputs of the given shapes.
macro_rules! check_weighted_layer {
    ($name:expr, $layer:expr, x: $x:expr, weight: $w:expr, y: $y:expr) => {{
        let g = gpu();
        let (x_shape, w_shape, y_shape): (&[usize], &[usize], &[usize]) = ($x, $w, $y);
        let channels = y_shape[1];
        assert_bit_identical($name, || {
            let (x, w, b, dy) = (
                input(x_shape, 1),
                input(w_shape, 2),
                input(&[channels], 3),
                input(y_shape, 4),
            );
            let out = vec![
                zeros(y_shape),
                zeros(x_shape),
                zeros(w_shape),
                zeros(&[channels]),
            ];
            (
                weighted_layer_dispatches!($layer, g, &x, &w, &b, &dy, out),
                out,
            )
        });
    }};
}

#[test]
fn linear_and_convolutions_are_deterministic() {
    check_weighted_layer!("linear", Linear::new(300, 517), x: &[16, 300], weight: &[517, 300], y: &[16, 517]);
    check_weighted_layer!(
        "conv2d",
        Conv2d::new(64, 128, 4, 2, 1),
        x: &[4, 64, 14, 14],
        weight: &[128, 64, 4, 4],
        y: &[4, 128, 7, 7]
    );
    check_weighted_layer!(
        "conv_transpose2d",
        ConvTranspose2d::new(128, 64, 4, 2, 1),
        x: &[4, 128, 7, 7],
        weight: &[128, 64, 4, 4],
        y: &[4, 64, 14, 14]
    );
}

#[test]
fn batchnorm_is_deterministic() {
    let g = gpu();
    for shape in [&[8usize, 64, 14, 14][..], &[128, 1024]] {
        let c = shape[1];
        let layer = BatchNorm::new(c);
        assert_bit_identical(&format!("batchnorm {shape:?}"), || {
            let (x, w, b, dy) = (
                input(shape, 1),
                input(&[c], 2),
                input(&[c], 3),
                input(shape, 4),
            );
            let (rm, rv) = (input(&[c], 5), upload(&[c], &random(c, 6, 0.5, 1.5)));
            let out = vec![
                zeros(shape),
                zeros(&[2, c]),
                zeros(shape),
                zeros(&[c]),
                zeros(&[c]),
                zeros(shape),
            ];
            let d = vec![
                layer
                    .forward_train(g, &x, &w, &b, &rm, &rv, &out[0], &out[1])
                    .unwrap(),
                layer
                    .backward(g, &x, &dy, &w, &out[1], &out[2], &out[3], &out[4], false)
                    .unwrap(),
                layer
                    .forward_eval(g, &x, &w, &b, &rm, &rv, &out[5])
                    .unwrap(),
            ];
            (d, [out, vec![rm, rv]].concat())
        });
    }
}

#[test]
fn activations_bce_and_adam_are_deterministic() {
    let g = gpu();
    for activation in [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
        Activation::Sigmoid,
    ] {
        assert_bit_identical(&format!("{activation:?}"), || {
            // The backward turns dy (out[1]) into dx in place.
            let x = input(&[1000], 1);
            let out = vec![zeros(&[1000]), input(&[1000], 2)];
            let d = vec![
                activation.forward(g, &x, &out[0]).unwrap(),
                activation.backward(g, &x, &out[1]).unwrap(),
            ];
            (d, out)
        });
    }
    assert_bit_identical("bce", || {
        let p = upload(&[1000, 1], &random(1000, 1, 0.01, 0.99));
        let t = upload(&[1000, 1], &[1.0; 1000]);
        let out = vec![zeros(&[1]), zeros(&[1000, 1])];
        let d = vec![
            BceLoss::forward(g, &p, &t, &out[0], false, None).unwrap(),
            BceLoss::backward(g, &p, &t, &out[1], 1.0).unwrap(),
        ];
        (d, out)
    });
    let adam = Adam::new(2e-4, 0.5, 0.999);
    assert_bit_identical("adam", || {
        let (grad, param, m) = (input(&[4096], 1), input(&[4096], 2), input(&[4096], 3));
        let v = upload(&[4096], &random(4096, 4, 0.0, 1.0));
        let d = vec![adam.update(g, &grad, &param, &m, &v, 3, None).unwrap()];
        (d, vec![param, m, v])
    });
}
