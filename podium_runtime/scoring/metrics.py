"""The named metric library: each metric is a pure function over checked arrays, computed by a kept library
(scikit-learn, scikit-image; numpy counts for masks), with its default parameters; its direction, what its
predictions must be and the definition a participant reads come from `proto.metrics.METRIC_INFO`. `evaluate` checks
the parameters and the inputs, then scores. COCO's map, map50 and map75 are listed for their names and parameters
(none), but computed together by the coco format from one COCO evaluation (`formats.coco.coco_ap`); `program` is
listed likewise, and only a host's scoring program computes it (`podium_runtime.programs`).

A host's mistake (an unknown parameter, a bad value, a truth the metric cannot take) is a plain ValueError, caught
when the task is applied or the ground truth checked; a participant's (a wrong shape, NaN, a probability outside
[0, 1]) is a SubmissionRefused, and a metric with no value on the data is a MetricUndefined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from skimage import metrics as _skimage_metrics
from sklearn import metrics as _sklearn_metrics  # pyright: ignore[reportMissingTypeStubs]

from podium_runtime.scoring.refusals import MetricUndefined, SubmissionRefused
from proto.competition import MASK_CLASSES
from proto.metrics import METRIC_INFO, Direction, MetricInfo, Takes

# Neither library ships complete type annotations: their functions are called through Any, and every result is
# turned into a float (or checked array) at once.
sklearn_metrics: Any = _sklearn_metrics
skimage_metrics: Any = _skimage_metrics

Parameter = float | int | str
Parameters = Mapping[str, Parameter]
Compute = Callable[[np.ndarray, np.ndarray, Parameters], float]
Check = Callable[[str, Parameters], None]

DEFAULT_CAP_DB = 100.0
"""PSNR of an exact match and the most any image can score: the cpu_scorer's definition (cpu_scorer/psnr.py)."""

PROBABILITY_SUM_TOLERANCE = 1e-5
"""How far a row of class probabilities may sum from 1 (float rounding in a CSV writer), as scikit-learn allows."""

MASK_CHUNK_PIXELS = 1 << 20
"""Mask pixels compared at once: about 1 MiB of uint8 labels per side, so the temporaries stay in cache."""


@dataclass(frozen=True)
class Metric:
    """A metric of the library: how it is computed and its parameters. Its direction, what its predictions must be
    and the definition a participant reads are proto's (`proto.metrics.METRIC_INFO`), the one source every service
    reads."""

    name: str
    parameters: Parameters
    """Default values; a task may override them."""
    compute: Compute
    checks: tuple[Check, ...] = ()
    """Checks of the parameters' values (their names and types are checked for every metric)."""

    @property
    def info(self) -> MetricInfo:
        return METRIC_INFO[self.name]

    @property
    def direction(self) -> Direction:
        """desc: higher is better; asc: lower is better."""
        return self.info.direction

    @property
    def takes(self) -> Takes:
        """What y_pred must be."""
        return self.info.takes

    @property
    def definition(self) -> str:
        """One or two sentences a participant reads: what it measures and its range."""
        return self.info.definition


# --- parameter checks -----------------------------------------------------------------------------------------


def _positive(key: str) -> Check:
    def check(name: str, parameters: Parameters) -> None:
        value = parameters[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < math.inf:
            raise ValueError(f"{name}: parameter {key} must be a positive finite number, not {value!r}")

    return check


def _at_least(key: str, least: int) -> Check:
    def check(name: str, parameters: Parameters) -> None:
        value = parameters[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name}: parameter {key} must be a whole number ≥ {least}, not {value!r}")

    return check


def _one_of(key: str, choices: tuple[Parameter, ...]) -> Check:
    def check(name: str, parameters: Parameters) -> None:
        value = parameters[key]
        if isinstance(value, bool) or value not in choices:
            raise ValueError(f"{name}: parameter {key} must be one of {', '.join(map(repr, choices))}, not {value!r}")

    return check


def _flag(key: str) -> Check:
    def check(name: str, parameters: Parameters) -> None:
        if not isinstance(parameters[key], bool):
            raise ValueError(f"{name}: parameter {key} must be true or false, not {parameters[key]!r}")

    return check


def _channel_axis(name: str, parameters: Parameters) -> None:
    value = parameters["channel_axis"]
    if value != "none" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(
            f'{name}: parameter channel_axis must be "none" (grey images) or an axis number, not {value!r}'
        )


def check_parameters(name: str, parameters: Parameters | None = None) -> dict[str, Parameter]:
    """The metric's defaults overridden by `parameters`, checked; ValueError names what is wrong. Used when a task
    is applied, so a host's mistake is caught before any submission."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known metrics: {', '.join(names())}")
    metric = METRICS[name]
    given = dict(parameters or {})
    unknown = sorted(set(given) - set(metric.parameters))
    if unknown:
        known = ", ".join(metric.parameters) or "none"
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)}; its parameters: {known}")
    merged = {**metric.parameters, **given}
    for check in metric.checks:
        check(name, merged)
    return merged


# --- input checks -----------------------------------------------------------------------------------------------


def _first(mask: np.ndarray) -> str:
    position = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"row {position[0]}" if len(position) == 1 else f"index {position}"


def _check_finite(name: str, y_pred: np.ndarray) -> None:
    if not np.issubdtype(y_pred.dtype, np.number) or np.issubdtype(y_pred.dtype, np.complexfloating):
        raise SubmissionRefused(f"{name}: the predictions must be real numbers, not {y_pred.dtype}")
    bad = ~np.isfinite(y_pred)
    if bad.any():
        raise SubmissionRefused(
            f"{name}: {int(bad.sum())} prediction(s) are NaN or infinite (the first at {_first(bad)})"
        )


def _check_inputs(metric: Metric, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    name = metric.name
    if y_true.ndim == 0 or len(y_true) == 0:
        raise ValueError(f"{name}: the truth is empty")
    if y_pred.ndim == 0 or len(y_pred) != len(y_true):
        count = 0 if y_pred.ndim == 0 else len(y_pred)
        raise SubmissionRefused(f"{name}: {count} prediction(s) for {len(y_true)} truth row(s)")
    if metric.takes == "labels":
        if y_true.ndim != 1 or y_pred.ndim != 1:
            raise SubmissionRefused(f"{name}: expected one label per row, got shape {y_pred.shape}")
        return
    if metric.takes == "probabilities":
        _check_finite(name, y_pred)
        outside = (y_pred < 0) | (y_pred > 1)
        if outside.any():
            raise SubmissionRefused(
                f"{name}: {int(outside.sum())} probabilities are outside [0, 1] (the first at {_first(outside)})"
            )
        return
    if y_pred.shape != y_true.shape:
        raise SubmissionRefused(f"{name}: predictions of shape {y_pred.shape} for a truth of shape {y_true.shape}")
    if metric.takes == "masks":
        if y_true.ndim != 3:
            raise ValueError(f"{name}: masks are a stack of label images (n×H×W), not shape {y_true.shape}")
        for side, labels in (("truth", y_true), ("predictions", y_pred)):
            if not np.issubdtype(labels.dtype, np.integer):
                raise SubmissionRefused(f"{name}: the {side} must be integer class labels, not {labels.dtype}")
        return
    if metric.takes == "images" and y_true.ndim < 3:
        raise ValueError(f"{name}: images are a stack (n×H×W or n×H×W×C), not shape {y_true.shape}")
    _check_finite(name, y_pred)


def evaluate(name: str, y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters | None = None) -> float:
    """The metric `name` of `y_pred` against `y_true` (rows aligned by the format's reader)."""
    merged = check_parameters(name, parameters)
    metric = METRICS[name]
    if metric.takes == "detections":
        raise ValueError(f"{name} is computed by the coco format from one COCO evaluation, not from two arrays")
    if metric.takes == "program":
        raise ValueError(f"{name} is computed by the task's own scoring program, not from two arrays")
    _check_inputs(metric, y_true, y_pred)
    return float(metric.compute(y_true, y_pred, merged))


def names() -> tuple[str, ...]:
    """Every metric's name, in the registry's order."""
    return tuple(METRICS)


# --- classification ---------------------------------------------------------------------------------------------


def _labels_metric(function: Callable[..., Any], **fixed: Any) -> Compute:
    def compute(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
        return float(function(y_true, y_pred, **fixed))

    return compute


def _binary_truth(name: str, y_true: np.ndarray) -> None:
    present = np.unique(y_true)
    if not np.isin(present, (0, 1)).all():
        raise ValueError(f"{name}: a binary truth holds 0 and 1 only, not {present[:5].tolist()}")
    if len(present) < 2:
        raise MetricUndefined(f"{name}: the truth has only one class ({present[0]}), so {name} is undefined")


def _positive_probabilities(name: str, y_pred: np.ndarray) -> None:
    if y_pred.ndim != 1:
        raise SubmissionRefused(f"{name}: expected one probability (of class 1) per row, got shape {y_pred.shape}")


def _class_probabilities(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """Checks an n×k matrix of class probabilities against truth labels 0 … k-1; returns k."""
    if y_pred.ndim != 2 or y_pred.shape[1] < 2:
        raise SubmissionRefused(f"{name}: expected one probability per class (n×k, k ≥ 2), got shape {y_pred.shape}")
    classes = y_pred.shape[1]
    if y_true.ndim != 1 or not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= classes:
        raise ValueError(f"{name}: the truth must be class numbers 0 … {classes - 1}, one per row")
    off = np.abs(y_pred.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise SubmissionRefused(
            f"{name}: each row's class probabilities must sum to 1; row {row} sums to {y_pred[row].sum():.6g}"
        )
    return classes


def _roc_auc(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    _positive_probabilities("roc_auc", y_pred)
    _binary_truth("roc_auc", y_true)
    return float(sklearn_metrics.roc_auc_score(y_true, y_pred))


def _average_precision(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    _positive_probabilities("average_precision", y_pred)
    _binary_truth("average_precision", y_true)
    return float(sklearn_metrics.average_precision_score(y_true, y_pred))


def _multi_class_auc(scheme: Literal["ovr", "ovo"]) -> Compute:
    name = f"roc_auc_{scheme}"

    def compute(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
        classes = _class_probabilities(name, y_true, y_pred)
        absent = np.setdiff1d(np.arange(classes), y_true)
        if len(absent):
            raise MetricUndefined(f"{name}: the truth has no row of class {int(absent[0])}, so {name} is undefined")
        return float(sklearn_metrics.roc_auc_score(y_true, y_pred, multi_class=scheme, labels=np.arange(classes)))

    return compute


def _log_loss(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    # scikit-learn clips each probability to [eps, 1 - eps] of its float type, so a confident miss costs a large
    # finite amount rather than infinity.
    if y_pred.ndim == 1:
        if not np.isin(y_true, (0, 1)).all():
            raise ValueError("log_loss: a binary truth holds 0 and 1 only")
        return float(sklearn_metrics.log_loss(y_true, y_pred, labels=[0, 1]))
    classes = _class_probabilities("log_loss", y_true, y_pred)
    return float(sklearn_metrics.log_loss(y_true, y_pred, labels=np.arange(classes)))


def _mcc(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    if len(np.unique(y_true)) < 2:
        raise MetricUndefined("mcc: the truth has only one class, so the correlation is undefined")
    return float(sklearn_metrics.matthews_corrcoef(y_true, y_pred))


def _quadratic_kappa(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    if len(np.unique(np.concatenate([np.unique(y_true), np.unique(y_pred)]))) < 2:
        raise MetricUndefined("quadratic_kappa: the truth and the predictions are all one same class: undefined")
    return float(sklearn_metrics.cohen_kappa_score(y_true, y_pred, weights="quadratic"))


# --- regression -------------------------------------------------------------------------------------------------


def _rmsle(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    for side, values in (("truth", y_true), ("predictions", y_pred)):
        negative = values < 0
        if negative.any():
            raise MetricUndefined(
                f"rmsle: the {side} have {int(negative.sum())} negative value(s) (the first at {_first(negative)}); "
                "the log of 1 + a negative value is undefined"
            )
    return float(sklearn_metrics.root_mean_squared_log_error(y_true, y_pred))


def _r2(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    # scikit-learn reports 1.0 or 0.0 for a constant truth (force_finite); we say it has no value instead.
    if len(y_true) < 2 or (y_true == y_true[0]).all():
        raise MetricUndefined("r2: the truth is constant, so R² (1 − residual / truth variance) is undefined")
    return float(sklearn_metrics.r2_score(y_true, y_pred))


def _mape(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    # scikit-learn divides by max(|truth|, machine epsilon): one zero truth gives ~1e15 and swamps the mean.
    zero = y_true == 0
    if zero.any():
        raise MetricUndefined(
            f"mape: the truth has {int(zero.sum())} zero value(s) (the first at {_first(zero)}); "
            "a percentage of zero is undefined"
        )
    return float(sklearn_metrics.mean_absolute_percentage_error(y_true, y_pred))


# --- images -----------------------------------------------------------------------------------------------------


def _psnr(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    data_range, cap_db = float(parameters["data_range"]), float(parameters["cap_db"])
    values: list[float] = []
    for truth, prediction in zip(y_true, y_pred, strict=True):
        with np.errstate(divide="ignore"):  # an exact match is +inf, reported as the cap below
            value = float(skimage_metrics.peak_signal_noise_ratio(truth, prediction, data_range=data_range))
        values.append(min(value, cap_db))
    return math.fsum(values) / len(values)


def _ssim(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    axis = parameters["channel_axis"]
    channel_axis = None if axis == "none" else int(axis)
    values = [
        float(
            skimage_metrics.structural_similarity(
                truth, prediction, data_range=float(parameters["data_range"]), channel_axis=channel_axis
            )
        )
        for truth, prediction in zip(y_true, y_pred, strict=True)
    ]
    return math.fsum(values) / len(values)


# --- masks ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskCounts:
    """Pixel counts per image and class, each of shape (images, classes): the diagonal (`overlap`), row sums
    (`truth`) and column sums (`predicted`) of each image's confusion matrix."""

    overlap: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray

    def rows(self, selected: np.ndarray) -> MaskCounts:
        """The counts of the images `selected` (a boolean mask or indices): a split's, without counting again."""
        return MaskCounts(self.overlap[selected], self.truth[selected], self.predicted[selected])


def _true_per_row(hits: np.ndarray) -> np.ndarray:
    """True values per row of a (images, pixels) boolean array, one np.count_nonzero per row: on a contiguous
    boolean row numpy counts with SIMD, where np.count_nonzero(axis=1) sums a converted copy, and a popcount of the
    rows' 64-bit words then a sum per row makes two passes (measured: 1.6× slower than this on 256×256 masks)."""
    return np.fromiter((np.count_nonzero(row) for row in hits), dtype=np.int64, count=len(hits))


def mask_counts(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> MaskCounts:
    """Per-image, per-class pixel counts of two stacks of label images (n×H×W integers in 0 … classes-1).

    Blocks of whole images are compared class by class in one numpy call each, and each image's row of a block is
    counted by np.count_nonzero: a few passes over each pixel, a Python step per image and class only to count. (One
    np.bincount of `image·k² + true·k + pred` gives the same matrices but measured 3× slower on 256×256 masks: the
    index is 8 bytes a pixel.) A label outside 0 … classes-1 falls in no class; the counts then miss pixels, which is
    how it is found.
    """
    images = len(y_true)
    truth_flat, pred_flat = y_true.reshape(images, -1), y_pred.reshape(images, -1)
    pixels = truth_flat.shape[1]
    counts = MaskCounts(*(np.zeros((images, classes), dtype=np.int64) for _ in range(3)))
    block = max(1, MASK_CHUNK_PIXELS // max(pixels, 1))
    in_truth = np.empty((block, pixels), dtype=bool)
    in_pred = np.empty((block, pixels), dtype=bool)
    for start in range(0, images, block):
        truth, pred = truth_flat[start : start + block], pred_flat[start : start + block]
        rows = slice(start, start + len(truth))
        hit_truth, hit_pred = in_truth[: len(truth)], in_pred[: len(truth)]
        for label in range(classes):
            np.equal(truth, label, out=hit_truth)
            np.equal(pred, label, out=hit_pred)
            counts.truth[rows, label] = _true_per_row(hit_truth)
            counts.predicted[rows, label] = _true_per_row(hit_pred)
            np.logical_and(hit_truth, hit_pred, out=hit_truth)
            counts.overlap[rows, label] = _true_per_row(hit_truth)
    outside_truth = counts.truth.sum(axis=1) != pixels
    if outside_truth.any():
        raise ValueError(f"image {int(np.argmax(outside_truth))} of the truth has labels outside 0 … {classes - 1}")
    outside_pred = counts.predicted.sum(axis=1) != pixels
    if outside_pred.any():
        raise SubmissionRefused(
            f"image {int(np.argmax(outside_pred))} of the predictions has labels outside 0 … {classes - 1}"
        )
    return counts


def _per_class(ratio: np.ndarray, defined: np.ndarray, average: str) -> np.ndarray:
    """Mean over images of a per-image, per-class ratio, where defined; NaN for a class never defined."""
    if average == "pixels":
        return ratio
    totals: np.ndarray = np.where(defined, ratio, 0.0).sum(axis=0)
    counts: np.ndarray = defined.sum(axis=0)
    return np.divide(totals, counts, out=np.full(totals.shape, np.nan), where=counts > 0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    defined = denominator > 0
    value = np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=defined)
    return value, defined


def _pool(counts: MaskCounts, average: str) -> MaskCounts:
    if average == "images":
        return counts
    return MaskCounts(*(side.sum(axis=0) for side in (counts.overlap, counts.truth, counts.predicted)))


def per_class_dice(y_true: np.ndarray, y_pred: np.ndarray, classes: int, average: str = "images") -> np.ndarray:
    """Dice 2|T∩P| / (|T| + |P|) of each class (shape (classes,)): within each image then the mean over the images
    where the class is in the truth or the prediction (`average="images"`), or once over all pixels
    (`"pixels"`). NaN for a class absent from both everywhere."""
    return _dice_of(mask_counts(y_true, y_pred, classes), average)


def _dice_of(counts: MaskCounts, average: str) -> np.ndarray:
    counts = _pool(counts, average)
    value, defined = _ratio(2.0 * counts.overlap, counts.truth + counts.predicted)
    return _per_class(value, defined, average)


def per_class_iou(y_true: np.ndarray, y_pred: np.ndarray, classes: int, average: str = "pixels") -> np.ndarray:
    """IoU |T∩P| / |T∪P| of each class (shape (classes,)): once over all pixels (`average="pixels"`, the
    mIoU convention) or within each image then the mean over the images where the class appears (`"images"`).
    NaN for a class absent from both everywhere."""
    return _iou_of(mask_counts(y_true, y_pred, classes), average)


def _iou_of(counts: MaskCounts, average: str) -> np.ndarray:
    counts = _pool(counts, average)
    value, defined = _ratio(counts.overlap.astype(np.float64), counts.truth + counts.predicted - counts.overlap)
    return _per_class(value, defined, average)


_PER_CLASS_OF: Mapping[str, Callable[[MaskCounts, str], np.ndarray]] = MappingProxyType({"dice": _dice_of,
                                                                                        "iou": _iou_of})


def evaluate_counts(name: str, counts: MaskCounts, parameters: Parameters | None = None) -> float:
    """A masks metric (dice, iou) from pixel counts already made (`mask_counts`, e.g. `.rows()` of one split): a
    task's columns and splits share one pass over the pixels."""
    merged = check_parameters(name, parameters)
    if name not in _PER_CLASS_OF:
        raise ValueError(f"{name} is not a masks metric")
    if counts.truth.shape[1] != int(merged["classes"]):
        raise ValueError(f"{name}: the counts have {counts.truth.shape[1]} classes, the parameters say "
                         f"{merged['classes']}")
    values = _PER_CLASS_OF[name](counts, str(merged["average"]))
    if merged["exclude_background"]:
        values = values[1:]
    present = values[~np.isnan(values)]
    if len(present) == 0:
        raise MetricUndefined(f"{name}: no scored class appears in the truth or the predictions")
    return float(present.mean())


def _mask_metric(name: str) -> Compute:
    def compute(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
        return evaluate_counts(name, mask_counts(y_true, y_pred, int(parameters["classes"])), parameters)

    return compute


# --- the registry -----------------------------------------------------------------------------------------------

_NO_PARAMETERS: Parameters = MappingProxyType({})
_MASK_CHECKS: tuple[Check, ...] = (
    _at_least("classes", 2),
    _one_of("average", ("images", "pixels")),
    _flag("exclude_background"),
)
_F_SCORES = {"f1": sklearn_metrics.f1_score, "precision": sklearn_metrics.precision_score,
             "recall": sklearn_metrics.recall_score}


def _by_format(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    """COCO's AP, AP50 and AP75: computed together from one COCOeval by the coco format, never from two arrays
    (`evaluate` refuses them first)."""
    raise ValueError("computed by the coco format")


def _by_program(y_true: np.ndarray, y_pred: np.ndarray, parameters: Parameters) -> float:
    """A host's program's columns: computed by the program in its sandbox, never here (`evaluate` refuses them
    first)."""
    raise ValueError("computed by the task's scoring program")


def _registry() -> dict[str, Metric]:
    metrics = [
        Metric("accuracy", _NO_PARAMETERS, _labels_metric(sklearn_metrics.accuracy_score)),
        Metric("balanced_accuracy", _NO_PARAMETERS, _labels_metric(sklearn_metrics.balanced_accuracy_score)),
        *(Metric(f"{score}_{average}", _NO_PARAMETERS, _labels_metric(function, average=average, zero_division=0.0))
          for score, function in _F_SCORES.items() for average in ("macro", "micro", "weighted")),
        Metric("roc_auc", _NO_PARAMETERS, _roc_auc),
        Metric("roc_auc_ovr", _NO_PARAMETERS, _multi_class_auc("ovr")),
        Metric("roc_auc_ovo", _NO_PARAMETERS, _multi_class_auc("ovo")),
        Metric("average_precision", _NO_PARAMETERS, _average_precision),
        Metric("log_loss", _NO_PARAMETERS, _log_loss),
        Metric("mcc", _NO_PARAMETERS, _mcc),
        Metric("quadratic_kappa", _NO_PARAMETERS, _quadratic_kappa),
        Metric("mae", _NO_PARAMETERS, _labels_metric(sklearn_metrics.mean_absolute_error)),
        Metric("mse", _NO_PARAMETERS, _labels_metric(sklearn_metrics.mean_squared_error)),
        Metric("rmse", _NO_PARAMETERS, _labels_metric(sklearn_metrics.root_mean_squared_error)),
        Metric("rmsle", _NO_PARAMETERS, _rmsle),
        Metric("r2", _NO_PARAMETERS, _r2),
        Metric("mape", _NO_PARAMETERS, _mape),
        Metric("psnr", MappingProxyType({"data_range": 1.0, "cap_db": DEFAULT_CAP_DB}), _psnr,
               (_positive("data_range"), _positive("cap_db"))),
        Metric("ssim", MappingProxyType({"data_range": 1.0, "channel_axis": "none"}), _ssim,
               (_positive("data_range"), _channel_axis)),
        Metric("dice", MappingProxyType({"classes": MASK_CLASSES, "exclude_background": True, "average": "images"}),
               _mask_metric("dice"), _MASK_CHECKS),
        Metric("iou", MappingProxyType({"classes": MASK_CLASSES, "exclude_background": True, "average": "pixels"}),
               _mask_metric("iou"), _MASK_CHECKS),
        *(Metric(name, _NO_PARAMETERS, _by_format) for name in ("map", "map50", "map75")),
        Metric("program", _NO_PARAMETERS, _by_program),
    ]
    return {metric.name: metric for metric in metrics}


METRICS: Mapping[str, Metric] = MappingProxyType(_registry())
