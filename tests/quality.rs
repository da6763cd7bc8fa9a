//! The maths of the image scores (`gan_wgpu::quality`): the Fréchet distance is 0 between identical
//! sets, symmetric, the closed form between Gaussians of known means and covariances, and the value
//! numpy and scipy compute (the fixture `tests/oracles/quality.json`, written by
//! `make_quality_fixture.py` beside it, as pytorch-fid computes it); the classifier score is 1 for
//! one class, the number of classes for confident, evenly spread ones, and numpy's value.

use gan_wgpu::quality::{
    Gaussian, class_histogram, classifier_score, covered_classes, frechet_distance,
};
use nalgebra::{DMatrix, DVector};

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracles/quality.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn frechet_distance_matches_scipy_and_is_symmetric() {
    let f = fixture();
    let dim = f["dim"].as_u64().unwrap() as usize;
    let (a, b) = (floats(&f["features_a"]), floats(&f["features_b"]));
    let ga = Gaussian::of(&a, a.len() / dim, dim).unwrap();
    let gb = Gaussian::of(&b, b.len() / dim, dim).unwrap();
    let expected = f["frechet_distance"].as_f64().unwrap();
    let ab = frechet_distance(&ga, &gb).unwrap();
    let ba = frechet_distance(&gb, &ga).unwrap();
    eprintln!("FD {ab} / {ba}, scipy {expected}");
    assert!(
        relative(ab, expected) < 1e-9,
        "{ab} against scipy's {expected}"
    );
    assert!(relative(ba, ab) < 1e-12, "{ab} one way, {ba} the other");
    // Identical sets: 0, to rounding.
    let same = frechet_distance(&ga, &ga).unwrap();
    assert!(same.abs() < 1e-9 * ga.covariance.trace(), "{same}");
}

#[test]
fn frechet_distance_between_known_gaussians_is_the_closed_form() {
    // Diagonal covariances: |μ₁ − μ₂|² + Σ (σ₁ + σ₂ − 2√(σ₁σ₂)) over the diagonal.
    let g = |mean: &[f64], var: &[f64]| Gaussian {
        mean: DVector::from_column_slice(mean),
        covariance: DMatrix::from_diagonal(&DVector::from_column_slice(var)),
    };
    let a = g(&[0.0, 1.0, -2.0], &[1.0, 4.0, 0.25]);
    let b = g(&[3.0, 1.0, 2.0], &[9.0, 1.0, 0.25]);
    let closed: f64 = 9.0 + 0.0 + 16.0 + (1.0 + 9.0 - 2.0 * 3.0) + (4.0 + 1.0 - 2.0 * 2.0) + 0.0;
    let fd = frechet_distance(&a, &b).unwrap();
    assert!(relative(fd, closed) < 1e-12, "{fd} against {closed}");
    // A rotation of both leaves the distance unchanged (full covariances now, though still
    // commuting: the fixture's do not, and catch a cross term taken as Tr(Σ₁^½ Σ₂^½)).
    let angle: f64 = 0.7;
    let r = DMatrix::from_row_slice(
        3,
        3,
        &[
            angle.cos(),
            -angle.sin(),
            0.0,
            angle.sin(),
            angle.cos(),
            0.0,
            0.0,
            0.0,
            1.0,
        ],
    );
    let rotate = |x: &Gaussian, turn: &DMatrix<f64>| Gaussian {
        mean: turn * &x.mean,
        covariance: turn * &x.covariance * turn.transpose(),
    };
    let fd_rotated = frechet_distance(&rotate(&a, &r), &rotate(&b, &r)).unwrap();
    assert!(
        relative(fd_rotated, closed) < 1e-12,
        "{fd_rotated} against {closed}"
    );
    // Different features cannot be compared.
    assert!(frechet_distance(&a, &g(&[0.0], &[1.0])).is_err());
}

#[test]
fn classifier_score_is_one_for_one_class_and_ten_for_ten_confident_classes() {
    let classes = 10;
    let one_hot = |c: usize| (0..classes).map(move |k| if k == c { 1.0f32 } else { 0.0 });
    // Every image the same class: 1.
    let same: Vec<f32> = (0..50).flat_map(|_| one_hot(3)).collect();
    let score = classifier_score(&same, 50, classes).unwrap();
    assert!((score - 1.0).abs() < 1e-12, "{score}");
    // Ten classes, equally common, each image certain: 10.
    let spread: Vec<f32> = (0..50).flat_map(|i| one_hot(i % classes)).collect();
    let score = classifier_score(&spread, 50, classes).unwrap();
    assert!((score - 10.0).abs() < 1e-9, "{score}");
    // Unsure images score low however they spread: uniform p(y|x) gives 1.
    let unsure = vec![0.1f32; 50 * classes];
    let score = classifier_score(&unsure, 50, classes).unwrap();
    assert!((score - 1.0).abs() < 1e-6, "{score}");
    assert_eq!(class_histogram(&spread, 50, classes), vec![5; 10]);
    assert_eq!(covered_classes(&class_histogram(&spread, 50, classes)), 10);
    assert_eq!(covered_classes(&class_histogram(&same, 50, classes)), 1);
    assert!(classifier_score(&same, 50, 9).is_err());
}

#[test]
fn classifier_score_matches_numpy() {
    let f = fixture();
    let classes = f["classes"].as_u64().unwrap() as usize;
    let probs = floats(&f["probs"]);
    let expected = f["classifier_score"].as_f64().unwrap();
    let score = classifier_score(&probs, probs.len() / classes, classes).unwrap();
    // numpy summed float32 inputs widened to float64, as here.
    assert!(
        relative(score, expected) < 1e-12,
        "{score} against numpy's {expected}"
    );
}

#[test]
fn coverage_counts_classes_with_half_an_even_share() {
    // 100 images over 10 classes: an even share is 10, half of it 5.
    let histogram = [30, 20, 10, 10, 5, 5, 4, 4, 10, 2];
    assert_eq!(covered_classes(&histogram), 7);
    assert_eq!(covered_classes(&[0; 10]), 0);
}
