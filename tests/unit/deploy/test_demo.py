"""The demo competition's csv task (deploy/competition.toml, deploy/demo.py): its board columns, a generated solution
the platform's own reader and ground-truth check accept (the same bytes every time, its Usage following the task's
split), and example predictions whose scores, by the metric library, order the demo teams by their noise."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from deploy.demo import (
    SOLUTION_ROWS,
    can_generate_solution,
    generated_ground_truth,
    make_solution,
    noisy_probabilities,
    predictions_csv,
    solution_csv,
)
from podium_cli.dev import NOISE_LEVELS
from podium_runtime import ground_truth
from podium_runtime.scoring import metrics
from podium_runtime.scoring.formats.csv import read_submission
from proto.competition import CsvColumns, Task
from tests.unit.fakes import COMPETITION


def churn() -> Task:
    task = COMPETITION.task("churn")
    assert task is not None, "the demo competition has a csv task `churn`"
    return task


def test_the_csv_task_has_an_auc_column_that_ranks_and_a_log_loss_beside() -> None:
    task = churn()
    assert task.effective_format == "csv" and task.metric == "roc_auc"
    assert [(c.header, c.name, c.primary, c.direction, c.precision) for c in task.columns] == [
        ("AUC", "roc_auc", True, "desc", 4), ("LogLoss", "log_loss", False, "asc", 4)]
    assert task.board_sort == "desc"


def test_the_generated_solution_is_the_same_every_time_and_the_platform_takes_it() -> None:
    task = churn()
    data = generated_ground_truth(task)
    assert data is not None and data == solution_csv(make_solution(task))
    other_seed = msgspec.structs.replace(task, split=msgspec.structs.replace(task.split, seed=task.split.seed + 1))
    assert generated_ground_truth(other_seed) != data

    solution = ground_truth.parse_solution(data, task)  # what submission_service checks and cpu_scorer scores with
    assert (len(solution), solution.id_column, solution.prediction_columns) == (SOLUTION_ROWS, "id", ("target",))
    assert solution.kept.all()
    # The Usage column follows the task's split: round(rows · private_fraction) private rows, chosen by its seed.
    assert solution.private.tolist() == task.split.private_samples(SOLUTION_ROWS)
    targets = ground_truth.solution_targets(solution)
    assert set(targets[solution.public].tolist()) == set(targets[solution.private].tolist()) == {0.0, 1.0}


def test_the_example_predictions_are_read_as_written_and_score_in_the_teams_order() -> None:
    task = churn()
    generated = make_solution(task)
    solution = ground_truth.parse_solution(solution_csv(generated), task)
    truth = ground_truth.solution_targets(solution)
    aucs, losses = [], []
    for seed, noise in enumerate(NOISE_LEVELS):
        probabilities = noisy_probabilities(generated, noise, seed=seed)
        read = read_submission(predictions_csv(generated, probabilities), solution, ground_truth.csv_settings(task),
                               probabilities=True)[:, 0]
        np.testing.assert_allclose(read, probabilities, rtol=1e-5, atol=1e-12)  # six significant digits written
        aucs.append(metrics.evaluate("roc_auc", truth[solution.public], read[solution.public]))
        losses.append(metrics.evaluate("log_loss", truth[solution.public], read[solution.public]))
    # Less noise: a higher AUC and a lower log loss, so the demo's boards have an order at once.
    assert aucs == sorted(aucs, reverse=True) and len(set(aucs)) == len(aucs), aucs
    assert losses == sorted(losses) and len(set(losses)) == len(losses), losses
    assert aucs[0] > 0.9 and 0.5 < aucs[-1] < 0.7, aucs


def test_only_a_binary_csv_task_gets_a_generated_solution() -> None:
    task = churn()
    classes = msgspec.structs.replace(task, csv=CsvColumns(prediction_columns=("a", "b", "c")))
    assert not can_generate_solution(classes) and generated_ground_truth(classes) is None
    with pytest.raises(ValueError, match="binary csv tasks only"):
        make_solution(classes)
    named = msgspec.structs.replace(task, csv=CsvColumns(id_column="customer", target_columns=("churned",)))
    assert solution_csv(make_solution(named)).startswith(b"customer,churned,Usage\n")
