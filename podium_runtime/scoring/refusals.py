"""Why a submission cannot be scored, in words its team can act on: the scorer publishes a terminal
`score.failed` with this text (never a retry). And why a host's ground truth cannot be used, in words the host can
act on (the readers of both live in `formats/`)."""


class SubmissionRefused(ValueError):
    """The participant's file is at fault; str(exc) is the reason shown to them."""


class MetricUndefined(SubmissionRefused):
    """The metric has no value on this submission (e.g. ROC AUC with one class in the truth)."""


class GroundTruthRejected(ValueError):
    """A host's ground truth does not fit the task; the text says what to fix."""
