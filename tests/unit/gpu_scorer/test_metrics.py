"""Classification metrics against numpy and scikit-learn references: accuracy, top-k, macro-F1, confusion, ROC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_scorer.metrics import classify, confusion_matrix, latency, macro_f1, roc


def random_task(seed: int, n: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, classes)), rng.integers(0, classes, n)


@st.composite
def tasks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    classes = draw(st.integers(2, 8))
    n = draw(st.integers(1, 60))
    scores, labels = random_task(draw(st.integers(0, 2**32 - 1)), n, classes)
    return scores, labels, classes, draw(st.integers(1, classes + 2))


@st.composite
def binary_with_ties(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 80))
    labels = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    scores = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=float)  # many ties
    return labels, scores


@pytest.mark.parametrize("seed", range(5))
def test_classify_matches_sklearn_on_random_multiclass_scores(seed: int) -> None:
    scores, labels = random_task(seed, 300, 7)
    result = classify(scores, labels, classes=7, top_k=3)
    predicted = scores.argmax(axis=1)
    present = np.unique(labels)
    assert result.accuracy == pytest.approx(float(np.mean(predicted == labels)))
    assert result.top_k == pytest.approx(skm.top_k_accuracy_score(labels, scores, k=3, labels=range(7)))
    assert result.macro_f1 == pytest.approx(skm.f1_score(labels, predicted, average="macro", labels=present))
    assert result.confusion == skm.confusion_matrix(labels, predicted, labels=range(7)).tolist()
    assert result.roc_auc is None and result.roc_points == []


def test_confusion_matrix_counts_label_rows_and_prediction_columns() -> None:
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), classes=4)
    assert matrix.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_macro_f1_ignores_classes_absent_from_the_labels() -> None:
    labels, predicted = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])  # class 2 predicted, never a label
    matrix = confusion_matrix(labels, predicted, classes=4)
    expected = skm.f1_score(labels, predicted, average="macro", labels=[0, 1])
    assert macro_f1(matrix) == pytest.approx(expected) == pytest.approx((2 / 3 + 1) / 2)


def test_macro_f1_of_an_empty_matrix_is_zero() -> None:
    assert macro_f1(np.zeros((3, 3), dtype=np.int64)) == 0.0


def test_perfect_predictions_score_one_everywhere() -> None:
    labels = np.array([0, 1, 2, 1, 0])
    result = classify(np.eye(3)[labels], labels, classes=3, top_k=1)
    assert (result.accuracy, result.top_k, result.macro_f1) == (1.0, 1.0, 1.0)


def test_top_k_larger_than_the_class_count_is_one() -> None:
    scores, labels = random_task(1, 50, 4)
    assert classify(scores, labels, classes=4, top_k=10).top_k == 1.0


def test_no_samples_give_zeros_not_errors() -> None:
    result = classify(np.zeros((0, 5)), np.zeros(0, dtype=np.int64), classes=5, top_k=3)
    assert (result.accuracy, result.top_k, result.macro_f1) == (0.0, 0.0, 0.0)
    assert result.confusion == [[0] * 5] * 5


@settings(max_examples=150, deadline=None)
@given(tasks())
def test_metrics_stay_in_range_and_confusion_sums_to_n(task: tuple[np.ndarray, np.ndarray, int, int]) -> None:
    scores, labels, classes, k = task
    result = classify(scores, labels, classes=classes, top_k=k)
    assert 0.0 <= result.accuracy <= result.top_k <= 1.0
    assert 0.0 <= result.macro_f1 <= 1.0
    assert np.array(result.confusion).sum() == len(labels)
    assert np.trace(np.array(result.confusion)) == round(result.accuracy * len(labels))
    top = np.argsort(-scores, axis=1)[:, :k]  # continuous scores: no ties, so any top-k rule agrees
    assert result.top_k == pytest.approx(float((top == labels[:, None]).any(axis=1).mean()))


@settings(max_examples=200, deadline=None)
@given(binary_with_ties())
def test_roc_auc_equals_sklearn_including_ties(data: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = data
    auc, _ = roc(labels, scores)
    if labels.min() == labels.max():
        assert math.isnan(auc)
    else:
        assert abs(auc - skm.roc_auc_score(labels, scores)) < 1e-9


@settings(max_examples=100, deadline=None)
@given(binary_with_ties(), st.integers(0, 600))
def test_roc_points_run_monotonically_from_origin_to_one_one(data: tuple[np.ndarray, np.ndarray], extra: int) -> None:
    labels, scores = data
    labels = np.concatenate([[0, 1], labels, np.arange(extra) % 2])  # both classes, and long enough to thin out
    scores = np.concatenate([[0.0, 0.0], scores, np.random.default_rng(extra).standard_normal(extra)])
    _, points = roc(labels, scores)
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)
    fpr, tpr = np.array(points).T
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert len(points) <= 402


def test_perfectly_separated_scores_have_auc_one() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    auc, points = roc(labels, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert auc == 1.0
    assert (0.0, 1.0) in points


def test_all_tied_scores_have_auc_one_half() -> None:
    assert roc(np.array([0, 1, 0, 1]), np.zeros(4))[0] == 0.5


def test_binary_classify_reports_roc_of_the_score_margin() -> None:
    scores, labels = random_task(3, 200, 2)
    result = classify(scores, labels, classes=2, top_k=1)
    assert result.roc_auc == pytest.approx(skm.roc_auc_score(labels, scores[:, 1] - scores[:, 0]), abs=1e-9)
    assert result.roc_points[0] == (0.0, 0.0) and result.roc_points[-1] == (1.0, 1.0)


def test_latency_reports_percentiles_in_ms_and_samples_per_second() -> None:
    seconds = [0.01 * i for i in range(1, 101)]
    result = latency(seconds, samples=6400)
    assert result["latency_p50_ms"] == pytest.approx(np.percentile(seconds, 50) * 1000)
    assert result["latency_p99_ms"] == pytest.approx(np.percentile(seconds, 99) * 1000)
    assert result["throughput_samples_per_s"] == pytest.approx(6400 / sum(seconds))


def test_latency_of_a_single_batch() -> None:
    assert latency([0.5], samples=32) == {
        "latency_p50_ms": 500.0, "latency_p99_ms": 500.0, "throughput_samples_per_s": 64.0}


def test_latency_of_no_batches_is_zero() -> None:
    assert latency([], samples=0) == {"latency_p50_ms": 0.0, "latency_p99_ms": 0.0, "throughput_samples_per_s": 0.0}
