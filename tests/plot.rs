//! loss.png: its size, both curves in matplotlib's colours where their losses put them (and nowhere
//! else), anti-aliased, and dark axis labels, legend and tick text. quality.png: the classifier score
//! on the left, the Fréchet distance on the right, where their values put them.

use gan_wgpu::history::{EpochRecord, History};
use gan_wgpu::plot::{D_COLOUR, G_COLOUR, HEIGHT, WIDTH, loss_plot_png, quality_plot_png};
use gan_wgpu::score::Scores;

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
                    quality: None,
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

/// A history of `epochs` epochs, every other one scored: the classifier score rising from 2 to 9, the
/// Fréchet distance falling from 100 to 1.
fn scored_history(epochs: usize) -> History {
    let mut h = history(epochs, 10);
    for e in h.epochs.iter_mut().filter(|e| e.epoch % 2 == 1) {
        let t = (e.epoch - 1) as f64 / (epochs - 1) as f64;
        e.quality = Some(Scores {
            images: 2000,
            classifier_score: 2.0 + 7.0 * t,
            frechet_distance: 100.0 * 0.01f64.powf(t),
            covered_classes: 10,
            histogram: vec![200; 10],
        });
    }
    h
}

#[test]
fn the_quality_plot_draws_the_score_left_and_the_distance_right_as_they_move() {
    let png = quality_plot_png(&scored_history(25)).unwrap();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("quality.png");
    std::fs::write(&out, &png).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (WIDTH as u32, HEIGHT as u32));
    let points = |colour: [u8; 3]| -> Vec<(u32, u32)> {
        image
            .enumerate_pixels()
            .filter(|(_, _, p)| distance(p.0, colour) <= 10)
            .map(|(x, y, _)| (x, y))
            .collect()
    };
    let (is, fd) = (points(D_COLOUR), points(G_COLOUR));
    let half = WIDTH as u32 / 2;
    assert!(
        is.len() > 300 && fd.len() > 300,
        "{} and {} pixels",
        is.len(),
        fd.len()
    );
    assert!(
        is.iter().all(|&(x, _)| x < half),
        "the score's curve strays right"
    );
    assert!(
        fd.iter().all(|&(x, _)| x >= half),
        "the distance's curve strays left"
    );
    // The rows at the left and right ends of each curve: the score climbs, the distance falls.
    let ends = |points: &[(u32, u32)]| {
        let left = points.iter().min_by_key(|p| p.0).unwrap();
        let right = points.iter().max_by_key(|p| p.0).unwrap();
        (left.1, right.1)
    };
    let (is_first, is_last) = ends(&is);
    let (fd_first, fd_last) = ends(&fd);
    assert!(
        is_last + 100 < is_first,
        "score from row {is_first} to {is_last}"
    );
    assert!(
        fd_first + 100 < fd_last,
        "distance from row {fd_first} to {fd_last}"
    );
    // Unscored histories give axes only.
    let blank = quality_plot_png(&history(3, 5)).unwrap();
    let blank = image::load_from_memory(&blank).unwrap().to_rgb8();
    assert!(!blank.pixels().any(|p| distance(p.0, D_COLOUR) <= 10));
}
