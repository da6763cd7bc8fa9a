//! loss.png: the right size, both curves drawn in their colours, axes and legend in black.

use gan_wgpu::plot::{D_COLOUR, G_COLOUR, loss_plot_png};
use gan_wgpu::train::{EpochRecord, History};

fn history(epochs: usize, steps: usize) -> History {
    History {
        seed: 1,
        batch_size: 128,
        lr: 2e-4,
        betas: [0.5, 0.999],
        dataset: "test".into(),
        epochs: (1..=epochs)
            .map(|epoch| {
                let d: Vec<f32> = (0..steps)
                    .map(|i| 1.4 - 0.1 * ((epoch * steps + i) as f32).sqrt() / 10.0)
                    .collect();
                let g: Vec<f32> = (0..steps)
                    .map(|i| 0.7 + 0.8 * ((i + epoch) % 7) as f32 / 7.0)
                    .collect();
                EpochRecord {
                    epoch,
                    d_loss: d.iter().map(|&v| v as f64).sum::<f64>() / steps as f64,
                    g_loss: g.iter().map(|&v| v as f64).sum::<f64>() / steps as f64,
                    d_losses: d,
                    g_losses: g,
                }
            })
            .collect(),
    }
}

#[test]
fn the_loss_plot_draws_both_curves() {
    let png = loss_plot_png(&history(25, 40)).unwrap();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("loss.png");
    std::fs::write(&out, &png).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (640, 480));
    let count = |c: [u8; 3]| image.pixels().filter(|p| p.0 == c).count();
    assert!(count(D_COLOUR) > 500, "D's curve");
    assert!(count(G_COLOUR) > 500, "G's curve");
    assert!(count([0, 0, 0]) > 1000, "axes, ticks and labels");
    // An empty history (before the first epoch ends) still gives a valid picture.
    assert!(image::load_from_memory(&loss_plot_png(&history(0, 0)).unwrap()).is_ok());
}
