"""CSV cells a participant controls cannot start a spreadsheet formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest

from gateway.csv_export import neutralise, to_csv


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1"])
def test_a_formula_start_is_quoted(name: str) -> None:
    assert neutralise(name) == "'" + name


@pytest.mark.parametrize("cell", ["team-7", "Ünïcode", "a=b", "", 3, -2.5, 0.0])
def test_other_cells_and_numbers_are_left_alone(cell: object) -> None:
    assert neutralise(cell) == cell


def test_rows_read_back_with_the_quoted_cells() -> None:
    text = to_csv(["rank", "team_name", "score"], [[1, "=cmd|' /C calc'!A0", -0.5], [2, "ok, fine", 1.0]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["rank", "team_name", "score"], ["1", "'=cmd|' /C calc'!A0", "-0.5"], ["2", "ok, fine", "1.0"]]
