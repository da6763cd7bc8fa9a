//! The Linear layer's families of matrix-product kernels (workgroup-memory tiles with K whole or split,
//! and the subgroup kernels CPU adapters run) against a float64 reference, on a batch that leaves a
//! partial block of rows (133 = 4·32 + 5) and with the weight gradient added to what it holds. Every
//! product is at least 128 deep, so the split device splits all three, the last split short.

mod common;

use common::{KernelFamily, gpu_with, random, run_on};
use gan_wgpu::layers::Linear;
use gan_wgpu::{Gpu, Tensor};

const BATCH: usize = 133;
const IN: usize = 160;
const OUT: usize = 192;

/// C[i][j] = Σ_d A(i, d)·B(d, j) in float64.
fn product(
    m: usize,
    n: usize,
    k: usize,
    a: impl Fn(usize, usize) -> f32,
    b: impl Fn(usize, usize) -> f32,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|d| a(i, d) as f64 * b(d, j) as f64).sum();
        }
    }
    c
}

fn assert_close(what: &str, out: &[f32], reference: &[f64]) {
    assert_eq!(out.len(), reference.len(), "{what}: length");
    for (i, (&o, &r)) in out.iter().zip(reference).enumerate() {
        assert!(
            (o as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()),
            "{what}[{i}]: {o} against {r}"
        );
    }
}

fn check(g: &Gpu) -> Vec<&'static str> {
    let x = random(BATCH * IN, 1, -1.0, 1.0);
    let w = random(OUT * IN, 2, -1.0, 1.0);
    let b = random(OUT, 3, -1.0, 1.0);
    let dy = random(BATCH * OUT, 4, -1.0, 1.0);
    let dw_before = random(OUT * IN, 5, -1.0, 1.0);
    let up =
        |label, shape: &[usize], data: &[f32]| Tensor::from_slice(g, label, shape, data).unwrap();
    let (xt, wt, bt, dyt) = (
        up("x", &[BATCH, IN], &x),
        up("w", &[OUT, IN], &w),
        up("b", &[OUT], &b),
        up("dy", &[BATCH, OUT], &dy),
    );
    let dwt = up("dw", &[OUT, IN], &dw_before);
    let y = Tensor::zeros(g, "y", &[BATCH, OUT]).unwrap();
    let dx = Tensor::zeros(g, "dx", &[BATCH, IN]).unwrap();
    let layer = Linear::new(IN, OUT);
    let dispatches = [
        layer.forward(g, &xt, &wt, &bt, &y).unwrap(),
        layer.backward_input(g, &dyt, &wt, &dx).unwrap(),
        layer.backward_weight(g, &dyt, &xt, &dwt, true).unwrap(),
    ];
    run_on(g, &dispatches.iter().collect::<Vec<_>>());

    let mut y_ref = product(BATCH, OUT, IN, |i, d| x[i * IN + d], |d, j| w[j * IN + d]);
    for (i, v) in y_ref.iter_mut().enumerate() {
        *v += b[i % OUT] as f64;
    }
    let dx_ref = product(BATCH, IN, OUT, |i, d| dy[i * OUT + d], |d, j| w[d * IN + j]);
    let mut dw_ref = product(OUT, IN, BATCH, |i, d| dy[d * OUT + i], |d, j| x[d * IN + j]);
    for (v, &before) in dw_ref.iter_mut().zip(&dw_before) {
        *v += before as f64;
    }
    assert_close("y", &y.read(g).unwrap(), &y_ref);
    assert_close("dx", &dx.read(g).unwrap(), &dx_ref);
    assert_close("dweight", &dwt.read(g).unwrap(), &dw_ref);
    dispatches
        .iter()
        .flat_map(|d| d.parts())
        .map(|d| d.entry())
        .collect()
}

#[test]
fn tiled_linear_products_match_a_float64_reference() {
    let entries = check(gpu_with(KernelFamily::Tiled));
    assert_eq!(
        entries,
        [
            "linear_forward",
            "linear_backward_input",
            "linear_backward_weight"
        ]
    );
}

#[test]
fn split_linear_products_match_a_float64_reference() {
    let entries = check(gpu_with(KernelFamily::TiledSplitK));
    assert_eq!(
        entries,
        [
            "linear_forward_split",
            "linear_forward_reduce",
            "linear_backward_input_split",
            "linear_backward_input_reduce",
            "linear_backward_weight_split",
            "linear_backward_weight_reduce"
        ]
    );
}

#[test]
fn split_linear_products_on_8x8_blocks_match_a_float64_reference() {
    let g = gpu_with(KernelFamily::TiledBlock8SplitK);
    assert_eq!(g.tuning().products.block, 8);
    let entries = check(g);
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert!(entries.iter().all(|e| e.starts_with("linear_")));
}

#[test]
fn split_linear_products_loaded_ahead_match_a_float64_reference() {
    for family in [
        KernelFamily::TiledPrefetchSplitK,
        KernelFamily::TiledBlock8PrefetchSplitK,
    ] {
        let g = gpu_with(family);
        assert!(g.tuning().products.prefetch);
        let entries = check(g);
        assert_eq!(entries.len(), 6, "{entries:?}");
    }
}

#[test]
fn subgroup_linear_products_match_a_float64_reference() {
    let g = gpu_with(KernelFamily::Subgroup);
    if !g.runs_subgroup_kernels() {
        common::report::note(
            common::report::Note::Skipped,
            "subgroup_linear_products_match_a_float64_reference",
            &format!(
                "{} has no subgroups of 8 or more lanes: nothing to test",
                g.info.name
            ),
        );
        return;
    }
    let entries = check(g);
    assert_eq!(
        entries,
        [
            "linear_subgroup_forward",
            "linear_subgroup_backward_input",
            "linear_subgroup_backward_weight"
        ]
    );
}
