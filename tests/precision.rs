//! The rounding of the sums whose results feed a BatchNorm and then a kink (ReLU, LeakyReLU), on every
//! family of matrix-product kernels, against the double-precision reference in tests/common/reference.rs.
//!
//! Why it matters: BatchNorm subtracts the batch mean, which magnifies every input's error by
//! |mean| / std, and an output pushed across 0 flips its kink's gradient (LeakyReLU: 1 against 0.2 at
//! one element), which moves every gradient behind it by ~1e-3 relative. A Linear layer that summed
//! D's 6272 inputs in one running float32 sum had 5× the rounding error of PyTorch's blocked sums, and
//! its G step gradients crossed kinks that float32 PyTorch did not (2.5e-3 against PyTorch's 3e-4 on
//! the seed-1 oracle). The bounds below sit between what a single running sum gives and what the
//! compensated runs give (both measured; BENCHMARKS.md's accuracy section).

mod common;

use common::reference::{self, ConvKind, ConvShape};
use common::{KERNEL_FAMILIES, gpu_with, random};
use gan_wgpu::layers::{BatchNorm, Conv, Linear};
use gan_wgpu::{Gpu, Tensor};

/// ‖out − ref‖ / ‖ref‖ of a product against the reference rounded once from double precision: a
/// float32 result correctly rounded from the exact sum has ~3e-8 here.
const PRODUCT_BOUND: f64 = 2e-7;

fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    common::relative_l2(got, want)
}

/// Inputs like the ones D's products see: LeakyReLU outputs of unit-variance values (a mean well away
/// from 0, so the sums do not cancel) and N(0, 0.02)-sized weights.
fn leaky_inputs(count: usize, seed: u64) -> Vec<f32> {
    random(count, seed, -1.5, 2.5)
        .into_iter()
        .map(|v| if v > 0.0 { v } else { 0.2 * v })
        .collect()
}

fn upload(g: &Gpu, shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_slice(g, "input", shape, data).unwrap()
}

// D's fc.0: 6272 inputs summed for each output.
#[test]
fn a_linear_forward_over_6272_inputs_rounds_like_blocked_sums() {
    let (n, fin, fout) = (32, 6272, 64);
    let x = leaky_inputs(n * fin, 1);
    let w = random(fout * fin, 2, -0.035, 0.035);
    let b = vec![0.0; fout];
    let want = reference::linear_forward(&x, &w, &b, n, fin, fout);
    for family in KERNEL_FAMILIES {
        let g = gpu_with(family);
        let y = Tensor::zeros(g, "y", &[n, fout]).unwrap();
        let forward = Linear::new(fin, fout)
            .forward(
                g,
                &upload(g, &[n, fin], &x),
                &upload(g, &[fout, fin], &w),
                &upload(g, &[fout], &b),
                &y,
            )
            .unwrap();
        g.run(&[&forward]).unwrap();
        let err = relative_error(&y.read(g).unwrap(), &want);
        eprintln!(
            "{family:?}: linear {fin} → {fout}: relative error {err:.3e} (bound {PRODUCT_BOUND:.0e})"
        );
        assert!(err <= PRODUCT_BOUND, "{family:?}: relative error {err:.3e}");
    }
}

// D's conv.2 with four times its input channels: 256 · 16 = 4096 terms per output.
#[test]
fn a_conv2d_forward_over_4096_terms_rounds_like_blocked_sums() {
    let s = ConvShape {
        batch: 4,
        hi: (256, 14, 14),
        lo: (64, 7, 7),
        k: 4,
        stride: 2,
        pad: 1,
    };
    let x = leaky_inputs(s.batch * 256 * 14 * 14, 3);
    let w = random(64 * 256 * 16, 4, -0.035, 0.035);
    let b = vec![0.0; 64];
    let want = reference::conv_forward(ConvKind::Conv2d, &s, &x, &w, &b);
    let layer = Conv::conv2d(256, 64, 4, 2, 1);
    for family in KERNEL_FAMILIES {
        let g = gpu_with(family);
        let y = Tensor::zeros(g, "y", &[s.batch, 64, 7, 7]).unwrap();
        let forward = layer
            .forward(
                g,
                &upload(g, &[s.batch, 256, 14, 14], &x),
                &upload(g, &[64, 256, 4, 4], &w),
                &upload(g, &[64], &b),
                &y,
            )
            .unwrap();
        g.run(&[&forward]).unwrap();
        let err = relative_error(&y.read(g).unwrap(), &want);
        eprintln!(
            "{family:?}: conv2d 256 → 64 channels: relative error {err:.3e} (bound {PRODUCT_BOUND:.0e})"
        );
        assert!(err <= PRODUCT_BOUND, "{family:?}: relative error {err:.3e}");
    }
}

/// Largest |out − ref| of a BatchNorm output, in units of the spacing of float32 values at the inputs'
/// magnitude divided by the channel's std: the error a correctly rounded input already carries.
fn batchnorm_error_in_input_ulps(shape: &[usize], offset: f32) {
    let (n, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    let count = n * c * s;
    // std ≈ 1.44 (uniform over 5); the mean is `offset` + 0.5.
    let x = random(count, 5, -2.0 + offset, 3.0 + offset);
    let w = vec![1.0; c];
    let b = vec![0.0; c];
    let (rm, rv) = (vec![0.0; c], vec![1.0; c]);
    let (want, _, _) = reference::batchnorm_train(&x, &w, &b, &rm, &rv, (n, c, s), 1e-5, 0.1);
    let ulp_in_std = (f32::EPSILON * offset) as f64 / 1.44;
    for family in KERNEL_FAMILIES {
        let g = gpu_with(family);
        let layer = BatchNorm::new(c);
        let y = Tensor::zeros(g, "y", shape).unwrap();
        let saved = Tensor::zeros(g, "saved", &[2, c]).unwrap();
        let forward = layer
            .forward_train(
                g,
                &upload(g, shape, &x),
                &upload(g, &[c], &w),
                &upload(g, &[c], &b),
                &upload(g, &[c], &rm),
                &upload(g, &[c], &rv),
                &y,
                &saved,
            )
            .unwrap();
        g.run(&[&forward]).unwrap();
        let got = y.read(g).unwrap();
        let worst = common::max_abs_error(&got, &want);
        let in_ulps = worst / ulp_in_std;
        eprintln!(
            "{family:?}: batchnorm {shape:?}, mean {:.1}: largest error {worst:.3e} = {in_ulps:.2} input ulps",
            offset + 0.5
        );
        // The mean rounded to float32 alone errs by up to half an ulp of the inputs. A mean summed in
        // one running float32 sum over 1024 rows erred by 3.4 ulps (CPU adapters' four-channel kernel);
        // the compensated sums by 0.3–0.7.
        assert!(in_ulps <= 1.0, "{family:?}: {in_ulps:.2} input ulps");
    }
}

// BatchNorm1d as D's fc.1 sees it, over more rows: four channels per invocation on CPU adapters, one
// channel per row group on GPUs; a mean far from 0 against the std.
#[test]
fn batchnorm1d_with_a_mean_far_from_zero_keeps_its_outputs_to_the_inputs_rounding() {
    batchnorm_error_in_input_ulps(&[1024, 8], 200.0);
}

// BatchNorm2d as D's conv.3 sees it: 128 planes of 7×7 per channel.
#[test]
fn batchnorm2d_with_a_mean_far_from_zero_keeps_its_outputs_to_the_inputs_rounding() {
    batchnorm_error_in_input_ulps(&[128, 4, 7, 7], 200.0);
}
