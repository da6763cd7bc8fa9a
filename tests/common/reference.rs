//! Plain-Rust reference implementations in double precision, written from PyTorch's definitions, for
//! the shapes the oracle does not cover. Maps are NCHW and flat; every function returns new vectors.
//! Each computes in double precision from float32 inputs (results rounded once to float32) or from
//! float64 ones (results kept in float64: tests/common/dcgan64.rs chains them into whole steps).

/// An element type of the references' inputs and outputs: f32 or f64.
pub trait Real: Copy + Default {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Real for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> f64 {
        v
    }
}

/// y[n, o] = Σ_i x[n, i]·w[o, i] + b[o]
pub fn linear_forward<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    n: usize,
    fin: usize,
    fout: usize,
) -> Vec<T> {
    let mut y = vec![T::default(); n * fout];
    for s in 0..n {
        for o in 0..fout {
            let dot: f64 = (0..fin)
                .map(|i| x[s * fin + i].to_f64() * w[o * fin + i].to_f64())
                .sum();
            y[s * fout + o] = T::from_f64(dot + b[o].to_f64());
        }
    }
    y
}

/// (dx, dw, db) of `linear_forward` for upstream dy.
pub fn linear_backward<T: Real>(
    x: &[T],
    w: &[T],
    dy: &[T],
    n: usize,
    fin: usize,
    fout: usize,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let mut dx = vec![T::default(); n * fin];
    let mut dw = vec![T::default(); fout * fin];
    let mut db = vec![T::default(); fout];
    for s in 0..n {
        for i in 0..fin {
            let v: f64 = (0..fout)
                .map(|o| dy[s * fout + o].to_f64() * w[o * fin + i].to_f64())
                .sum();
            dx[s * fin + i] = T::from_f64(v);
        }
    }
    for o in 0..fout {
        for i in 0..fin {
            let v: f64 = (0..n)
                .map(|s| dy[s * fout + o].to_f64() * x[s * fin + i].to_f64())
                .sum();
            dw[o * fin + i] = T::from_f64(v);
        }
        db[o] = T::from_f64((0..n).map(|s| dy[s * fout + o].to_f64()).sum::<f64>());
    }
    (dx, dw, db)
}

/// Shape of one convolution: input map `hi` of a Conv2d / output map of a ConvTranspose2d, and the
/// other map `lo`, each (channels, height, width), joined by lo position u ↔ hi position u·s − p + k.
#[derive(Clone, Copy, Debug)]
pub struct ConvShape {
    pub batch: usize,
    pub hi: (usize, usize, usize),
    pub lo: (usize, usize, usize),
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvShape {
    /// Calls f(n, lo_index (without channel), hi_index (without channel), ky, kx) for every connected pair.
    fn for_each_pair(&self, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
        let (_, hh, hw) = self.hi;
        let (_, lh, lw) = self.lo;
        for n in 0..self.batch {
            for u in 0..lh {
                for v in 0..lw {
                    for ky in 0..self.k {
                        for kx in 0..self.k {
                            let y = (u * self.stride + ky) as isize - self.pad as isize;
                            let x = (v * self.stride + kx) as isize - self.pad as isize;
                            if y < 0 || x < 0 || y >= hh as isize || x >= hw as isize {
                                continue;
                            }
                            f(n, u * lw + v, y as usize * hw + x as usize, ky, kx);
                        }
                    }
                }
            }
        }
    }
}

/// Which map is the layer's input, and where weight (lo channel l, hi channel h) sits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConvKind {
    /// Conv2d: hi → lo, weight [C_out = lo channels, C_in = hi channels, k, k].
    Conv2d,
    /// ConvTranspose2d: lo → hi, weight [C_in = lo channels, C_out = hi channels, k, k].
    ConvTranspose2d,
}

/// Both layouts put the lo channel first: Conv2d's C_out and ConvTranspose2d's C_in.
fn weight_index(s: &ConvShape, l: usize, h: usize, ky: usize, kx: usize) -> usize {
    ((l * s.hi.0 + h) * s.k + ky) * s.k + kx
}

/// Forward of either layer: y = conv(x, w) + b, x being hi (Conv2d) or lo (ConvTranspose2d).
pub fn conv_forward<T: Real>(kind: ConvKind, s: &ConvShape, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
    let (hc, hh, hw) = s.hi;
    let (lc, lh, lw) = s.lo;
    let (out_c, out_plane) = match kind {
        ConvKind::Conv2d => (lc, lh * lw),
        ConvKind::ConvTranspose2d => (hc, hh * hw),
    };
    let mut y = vec![0.0f64; s.batch * out_c * out_plane];
    s.for_each_pair(|n, lo, hi, ky, kx| {
        for l in 0..lc {
            for h in 0..hc {
                let wv = w[weight_index(s, l, h, ky, kx)].to_f64();
                match kind {
                    ConvKind::Conv2d => {
                        y[(n * lc + l) * lh * lw + lo] +=
                            x[(n * hc + h) * hh * hw + hi].to_f64() * wv
                    }
                    ConvKind::ConvTranspose2d => {
                        y[(n * hc + h) * hh * hw + hi] +=
                            x[(n * lc + l) * lh * lw + lo].to_f64() * wv
                    }
                }
            }
        }
    });
    y.iter()
        .enumerate()
        .map(|(i, v)| T::from_f64(v + b[(i / out_plane) % out_c].to_f64()))
        .collect()
}

/// (dx, dw, db) of `conv_forward` for upstream dy.
pub fn conv_backward<T: Real>(
    kind: ConvKind,
    s: &ConvShape,
    x: &[T],
    w: &[T],
    dy: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (hc, hh, hw) = s.hi;
    let (lc, lh, lw) = s.lo;
    let (hi_map, lo_map) = match kind {
        ConvKind::Conv2d => (x, dy),
        ConvKind::ConvTranspose2d => (dy, x),
    };
    let mut d_hi = vec![0.0f64; s.batch * hc * hh * hw];
    let mut d_lo = vec![0.0f64; s.batch * lc * lh * lw];
    let mut dw = vec![0.0f64; w.len()];
    s.for_each_pair(|n, lo, hi, ky, kx| {
        for l in 0..lc {
            for h in 0..hc {
                let wi = weight_index(s, l, h, ky, kx);
                let (li, hix) = ((n * lc + l) * lh * lw + lo, (n * hc + h) * hh * hw + hi);
                dw[wi] += lo_map[li].to_f64() * hi_map[hix].to_f64();
                match kind {
                    ConvKind::Conv2d => d_hi[hix] += lo_map[li].to_f64() * w[wi].to_f64(),
                    ConvKind::ConvTranspose2d => d_lo[li] += hi_map[hix].to_f64() * w[wi].to_f64(),
                }
            }
        }
    });
    let (dx, out_c, plane) = match kind {
        ConvKind::Conv2d => (d_hi, lc, lh * lw),
        ConvKind::ConvTranspose2d => (d_lo, hc, hh * hw),
    };
    let mut db = vec![0.0f64; out_c];
    for (i, v) in dy.iter().enumerate() {
        db[(i / plane) % out_c] += v.to_f64();
    }
    let f = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
    (f(dx), f(dw), f(db))
}

/// Index of the i-th of the N·S values of channel ch in x [N, C, S].
fn bn_index((_, c, s): (usize, usize, usize), i: usize, ch: usize) -> usize {
    ((i / s) * c + ch) * s + i % s
}

/// Batch mean and biased variance of channel ch of x [N, C, S].
fn batch_stats<T: Real>(x: &[T], shape: (usize, usize, usize), ch: usize) -> (f64, f64) {
    let count = shape.0 * shape.2;
    let value = |i| x[bn_index(shape, i, ch)].to_f64();
    let mean = (0..count).map(value).sum::<f64>() / count as f64;
    let var = (0..count).map(|i| (value(i) - mean).powi(2)).sum::<f64>() / count as f64;
    (mean, var)
}

/// Training-mode BatchNorm over x [N, C, S]: (y, new running mean, new running var).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_train<T: Real>(
    x: &[T],
    w: &[T],
    b: &[T],
    running_mean: &[T],
    running_var: &[T],
    shape: (usize, usize, usize),
    eps: f64,
    momentum: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (n, c, s) = shape;
    let m = (n * s) as f64;
    let mut y = vec![T::default(); x.len()];
    let (mut rm, mut rv) = (vec![], vec![]);
    for ch in 0..c {
        let (mean, var) = batch_stats(x, shape, ch);
        let inv_std = 1.0 / (var + eps).sqrt();
        for i in 0..n * s {
            let at = bn_index(shape, i, ch);
            y[at] =
                T::from_f64((x[at].to_f64() - mean) * inv_std * w[ch].to_f64() + b[ch].to_f64());
        }
        rm.push(T::from_f64(
            (1.0 - momentum) * running_mean[ch].to_f64() + momentum * mean,
        ));
        rv.push(T::from_f64(
            (1.0 - momentum) * running_var[ch].to_f64() + momentum * var * m / (m - 1.0),
        ));
    }
    (y, rm, rv)
}

/// Eval-mode BatchNorm with the running statistics.
pub fn batchnorm_eval(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    (c, s): (usize, usize),
    eps: f64,
) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = (i / s) % c;
            ((v as f64 - running_mean[ch] as f64) / (running_var[ch] as f64 + eps).sqrt()
                * w[ch] as f64
                + b[ch] as f64) as f32
        })
        .collect()
}

/// (dx, dw, db) of training-mode BatchNorm for upstream dy.
pub fn batchnorm_backward<T: Real>(
    x: &[T],
    w: &[T],
    dy: &[T],
    shape: (usize, usize, usize),
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (n, c, s) = shape;
    let m = (n * s) as f64;
    let mut dx = vec![T::default(); x.len()];
    let (mut dw, mut db) = (vec![T::default(); c], vec![T::default(); c]);
    for ch in 0..c {
        let (mean, var) = batch_stats(x, shape, ch);
        let inv_std = 1.0 / (var + eps).sqrt();
        let at = |i: usize| bn_index(shape, i, ch);
        let xhat = |i: usize| (x[at(i)].to_f64() - mean) * inv_std;
        let sum_dy: f64 = (0..n * s).map(|i| dy[at(i)].to_f64()).sum();
        let sum_dy_xhat: f64 = (0..n * s).map(|i| dy[at(i)].to_f64() * xhat(i)).sum();
        for i in 0..n * s {
            let g = dy[at(i)].to_f64();
            dx[at(i)] = T::from_f64(
                w[ch].to_f64() * inv_std * (g - sum_dy / m - xhat(i) * sum_dy_xhat / m),
            );
        }
        dw[ch] = T::from_f64(sum_dy_xhat);
        db[ch] = T::from_f64(sum_dy);
    }
    (dx, dw, db)
}

/// BCELoss (mean) and its gradient, logs clamped at −100, denominator at 1e-12.
pub fn bce(p: &[f32], t: &[f32]) -> (f32, Vec<f32>) {
    let n = p.len() as f64;
    let clog = |v: f64| if v <= 0.0 { -100.0 } else { v.ln().max(-100.0) };
    let loss: f64 = p
        .iter()
        .zip(t)
        .map(|(&p, &t)| -(t as f64 * clog(p as f64) + (1.0 - t as f64) * clog(1.0 - p as f64)))
        .sum::<f64>()
        / n;
    let grad = p
        .iter()
        .zip(t)
        .map(|(&p, &t)| {
            let (p, t) = (p as f64, t as f64);
            ((p - t) / (p * (1.0 - p)).max(1e-12) / n) as f32
        })
        .collect();
    (loss as f32, grad)
}

/// One torch.optim.Adam step (step counts from 1), in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    param: &mut [f64],
    exp_avg: &mut [f64],
    exp_avg_sq: &mut [f64],
    grad: &[f32],
    (lr, beta1, beta2, eps): (f64, f64, f64, f64),
    step: i32,
) {
    let step_size = lr / (1.0 - beta1.powi(step));
    let bc2_sqrt = (1.0 - beta2.powi(step)).sqrt();
    for i in 0..param.len() {
        let g = grad[i] as f64;
        exp_avg[i] = beta1 * exp_avg[i] + (1.0 - beta1) * g;
        exp_avg_sq[i] = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g;
        param[i] -= step_size * exp_avg[i] / (exp_avg_sq[i].sqrt() / bc2_sqrt + eps);
    }
}
