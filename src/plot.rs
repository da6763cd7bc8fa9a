//! `loss.png`: D's and G's loss at every step against the epoch, with labelled axes and a legend, as the
//! original's `loss_plot` draws it. Rasterised here, with a built-in 5×7 font, so no font or plotting
//! library is needed.

use crate::error::Result;
use crate::grid::encode_png;
use crate::train::History;

const WIDTH: usize = 640;
const HEIGHT: usize = 480;
const LEFT: usize = 70;
const RIGHT: usize = 20;
const TOP: usize = 30;
const BOTTOM: usize = 50;
/// Each font pixel becomes a 2×2 block.
const SCALE: usize = 2;

type Rgb = [u8; 3];
const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [225, 225, 225];
/// matplotlib's first two colours, as the original plot has them.
pub const D_COLOUR: Rgb = [31, 119, 180];
pub const G_COLOUR: Rgb = [255, 127, 14];

/// 5×7 glyphs, one byte a row, bit 4 leftmost.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        'c' => [0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'e' => [0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'o' => [0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'p' => [0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        's' => [0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        _ => [0; 7],
    }
}

struct Canvas {
    rgb: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas {
            rgb: WHITE.repeat(WIDTH * HEIGHT),
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if (0..WIDTH as i64).contains(&x) && (0..HEIGHT as i64).contains(&y) {
            let at = (y as usize * WIDTH + x as usize) * 3;
            self.rgb[at..at + 3].copy_from_slice(&c);
        }
    }

    /// A line two pixels thick (Bresenham, doubled downwards).
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb, thick: bool) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, c);
            if thick {
                self.set(x, y + 1, c);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A filled rectangle with a black border.
    fn boxed(&mut self, (x0, y0): (usize, usize), (x1, y1): (usize, usize)) {
        for y in y0..=y1 {
            for x in x0..=x1 {
                let edge = x == x0 || x == x1 || y == y0 || y == y1;
                self.set(x as i64, y as i64, if edge { BLACK } else { WHITE });
            }
        }
    }

    fn text_width(text: &str) -> usize {
        text.chars().count() * 6 * SCALE
    }

    /// `text` with its top-left corner at (x, y).
    fn text(&mut self, x: usize, y: usize, text: &str, c: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for (sx, sy) in (0..SCALE).flat_map(|a| (0..SCALE).map(move |b| (a, b))) {
                            let px = x + i * 6 * SCALE + col * SCALE + sx;
                            self.set(px as i64, (y + row * SCALE + sy) as i64, c);
                        }
                    }
                }
            }
        }
    }
}

/// Tick spacing of 1, 2 or 5 × 10^k giving at most `max_ticks` ticks over `span`.
fn tick_step(span: f64, max_ticks: f64) -> f64 {
    let raw = span / max_ticks;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

/// The PNG bytes of the loss plot of `history` (empty history: axes only).
pub fn loss_plot_png(history: &History) -> Result<Vec<u8>> {
    let series = |pick: fn(&crate::train::EpochRecord) -> &Vec<f32>| -> Vec<(f64, f64)> {
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
    };
    let d = series(|e| &e.d_losses);
    let g = series(|e| &e.g_losses);
    let x_max = history.epochs.last().map_or(1.0, |e| e.epoch as f64);
    let y_max = d
        .iter()
        .chain(&g)
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.05;
    let (plot_w, plot_h) = (
        (WIDTH - LEFT - RIGHT) as f64,
        (HEIGHT - TOP - BOTTOM) as f64,
    );
    let to_px = |(x, y): (f64, f64)| -> (i64, i64) {
        (
            (LEFT as f64 + x / x_max * plot_w).round() as i64,
            (TOP as f64 + plot_h - y / y_max * plot_h).round() as i64,
        )
    };

    let mut c = Canvas::new();
    let (x_step, y_step) = (tick_step(x_max, 10.0).max(1.0), tick_step(y_max, 8.0));
    let mut x = 0.0;
    while x <= x_max + 1e-9 {
        let (px, py) = to_px((x, 0.0));
        c.line((px, TOP as i64), (px, py), GRID, false);
        c.line((px, py), (px, py + 5), BLACK, false);
        let label = tick_label(x, x_step);
        c.text(
            (px as usize).saturating_sub(Canvas::text_width(&label) / 2),
            py as usize + 9,
            &label,
            BLACK,
        );
        x += x_step;
    }
    let mut y = 0.0;
    while y <= y_max + 1e-9 {
        let (px, py) = to_px((0.0, y));
        c.line((px, py), ((WIDTH - RIGHT) as i64, py), GRID, false);
        c.line((px - 5, py), (px, py), BLACK, false);
        let label = tick_label(y, y_step);
        c.text(
            (LEFT - 9).saturating_sub(Canvas::text_width(&label)),
            (py as usize).saturating_sub(7),
            &label,
            BLACK,
        );
        y += y_step;
    }
    let (left, bottom, right) = (
        LEFT as i64,
        (HEIGHT - BOTTOM) as i64,
        (WIDTH - RIGHT) as i64,
    );
    c.line((left, TOP as i64), (left, bottom), BLACK, false);
    c.line((left, bottom), (right, bottom), BLACK, false);
    for (points, colour) in [(&d, D_COLOUR), (&g, G_COLOUR)] {
        for pair in points.windows(2) {
            c.line(to_px(pair[0]), to_px(pair[1]), colour, true);
        }
    }
    c.text(
        LEFT + (WIDTH - LEFT - RIGHT - Canvas::text_width("epoch")) / 2,
        HEIGHT - 22,
        "epoch",
        BLACK,
    );
    c.text(8, 8, "loss", BLACK);
    // Legend, top right.
    let legend_x = WIDTH - RIGHT - 150;
    c.boxed((legend_x - 10, TOP + 4), (WIDTH - RIGHT - 6, TOP + 56));
    for (i, (name, colour)) in [("D_loss", D_COLOUR), ("G_loss", G_COLOUR)]
        .into_iter()
        .enumerate()
    {
        let y = TOP + 12 + i * 22;
        c.line(
            (legend_x as i64, y as i64 + 6),
            (legend_x as i64 + 30, y as i64 + 6),
            colour,
            true,
        );
        c.text(legend_x + 40, y, name, BLACK);
    }

    encode_png(&c.rgb, WIDTH, HEIGHT, image::ExtendedColorType::Rgb8)
}
