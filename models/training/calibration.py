"""Score calibration and the shipped score threshold: numpy only (tested in test_samples.py's suite).

Temperature scaling (Guo et al. 2017): one T > 0 for all classes, fitted to minimise the negative
log-likelihood of held-out predictions; the exported logits are divided by it, which changes no ranking,
only how far a softmax score can be trusted. The threshold is then the lowest score that keeps the
precision of the labelled photos at or above a target while the coverage target is just kept.
"""
from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray) -> float:
    p = softmax(logits)
    return float(-np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Golden-section search of log T in [log 0.002, log 20] (NLL is unimodal in T). Raw cosines
    (a class-means head) need T far below 1: their own-class margin is a few tenths."""
    lo, hi = np.log(0.002), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits / np.exp(a), labels), nll(logits / np.exp(b), labels)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits / np.exp(a), labels)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits / np.exp(b), labels)
    return float(np.exp((lo + hi) / 2))


def coverage_precision(scores: np.ndarray, correct: np.ndarray, thresholds) -> list[dict]:
    """For each threshold: the share of photos whose top score reaches it (coverage) and the share of
    those that are right (precision; 1.0 when none is labelled)."""
    rows = []
    for t in thresholds:
        labelled = scores >= t
        n = int(labelled.sum())
        rows.append({"threshold": float(t), "coverage": n / len(scores),
                     "precision": float(correct[labelled].mean()) if n else 1.0})
    return rows


def choose_threshold(scores: np.ndarray, correct: np.ndarray, min_precision: float, min_coverage: float,
                     grid=None) -> float:
    """The highest threshold on the grid that still labels min_coverage of the photos with a precision of
    at least min_precision: an unattended kiosk should abstain ("No match") on as much as the coverage
    target allows, an empty scale included. When none reaches both, the most precise that keeps
    min_coverage (the highest of equals)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2) if grid is None else grid
    rows = coverage_precision(scores, correct, grid)
    ok = [r for r in rows if r["precision"] >= min_precision and r["coverage"] >= min_coverage]
    if ok:
        return ok[-1]["threshold"]
    keep = [r for r in rows if r["coverage"] >= min_coverage] or rows[:1]
    return max(keep, key=lambda r: (r["precision"], r["threshold"]))["threshold"]
