"""A task's columns computed split by split (`podium_runtime.scoring.columns`): each column's metric with its own
parameters, values in the task's order, a split without cases reporting the other's, and a refusal that names the
column a team sees and never one only its hosts see."""

from __future__ import annotations

import numpy as np
import pytest

from podium_runtime.scoring import columns
from podium_runtime.scoring.refusals import MetricUndefined, SubmissionRefused
from proto.competition import MetricColumn, Task


def task(*metrics: MetricColumn) -> Task:
    return Task(id="t", title="T", kind="cpu", format="csv", metric=metrics[0].name, metrics=metrics)


AUC = MetricColumn(name="roc_auc", column="AUC", primary=True)
LOSS = MetricColumn(name="log_loss", column="LogLoss")
SECRET = MetricColumn(name="accuracy", column="Secret", hidden=True)


def test_every_column_is_computed_on_both_splits_in_the_tasks_order() -> None:
    asked: list[tuple[str, bool]] = []

    def value(column: MetricColumn, private: bool) -> float:
        asked.append((column.header, private))
        return len(asked) * 1.0

    public, private = columns.column_values(task(AUC, SECRET, LOSS), value)
    # Seen columns first (the primary, then LogLoss), the hidden one last; the result keeps the task's order.
    assert asked == [("AUC", False), ("AUC", True), ("LogLoss", False), ("LogLoss", True), ("Secret", False),
                     ("Secret", True)]
    assert (list(public.items()), list(private.items())) == (
        [("AUC", 1.0), ("Secret", 5.0), ("LogLoss", 3.0)], [("AUC", 2.0), ("Secret", 6.0), ("LogLoss", 4.0)])


def test_a_split_without_cases_reports_the_others_value() -> None:
    public, private = columns.column_values(task(AUC), lambda column, hidden: None if hidden else 0.75)
    assert (public, private) == ({"AUC": 0.75}, {"AUC": 0.75})


def test_a_column_without_a_value_refuses_naming_the_column() -> None:
    def undefined(column: MetricColumn, private: bool) -> float:
        raise MetricUndefined(f"{column.name}: the truth has only one class (0), so {column.name} is undefined")

    with pytest.raises(MetricUndefined) as refused:
        columns.column_values(task(AUC, LOSS), undefined)
    assert str(refused.value) == ("column AUC has no value: roc_auc: the truth has only one class (0), so roc_auc is "
                                  "undefined")


def test_a_refusal_of_a_hidden_column_names_neither_it_nor_its_metric() -> None:
    def refuse_secret(column: MetricColumn, private: bool) -> float:
        if column.hidden:
            raise MetricUndefined(f"{column.name}: undefined")
        return 0.5

    with pytest.raises(MetricUndefined) as refused:
        columns.column_values(task(AUC, SECRET), refuse_secret)
    assert str(refused.value) == ("a column of this task that only its hosts see cannot be computed for this file; "
                                  "ask the host")
    assert "Secret" not in str(refused.value) and "accuracy" not in str(refused.value)


def test_evaluate_uses_the_columns_parameters_and_other_refusals_name_the_column() -> None:
    truth = np.array([[[0, 1], [2, 2]]], dtype=np.uint8)
    dice = MetricColumn(name="dice", column="Dice", parameters={"classes": 3})
    assert columns.evaluate(dice, truth, truth) == 1.0
    with pytest.raises(SubmissionRefused) as refused, columns.naming(dice):
        columns.evaluate(dice, truth, truth + 1)  # label 3 of three classes is outside
    assert str(refused.value) == "column Dice: image 0 of the predictions has labels outside 0 … 2"


def test_on_rows_computes_only_where_the_split_has_a_row() -> None:
    assert columns.on_rows(np.array([False, False]), lambda rows: 1 / 0) is None
    assert columns.on_rows(np.array([True, False]), lambda rows: float(rows.sum())) == 1.0
