"""Classification metrics from class scores and labels, as pure numpy: accuracy, top-k, macro-F1, the
confusion matrix, ROC-AUC and ROC points for binary tasks, and latency/throughput of the batches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Classification:
    accuracy: float
    top_k: float
    macro_f1: float
    confusion: list[list[int]]
    roc_auc: float | None = None
    roc_points: list[tuple[float, float]] = field(default_factory=list)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def macro_f1(matrix: np.ndarray) -> float:
    true_positive = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    denominator = predicted + actual
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    present = actual > 0  # classes absent from the labels do not count
    return float(f1[present].mean()) if present.any() else 0.0


def roc(labels: np.ndarray, positive_scores: np.ndarray) -> tuple[float, list[tuple[float, float]]]:
    """ROC-AUC by the rank statistic (ties shared), and the curve's points (FPR, TPR)."""
    order = np.argsort(positive_scores, kind="mergesort")
    ranks = np.empty(len(order), dtype=float)
    sorted_scores = positive_scores[order]
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan"), []
    auc = (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    descending = np.argsort(-positive_scores, kind="mergesort")
    tpr = np.concatenate([[0.0], np.cumsum(positives[descending]) / n_pos])
    fpr = np.concatenate([[0.0], np.cumsum(~positives[descending]) / n_neg])
    step = max(1, len(tpr) // 200)  # enough points to plot, few enough to store
    points = list(zip(fpr[::step].tolist(), tpr[::step].tolist(), strict=True)) + [(1.0, 1.0)]
    return float(auc), points


def classify(scores: np.ndarray, labels: np.ndarray, classes: int, top_k: int) -> Classification:
    predicted = scores.argmax(axis=1)
    k = min(top_k, classes)
    best_k = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    matrix = confusion_matrix(labels, predicted, classes)
    auc, points = (None, [])
    if classes == 2:
        auc, points = roc(labels, scores[:, 1] - scores[:, 0])
    return Classification(
        accuracy=float((predicted == labels).mean()) if len(labels) else 0.0,
        top_k=float((best_k == labels[:, None]).any(axis=1).mean()) if len(labels) else 0.0,
        macro_f1=macro_f1(matrix),
        confusion=matrix.tolist(),
        roc_auc=auc,
        roc_points=points,
    )


def latency(batch_seconds: list[float], samples: int) -> dict[str, float]:
    total = sum(batch_seconds)
    return {
        "latency_p50_ms": float(np.percentile(batch_seconds, 50) * 1000) if batch_seconds else 0.0,
        "latency_p99_ms": float(np.percentile(batch_seconds, 99) * 1000) if batch_seconds else 0.0,
        "throughput_samples_per_s": samples / total if total > 0 else 0.0,
    }
