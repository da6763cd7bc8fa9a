//! `loss.png`: D's and G's loss at every step against the epoch, with labelled axes, a grid and a
//! legend, as the original's `loss_plot` draws it with matplotlib; `quality.png` beside it: the
//! classifier score and the Fréchet distance of the epochs' samples (src/score.rs). Drawn with plotters in DejaVu Sans
//! (bundled: assets/fonts, its licence beside it), at twice the size and averaged down, so lines and
//! text are anti-aliased.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};
use crate::grid::encode_png;
use crate::history::{EpochRecord, History};

pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 480;
/// Drawing pixels per picture pixel, each way.
const SUPERSAMPLE: usize = 2;
/// Curve width in drawing pixels: 2 picture pixels, about matplotlib's 1.5 points at 100 dpi.
const LINE_WIDTH: u32 = 4;

type Rgb = [u8; 3];
/// matplotlib's first two colours (C0, C1), as the original plot has them.
pub const D_COLOUR: Rgb = [31, 119, 180];
pub const G_COLOUR: Rgb = [255, 127, 14];

const FONT: &str = "DejaVu Sans";
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument {
        op: "loss_plot",
        message: e.to_string(),
    }
}

fn register_dejavu() -> Result<()> {
    static REGISTERED: Once = Once::new();
    let mut outcome = Ok(());
    REGISTERED.call_once(|| {
        outcome = register_font(FONT, FontStyle::Normal, DEJAVU_SANS)
            .map_err(|_| plot_error("the bundled DejaVu Sans does not parse"));
    });
    outcome
}

/// (epoch, loss) of every step: step i of n in epoch e at e − 1 + (i + 1)/n.
fn series(history: &History, pick: fn(&EpochRecord) -> &Vec<f32>) -> Vec<(f64, f64)> {
    history
        .epochs
        .iter()
        .flat_map(|e| {
            let steps = pick(e).len() as f64;
            pick(e)
                .iter()
                .enumerate()
                .map(move |(i, &l)| (e.epoch as f64 - 1.0 + (i as f64 + 1.0) / steps, l as f64))
        })
        .filter(|(_, l)| l.is_finite())
        .collect()
}

/// The PNG bytes of the loss plot of `history` (empty history: axes only).
pub fn loss_plot_png(history: &History) -> Result<Vec<u8>> {
    register_dejavu()?;
    let d = series(history, |e| &e.d_losses);
    let g = series(history, |e| &e.g_losses);
    let x_max = history.epochs.last().map_or(1.0, |e| e.epoch as f64);
    let y_max = d
        .iter()
        .chain(&g)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.05;

    let (w, h) = (WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE);
    let px = |v: usize| (v * SUPERSAMPLE) as u32;
    let mut big = vec![0u8; w * h * 3];
    {
        let root = BitMapBackend::with_buffer(&mut big, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let font = |size: usize| (FONT, px(size)).into_font();
        let mut chart = ChartBuilder::on(&root)
            .margin(px(12))
            .x_label_area_size(px(42))
            .y_label_area_size(px(56))
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("Epoch")
            .y_desc("Loss")
            .axis_desc_style(font(15))
            .label_style(font(13))
            .bold_line_style(RGBColor(210, 210, 210).stroke_width(px(1)))
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK.stroke_width(px(1)))
            .x_labels(10)
            .y_labels(8)
            .x_label_formatter(&|x| {
                // Whole epochs once there are a few of them.
                if x_max >= 4.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.1}")
                }
            })
            .draw()
            .map_err(plot_error)?;
        for (points, [r, g_, b], name) in [(&d, D_COLOUR, "D_loss"), (&g, G_COLOUR, "G_loss")] {
            let colour = RGBColor(r, g_, b);
            // Segment by segment: plotters joins a thick polyline's segments with miters, which
            // shoot far out of a curve that turns back at every step, as a loss curve does.
            chart
                .draw_series(points.windows(2).map(|pair| {
                    PathElement::new(vec![pair[0], pair[1]], colour.stroke_width(LINE_WIDTH))
                }))
                .map_err(plot_error)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + px(24) as i32, y)],
                        colour.stroke_width(LINE_WIDTH),
                    )
                });
        }
        // Lower right, as the original's `plt.legend(loc=4)`.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(204, 204, 204).stroke_width(px(1)))
            .label_font(font(13))
            .legend_area_size(px(32))
            .margin(px(10))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    encode_png(
        &downsample(&big, w, h),
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )
}

/// (epoch, value) of the epochs that were scored.
fn quality_series(history: &History, pick: fn(&crate::score::Scores) -> f64) -> Vec<(f64, f64)> {
    history
        .epochs
        .iter()
        .filter_map(|e| e.quality.as_ref().map(|q| (e.epoch as f64, pick(q))))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// The PNG bytes of the quality plot of `history`: the classifier score (left, out of 10) and the
/// Fréchet distance (right, on a log scale: it falls by orders of magnitude as G learns) of each
/// scored epoch's samples.
pub fn quality_plot_png(history: &History) -> Result<Vec<u8>> {
    register_dejavu()?;
    let is = quality_series(history, |q| q.classifier_score);
    let fd = quality_series(history, |q| q.frechet_distance.max(1e-6));
    let x_max = history
        .epochs
        .last()
        .map_or(1.0, |e| e.epoch as f64)
        .max(1.0);
    let x_range = 0.5..x_max + 0.5;
    let (fd_min, fd_max) = fd.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let fd_range = if fd.is_empty() {
        0.1..1000.0
    } else {
        fd_min / 2.0..fd_max * 2.0
    };
    let (w, h) = (WIDTH * SUPERSAMPLE, HEIGHT * SUPERSAMPLE);
    let px = |v: usize| (v * SUPERSAMPLE) as u32;
    let mut big = vec![0u8; w * h * 3];
    {
        let root = BitMapBackend::with_buffer(&mut big, (w as u32, h as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let font = |size: usize| (FONT, px(size)).into_font();
        let panels = root.split_evenly((1, 2));
        // Whole epochs only.
        let epoch_label = |x: &f64| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        };
        let colour = |[r, g, b]: Rgb| RGBColor(r, g, b);
        macro_rules! panel {
            ($area:expr, $y_range:expr, $y_desc:expr, $y_label:expr, $points:expr, $colour:expr) => {{
                let mut chart = ChartBuilder::on($area)
                    .margin(px(12))
                    .x_label_area_size(px(42))
                    .y_label_area_size(px(60))
                    .build_cartesian_2d(x_range.clone(), $y_range)
                    .map_err(plot_error)?;
                chart
                    .configure_mesh()
                    .x_desc("Epoch")
                    .y_desc($y_desc)
                    .axis_desc_style(font(15))
                    .label_style(font(13))
                    .bold_line_style(RGBColor(210, 210, 210).stroke_width(px(1)))
                    .light_line_style(TRANSPARENT)
                    .axis_style(BLACK.stroke_width(px(1)))
                    .x_labels(12)
                    .y_labels(8)
                    .x_label_formatter(&epoch_label)
                    .y_label_formatter(&$y_label)
                    .draw()
                    .map_err(plot_error)?;
                let c = $colour;
                chart
                    .draw_series($points.windows(2).map(|pair| {
                        PathElement::new(vec![pair[0], pair[1]], c.stroke_width(LINE_WIDTH))
                    }))
                    .map_err(plot_error)?;
                chart
                    .draw_series($points.iter().map(|&p| Circle::new(p, px(3), c.filled())))
                    .map_err(plot_error)?;
            }};
        }
        panel!(
            &panels[0],
            0.0..10.0,
            "Classifier score (IS)",
            |y: &f64| format!("{y:.0}"),
            &is,
            colour(D_COLOUR)
        );
        panel!(
            &panels[1],
            fd_range.log_scale(),
            "Fréchet distance (FD)",
            |y: &f64| format!("{y:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
            &fd,
            colour(G_COLOUR)
        );
        root.present().map_err(plot_error)?;
    }
    encode_png(
        &downsample(&big, w, h),
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )
}

/// The RGB picture `SUPERSAMPLE` times smaller each way, each pixel the mean of its block.
fn downsample(big: &[u8], w: usize, h: usize) -> Vec<u8> {
    let (small_w, small_h) = (w / SUPERSAMPLE, h / SUPERSAMPLE);
    let mut small = vec![0u8; small_w * small_h * 3];
    let block = (SUPERSAMPLE * SUPERSAMPLE) as u32;
    for y in 0..small_h {
        for x in 0..small_w {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..SUPERSAMPLE {
                    for dx in 0..SUPERSAMPLE {
                        let at = ((y * SUPERSAMPLE + dy) * w + x * SUPERSAMPLE + dx) * 3 + c;
                        sum += big[at] as u32;
                    }
                }
                small[(y * small_w + x) * 3 + c] = ((sum + block / 2) / block) as u8;
            }
        }
    }
    small
}
