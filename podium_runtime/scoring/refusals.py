"""Why a submission cannot be scored, in words its team can act on: the scorer publishes a terminal
`score.failed` with this text (never a retry)."""
class SubmissionRefused(ValueError):
    """The participant's file is at fault; str(exc) is the reason shown to them."""
class MetricUndefined(SubmissionRefused):
    """The metric has no value on this submission (e.g. ROC AUC with one class in the truth)."""
