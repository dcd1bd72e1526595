"""The metric library: every metric equals its library's value on generated data (called directly here), the
vectorised mask counts equal a per-image reference, the edge cases are refused or defined as documented, and
evaluate() checks parameters and inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from skimage import metrics as skimage_metrics
from sklearn import metrics as sklearn_metrics

from cpu_scorer.psnr import psnr as cpu_scorer_psnr
from podium_runtime.scoring.metrics import (
    METRICS,
    check_parameters,
    evaluate,
    evaluate_counts,
    mask_counts,
    names,
    per_class_dice,
    per_class_iou,
)
from podium_runtime.scoring.refusals import MetricUndefined, SubmissionRefused
from proto.metrics import METRIC_INFO

N = 200
CLASSES = 4


def labels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-class truth and a prediction right about 60 % of the time, with a bias towards class 0."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, CLASSES, N)
    guess = np.where(rng.random(N) < 0.3, 0, rng.integers(0, CLASSES, N))
    return truth, np.where(rng.random(N) < 0.6, truth, guess)


def binary(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random(N) < 0.3).astype(np.int64)
    return truth, np.clip(0.35 * truth + rng.random(N) * 0.65, 0.0, 1.0)


def class_probabilities(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, CLASSES, N)
    logits = rng.normal(size=(N, CLASSES)) + 1.5 * np.eye(CLASSES)[truth]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, probabilities


def values(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.5, 20.0, N)
    return truth, np.abs(truth * rng.normal(1.0, 0.2, N) + rng.normal(0.0, 1.0, N))


LABEL_CASES: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "accuracy": sklearn_metrics.accuracy_score,
    "balanced_accuracy": sklearn_metrics.balanced_accuracy_score,
    "mcc": sklearn_metrics.matthews_corrcoef,
    "quadratic_kappa": lambda t, p: sklearn_metrics.cohen_kappa_score(t, p, weights="quadratic"),
}
for _score, _function in {
    "f1": sklearn_metrics.f1_score,
    "precision": sklearn_metrics.precision_score,
    "recall": sklearn_metrics.recall_score,
}.items():
    for _average in ("macro", "micro", "weighted"):
        LABEL_CASES[f"{_score}_{_average}"] = lambda t, p, f=_function, a=_average: f(t, p, average=a)

VALUE_CASES: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "mae": sklearn_metrics.mean_absolute_error,
    "mse": sklearn_metrics.mean_squared_error,
    "rmse": sklearn_metrics.root_mean_squared_error,
    "rmsle": sklearn_metrics.root_mean_squared_log_error,
    "r2": sklearn_metrics.r2_score,
    "mape": sklearn_metrics.mean_absolute_percentage_error,
}
# (recall_weighted is accuracy: symmetric)
ASYMMETRIC = {"balanced_accuracy", "precision_macro", "recall_macro", "precision_weighted"}
ASYMMETRIC |= {"f1_weighted", "r2", "mape"}


@pytest.mark.parametrize("name", sorted(LABEL_CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_label_metrics_equal_scikit_learn(name: str, seed: int) -> None:
    truth, prediction = labels(seed)
    expected = LABEL_CASES[name](truth, prediction)
    assert evaluate(name, truth, prediction) == pytest.approx(expected, rel=1e-12)
    if name in ASYMMETRIC:  # the data tells the two orders apart, so a swap of y_true and y_pred would fail
        assert LABEL_CASES[name](prediction, truth) != pytest.approx(expected)


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_value_metrics_equal_scikit_learn(name: str, seed: int) -> None:
    truth, prediction = values(seed)
    expected = VALUE_CASES[name](truth, prediction)
    assert evaluate(name, truth, prediction) == pytest.approx(expected, rel=1e-12)
    if name in ASYMMETRIC:
        assert VALUE_CASES[name](prediction, truth) != pytest.approx(expected)


@pytest.mark.parametrize("seed", [1, 2])
def test_binary_probability_metrics_equal_scikit_learn(seed: int) -> None:
    truth, probability = binary(seed)
    assert evaluate("roc_auc", truth, probability) == pytest.approx(sklearn_metrics.roc_auc_score(truth, probability))
    assert evaluate("average_precision", truth, probability) == pytest.approx(
        sklearn_metrics.average_precision_score(truth, probability)
    )
    expected = sklearn_metrics.log_loss(truth, probability)
    assert evaluate("log_loss", truth, probability) == pytest.approx(expected, rel=1e-12)
    assert evaluate("roc_auc", truth, probability) > 0.6  # the generated data carries signal: not a degenerate case


@pytest.mark.parametrize("seed", [1, 2])
def test_multi_class_probability_metrics_equal_scikit_learn(seed: int) -> None:
    truth, probabilities = class_probabilities(seed)
    for scheme in ("ovr", "ovo"):
        expected = sklearn_metrics.roc_auc_score(truth, probabilities, multi_class=scheme)
        assert evaluate(f"roc_auc_{scheme}", truth, probabilities) == pytest.approx(expected, rel=1e-12)
    expected = sklearn_metrics.log_loss(truth, probabilities)
    assert evaluate("log_loss", truth, probabilities) == pytest.approx(expected, rel=1e-12)


def images(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(shape, dtype=np.float32)
    return truth, np.clip(truth + rng.normal(0.0, 0.05, shape).astype(np.float32), 0.0, 1.0)


def test_psnr_is_the_mean_of_scikit_image_per_image_and_the_cpu_scorers_definition() -> None:
    truth, prediction = images(3, (5, 32, 32))
    prediction[2] = truth[2]  # an exact match scores the cap
    per_image = [
        min(skimage_metrics.peak_signal_noise_ratio(t, p, data_range=2.0), 100.0)
        for t, p in zip(truth[[0, 1, 3, 4]], prediction[[0, 1, 3, 4]], strict=True)
    ]
    expected = (math.fsum(per_image) + 100.0) / 5
    assert evaluate("psnr", truth, prediction, {"data_range": 2.0}) == pytest.approx(expected, rel=1e-12)
    scratch = np.empty(32 * 32, dtype=np.float32)
    same_as_scorer = np.mean(
        [cpu_scorer_psnr(p, t, scratch, 1.0, 60.0) for t, p in zip(truth, prediction, strict=True)]
    )
    assert evaluate("psnr", truth, prediction, {"cap_db": 60.0}) == pytest.approx(same_as_scorer, rel=1e-5)
    assert evaluate("psnr", truth, truth.copy()) == 100.0


def test_ssim_is_the_mean_of_scikit_image_per_image_with_or_without_channels() -> None:
    grey_truth, grey_prediction = images(4, (3, 16, 16))
    expected = np.mean(
        [
            skimage_metrics.structural_similarity(t, p, data_range=1.0)
            for t, p in zip(grey_truth, grey_prediction, strict=True)
        ]
    )
    assert evaluate("ssim", grey_truth, grey_prediction) == pytest.approx(expected, rel=1e-12)
    colour_truth, colour_prediction = images(5, (2, 3, 16, 16))  # channels first in each image
    expected = np.mean(
        [
            skimage_metrics.structural_similarity(t, p, data_range=1.0, channel_axis=0)
            for t, p in zip(colour_truth, colour_prediction, strict=True)
        ]
    )
    assert evaluate("ssim", colour_truth, colour_prediction, {"channel_axis": 0}) == pytest.approx(expected, rel=1e-12)


# --- masks --------------------------------------------------------------------------------------------------------


def masks(seed: int, shape: tuple[int, int, int] = (6, 24, 16), classes: int = CLASSES) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, shape, dtype=np.uint8)
    noise = rng.integers(0, classes, shape, dtype=np.uint8)
    return truth, np.where(rng.random(shape) < 0.3, noise, truth).astype(np.uint8)


def reference_counts(truth: np.ndarray, prediction: np.ndarray, classes: int) -> list[list[tuple[int, int, int]]]:
    """(overlap, truth pixels, predicted pixels) per image and class, the straightforward way."""
    return [
        [(int(((t == c) & (p == c)).sum()), int((t == c).sum()), int((p == c).sum())) for c in range(classes)]
        for t, p in zip(truth, prediction, strict=True)
    ]


def reference_per_class(
    truth: np.ndarray, prediction: np.ndarray, classes: int, ratio: Callable[[int, int, int], float], average: str
) -> np.ndarray:
    counts = reference_counts(truth, prediction, classes)
    result = []
    for c in range(classes):
        if average == "pixels":
            o, t, p = (sum(image[c][i] for image in counts) for i in range(3))
            result.append(ratio(o, t, p) if t + p else math.nan)
        else:
            scores = [ratio(*image[c]) for image in counts if image[c][1] + image[c][2]]
            result.append(sum(scores) / len(scores) if scores else math.nan)
    return np.array(result)


def dice_of(o: int, t: int, p: int) -> float:
    return 2 * o / (t + p)


def iou_of(o: int, t: int, p: int) -> float:
    return o / (t + p - o)


@pytest.mark.parametrize("average", ["images", "pixels"])
@pytest.mark.parametrize("shape", [(6, 24, 16), (3, 7, 5)])  # 5×7 pixels: rows not a whole number of words
def test_vectorised_dice_and_iou_equal_a_per_image_reference(average: str, shape: tuple[int, int, int]) -> None:
    truth, prediction = masks(6, shape)
    prediction[1][prediction[1] == 3] = 2  # class 3 never predicted in one image
    truth[2][truth[2] == 3] = 1
    prediction[2][prediction[2] == 3] = 1  # …and absent from both in another: skipped in the images' mean
    np.testing.assert_allclose(
        per_class_dice(truth, prediction, CLASSES, average),
        reference_per_class(truth, prediction, CLASSES, dice_of, average),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        per_class_iou(truth, prediction, CLASSES, average),
        reference_per_class(truth, prediction, CLASSES, iou_of, average),
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", ["dice", "iou"])
@pytest.mark.parametrize("average", ["images", "pixels"])
def test_a_splits_rows_of_counts_made_once_score_as_that_split_alone(name: str, average: str) -> None:
    truth, prediction = masks(8, (8, 24, 16))
    counts = mask_counts(truth, prediction, CLASSES)
    parameters = {"classes": CLASSES, "average": average}
    for rows in (np.array([True, False] * 4), np.array([False, False, True, True, True, False, False, True])):
        alone = evaluate(name, truth[rows], prediction[rows], parameters)
        assert evaluate_counts(name, counts.rows(rows), parameters) == pytest.approx(alone, rel=1e-12)


def test_counts_of_another_number_of_classes_are_refused() -> None:
    truth, prediction = masks(2)
    with pytest.raises(ValueError, match="the counts have 4 classes, the parameters say 3"):
        evaluate_counts("dice", mask_counts(truth, prediction, CLASSES), {"classes": 3})


def test_dice_and_iou_average_the_classes_that_appear_without_the_background_by_default() -> None:
    truth, prediction = masks(7)
    truth[truth == 2] = 1
    prediction[prediction == 2] = 3  # class 2: absent from both everywhere
    dice = reference_per_class(truth, prediction, 5, dice_of, "images")
    iou = reference_per_class(truth, prediction, 5, iou_of, "pixels")
    assert np.isnan(dice[[2, 4]]).all()
    assert evaluate("dice", truth, prediction, {"classes": 5}) == pytest.approx(np.mean(dice[[1, 3]]), rel=1e-12)
    assert evaluate("iou", truth, prediction, {"classes": 5}) == pytest.approx(np.mean(iou[[1, 3]]), rel=1e-12)
    with_background = evaluate("dice", truth, prediction, {"classes": 5, "exclude_background": False})
    assert with_background == pytest.approx(np.mean(dice[[0, 1, 3]]), rel=1e-12)


def test_masks_with_only_background_have_no_dice_and_labels_out_of_range_are_refused() -> None:
    empty = np.zeros((2, 8, 8), dtype=np.uint8)
    with pytest.raises(MetricUndefined, match="no scored class"):
        evaluate("dice", empty, empty.copy())
    truth, prediction = masks(8)
    prediction[4, 3, 2] = CLASSES
    with pytest.raises(SubmissionRefused, match="image 4 of the predictions has labels outside 0 … 3"):
        evaluate("iou", truth, prediction, {"classes": CLASSES})
    with pytest.raises(SubmissionRefused, match="integer class labels"):
        evaluate("dice", truth, prediction.astype(np.float32), {"classes": CLASSES})
    truth[0, 0, 0] = 9
    with pytest.raises(ValueError, match="image 0 of the truth"):
        evaluate("dice", truth, truth.clip(0, 3), {"classes": CLASSES})


# --- edge cases ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["roc_auc", "average_precision"])
@pytest.mark.parametrize("only", [0, 1])
def test_a_truth_with_one_class_has_no_auc_or_average_precision(name: str, only: int) -> None:
    with pytest.raises(MetricUndefined, match="the truth has only one class"):
        evaluate(name, np.full(10, only), np.linspace(0.0, 1.0, 10))


def test_a_truth_with_one_class_has_no_mcc_and_a_missing_class_no_multi_class_auc() -> None:
    with pytest.raises(MetricUndefined, match="the truth has only one class"):
        evaluate("mcc", np.full(10, 2), np.arange(10) % 3)
    truth, probabilities = class_probabilities(9)
    truth[truth == 2] = 1
    for scheme in ("ovr", "ovo"):
        with pytest.raises(MetricUndefined, match="the truth has no row of class 2"):
            evaluate(f"roc_auc_{scheme}", truth, probabilities)


def test_constant_predictions_score_zero_kappa_and_mcc() -> None:
    truth, _ = labels(10)
    constant = np.full(N, 1)
    assert evaluate("mcc", truth, constant) == 0.0
    assert evaluate("quadratic_kappa", truth, constant) == 0.0
    assert evaluate("accuracy", truth, constant) == pytest.approx(np.mean(truth == 1))
    with pytest.raises(MetricUndefined, match="all one same class"):
        evaluate("quadratic_kappa", np.full(5, 2), np.full(5, 2))


def test_r2_of_the_mean_is_zero_worse_is_negative_and_a_constant_truth_has_none() -> None:
    truth, _ = values(11)
    assert evaluate("r2", truth, np.full(N, truth.mean())) == pytest.approx(0.0, abs=1e-12)
    assert evaluate("r2", truth, np.full(N, truth.mean() + 5.0)) < 0.0
    with pytest.raises(MetricUndefined, match="the truth is constant"):
        evaluate("r2", np.full(5, 3.0), np.arange(5.0))


def test_log_loss_clips_certain_misses_as_scikit_learn_does() -> None:
    truth = np.array([0, 1, 1, 0])
    certain = np.array([1.0, 0.0, 1.0, 0.0])  # two certain misses
    value = evaluate("log_loss", truth, certain)
    assert math.isfinite(value) and value > 10.0
    assert value == pytest.approx(sklearn_metrics.log_loss(truth, certain), rel=1e-12)
    assert evaluate("log_loss", np.ones(3, dtype=np.int64), np.array([0.9, 0.8, 1.0])) == pytest.approx(
        sklearn_metrics.log_loss([1, 1, 1], [0.9, 0.8, 1.0], labels=[0, 1])
    )


def test_rmsle_refuses_negative_values_and_mape_zero_truth() -> None:
    with pytest.raises(
        MetricUndefined, match=r"rmsle: the predictions have 1 negative value\(s\) \(the first at row 2\)"
    ):
        evaluate("rmsle", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, -0.5]))
    with pytest.raises(MetricUndefined, match=r"mape: the truth has 2 zero value\(s\) \(the first at row 1\)"):
        evaluate("mape", np.array([1.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]))


# --- inputs and parameters ----------------------------------------------------------------------------------------


def test_predictions_that_do_not_fit_are_refused_with_their_place() -> None:
    truth, probability = binary(12)
    with pytest.raises(SubmissionRefused, match="199 prediction"):
        evaluate("roc_auc", truth, probability[:-1])
    probability[7] = np.nan
    with pytest.raises(SubmissionRefused, match=r"1 prediction\(s\) are NaN or infinite \(the first at row 7\)"):
        evaluate("log_loss", truth, probability)
    probability[7] = 1.5
    with pytest.raises(SubmissionRefused, match=r"outside \[0, 1\] \(the first at row 7\)"):
        evaluate("roc_auc", truth, probability)
    labels_truth, probabilities = class_probabilities(12)
    probabilities[3] *= 0.8
    with pytest.raises(SubmissionRefused, match="row 3 sums to 0.8"):
        evaluate("roc_auc_ovr", labels_truth, probabilities)
    with pytest.raises(SubmissionRefused, match="one probability per class"):
        evaluate("roc_auc_ovo", labels_truth, probabilities[:, 0])
    with pytest.raises(SubmissionRefused, match="one probability \\(of class 1\\) per row"):
        evaluate("roc_auc", truth, np.full((N, 2), 0.5))
    with pytest.raises(SubmissionRefused, match="shape"):
        evaluate("psnr", *images(1, (2, 8, 8))[:1], images(1, (2, 8, 9))[1])


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("accuracy", {"normalize": 1}, "accuracy: unknown parameter\\(s\\) normalize; its parameters: none"),
        ("psnr", {"cap": 90.0, "range": 1}, "unknown parameter\\(s\\) cap, range; its parameters: data_range, cap_db"),
        ("psnr", {"data_range": 0}, "data_range must be a positive finite number"),
        ("psnr", {"cap_db": "high"}, "cap_db must be a positive finite number"),
        ("ssim", {"channel_axis": "last"}, 'channel_axis must be "none"'),
        ("dice", {"classes": 1}, "classes must be a whole number ≥ 2"),
        ("dice", {"classes": 2.5}, "classes must be a whole number ≥ 2"),
        ("iou", {"average": "classes"}, "average must be one of 'images', 'pixels'"),
        ("dice", {"exclude_background": 1}, "exclude_background must be true or false"),
        ("roc-auc", {}, "unknown metric 'roc-auc'"),
    ],
)
def test_evaluate_refuses_unknown_or_bad_parameters_naming_them(name: str, parameters: Any, message: str) -> None:
    truth, prediction = labels(13)
    with pytest.raises(ValueError, match=message) as refused:
        evaluate(name, truth, prediction, parameters)
    assert not isinstance(refused.value, SubmissionRefused)  # a host's mistake, not the participant's


def test_every_metric_has_a_direction_a_definition_and_valid_defaults() -> None:
    assert names() == tuple(METRICS)
    assert len(names()) == 32
    for name, metric in METRICS.items():
        assert metric.name == name
        assert metric.direction in ("asc", "desc")
        assert metric.takes in ("labels", "probabilities", "values", "masks", "images", "detections", "program")
        assert len(metric.definition) > 40 and metric.definition.endswith("."), name
        for check in metric.checks:
            check(name, metric.parameters)
    assert METRICS["log_loss"].direction == "asc" and METRICS["roc_auc"].direction == "desc"


@pytest.mark.parametrize("name", ["map", "map50", "map75"])
def test_cocos_metrics_are_listed_but_computed_by_their_format(name: str) -> None:
    """Their name, direction and (no) parameters are the library's; their value comes from one COCO evaluation of
    the coco format, never from two arrays."""
    assert (METRICS[name].takes, METRICS[name].direction, check_parameters(name)) == ("detections", "desc", {})
    truth, prediction = labels(5)
    with pytest.raises(ValueError, match=f"^{name} is computed by the coco format") as refused:
        evaluate(name, truth, prediction)
    assert not isinstance(refused.value, SubmissionRefused)


def test_a_programs_columns_are_listed_but_computed_by_the_program() -> None:
    """`program` is the library's name for a column a host's scoring program computes: listed (with no parameters,
    higher is better unless the column sorts asc), never computed from two arrays."""
    assert (METRICS["program"].takes, METRICS["program"].direction, check_parameters("program")) == (
        "program", "desc", {})
    truth, prediction = labels(5)
    with pytest.raises(ValueError, match="^program is computed by the task's own scoring program") as refused:
        evaluate("program", truth, prediction)
    assert not isinstance(refused.value, SubmissionRefused)


def test_direction_takes_and_definition_are_protos() -> None:
    assert all(METRICS[name].info is METRIC_INFO[name] for name in names())
    assert tuple(METRIC_INFO) == names()
