"""A task's columns (`Task.columns`) computed on its public and private split, the pure part every format shares:
each column's metric with its own parameters, a column without a value refusing the submission with a reason that
names the column, and a hidden column kept out of every reason a team reads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator

import numpy as np

from podium_runtime.scoring import metrics
from podium_runtime.scoring.kit import both_splits
from podium_runtime.scoring.refusals import MetricUndefined, SubmissionRefused
from proto.competition import MetricColumn, Task

# A column's value on one split (private: True) of the task; None where the split has no case.
ColumnValue = Callable[[MetricColumn, bool], "float | None"]


@contextlib.contextmanager
def naming(column: MetricColumn) -> Generator[None]:
    """A refusal raised while computing `column` says which column it is; a hidden column is not named (nor its
    metric): the server never tells a team of it."""
    try:
        yield
    except SubmissionRefused as refusal:
        if column.hidden:
            raise type(refusal)("a column of this task that only its hosts see cannot be computed for this file; "
                                "ask the host") from None
        has_no_value = " has no value" if isinstance(refusal, MetricUndefined) else ""
        raise type(refusal)(f"column {column.header}{has_no_value}: {refusal}") from None


def evaluate(column: MetricColumn, truth: np.ndarray, predicted: np.ndarray) -> float:
    """The column's metric (`metrics.evaluate`) with its parameters."""
    return metrics.evaluate(column.name, truth, predicted, column.parameters)


def column_values(task: Task, value: ColumnValue) -> tuple[dict[str, float], dict[str, float]]:
    """Every column's public and private value by header, in the task's order (a split without cases reports the
    other's: `both_splits`). The columns a team sees are computed first, so the first refusal a team reads is about
    one of them whenever it could be."""
    public: dict[str, float] = {}
    private: dict[str, float] = {}
    for column in sorted(task.columns, key=lambda column: column.hidden):
        with naming(column):
            public[column.header], private[column.header] = both_splits(value(column, False), value(column, True))
    return ({column.header: public[column.header] for column in task.columns},
            {column.header: private[column.header] for column in task.columns})


def on_rows(rows: np.ndarray, compute: Callable[[np.ndarray], float]) -> float | None:
    """`compute(rows)` where the split has a row (a boolean mask over the cases), else None."""
    return compute(rows) if rows.any() else None
