//! How good a set of images is, in a classifier's view: the classifier score (the Inception Score's
//! formula on this program's own classifier), the Fréchet distance between the classifier's features
//! of two sets, and how the images fall into the classes. All in float64.
//!
//! These numbers are only as good as the classifier: comparable across runs of gan-wgpu and with a
//! PyTorch G scored the same way, not with Inception-based scores in papers.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use crate::error::{Error, Result};

/// The mean and covariance of a set of feature vectors (rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    /// Unbiased (divided by rows − 1), as numpy's `np.cov(features, rowvar=False)`.
    pub covariance: DMatrix<f64>,
}

impl Gaussian {
    /// The statistics of `rows` feature vectors of `dim` values each, stored row after row.
    pub fn of(features: &[f32], rows: usize, dim: usize) -> Result<Gaussian> {
        if rows < 2 || dim == 0 || features.len() != rows * dim {
            return Err(Error::InvalidArgument {
                op: "feature statistics",
                message: format!(
                    "{} values as {rows} rows of {dim}: need at least two rows of at least one value",
                    features.len()
                ),
            });
        }
        let x = DMatrix::from_row_iterator(rows, dim, features.iter().map(|&v| v as f64));
        let mean = x.row_mean().transpose();
        let centred = DMatrix::from_fn(rows, dim, |i, j| x[(i, j)] - mean[j]);
        let covariance = centred.tr_mul(&centred) / (rows - 1) as f64;
        Ok(Gaussian { mean, covariance })
    }
}

/// The square root of a symmetric positive semi-definite matrix, through its eigendecomposition;
/// eigenvalues that rounding left slightly below zero count as zero.
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(m.clone());
    let roots = eigen.eigenvalues.map(|l| l.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// The Fréchet distance between two Gaussians: |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½). The trace of
/// (Σ₁Σ₂)^½ is taken as that of (Σ₁^½ Σ₂ Σ₁^½)^½, which has the same eigenvalues and is symmetric,
/// so both roots come from symmetric eigendecompositions rather than a general matrix square root.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    if a.mean.len() != b.mean.len() {
        return Err(Error::InvalidArgument {
            op: "Fréchet distance",
            message: format!(
                "features of {} and of {} values cannot be compared",
                a.mean.len(),
                b.mean.len()
            ),
        });
    }
    let root_a = sqrt_psd(&a.covariance);
    let middle = &root_a * &b.covariance * &root_a;
    // Symmetrised: the product is symmetric up to rounding.
    let middle = (&middle + middle.transpose()) * 0.5;
    let cross: f64 = SymmetricEigen::new(middle)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum();
    let difference = (&a.mean - &b.mean).norm_squared();
    Ok(difference + a.covariance.trace() + b.covariance.trace() - 2.0 * cross)
}

/// The classifier score of `rows` class distributions p(y|x) over `classes` classes (each row sums
/// to 1): exp of the mean KL divergence between p(y|x) and their mean p(y). 1 when every image looks
/// alike to the classifier; the number of classes when each is confidently one class and the classes
/// are equally common.
pub fn classifier_score(probs: &[f32], rows: usize, classes: usize) -> Result<f64> {
    if rows == 0 || classes == 0 || probs.len() != rows * classes {
        return Err(Error::InvalidArgument {
            op: "classifier score",
            message: format!("{} probabilities as {rows} rows of {classes}", probs.len()),
        });
    }
    let row = |i: usize| &probs[i * classes..(i + 1) * classes];
    let marginal: Vec<f64> = (0..classes)
        .map(|c| (0..rows).map(|i| row(i)[c] as f64).sum::<f64>() / rows as f64)
        .collect();
    // 0·log 0 = 0: a class an image surely is not adds nothing.
    let kl = |p: &[f32]| -> f64 {
        p.iter()
            .zip(&marginal)
            .filter(|&(&q, _)| q > 0.0)
            .map(|(&q, &m)| q as f64 * ((q as f64).ln() - m.ln()))
            .sum()
    };
    let mean_kl = (0..rows).map(|i| kl(row(i))).sum::<f64>() / rows as f64;
    Ok(mean_kl.exp())
}

/// How many of `rows` images the classifier puts in each class (its most probable one; the lower
/// class on a tie).
pub fn class_histogram(probs: &[f32], rows: usize, classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for p in probs.chunks_exact(classes).take(rows) {
        let best = (0..classes).fold(0, |b, c| if p[c] > p[b] { c } else { b });
        counts[best] += 1;
    }
    counts
}

/// The classes that get a fair share of the images: at least half of what an even spread gives
/// each.
pub fn covered_classes(histogram: &[usize]) -> usize {
    let total: usize = histogram.iter().sum();
    let classes = histogram.len();
    // count ≥ total / classes / 2, in integers.
    histogram
        .iter()
        .filter(|&&count| total > 0 && 2 * classes * count >= total)
        .count()
}
