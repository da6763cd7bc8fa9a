//! Awkward shapes the oracle does not cover (batch 1, odd widths, channel counts that are multiples of
//! no tile size, strides and paddings other than 2 and 1, more elements than one workgroup, partial
//! blocks of the subgroup kernels), each kernel against the double-precision reference in
//! tests/common/reference.rs.

mod common;

use common::reference::{self, ConvKind, ConvShape};
use common::{
    KERNEL_FAMILIES, gpu, gpu_with, random, read, relative_l2, run, run_on, upload, zeros,
};
use gan_wgpu::adam::Adam;
use gan_wgpu::kernels::Dispatch;
use gan_wgpu::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use gan_wgpu::{Gpu, Tensor};

const BOUND: f64 = 1e-4;

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    let err = relative_l2(got, want);
    assert!(err <= BOUND, "{what}: relative error {err:.3e}");
}

// The seventh and eighth have one output feature and a batch of whole 32-blocks: on the subgroup
// kernels their products run transposed (all three for the first; only the forward for the second,
// whose 36 inputs are not whole blocks). The last has G's first layer's 62 inputs: rows of A and B that
// are not whole vec4s (linear_subgroup_forward_unaligned).
#[test]
fn linear_on_awkward_shapes() {
    let shapes = [
        (1, 7, 5),
        (3, 33, 17),
        (17, 1, 1),
        (2, 300, 19),
        (5, 16, 32),
        (70, 130, 67),
        (64, 96, 1),
        (32, 36, 1),
        (70, 62, 96),
    ];
    for (g, seed, &(n, fin, fout)) in every_family(&shapes) {
        let up =
            |shape: &[usize], data: &[f32]| Tensor::from_slice(g, "input", shape, data).unwrap();
        let zeros = |shape: &[usize]| Tensor::zeros(g, "output", shape).unwrap();
        let read = |t: &Tensor| t.read(g).unwrap();
        let x = random(n * fin, seed, -1.0, 1.0);
        let w = random(fout * fin, seed + 100, -0.5, 0.5);
        let b = random(fout, seed + 200, -0.5, 0.5);
        let dy = random(n * fout, seed + 300, -1.0, 1.0);
        let layer = Linear::new(fin, fout);
        let (tx, tw, tb, tdy) = (
            up(&[n, fin], &x),
            up(&[fout, fin], &w),
            up(&[fout], &b),
            up(&[n, fout], &dy),
        );
        let (y, dx, dw, db) = (
            zeros(&[n, fout]),
            zeros(&[n, fin]),
            zeros(&[fout, fin]),
            zeros(&[fout]),
        );
        let products = [
            layer.forward(g, &tx, &tw, &tb, &y).unwrap(),
            layer.backward_input(g, &tdy, &tw, &dx).unwrap(),
            layer.backward_weight(g, &tdy, &tx, &dw, false).unwrap(),
        ];
        if g.runs_subgroup_kernels() && fin == 62 {
            assert_eq!(products[0].entry(), "linear_subgroup_forward_unaligned");
        }
        if g.runs_subgroup_kernels() && (n, fin, fout) == (64, 96, 1) {
            let entries = products.iter().map(|d| d.entry()).collect::<Vec<_>>();
            assert_eq!(
                entries,
                [
                    "linear_subgroup_forward",
                    "linear_subgroup_backward_weight",
                    "linear_subgroup_backward_input"
                ],
                "one output feature runs transposed"
            );
        }
        run_on(
            g,
            &[
                &products[0],
                &products[1],
                &products[2],
                &layer.backward_bias(g, &tdy, &db, false).unwrap(),
            ],
        );
        let what = format!(
            "linear {n}x{fin}->{fout} (subgroup {}, split K to {} workgroups)",
            g.runs_subgroup_kernels(),
            g.tuning().products.split_target
        );
        assert_close(
            &what,
            &read(&y),
            &reference::linear_forward(&x, &w, &b, n, fin, fout),
        );
        let (rdx, rdw, rdb) = reference::linear_backward(&x, &w, &dy, n, fin, fout);
        assert_close(&what, &read(&dx), &rdx);
        assert_close(&what, &read(&dw), &rdw);
        assert_close(&what, &read(&db), &rdb);
    }
}

/// (batch, C_in, C_out, H, W, k, stride, pad) of the input side of each layer.
type ConvCase = (usize, usize, usize, usize, usize, usize, usize, usize);
// The last five fit the subgroup kernels a CPU adapter runs (size 4, stride 2, 32 or 64 channels,
// or one channel on the side twice the other's size) with partial blocks of positions, odd map sizes
// (uneven residue classes), an odd count of channels on the other side, and paddings of either
// parity (which shift one column class against the other in the hi-grid gather).
// The fifth sums its weight gradient over 450 positions: split K ends in a short split there. The
// gathers onto the lo grid read maps of even width in pairs: the eighth and last have even widths,
// with an odd and an even padding (which shifts every tap by one element of a pair). The last one's
// three hi channels put the third in the upper bank of a weight-gradient workgroup (one or two hi
// channels run on an entry point without it).
const CONV_SHAPES: [ConvCase; 13] = [
    (1, 3, 5, 9, 7, 3, 2, 1),
    (2, 1, 3, 13, 11, 4, 2, 1),
    (1, 5, 2, 6, 5, 2, 1, 0),
    (3, 2, 7, 5, 8, 3, 3, 1),
    (5, 3, 6, 20, 18, 4, 2, 1),
    (1, 17, 3, 4, 4, 4, 2, 1),
    (3, 32, 64, 9, 11, 4, 2, 1),
    (2, 1, 32, 10, 6, 4, 2, 1),
    (2, 32, 1, 5, 3, 4, 2, 1),
    (2, 32, 32, 7, 9, 4, 2, 0),
    (1, 64, 32, 6, 5, 4, 2, 2),
    (2, 32, 32, 8, 6, 4, 2, 2),
    (2, 3, 32, 6, 8, 4, 2, 1),
];

#[test]
fn conv2d_on_awkward_shapes() {
    for (g, seed, &(n, cin, cout, h, w, k, stride, pad)) in every_family(&CONV_SHAPES) {
        let layer = Conv::conv2d(cin, cout, k, stride, pad);
        let (oh, ow) = (
            layer.output_size("test", h).unwrap(),
            layer.output_size("test", w).unwrap(),
        );
        let shape = ConvShape {
            batch: n,
            hi: (cin, h, w),
            lo: (cout, oh, ow),
            k,
            stride,
            pad,
        };
        check_conv(
            g,
            ConvKind::Conv2d,
            &shape,
            seed,
            &|x, wt, b, y, dy, dx, dw, db| {
                weighted_layer_dispatches!(layer, g, x, wt, b, dy, [y, dx, dw, db])
            },
        );
    }
}

#[test]
fn conv_transpose2d_on_awkward_shapes() {
    for (g, seed, &(n, cin, cout, h, w, k, stride, pad)) in every_family(&CONV_SHAPES) {
        let layer = Conv::conv_transpose2d(cin, cout, k, stride, pad);
        let (oh, ow) = (
            layer.output_size("test", h).unwrap(),
            layer.output_size("test", w).unwrap(),
        );
        let shape = ConvShape {
            batch: n,
            hi: (cout, oh, ow),
            lo: (cin, h, w),
            k,
            stride,
            pad,
        };
        check_conv(
            g,
            ConvKind::ConvTranspose2d,
            &shape,
            seed,
            &|x, wt, b, y, dy, dx, dw, db| {
                weighted_layer_dispatches!(layer, g, x, wt, b, dy, [y, dx, dw, db])
            },
        );
    }
}

/// Records a layer's four kernels on (x, weight, bias, y, dy, dx, dweight, dbias).
type ConvDispatches<'a> = dyn Fn(&Tensor, &Tensor, &Tensor, &Tensor, &Tensor, &Tensor, &Tensor, &Tensor) -> Vec<Dispatch>
    + 'a;

/// Each case on the device of every family of matrix-product kernels, with its index as a seed.
fn every_family<T>(cases: &[T]) -> impl Iterator<Item = (&'static Gpu, u64, &T)> {
    KERNEL_FAMILIES.into_iter().flat_map(move |family| {
        let g = gpu_with(family);
        cases
            .iter()
            .enumerate()
            .map(move |(seed, case)| (g, seed as u64, case))
    })
}

fn check_conv(g: &Gpu, kind: ConvKind, s: &ConvShape, seed: u64, dispatches: &ConvDispatches) {
    let hi = [s.batch, s.hi.0, s.hi.1, s.hi.2];
    let lo = [s.batch, s.lo.0, s.lo.1, s.lo.2];
    let (in_shape, out_shape) = match kind {
        ConvKind::Conv2d => (hi, lo),
        ConvKind::ConvTranspose2d => (lo, hi),
    };
    let w_shape = [s.lo.0, s.hi.0, s.k, s.k];
    let out_c = out_shape[1];
    let x = random(in_shape.iter().product(), seed, -1.0, 1.0);
    let w = random(w_shape.iter().product(), seed + 10, -0.3, 0.3);
    let b = random(out_c, seed + 20, -0.3, 0.3);
    let dy = random(out_shape.iter().product(), seed + 30, -1.0, 1.0);
    let up = |shape: &[usize], data: &[f32]| Tensor::from_slice(g, "input", shape, data).unwrap();
    let zero = |shape: &[usize]| Tensor::zeros(g, "output", shape).unwrap();
    let (tx, tw, tb, tdy) = (
        up(&in_shape, &x),
        up(&w_shape, &w),
        up(&[out_c], &b),
        up(&out_shape, &dy),
    );
    let (y, dx, dw, db) = (
        zero(&out_shape),
        zero(&in_shape),
        zero(&w_shape),
        zero(&[out_c]),
    );
    let ds = dispatches(&tx, &tw, &tb, &y, &tdy, &dx, &dw, &db);
    run_on(g, &ds.iter().collect::<Vec<_>>());
    let read = |t: &Tensor| t.read(g).unwrap();
    let what = format!(
        "{kind:?} {s:?} (subgroup {}, split K to {} workgroups)",
        g.runs_subgroup_kernels(),
        g.tuning().products.split_target
    );
    assert_close(
        &what,
        &read(&y),
        &reference::conv_forward(kind, s, &x, &w, &b),
    );
    let (rdx, rdw, rdb) = reference::conv_backward(kind, s, &x, &w, &dy);
    assert_close(&format!("{what} dx"), &read(&dx), &rdx);
    assert_close(&format!("{what} dw"), &read(&dw), &rdw);
    assert_close(&format!("{what} db"), &read(&db), &rdb);
}

#[test]
fn batchnorm_on_awkward_shapes() {
    // [N, C] and [N, C, H, W]; some with more values per channel than one workgroup has invocations,
    // and 7×7 planes of which a 256-lane pass takes five (37 planes: the last pass takes two); channel
    // counts a multiple of 4 (four channels per invocation on CPU adapters). The last three are the
    // third, the sixth and [300, 12] with every value moved by 100 (a mean far from 0 against a std of
    // ~1.4: the variance must not come from moments that cancel).
    let shapes: [&[usize]; 10] = [
        &[2, 3],
        &[1, 3, 5, 3],
        &[300, 5],
        &[3, 2, 17, 19],
        &[7, 1],
        &[37, 2, 7, 7],
        &[5, 8],
        &[300, 5],
        &[37, 2, 7, 7],
        &[300, 12],
    ];
    // Every family's device: the subgroup one walks channels plane by plane with 64 lanes, the others
    // across planes with 256.
    for (g, seed, &shape) in every_family(&shapes) {
        let offset = if seed as usize >= 7 { 100.0 } else { 0.0 };
        let upload =
            |shape: &[usize], data: &[f32]| Tensor::from_slice(g, "input", shape, data).unwrap();
        let zeros = |shape: &[usize]| Tensor::zeros(g, "output", shape).unwrap();
        let read = |t: &Tensor| t.read(g).unwrap();
        let (n, c) = (shape[0], shape[1]);
        let s: usize = shape[2..].iter().product();
        let count = n * c * s;
        let x = random(count, seed, -2.0 + offset, 3.0 + offset);
        let w = random(c, seed + 1, 0.5, 1.5);
        let b = random(c, seed + 2, -0.5, 0.5);
        let rm = random(c, seed + 3, -0.2, 0.2);
        let rv = random(c, seed + 4, 0.8, 1.2);
        let dy = random(count, seed + 5, -1.0, 1.0);
        let layer = BatchNorm::new(c);
        let (tx, tw, tb, trm, trv, tdy) = (
            upload(shape, &x),
            upload(&[c], &w),
            upload(&[c], &b),
            upload(&[c], &rm),
            upload(&[c], &rv),
            upload(shape, &dy),
        );
        let (y, y_eval, saved, dx, dw, db) = (
            zeros(shape),
            zeros(shape),
            zeros(&[2, c]),
            zeros(shape),
            zeros(&[c]),
            zeros(&[c]),
        );
        run_on(
            g,
            &[
                &layer
                    .forward_train(g, &tx, &tw, &tb, &trm, &trv, &y, &saved)
                    .unwrap(),
                &layer
                    .backward(
                        g,
                        &tx,
                        &tw,
                        &saved,
                        &BatchNormGrads::new(&tdy, &dx, &dw, &db),
                    )
                    .unwrap(),
                &layer
                    .forward_eval(g, &tx, &tw, &tb, &trm, &trv, &y_eval)
                    .unwrap(),
            ],
        );
        let what = |t: &str| format!("batchnorm {shape:?} {t}");
        let (ry, rrm, rrv) = reference::batchnorm_train(&x, &w, &b, &rm, &rv, (n, c, s), 1e-5, 0.1);
        assert_close(&what("y"), &read(&y), &ry);
        assert_close(&what("running_mean"), &read(&trm), &rrm);
        assert_close(&what("running_var"), &read(&trv), &rrv);
        let (rdx, rdw, rdb) = reference::batchnorm_backward(&x, &w, &dy, (n, c, s), 1e-5);
        if n * s == 2 {
            // Two values per channel normalise to ±1 (up to eps), and dx = w·inv_std·(dy − mean(dy) −
            // x̂·mean(dy·x̂)) cancels to almost nothing: float32 can only be asked for an error that is
            // small against the terms that cancel, ‖w·inv_std·dy‖ ≈ ‖dy‖ here.
            let diff: Vec<f32> = read(&dx).iter().zip(&rdx).map(|(a, b)| a - b).collect();
            let err =
                relative_l2(&diff, &vec![0.0; diff.len()]) / relative_l2(&dy, &vec![0.0; dy.len()]);
            assert!(err <= BOUND, "{}: error {err:.3e} against ‖dy‖", what("dx"));
        } else {
            assert_close(&what("dx"), &read(&dx), &rdx);
        }
        assert_close(&what("dweight"), &read(&dw), &rdw);
        assert_close(&what("dbias"), &read(&db), &rdb);
        assert_close(
            &what("y_eval"),
            &read(&y_eval),
            &reference::batchnorm_eval(&x, &w, &b, &rrm, &rrv, (c, s), 1e-5),
        );
    }
}

#[test]
fn activations_on_every_width() {
    let g = gpu();
    // One element per invocation, then four (1004), then eight where the device has wide loads (1000).
    for (seed, len) in [1usize, 255, 257, 1001, 1004, 1000].into_iter().enumerate() {
        let x = random(len, seed as u64, -4.0, 4.0);
        let dy = random(len, seed as u64 + 7, -1.0, 1.0);
        for activation in [
            Activation::Relu,
            Activation::LeakyRelu {
                negative_slope: 0.2,
            },
            Activation::Sigmoid,
        ] {
            // The backward turns dy into dx in place.
            let (tx, y, dx) = (upload(&[len], &x), zeros(&[len]), upload(&[len], &dy));
            let saved = if activation == Activation::Sigmoid {
                &y
            } else {
                &tx
            };
            let (forward, backward) = (
                activation.forward(g, &tx, &y).unwrap(),
                activation.backward(g, saved, &dx).unwrap(),
            );
            if g.wide_loads() && len.is_multiple_of(8) {
                assert!(forward.entry().contains("_u64_") && backward.entry().contains("_u64_"));
            }
            run(&[&forward, &backward]);
            let f = |v: f32| -> f64 {
                let v = v as f64;
                match activation {
                    Activation::Relu => v.max(0.0),
                    Activation::LeakyRelu { negative_slope } => {
                        if v > 0.0 {
                            v
                        } else {
                            v * negative_slope as f64
                        }
                    }
                    Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
                }
            };
            let df = |v: f32| -> f64 {
                match activation {
                    Activation::Relu => {
                        if v > 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Activation::LeakyRelu { negative_slope } => {
                        if v > 0.0 {
                            1.0
                        } else {
                            negative_slope as f64
                        }
                    }
                    Activation::Sigmoid => f(v) * (1.0 - f(v)),
                }
            };
            let ry: Vec<f32> = x.iter().map(|&v| f(v) as f32).collect();
            let rdx: Vec<f32> = x
                .iter()
                .zip(&dy)
                .map(|(&v, &g)| (df(v) * g as f64) as f32)
                .collect();
            assert_close(&format!("{activation:?} forward, {len}"), &read(&y), &ry);
            assert_close(&format!("{activation:?} backward, {len}"), &read(&dx), &rdx);
        }
    }
}

#[test]
fn bce_on_odd_lengths() {
    let g = gpu();
    for (seed, len) in [1usize, 3, 256, 1001].into_iter().enumerate() {
        let p = random(len, seed as u64, 0.001, 0.999);
        for target in [0.0f32, 1.0] {
            let t = vec![target; len];
            let (tp, tt, loss, dp) = (
                upload(&[len, 1], &p),
                upload(&[len, 1], &t),
                zeros(&[1]),
                zeros(&[len, 1]),
            );
            run(&[&BceLoss::new(GradientAt::Probabilities)
                .forward_backward(g, &tp, &tt, &loss, &dp, None)
                .unwrap()]);
            let (rl, rdp) = reference::bce(&p, &t);
            assert_close(&format!("bce loss {len} {target}"), &read(&loss), &[rl]);
            assert_close(&format!("bce grad {len} {target}"), &read(&dp), &rdp);
        }
    }
}

#[test]
fn bce_in_two_parts_sums_the_real_and_fake_losses() {
    let g = gpu();
    let p = random(20, 3, 0.05, 0.95);
    let targets: Vec<f32> = (0..20).map(|i| if i < 10 { 1.0 } else { 0.0 }).collect();
    let (tp, tt, loss, grad) = (
        upload(&[20, 1], &p),
        upload(&[20, 1], &targets),
        zeros(&[1]),
        zeros(&[20, 1]),
    );
    run(&[&BceLoss::new(GradientAt::Probabilities)
        .in_parts(2)
        .forward_backward(g, &tp, &tt, &loss, &grad, None)
        .unwrap()]);
    let (real, d_real) = reference::bce(&p[..10], &[1.0; 10]);
    let (fake, d_fake) = reference::bce(&p[10..], &[0.0; 10]);
    assert_close("real + fake", &read(&loss), &[real + fake]);
    let both: Vec<_> = d_real.into_iter().chain(d_fake).collect();
    assert_close("each half's gradient", &read(&grad), &both);
}

#[test]
fn adam_on_odd_lengths_over_several_steps() {
    let g = gpu();
    let hyper = (1e-3, 0.9, 0.999, 1e-8);
    let adam = Adam {
        lr: hyper.0,
        beta1: hyper.1,
        beta2: hyper.2,
        eps: hyper.3,
    };
    for len in [1usize, 1001] {
        let p0 = random(len, 5, -0.1, 0.1);
        let (param, grad, m, v) = (
            upload(&[len], &p0),
            zeros(&[len]),
            zeros(&[len]),
            zeros(&[len]),
        );
        let update = adam.update(g, &grad, &param, &m, &v, 1, None).unwrap();
        let mut rp: Vec<f64> = p0.iter().map(|&x| x as f64).collect();
        let (mut rm, mut rv) = (vec![0.0; len], vec![0.0; len]);
        for step in 1..=5 {
            let gr = random(len, 50 + step as u64, -1.0, 1.0);
            grad.write(g, &gr).unwrap();
            adam.set_step(g, &update, len, step as u64, 0).unwrap();
            run(&[&update]);
            reference::adam_step(&mut rp, &mut rm, &mut rv, &gr, hyper, step);
        }
        let want: Vec<f32> = rp.iter().map(|&x| x as f32).collect();
        let err = common::max_abs_error(&read(&param), &want);
        assert!(err <= 1e-7, "adam {len}: max abs error {err:.3e}");
    }
}

/// Gradients added onto what a buffer holds: D's step sums the gradients of its real and fake passes.
/// The second shape is D's last layer in small: one output, run transposed where the device uses the
/// subgroup kernels.
#[test]
fn weight_and_bias_gradients_accumulate() {
    for (n, fin, fout) in [(3, 5, 4), (64, 96, 1)] {
        gradients_accumulate(n, fin, fout);
    }
}

fn gradients_accumulate(n: usize, fin: usize, fout: usize) {
    let g = gpu();
    let x = random(n * fin, 1, -1.0, 1.0);
    let w = random(fout * fin, 2, -1.0, 1.0);
    let dy = random(n * fout, 3, -1.0, 1.0);
    let layer = Linear::new(fin, fout);
    let (tx, tdy) = (upload(&[n, fin], &x), upload(&[n, fout], &dy));
    let (_, rdw, rdb) = reference::linear_backward(&x, &w, &dy, n, fin, fout);
    let start_w = random(fout * fin, 4, -1.0, 1.0);
    let start_b = random(fout, 5, -1.0, 1.0);
    let (dw, db) = (upload(&[fout, fin], &start_w), upload(&[fout], &start_b));
    let weight_gradient = layer.backward_weight(g, &tdy, &tx, &dw, true).unwrap();
    if g.runs_subgroup_kernels() && fout == 1 {
        assert_eq!(weight_gradient.entry(), "linear_subgroup_backward_input");
    }
    run(&[
        &weight_gradient,
        &layer.backward_bias(g, &tdy, &db, true).unwrap(),
    ]);
    let add = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<f32>>();
    assert_close("accumulated dweight", &read(&dw), &add(&start_w, &rdw));
    assert_close("accumulated dbias", &read(&db), &add(&start_b, &rdb));
}

/// More than 65,535 workgroups: the grid is folded into two dimensions and every element is reached.
#[test]
fn elementwise_kernels_cover_grids_larger_than_one_dimension() {
    let g = gpu();
    let len = 65_536 * 256 + 5;
    let x: Vec<f32> = (0..len)
        .map(|i| if i % 3 == 0 { -(i as f32) } else { i as f32 })
        .collect();
    let (tx, y) = (upload(&[len], &x), zeros(&[len]));
    run(&[&Activation::Relu.forward(g, &tx, &y).unwrap()]);
    let out = read(&y);
    let wrong = out.iter().zip(&x).position(|(o, v)| *o != v.max(0.0));
    assert_eq!(wrong, None, "first wrong element");
}

/// The GPU's Philox noise is the host's, word for word, for odd lengths, large step numbers and
/// windows starting at any element (what `sample` draws chunk by chunk).
#[test]
fn gpu_noise_matches_the_host_generator() {
    use gan_wgpu::noise::{Stream, UniformNoise, uniform_at};
    let g = gpu();
    for (len, seed, stream, step, first) in [
        (1usize, 7u64, Stream::Sample, 0u64, 0usize),
        (62 * 5 + 3, 1, Stream::DStep, 12, 0),
        (128 * 62, u64::MAX - 3, Stream::GStep, (1 << 40) + 5, 0),
        (62 * 7, 7, Stream::Sample, 0, 62 * 3),
        (5, 9, Stream::Sample, 3, 1),
        (1, 9, Stream::Sample, 0, 7),
        (62 * 33, 2, Stream::Sample, 0, 62 * 10_001),
    ] {
        let out = zeros(&[len]);
        let noise = UniformNoise::new(g, &out, seed, stream).unwrap();
        noise.set_position(g, step, first).unwrap();
        run(&[noise.dispatch()]);
        let want: Vec<f32> = (first..first + len)
            .map(|e| uniform_at(seed, stream, step, e))
            .collect();
        assert_eq!(
            read(&out),
            want,
            "seed {seed} {stream:?} step {step} from element {first}"
        );
        assert!(want.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
