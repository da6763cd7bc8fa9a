//! Every kernel run twice on the same inputs gives bit-identical outputs: reductions are summed in a
//! fixed order and no kernel uses floating-point atomics. Shapes are the model's (batch reduced), with
//! more values per channel than one workgroup has invocations so the tree reductions matter. Each of
//! the six kernel-family devices runs every layer kernel it would choose, and the noise and the batch
//! gather.

mod common;

use common::{KernelFamily, gpu_with, random};
use gan_wgpu::adam::Adam;
use gan_wgpu::data::{Dataset, GpuDataset, epoch_order};
use gan_wgpu::kernels::Dispatch;
use gan_wgpu::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use gan_wgpu::noise::{Stream, UniformNoise};
use gan_wgpu::{Gpu, Tensor};

/// Builds fresh inputs and outputs, runs the dispatches, returns every output's bits.
fn outputs_of(g: &Gpu, build: impl Fn() -> (Vec<Dispatch>, Vec<Tensor>)) -> Vec<Vec<u32>> {
    let (dispatches, outputs) = build();
    g.run(&dispatches.iter().collect::<Vec<_>>()).unwrap();
    outputs
        .iter()
        .map(|t| t.read(g).unwrap().iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn assert_bit_identical(g: &Gpu, what: &str, build: impl Fn() -> (Vec<Dispatch>, Vec<Tensor>)) {
    let first = outputs_of(g, &build);
    let second = outputs_of(g, &build);
    for (i, (a, b)) in first.iter().zip(&second).enumerate() {
        let differing = a.iter().zip(b).filter(|(x, y)| x != y).count();
        assert_eq!(
            differing, 0,
            "{what}: output {i} differs in {differing} elements between runs"
        );
    }
}

fn upload(g: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(g, "test input", shape, data).unwrap()
}

fn zeros(g: &Gpu, shape: &[usize]) -> Tensor {
    Tensor::zeros(g, "test output", shape).unwrap()
}

fn input(g: &Gpu, shape: &[usize], seed: u64) -> Tensor {
    upload(g, shape, &random(shape.iter().product(), seed, -1.0, 1.0))
}

/// Runs a weighted layer's four kernels twice on inputs of the given shapes.
macro_rules! check_weighted_layer {
    ($g:expr, $name:expr, $layer:expr, x: $x:expr, weight: $w:expr, y: $y:expr) => {{
        let g = $g;
        let (x_shape, w_shape, y_shape): (&[usize], &[usize], &[usize]) = ($x, $w, $y);
        let channels = y_shape[1];
        assert_bit_identical(g, $name, || {
            let (x, w, b, dy) = (
                input(g, x_shape, 1),
                input(g, w_shape, 2),
                input(g, &[channels], 3),
                input(g, y_shape, 4),
            );
            let out = vec![
                zeros(g, y_shape),
                zeros(g, x_shape),
                zeros(g, w_shape),
                zeros(g, &[channels]),
            ];
            (
                weighted_layer_dispatches!($layer, g, &x, &w, &b, &dy, out),
                out,
            )
        });
    }};
}

/// Linear shapes that take each path: odd sizes (tiles), 62 inputs (subgroup rows ending mid-block),
/// whole blocks (subgroup), one output (the transposed subgroup products); the model's four
/// convolutions, single-channel maps included.
fn products_are_deterministic(g: &Gpu) {
    for (fin, fout, n) in [(300, 517, 16), (62, 1024, 16), (640, 96, 32), (96, 1, 32)] {
        check_weighted_layer!(g, &format!("linear {fin}→{fout}"), Linear::new(fin, fout),
            x: &[n, fin], weight: &[fout, fin], y: &[n, fout]);
    }
    check_weighted_layer!(
        g,
        "conv2d 1→64",
        Conv::conv2d(1, 64, 4, 2, 1),
        x: &[4, 1, 28, 28],
        weight: &[64, 1, 4, 4],
        y: &[4, 64, 14, 14]
    );
    check_weighted_layer!(
        g,
        "conv2d 64→128",
        Conv::conv2d(64, 128, 4, 2, 1),
        x: &[4, 64, 14, 14],
        weight: &[128, 64, 4, 4],
        y: &[4, 128, 7, 7]
    );
    check_weighted_layer!(
        g,
        "conv_transpose2d 128→64",
        Conv::conv_transpose2d(128, 64, 4, 2, 1),
        x: &[4, 128, 7, 7],
        weight: &[128, 64, 4, 4],
        y: &[4, 64, 14, 14]
    );
    check_weighted_layer!(
        g,
        "conv_transpose2d 64→1",
        Conv::conv_transpose2d(64, 1, 4, 2, 1),
        x: &[4, 64, 14, 14],
        weight: &[64, 1, 4, 4],
        y: &[4, 1, 28, 28]
    );
}

fn batchnorm_is_deterministic(g: &Gpu) {
    for shape in [&[8usize, 64, 14, 14][..], &[128, 1024]] {
        let c = shape[1];
        let layer = BatchNorm::new(c);
        assert_bit_identical(g, &format!("batchnorm {shape:?}"), || {
            let (x, w, b, dy) = (
                input(g, shape, 1),
                input(g, &[c], 2),
                input(g, &[c], 3),
                input(g, shape, 4),
            );
            let (rm, rv) = (input(g, &[c], 5), upload(g, &[c], &random(c, 6, 0.5, 1.5)));
            let out = vec![
                zeros(g, shape),
                zeros(g, &[2, c]),
                zeros(g, shape),
                zeros(g, &[c]),
                zeros(g, &[c]),
                zeros(g, shape),
            ];
            let d = vec![
                layer
                    .forward_train(g, &x, &w, &b, &rm, &rv, &out[0], &out[1])
                    .unwrap(),
                layer
                    .backward(
                        g,
                        &x,
                        &w,
                        &out[1],
                        &BatchNormGrads::new(&dy, &out[2], &out[3], &out[4]),
                    )
                    .unwrap(),
                layer
                    .forward_eval(g, &x, &w, &b, &rm, &rv, &out[5])
                    .unwrap(),
            ];
            (d, [out, vec![rm, rv]].concat())
        });
    }
}

fn activations_bce_and_adam_are_deterministic(g: &Gpu) {
    for activation in [
        Activation::Relu,
        Activation::LeakyRelu {
            negative_slope: 0.2,
        },
        Activation::Sigmoid,
    ] {
        assert_bit_identical(g, &format!("{activation:?}"), || {
            // The backward turns dy (out[1]) into dx in place.
            let x = input(g, &[1000], 1);
            let out = vec![zeros(g, &[1000]), input(g, &[1000], 2)];
            let d = vec![
                activation.forward(g, &x, &out[0]).unwrap(),
                activation.backward(g, &x, &out[1]).unwrap(),
            ];
            (d, out)
        });
    }
    assert_bit_identical(g, "bce", || {
        let p = upload(g, &[1000, 1], &random(1000, 1, 0.01, 0.99));
        let t = upload(g, &[1000, 1], &[1.0; 1000]);
        let out = vec![zeros(g, &[1]), zeros(g, &[1000, 1])];
        let d = vec![
            BceLoss::new(GradientAt::SigmoidInput)
                .forward_backward(g, &p, &t, &out[0], &out[1], None)
                .unwrap(),
        ];
        (d, out)
    });
    let adam = Adam::new(2e-4, 0.5, 0.999);
    assert_bit_identical(g, "adam", || {
        let (grad, param, m) = (
            input(g, &[4096], 1),
            input(g, &[4096], 2),
            input(g, &[4096], 3),
        );
        let v = upload(g, &[4096], &random(4096, 4, 0.0, 1.0));
        let d = vec![adam.update(g, &grad, &param, &m, &v, 3, None).unwrap()];
        (d, vec![param, m, v])
    });
}

/// The GPU noise (a window not starting on a block of four, as sampling draws it) and the batch gather
/// of a shuffled epoch.
fn noise_and_gather_are_deterministic(g: &Gpu) {
    assert_bit_identical(g, "noise", || {
        let z = zeros(g, &[100, 62]);
        let noise = UniformNoise::new(g, &z, 9, Stream::Sample).unwrap();
        noise.set_position(g, 3, 62 * 7 + 2).unwrap();
        (vec![noise.dispatch().clone()], vec![z])
    });
    let set = Dataset::bundled();
    let on_gpu = GpuDataset::upload(g, &set).unwrap();
    on_gpu.set_order(g, &epoch_order(4, 2, set.len())).unwrap();
    assert_bit_identical(g, "batch gather", || {
        let x = zeros(g, &[64, 1, 28, 28]);
        let gather = on_gpu.gather(g, &x).unwrap();
        gather.set_batch(g, 17).unwrap();
        (vec![gather.dispatch().clone()], vec![x])
    });
}

macro_rules! determinism_tests {
    ($($test:ident: $family:expr;)*) => {$(
        #[test]
        fn $test() {
            let g = gpu_with($family);
            products_are_deterministic(g);
            batchnorm_is_deterministic(g);
            activations_bce_and_adam_are_deterministic(g);
            noise_and_gather_are_deterministic(g);
        }
    )*};
}

determinism_tests! {
    every_kernel_is_deterministic_tiled: KernelFamily::Tiled;
    every_kernel_is_deterministic_split: KernelFamily::TiledSplitK;
    every_kernel_is_deterministic_block8_split: KernelFamily::TiledBlock8SplitK;
    every_kernel_is_deterministic_prefetch_split: KernelFamily::TiledPrefetchSplitK;
    every_kernel_is_deterministic_block8_prefetch_split: KernelFamily::TiledBlock8PrefetchSplitK;
    every_kernel_is_deterministic_subgroup: KernelFamily::Subgroup;
}

/// Fails to compile when a kernel family is added without its test above.
#[allow(dead_code)]
fn every_family_has_a_determinism_test(family: KernelFamily) {
    match family {
        KernelFamily::Tiled
        | KernelFamily::TiledSplitK
        | KernelFamily::TiledBlock8SplitK
        | KernelFamily::TiledPrefetchSplitK
        | KernelFamily::TiledBlock8PrefetchSplitK
        | KernelFamily::Subgroup => {}
    }
}
