//! loss.png: its size, both curves in matplotlib's colours where their losses put them (and nowhere
//! else), anti-aliased, and dark axis labels, legend and tick text.

use gan_wgpu::history::{EpochRecord, History};
use gan_wgpu::plot::{D_COLOUR, G_COLOUR, HEIGHT, WIDTH, loss_plot_png};

/// A history whose D losses stay in [1.2, 1.4] and G losses in [0.5, 0.7], both jumping at every step
/// as a real run's do.
fn history(epochs: usize, steps: usize) -> History {
    History {
        seed: 1,
        batch_size: 128,
        lr: 2e-4,
        betas: [0.5, 0.999],
        dataset: "test".into(),
        epochs: (1..=epochs)
            .map(|epoch| {
                let wobble = |i: usize, k: usize| ((epoch * steps + i) * k % 11) as f32 / 10.0;
                let d: Vec<f32> = (0..steps).map(|i| 1.2 + 0.2 * wobble(i, 7)).collect();
                let g: Vec<f32> = (0..steps).map(|i| 0.5 + 0.2 * wobble(i, 5)).collect();
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

/// How far `p` is from `colour` (largest channel difference).
fn distance(p: [u8; 3], colour: [u8; 3]) -> u8 {
    (0..3).map(|c| p[c].abs_diff(colour[c])).max().unwrap()
}

/// Whether `p` is `colour` blended with white at a coverage between 20% and 80%: an anti-aliased edge.
fn is_edge_of(p: [u8; 3], colour: [u8; 3]) -> bool {
    // Coverage from the channel the colour takes furthest from white.
    let c = (0..3).max_by_key(|&c| 255 - colour[c]).unwrap();
    let coverage = (255.0 - p[c] as f32) / (255.0 - colour[c] as f32);
    (0.2..0.8).contains(&coverage)
        && (0..3).all(|c| {
            let blend = 255.0 + coverage * (colour[c] as f32 - 255.0);
            (p[c] as f32 - blend).abs() <= 6.0
        })
}

#[test]
fn the_loss_plot_draws_both_curves_where_they_belong() {
    let png = loss_plot_png(&history(25, 40)).unwrap();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("loss.png");
    std::fs::write(&out, &png).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (WIDTH as u32, HEIGHT as u32));
    let pixels: Vec<(u32, u32, [u8; 3])> = image
        .enumerate_pixels()
        .map(|(x, y, p)| (x, y, p.0))
        .collect();
    // Rows of each curve, from the pixels of its own colour (the legend's samples, at the bottom right,
    // aside).
    let curve_rows = |colour: [u8; 3]| -> Vec<u32> {
        pixels
            .iter()
            .filter(|(x, y, p)| distance(*p, colour) <= 10 && !(*x > 480 && *y > 360))
            .map(|(_, y, _)| *y)
            .collect()
    };
    let (d_rows, g_rows) = (curve_rows(D_COLOUR), curve_rows(G_COLOUR));
    assert!(d_rows.len() > 2000, "D's curve: {} pixels", d_rows.len());
    assert!(g_rows.len() > 2000, "G's curve: {} pixels", g_rows.len());
    // The y axis runs from 0 to 1.05 × the largest loss: D's band lies in the top sixth of the plot, G's
    // below the middle, and no pixel of either strays outside its band (as miter joins once made them).
    let band = |rows: &[u32]| (*rows.iter().min().unwrap(), *rows.iter().max().unwrap());
    let (d_top, d_bottom) = band(&d_rows);
    let (g_top, g_bottom) = band(&g_rows);
    assert!(
        d_bottom < g_top,
        "D's band {d_top}..{d_bottom} above G's {g_top}..{g_bottom}"
    );
    assert!(d_bottom - d_top < 80, "D's band {d_top}..{d_bottom}");
    assert!(g_bottom - g_top < 80, "G's band {g_top}..{g_bottom}");
    // Anti-aliased: the curves' edges are blends of their colour with the white background.
    let edges = |colour| {
        pixels
            .iter()
            .filter(|(_, _, p)| is_edge_of(*p, colour))
            .count()
    };
    assert!(
        edges(D_COLOUR) > 300,
        "D's anti-aliased edge pixels: {}",
        edges(D_COLOUR)
    );
    assert!(
        edges(G_COLOUR) > 300,
        "G's anti-aliased edge pixels: {}",
        edges(G_COLOUR)
    );
    // Axis labels, ticks and legend text: dark grey to black.
    let dark = pixels
        .iter()
        .filter(|(_, _, p)| p.iter().all(|&c| c < 90))
        .count();
    assert!(dark > 1000, "{dark} dark pixels");
    // An empty history (before the first epoch ends) still gives a valid picture.
    assert!(image::load_from_memory(&loss_plot_png(&history(0, 0)).unwrap()).is_ok());
}
