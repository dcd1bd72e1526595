"""The contracts' checks on a program's raw report, without a sandbox."""

from __future__ import annotations

import math
import signal

import pytest

from podium_runtime.programs.contracts import (
    PROGRAM_FAILED,
    Contract,
    ResultRefused,
    check_function_result,
    check_scores_files,
    interpret,
    parse_scores_txt,
)
from podium_runtime.programs.sandbox import ProgramLimits

COLUMNS = ("Spearman",)
LIMITS = ProgramLimits()


def test_a_function_result_with_the_declared_columns() -> None:
    value = {"public": {"Spearman": 1}, "private": {"Spearman": 0.5}, "details": {"n": 3}}
    assert check_function_result(value, COLUMNS) == ({"Spearman": 1.0}, {"Spearman": 0.5}, {"n": 3})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "score() returned list"),
        (
            {"public": {}, "private": {"Spearman": 1.0}},
            "'public' has the columns []; the task declares ['Spearman'] (missing ['Spearman'])",
        ),
        ({"public": {"Spearman": 1.0, "x": 2.0}, "private": {"Spearman": 1.0}}, "(not declared ['x'])"),
        ({"public": {"Spearman": math.nan}, "private": {"Spearman": 1.0}}, "'public' 'Spearman' is nan"),
        ({"public": {"Spearman": True}, "private": {"Spearman": 1.0}}, "is bool, not a number"),
        ({"public": {"Spearman": 1.0}, "private": {"Spearman": "1"}}, "'private' 'Spearman' is str"),
        ({"public": {"Spearman": 1.0}, "private": {"Spearman": 1.0}, "extra": 1}, "unknown keys ['extra']"),
    ],
)
def test_a_function_result_breaking_the_contract_is_refused(value: object, reason: str) -> None:
    with pytest.raises(ResultRefused) as refused:
        check_function_result(value, COLUMNS)
    assert reason in str(refused.value)


def test_scores_txt_lines() -> None:
    assert parse_scores_txt("accuracy: 0.8\n\nDuration : 12\n") == {"accuracy": 0.8, "Duration": 12.0}
    with pytest.raises(ResultRefused, match="line 2 is not 'key: value'"):
        parse_scores_txt("accuracy: 0.8\nno colon here\n")
    with pytest.raises(ResultRefused, match="line 1: 'high' is not a number"):
        parse_scores_txt("accuracy: high\n")


def test_scores_json_is_preferred_and_other_keys_go_to_details() -> None:
    files = {"scores.json": '{"accuracy": 0.9, "duration": 3}', "scores.txt": "accuracy: 0.1"}
    assert check_scores_files(files, [], ("accuracy",)) == (
        {"accuracy": 0.9}, {"accuracy": 0.9}, {"other_scores": {"duration": 3}}
    )


def test_no_scores_file_says_what_was_looked_for_and_what_was_there() -> None:
    with pytest.raises(ResultRefused) as refused:
        check_scores_files({}, ["result.csv"], ("accuracy",))
    assert "looked for OUTPUT/scores.json and OUTPUT/scores.txt" in str(refused.value)
    assert "found result.csv there" in str(refused.value)


def test_a_participant_message_is_only_the_programs_text() -> None:
    report = {"kind": "participant", "message": "expected 10 rows\x1b[31m", "traceback": "Traceback ... secret"}
    result = interpret(Contract.FUNCTION, COLUMNS, LIMITS, {"result": report})
    assert result.participant_message == "expected 10 rows [31m"
    assert "secret" in result.traceback


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"signal": signal.SIGXCPU}, "the program used more than its CPU-time limit of 60 s"),
        ({"stopped": "wall_time"}, "the program ran longer than its wall-time limit of 60 s; it was stopped"),
        ({"exit_code": 0, "result": None}, "the program's process ended without a result (exit status 0)"),
        (
            {"result": {"kind": "exception", "type": "MemoryError"}},
            "the program ran out of memory: its limit is 2048.0 MiB",
        ),
    ],
)
def test_a_stopped_or_failed_job_has_a_reason_for_the_host(status: dict, reason: str) -> None:
    result = interpret(Contract.FUNCTION, COLUMNS, LIMITS, status)
    assert not result.ok
    assert result.host_reason == reason
    assert result.participant_message == PROGRAM_FAILED
