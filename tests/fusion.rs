//! BatchNorm with the activation after it in one pass (`BatchNorm::followed_by`) gives bit for bit what
//! the BatchNorm and then the activation's own kernel give, forward and backward, for every way
//! BatchNorm walks a channel (per channel workgroups, one or four channels an invocation, plane by plane
//! or across planes), in training and eval mode, for ReLU and LeakyReLU; and the bias gradient its
//! backward gives the layer before (Σ dx) is that sum. BCE's gradient taken through D's Sigmoid in the
//! loss's own pass is bit for bit the loss's gradient at the probabilities then the Sigmoid's backward,
//! and a convolution that stores its output through an activation (`Conv::followed_by`) or its input
//! gradient through one (`Conv::backward_input_through`) is bit for bit the convolution then the
//! activation's kernel, on every kernel family.

mod common;

use common::{KERNEL_FAMILIES, KernelFamily, gpu_with, random};
use gan_wgpu::Tensor;
use gan_wgpu::kernels::Gpu;
use gan_wgpu::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt};

fn upload(g: &Gpu, name: &str, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(g, name, shape, data).unwrap()
}

/// The activation of BatchNorm(x): from the fused pass, and from BatchNorm then the activation's kernel.
fn both(g: &Gpu, shape: &[usize], activation: Activation, train: bool) -> [Vec<f32>; 2] {
    let c = shape[1];
    let count: usize = shape.iter().product();
    let x = upload(g, "x", shape, &random(count, 1, -2.0, 3.0));
    let weight = upload(g, "weight", &[c], &random(c, 2, 0.5, 1.5));
    let bias = upload(g, "bias", &[c], &random(c, 3, -0.5, 0.5));
    let run = |fused: bool| -> Vec<f32> {
        let bn = if fused {
            BatchNorm::new(c).followed_by(activation)
        } else {
            BatchNorm::new(c)
        };
        // Fresh running statistics for each: training moves them.
        let rm = upload(g, "running_mean", &[c], &random(c, 4, -0.2, 0.2));
        let rv = upload(g, "running_var", &[c], &random(c, 5, 0.5, 2.0));
        let saved = Tensor::zeros(g, "saved", &[2, c]).unwrap();
        let y = Tensor::zeros(g, "y", shape).unwrap();
        let a = Tensor::zeros(g, "activated", shape).unwrap();
        let mut dispatches = vec![
            if train {
                bn.forward_train(g, &x, &weight, &bias, &rm, &rv, &y, &saved)
            } else {
                bn.forward_eval(g, &x, &weight, &bias, &rm, &rv, &y)
            }
            .unwrap(),
        ];
        if !fused {
            dispatches.push(activation.forward(g, &y, &a).unwrap());
        }
        g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
        if fused { y.read(g) } else { a.read(g) }.unwrap()
    };
    [run(true), run(false)]
}

#[test]
fn batchnorm_then_activation_in_one_pass_is_bit_for_bit_the_two() {
    let activations = [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
    ];
    // BatchNorm1d with C a multiple of 4 (four channels an invocation on CPU adapters) and not,
    // and BatchNorm2d (a workgroup per channel).
    let shapes: [&[usize]; 3] = [&[16, 64], &[16, 30], &[4, 8, 7, 7]];
    // Across planes (tiles) and plane by plane (the subgroup family on CPU adapters).
    for family in [KernelFamily::Tiled, KernelFamily::Subgroup] {
        let g = gpu_with(family);
        for shape in shapes {
            for activation in activations {
                for train in [true, false] {
                    let [fused, apart] = both(g, shape, activation, train);
                    let case = format!("{family:?} {shape:?} {activation:?} train {train}");
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fused), bits(&apart), "{case}");
                    let positive = apart.iter().filter(|v| **v > 0.0).count();
                    assert!(
                        positive > 0 && positive < apart.len(),
                        "{case}: both branches"
                    );
                }
            }
        }
    }
}

/// BatchNorm's backward with the activation's folded in (and the bias gradient of the layer before),
/// and the activation's backward kernel followed by BatchNorm's own: [dx, dweight, dbias] of each and
/// the fused pass's dbias_before. `accumulate` adds to gradients that start at 1.
fn both_backward(
    g: &Gpu,
    shape: &[usize],
    activation: Activation,
    accumulate: bool,
) -> [Vec<f32>; 7] {
    let c = shape[1];
    let count: usize = shape.iter().product();
    let x = upload(g, "x", shape, &random(count, 11, -2.0, 3.0));
    let weight = upload(g, "weight", &[c], &random(c, 12, 0.5, 1.5));
    let bias = upload(g, "bias", &[c], &random(c, 13, -0.5, 0.5));
    let dy_values = random(count, 14, -1.0, 1.0);
    let ones = vec![1.0; c];
    let run = |fused: bool| -> [Vec<f32>; 4] {
        let bn = BatchNorm::new(c);
        let rm = upload(g, "running_mean", &[c], &ones);
        let rv = upload(g, "running_var", &[c], &ones);
        let saved = Tensor::zeros(g, "saved", &[2, c]).unwrap();
        let y = Tensor::zeros(g, "y", shape).unwrap();
        let activated = Tensor::zeros(g, "activated", shape).unwrap();
        let dy = upload(g, "dy", shape, &dy_values);
        let dx = Tensor::zeros(g, "dx", shape).unwrap();
        let [dweight, dbias, dbias_before] =
            ["dweight", "dbias", "dbias_before"].map(|name| upload(g, name, &[c], &ones));
        let mut dispatches = vec![
            bn.forward_train(g, &x, &weight, &bias, &rm, &rv, &y, &saved)
                .unwrap(),
            activation.forward(g, &y, &activated).unwrap(),
        ];
        if fused {
            let grads = BatchNormGrads {
                activated: Some(&activated),
                dbias_before: Some(&dbias_before),
                accumulate,
                ..BatchNormGrads::new(&dy, &dx, &dweight, &dbias)
            };
            let bn = bn.followed_by(activation);
            dispatches.push(bn.backward(g, &x, &weight, &saved, &grads).unwrap());
        } else {
            let grads = BatchNormGrads {
                accumulate,
                ..BatchNormGrads::new(&dy, &dx, &dweight, &dbias)
            };
            dispatches.push(activation.backward(g, &activated, &dy).unwrap());
            dispatches.push(bn.backward(g, &x, &weight, &saved, &grads).unwrap());
        }
        g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
        [dx, dweight, dbias, dbias_before].map(|t| t.read(g).unwrap())
    };
    let [dx, dweight, dbias, dbias_before] = run(true);
    let [dx2, dweight2, dbias2, _] = run(false);
    [dx, dweight, dbias, dx2, dweight2, dbias2, dbias_before]
}

#[test]
fn batchnorm_backward_takes_the_activations_and_gives_the_bias_before_its_gradient() {
    let activations = [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
    ];
    let shapes: [&[usize]; 3] = [&[16, 64], &[16, 30], &[4, 8, 7, 7]];
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for family in [KernelFamily::Tiled, KernelFamily::Subgroup] {
        let g = gpu_with(family);
        for shape in shapes {
            for activation in activations {
                for accumulate in [false, true] {
                    let case =
                        format!("{family:?} {shape:?} {activation:?} accumulate {accumulate}");
                    let [dx, dw, db, dx2, dw2, db2, dbias_before] =
                        both_backward(g, shape, activation, accumulate);
                    assert_eq!(bits(&dx), bits(&dx2), "{case}: dx");
                    assert_eq!(bits(&dw), bits(&dw2), "{case}: dweight");
                    assert_eq!(bits(&db), bits(&db2), "{case}: dbias");
                    // Σ dx per channel, in float64 from the float32 dx, against the kernel's float32
                    // sum of the same values: within a few roundings of Σ |dx|.
                    let c = shape[1];
                    let spatial: usize = shape[2..].iter().product();
                    for (ch, got) in dbias_before.iter().enumerate() {
                        let values = (0..shape[0])
                            .flat_map(|n| (0..spatial).map(move |s| (n * c + ch) * spatial + s))
                            .map(|e| f64::from(dx[e]));
                        let (sum, magnitude) =
                            values.fold((0.0, 0.0), |(s, m), v| (s + v, m + v.abs()));
                        let expected = sum + if accumulate { 1.0 } else { 0.0 };
                        let error = (f64::from(*got) - expected).abs();
                        assert!(
                            error <= 1e-6 * (magnitude + 1.0),
                            "{case}: dbias_before[{ch}] = {got} against {expected}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_activations_output_is_needed_exactly_when_one_follows() {
    let g = gpu_with(KernelFamily::Tiled);
    let t = Tensor::zeros(g, "t", &[4, 8]).unwrap();
    let c = Tensor::zeros(g, "c", &[8]).unwrap();
    let saved = Tensor::zeros(g, "saved", &[2, 8]).unwrap();
    let plain = BatchNormGrads::new(&t, &t, &c, &c);
    let with_activated = BatchNormGrads {
        activated: Some(&t),
        ..plain
    };
    let relu = BatchNorm::new(8).followed_by(Activation::Relu);
    for (bn, grads) in [(relu, plain), (BatchNorm::new(8), with_activated)] {
        let e = bn.backward(g, &t, &c, &saved, &grads).unwrap_err();
        assert!(e.to_string().contains("activation's output"), "{e}");
    }
}

#[test]
fn a_sigmoid_does_not_follow_a_batchnorm() {
    let g = gpu_with(KernelFamily::Tiled);
    let x = Tensor::zeros(g, "x", &[4, 8]).unwrap();
    let c = Tensor::zeros(g, "c", &[8]).unwrap();
    let saved = Tensor::zeros(g, "saved", &[2, 8]).unwrap();
    let e = BatchNorm::new(8)
        .followed_by(Activation::Sigmoid)
        .forward_train(g, &x, &c, &c, &c, &c, &x, &saved)
        .unwrap_err();
    assert!(e.to_string().contains("Sigmoid"), "{e}");
}

#[test]
fn bce_through_the_sigmoid_in_one_pass_is_bit_for_bit_the_two() {
    let g = gpu_with(KernelFamily::Tiled);
    // Probabilities from logits, as D makes them, some saturated to 0 and 1.
    for (count, target) in [(7, 1.0), (128, 0.0), (300, 1.0)] {
        let mut logits = random(count, 21, -8.0, 8.0);
        logits[0] = 120.0;
        logits[1] = -120.0;
        let logit = upload(g, "logit", &[count, 1], &logits);
        let prob = Tensor::zeros(g, "prob", &[count, 1]).unwrap();
        let labels = upload(g, "target", &[count, 1], &vec![target; count]);
        let run = |at: GradientAt| -> [Vec<f32>; 2] {
            let loss = Tensor::zeros(g, "loss", &[1]).unwrap();
            let grad = Tensor::zeros(g, "grad", &[count, 1]).unwrap();
            let mut dispatches = vec![
                Activation::Sigmoid.forward(g, &logit, &prob).unwrap(),
                BceLoss::new(at)
                    .forward_backward(g, &prob, &labels, &loss, &grad, None)
                    .unwrap(),
            ];
            if at == GradientAt::Probabilities {
                dispatches.push(Activation::Sigmoid.backward(g, &prob, &grad).unwrap());
            }
            g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
            [loss, grad].map(|t| t.read(g).unwrap())
        };
        let [fused_loss, fused] = run(GradientAt::SigmoidInput);
        let [loss, apart] = run(GradientAt::Probabilities);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused_loss), bits(&loss), "{count}: loss");
        assert_eq!(
            bits(&fused),
            bits(&apart),
            "{count}: gradient at the logits"
        );
        assert!(fused.iter().all(|v| v.is_finite()) && fused.iter().any(|v| *v != 0.0));
    }
}

#[test]
fn a_convolutions_input_gradient_through_an_activation_is_bit_for_bit_the_two() {
    let leaky = Activation::LeakyRelu {
        negative_slope: 0.2,
    };
    // D's conv.2 into conv.1's LeakyReLU (a gather onto 64 channels), D's conv.0 into G's Sigmoid
    // (onto one channel), and a ConvTranspose2d's input gradient through a ReLU: (layer, x, weight,
    // y shapes, the activation whose output x is).
    let cases = [
        (
            Conv::conv2d(64, 128, 4, 2, 1),
            [[2, 64, 14, 14], [128, 64, 4, 4], [2, 128, 7, 7]],
            leaky,
        ),
        (
            Conv::conv2d(1, 64, 4, 2, 1),
            [[2, 1, 28, 28], [64, 1, 4, 4], [2, 64, 14, 14]],
            Activation::Sigmoid,
        ),
        (
            Conv::conv_transpose2d(128, 64, 4, 2, 1),
            [[2, 128, 7, 7], [128, 64, 4, 4], [2, 64, 14, 14]],
            Activation::Relu,
        ),
    ];
    let numel = |shape: &[usize]| shape.iter().product::<usize>();
    for family in KERNEL_FAMILIES {
        let g = gpu_with(family);
        for (layer, [x_shape, w_shape, y_shape], activation) in cases {
            let case = format!("{family:?} {x_shape:?} {activation:?}");
            let pre = upload(g, "pre", &x_shape, &random(numel(&x_shape), 31, -3.0, 3.0));
            let activated = Tensor::zeros(g, "activated", &x_shape).unwrap();
            let weight = upload(
                g,
                "weight",
                &w_shape,
                &random(numel(&w_shape), 32, -0.1, 0.1),
            );
            let dy = upload(g, "dy", &y_shape, &random(numel(&y_shape), 33, -1.0, 1.0));
            g.run(&[&activation.forward(g, &pre, &activated).unwrap()])
                .unwrap();
            let fused = Tensor::zeros(g, "fused", &x_shape).unwrap();
            let apart = Tensor::zeros(g, "apart", &x_shape).unwrap();
            let dispatches = [
                layer
                    .backward_input_through(g, &dy, &weight, (activation, &activated), &fused)
                    .unwrap(),
                layer.backward_input(g, &dy, &weight, &apart).unwrap(),
                activation.backward(g, &activated, &apart).unwrap(),
            ];
            g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
            let [fused, apart] = [fused, apart].map(|t| t.read(g).unwrap());
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&apart), "{case}");
            let changed = apart.iter().filter(|v| **v != 0.0).count();
            assert!(changed > apart.len() / 4, "{case}: mostly zeros");
        }
    }
}

#[test]
fn a_convolution_followed_by_an_activation_is_bit_for_bit_the_two() {
    let leaky = Activation::LeakyRelu {
        negative_slope: 0.2,
    };
    // D's conv.0 with its LeakyReLU, G's last layer with a Sigmoid (onto one channel, tiles of one
    // column), D's conv.2 with a ReLU: (layer, x, weight shapes, y shape, activation).
    let cases = [
        (
            Conv::conv2d(1, 64, 4, 2, 1),
            [[2, 1, 28, 28], [64, 1, 4, 4], [2, 64, 14, 14]],
            leaky,
        ),
        (
            Conv::conv_transpose2d(64, 1, 4, 2, 1),
            [[2, 64, 14, 14], [64, 1, 4, 4], [2, 1, 28, 28]],
            Activation::Sigmoid,
        ),
        (
            Conv::conv2d(64, 128, 4, 2, 1),
            [[2, 64, 14, 14], [128, 64, 4, 4], [2, 128, 7, 7]],
            Activation::Relu,
        ),
    ];
    let numel = |shape: &[usize]| shape.iter().product::<usize>();
    for family in KERNEL_FAMILIES {
        let g = gpu_with(family);
        for (layer, [x_shape, w_shape, y_shape], activation) in cases {
            let case = format!("{family:?} {x_shape:?} {activation:?}");
            let x = upload(g, "x", &x_shape, &random(numel(&x_shape), 41, 0.0, 1.0));
            let weight = upload(
                g,
                "weight",
                &w_shape,
                &random(numel(&w_shape), 42, -0.3, 0.3),
            );
            let c = y_shape[1];
            let bias = upload(g, "bias", &[c], &random(c, 43, -0.2, 0.2));
            let [fused, y, apart] =
                ["fused", "y", "apart"].map(|name| Tensor::zeros(g, name, &y_shape).unwrap());
            let dispatches = [
                layer
                    .followed_by(activation)
                    .forward(g, &x, &weight, &bias, &fused)
                    .unwrap(),
                layer.forward(g, &x, &weight, &bias, &y).unwrap(),
                activation.forward(g, &y, &apart).unwrap(),
            ];
            g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
            let [fused, apart] = [fused, apart].map(|t| t.read(g).unwrap());
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&apart), "{case}");
            if activation != Activation::Sigmoid {
                let positive = apart.iter().filter(|v| **v > 0.0).count();
                assert!(
                    positive > 0 && positive < apart.len(),
                    "{case}: both branches"
                );
            }
        }
    }
}
