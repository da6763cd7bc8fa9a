//! BatchNorm with the activation after it in one pass (`BatchNorm::followed_by`) gives bit for bit what
//! the BatchNorm and then the activation's own kernel give, for every way BatchNorm walks a channel (per
//! channel workgroups, one or four channels an invocation, plane by plane or across planes), in
//! training and eval mode, for ReLU and LeakyReLU.

mod common;

use common::{KernelFamily, gpu_with, random};
use gan_wgpu::Tensor;
use gan_wgpu::kernels::Gpu;
use gan_wgpu::layers::{Activation, BatchNorm};

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
