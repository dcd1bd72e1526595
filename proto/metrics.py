"""What every service knows of the metric library without importing it: each metric's name, direction, what its
predictions are and the definition a participant reads (`GET /api/v1/tasks` states it). The library that computes
them (`podium_runtime.scoring.metrics`, scikit-learn, scikit-image, faster-coco-eval) is the scorers' alone; a unit
test holds the two in step."""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

import msgspec

Direction = Literal["asc", "desc"]
Takes = Literal["labels", "probabilities", "values", "masks", "images", "detections", "program"]


class MetricInfo(msgspec.Struct, frozen=True):
    name: str
    # desc: higher is better; asc: lower is better.
    direction: Direction
    # What a prediction must be: labels, probabilities, values (csv), images (tensors), masks, detections (coco).
    takes: Takes
    # One or two sentences a participant reads: what it measures and its range.
    definition: str


_TABLE = (
    MetricInfo('accuracy', 'desc', 'labels',
               'Share of rows whose predicted label equals the true label, from 0 to 1.'),
    MetricInfo('balanced_accuracy', 'desc', 'labels',
               "Mean over the true classes of the share of each class's rows predicted right (recall), from 0 to 1."),
    MetricInfo('f1_macro', 'desc', 'labels',
               'F1 (harmonic mean of precision and recall) per class, the unweighted mean over classes, from 0 to 1; '
               'a class never predicted counts as 0.'),
    MetricInfo('f1_micro', 'desc', 'labels',
               'F1 (harmonic mean of precision and recall) per class, counted over all rows at once, from 0 to 1; a '
               'class never predicted counts as 0.'),
    MetricInfo('f1_weighted', 'desc', 'labels',
               'F1 (harmonic mean of precision and recall) per class, the mean over classes weighted by their number '
               'of true rows, from 0 to 1; a class never predicted counts as 0.'),
    MetricInfo('precision_macro', 'desc', 'labels',
               "Precision (share of a class's predictions that are right) per class, the unweighted mean over "
               'classes, from 0 to 1; a class never predicted counts as 0.'),
    MetricInfo('precision_micro', 'desc', 'labels',
               "Precision (share of a class's predictions that are right) per class, counted over all rows at once, "
               'from 0 to 1; a class never predicted counts as 0.'),
    MetricInfo('precision_weighted', 'desc', 'labels',
               "Precision (share of a class's predictions that are right) per class, the mean over classes weighted "
               'by their number of true rows, from 0 to 1; a class never predicted counts as 0.'),
    MetricInfo('recall_macro', 'desc', 'labels',
               "Recall (share of a class's rows that are found) per class, the unweighted mean over classes, from 0 "
               'to 1; a class never predicted counts as 0.'),
    MetricInfo('recall_micro', 'desc', 'labels',
               "Recall (share of a class's rows that are found) per class, counted over all rows at once, from 0 to "
               '1; a class never predicted counts as 0.'),
    MetricInfo('recall_weighted', 'desc', 'labels',
               "Recall (share of a class's rows that are found) per class, the mean over classes weighted by their "
               'number of true rows, from 0 to 1; a class never predicted counts as 0.'),
    MetricInfo('roc_auc', 'desc', 'probabilities',
               'Area under the ROC curve of a binary task (predictions are probabilities of class 1), from 0 to 1, '
               '0.5 being chance; undefined when the truth has one class.'),
    MetricInfo('roc_auc_ovr', 'desc', 'probabilities',
               'Mean over classes of the ROC AUC of each class against the rest (predictions are one probability per '
               'class, rows summing to 1), from 0 to 1; undefined when a class has no true row.'),
    MetricInfo('roc_auc_ovo', 'desc', 'probabilities',
               'Mean over pairs of classes of the ROC AUC of one against the other (predictions are one probability '
               'per class, rows summing to 1), from 0 to 1; undefined when a class has no true row.'),
    MetricInfo('average_precision', 'desc', 'probabilities',
               'Area under the precision-recall curve of a binary task (predictions are probabilities of class 1), '
               'from 0 to 1; undefined when the truth has one class.'),
    MetricInfo('log_loss', 'asc', 'probabilities',
               'Mean negative log of the probability given to the true class (one probability of class 1 per row, or '
               'one per class), from 0 upwards; probabilities are clipped away from 0 and 1 by machine epsilon.'),
    MetricInfo('mcc', 'desc', 'labels',
               'Matthews correlation between predicted and true labels, from -1 to 1, 0 for a constant prediction; '
               'undefined when the truth has one class.'),
    MetricInfo('quadratic_kappa', 'desc', 'labels',
               "Cohen's kappa with quadratic weights (agreement beyond chance, far misses cost more), from -1 to 1, "
               '0 for a constant prediction; undefined when truth and predictions are all one class.'),
    MetricInfo('mae', 'asc', 'values',
               'Mean absolute difference between prediction and truth, from 0 upwards.'),
    MetricInfo('mse', 'asc', 'values',
               'Mean squared difference between prediction and truth, from 0 upwards.'),
    MetricInfo('rmse', 'asc', 'values',
               'Square root of the mean squared difference between prediction and truth, from 0 upwards.'),
    MetricInfo('rmsle', 'asc', 'values',
               'Root mean squared difference of log(1 + value) between prediction and truth, from 0 upwards; '
               'negative values are refused.'),
    MetricInfo('r2', 'desc', 'values',
               'Coefficient of determination, 1 − squared error / variance of the truth: 1 is perfect, 0 is as good '
               'as predicting the mean, below 0 worse; undefined when the truth is constant.'),
    MetricInfo('mape', 'asc', 'values',
               'Mean of |prediction − truth| / |truth|, as a fraction (0.1 is 10 %), from 0 upwards; undefined when '
               'a true value is 0.'),
    MetricInfo('psnr', 'desc', 'images',
               'Peak signal-to-noise ratio 10·log10(data_range² / mean squared error) of each image, in dB, capped '
               'at cap_db (an exact match scores the cap), averaged over the images.'),
    MetricInfo('ssim', 'desc', 'images',
               'Structural similarity of each image to its truth (local means, variances and covariance in 7×7 '
               'windows), from -1 to 1, 1 for an exact match, averaged over the images.'),
    MetricInfo('dice', 'desc', 'masks',
               'Dice overlap 2|T∩P| / (|T|+|P|) of each class within each image, averaged over the images where the '
               'class is in the truth or the prediction (or once over all pixels: average = "pixels"), then over the '
               'classes (the background class 0 excluded by default; a class absent from both is skipped), from 0 to '
               '1.'),
    MetricInfo('iou', 'desc', 'masks',
               'Intersection over union |T∩P| / |T∪P| of each class over all pixels of all images (or per image, '
               'then averaged over the images where it appears: average = "images"), averaged over the classes (the '
               'background class 0 excluded by default; a class absent from both is skipped), from 0 to 1.'),
    MetricInfo('map', 'desc', 'detections',
               "COCO's box AP: precision averaged over recall levels and over IoU thresholds 0.50 to 0.95 (step "
               '0.05), then over the categories, from 0 to 1; undefined for images without a true box.'),
    MetricInfo('map50', 'desc', 'detections',
               "COCO's box AP at IoU threshold 0.50 alone, averaged over the categories, from 0 to 1."),
    MetricInfo('map75', 'desc', 'detections',
               "COCO's box AP at IoU threshold 0.75 alone, averaged over the categories, from 0 to 1."),
    MetricInfo('program', 'desc', 'program',
               "A value the host's own scoring program computes (the task's description says what it measures); "
               'higher is better unless the column says sort = "asc".'),
)
METRIC_INFO = MappingProxyType({info.name: info for info in _TABLE})

# Which metrics score each format: what its reader turns a submission into.
FORMAT_TAKES: dict[str, tuple[str, ...]] = {
    "csv": ("labels", "probabilities", "values"),
    "tensors": ("images",),
    "masks": ("masks",),
    "coco": ("detections",),
    "file": (),
    "onnx": ("labels",),
}
# What the scorers of this version compute for each format (the rest of what a format takes is not wired yet).
FORMAT_METRICS: dict[str, tuple[str, ...]] = {
    "csv": tuple(info.name for info in _TABLE if info.takes in FORMAT_TAKES["csv"]),
    "tensors": ("psnr",),
    "masks": ("dice", "iou"),
    "coco": ("map", "map50", "map75"),
    "file": (),  # only a host's program (metric = "program") reads a file as it is
    "onnx": ("accuracy",),
}
