"""The fixture of tests/quality.rs (tests/oracles/quality.json): a Fréchet distance and a classifier
score computed independently of gan-wgpu, in float64 with numpy and scipy as pytorch-fid computes
them (np.cov(rowvar=False), scipy.linalg.sqrtm of Σ₁Σ₂, its real part), on float32-representable
inputs.

    python3 tests/oracles/make_quality_fixture.py --out tests/oracles/quality.json
"""
import argparse
import json

import numpy as np
from scipy import linalg


def frechet(a, b):
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def classifier_score(p):
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/oracles/quality.json")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    dim = 8
    mix = rng.normal(size=(dim, dim))
    a = (rng.normal(size=(200, dim)) @ mix).astype(np.float32)
    b = (0.5 + 0.7 * rng.normal(size=(150, dim)) @ mix.T).astype(np.float32)
    logits = 2.0 * rng.normal(size=(100, 10))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p = p.astype(np.float32)
    fixture = {
        "dim": dim,
        "features_a": a.astype(np.float64).ravel().tolist(),
        "features_b": b.astype(np.float64).ravel().tolist(),
        "frechet_distance": frechet(a.astype(np.float64), b.astype(np.float64)),
        "classes": 10,
        "probs": p.astype(np.float64).ravel().tolist(),
        "classifier_score": classifier_score(p.astype(np.float64)),
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f)


if __name__ == "__main__":
    main()
