"""The `csv` format's reader: a host's solution and a participant's submission, Kaggle's way. Each refusal comes
with a reason that names what to fix and where; what spreadsheets and editors do to a file is accepted."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from podium_runtime.scoring.formats.csv import CsvSettings, read_solution, read_submission
from podium_runtime.scoring.refusals import SubmissionRefused

SOLUTION = b"id,target,Usage\na,1,Public\nb,0,Private\nc,1,Ignored\nd,0,private\ne,1,PUBLIC\n"
GOOD = b"id,target\na,0.9\nb,0.2\nc,0.5\nd,0.1\ne,0.8\n"
EXPECTED = np.array([[0.9], [0.2], [0.5], [0.1], [0.8]])
DEFAULTS = CsvSettings()


def refusal(
    submission: bytes,
    solution: bytes = SOLUTION,
    settings: CsvSettings = DEFAULTS,
    *,
    limits: CsvSettings | None = None,
    probabilities: bool = False,
) -> str:
    """Why `submission` is refused (`limits`: the settings it is read under, when not the solution's)."""
    read = read_solution(solution, settings)
    with pytest.raises(SubmissionRefused) as refused:
        read_submission(submission, read, limits or settings, probabilities=probabilities)
    return str(refused.value)


def solution_error(solution: bytes, settings: CsvSettings = DEFAULTS) -> str:
    with pytest.raises(ValueError) as refused:
        read_solution(solution, settings)
    assert not isinstance(refused.value, SubmissionRefused)
    return str(refused.value)


# --- the solution --------------------------------------------------------------------------------------------


def test_the_solution_sets_the_split_row_by_row_and_ignored_rows_count_in_neither() -> None:
    solution = read_solution(SOLUTION)
    assert (solution.id_column, solution.target_columns) == ("id", ("target",))
    assert solution.prediction_columns == ("target",)
    assert solution.ids.to_list() == ["a", "b", "c", "d", "e"]
    assert solution.private.tolist() == [False, True, False, True, False]
    assert solution.kept.tolist() == [True, True, False, True, True]
    assert solution.public.tolist() == [True, False, False, False, True]
    assert solution.private_kept.tolist() == [False, True, False, True, False]
    np.testing.assert_array_equal(solution.targets, [[1.0], [0.0], [np.nan], [0.0], [1.0]])


def test_an_ignored_row_may_hold_anything_as_its_target() -> None:
    solution = read_solution(b"id,target,Usage\na,1,Public\nb,n/a,Ignored\nc,,Ignored\nd,0,Private\n")
    assert solution.kept.tolist() == [True, False, False, True]
    assert np.isnan(solution.targets[1:3]).all()


def test_settings_name_the_id_and_the_targets() -> None:
    data = b"extra,target_b,key,target_a,Usage\nx,1,k1,2,Public\ny,3,k2,4,Private\n"
    settings = CsvSettings(id_column="key", target_columns=("target_a", "target_b"))
    solution = read_solution(data, settings)
    assert solution.ids.to_list() == ["k1", "k2"]
    np.testing.assert_array_equal(solution.targets, [[2.0, 1.0], [4.0, 3.0]])
    predictions = read_submission(b"target_b,key,target_a\n30,k2,40\n10,k1,20\n", solution, settings)
    np.testing.assert_array_equal(predictions, [[20.0, 10.0], [40.0, 30.0]])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"id,target\na,1\n", ["no Usage column"]),
        (b"id,target,Usage\na,1,Public\na,0,Private\n", ["repeats id 'a'", "line 2"]),
        (b"id,target,Usage\na,1,Public\nb,0,Secret\n", ["line 3", "'Secret'", "Public, Private or Ignored"]),
        (b"id,target,Usage\na,1,Public\nb,yes,Private\n", ["line 3", "'target'", "'yes' is not a number"]),
        (b"id,target,Usage\na,1,Public\n,0,Private\n", ["line 3", "id", "empty"]),
        (b"id,target,Usage\na,inf,Public\n", ["line 2", "not a finite number"]),
        (b"id,Usage\na,Public\n", ["no target column"]),
        (b"id,target,Usage\n", ["no rows"]),
    ],
)
def test_a_solution_that_cannot_be_used_is_refused_with_its_reason(data: bytes, words: list[str]) -> None:
    reason = solution_error(data)
    for word in words:
        assert word in reason


def test_settings_that_do_not_fit_the_solution_are_refused() -> None:
    assert "no column 'label'" in solution_error(SOLUTION, CsvSettings(target_columns=("label",)))
    assert "cannot pair" in solution_error(
        b"id,t1,t2,Usage\na,1,2,Public\n", CsvSettings(prediction_columns=("p1", "p2", "p3"))
    )


# --- what is accepted as it is -----------------------------------------------------------------------------------


def test_a_clean_submission_comes_back_in_the_solutions_row_order() -> None:
    np.testing.assert_array_equal(read_submission(GOOD, read_solution(SOLUTION)), EXPECTED)


def test_columns_and_rows_in_any_order() -> None:
    shuffled = b"target,id\n0.8,e\n0.1,d\n0.9,a\n0.5,c\n0.2,b\n"
    np.testing.assert_array_equal(read_submission(shuffled, read_solution(SOLUTION)), EXPECTED)


def test_bom_crlf_quoted_fields_blank_lines_and_spaces_are_accepted() -> None:
    messy = b'\xef\xbb\xbf"id","target"\r\n"a","0.9"\r\nb, 0.2 \r\n\r\n"c",0.5\r\nd,"0.1"\r\ne,0.8\r\n\r\n'
    np.testing.assert_array_equal(read_submission(messy, read_solution(SOLUTION)), EXPECTED)


def test_a_bom_and_crlf_in_the_solution_too() -> None:
    solution = read_solution(b"\xef\xbb\xbf" + SOLUTION.replace(b"\n", b"\r\n"))
    assert solution.id_column == "id"
    np.testing.assert_array_equal(read_submission(GOOD, solution), EXPECTED)


def test_a_formula_is_only_text_an_id_like_any_other() -> None:
    solution = read_solution(b'id,target,Usage\n"=SUM(A1:A3)",1,Public\n@x,0,Private\n+1,1,Public\n-1,0,Public\n')
    predictions = read_submission(b'id,target\n-1,0.4\n+1,0.3\n@x,0.2\n"=SUM(A1:A3)",0.1\n', solution)
    np.testing.assert_array_equal(predictions, [[0.1], [0.2], [0.3], [0.4]])


def test_signed_numbers_are_numbers() -> None:
    solution = read_solution(b"id,target,Usage\na,1,Public\nb,2,Private\n")
    np.testing.assert_array_equal(read_submission(b"id,target\na,+1\nb,-1.5e0\n", solution), [[1.0], [-1.5]])


def test_a_formula_in_a_value_is_refused_as_text_never_evaluated() -> None:
    reason = refusal(b'id,target\na,0.9\nb,"=1+1"\nc,0.5\nd,0.1\ne,0.8\n')
    assert "line 3" in reason and "'target'" in reason and "'=1+1' is not a number" in reason


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"id,prediction", ["'id', 'target'", "missing 'target'", "not expected 'prediction'"]),
        (b"ID,target", ["missing 'id'", "not expected 'ID'"]),
        (b"id,target,extra", ["not expected 'extra'"]),
        (b"id,target,target", ["'target' more than once"]),
        (b"id,,target", ["empty name in column 2"]),
    ],
)
def test_a_wrong_header_says_what_is_expected_and_what_was_found(header: bytes, words: list[str]) -> None:
    reason = refusal(header + b"\na,0.9\n")
    for word in words:
        assert word in reason


def test_a_file_without_a_header_is_told_which_columns_to_name() -> None:
    reason = refusal(b"a,0.9\nb,0.2\nc,0.5\nd,0.1\ne,0.8\n")
    assert "must name the columns 'id', 'target'" in reason and "your header is 'a', '0.9'" in reason


def test_missing_ids_are_counted_and_the_first_few_named() -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\n")
    assert "3 of the task's 5 ids are missing ('c', 'd', 'e')" in reason


def test_many_missing_ids_show_only_the_first_few() -> None:
    rows = "".join(f"id{index},1,Public\n" for index in range(100))
    reason = refusal(b"id,target\nid0,0.5\n", ("id,target,Usage\n" + rows).encode())
    assert "99 of the task's 100 ids are missing (first: 'id1', 'id2', 'id3', 'id4', 'id5')" in reason
    assert "id6" not in reason


def test_unexpected_ids_are_counted_and_named() -> None:
    reason = refusal(GOOD + b"zz,0.5\nyy,0.5\n")
    assert "2 ids are not in this task ('zz', 'yy')" in reason
    assert "missing" not in reason


def test_duplicate_ids_are_named() -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\nc,0.5\nd,0.1\na,0.8\n")
    assert "1 id appears more than once ('a')" in reason
    assert "1 of the task's 5 ids is missing ('e')" in reason


def test_an_id_looking_like_a_formula_is_shown_as_text() -> None:
    reason = refusal(b'id,target\n"=HYPERLINK(""http://evil"")",0.5\n')
    assert "'=HYPERLINK(\"http://evil\")'" in reason


def test_a_value_that_is_not_a_number_names_its_line_and_column() -> None:
    reason = refusal(b"target,id\n0.9,a\n0.2,b\n0.5,c\nabc,d\n0.8,e\n")
    assert reason == "line 5, column 'target': 'abc' is not a number"


def test_a_long_or_odd_value_is_cut_short_and_escaped() -> None:
    value = "x" * 500 + "\t\u202e"
    reason = refusal(f'id,target\na,0.9\nb,0.2\nc,"{value}"\nd,0.1\ne,0.8\n'.encode())
    assert "line 4" in reason and "'" + "x" * 40 + "'…" in reason
    assert len(reason) < 200
    reason = refusal('id,target\na,0.9\nb,0.2\nc,"\t\u202e1"\nd,0.1\ne,0.8\n'.encode())
    assert "'\\t\\u202e1'" in reason


def test_an_empty_cell_names_its_line_and_column() -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\nc,\nd,0.1\ne,0.8\n")
    assert "line 4, column 'target': the cell is empty" in reason


def test_a_line_with_too_few_fields_is_an_empty_cell() -> None:
    assert "line 3, column 'target': the cell is empty" in refusal(b"id,target\na,0.9\nb\nc,0.5\nd,0.1\ne,0.8\n")


def test_a_line_with_too_many_fields_is_named() -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\nc,0.5,7\nd,0.1\ne,0.8\n")
    assert reason == "line 4 of your file has more fields than its header's 2 columns"


@pytest.mark.parametrize("value", [b"nan", b"NaN", b"inf", b"-Infinity", b"1e999"])
def test_nan_and_infinite_values_are_refused(value: bytes) -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\nc,0.5\nd," + value + b"\ne,0.8\n")
    assert "line 5, column 'target'" in reason and "not a finite number" in reason


def test_a_probability_outside_zero_one_is_refused_where_the_metric_needs_one() -> None:
    outside = b"id,target\na,0.9\nb,1.2\nc,0.5\nd,-0.1\ne,0.8\n"
    reason = refusal(outside, probabilities=True)
    assert "line 3, column 'target': 1.2 is not a probability" in reason
    read_submission(outside, read_solution(SOLUTION))  # a regression task takes any number


def test_a_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    reason = refusal(b"id,target\na,0.9\nb,0.2\nc,\xe90.5\nd,0.1\ne,0.8\n")
    assert "not UTF-8" in reason and "line 4" in reason


def test_a_latin1_header_is_refused_as_not_utf8() -> None:
    assert "not UTF-8" in refusal(b"id,t\xe9rget\na,0.9\n")


def test_an_unclosed_quote_is_explained() -> None:
    assert "not closed" in refusal(b'id,target\na,0.9\nb,"0.2\nc,0.5\n')


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert "empty" in refusal(data)


def test_a_header_alone_misses_every_id() -> None:
    assert "5 of the task's 5 ids are missing" in refusal(b"id,target\n")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    reason = refusal(GOOD, limits=CsvSettings(max_bytes=20))
    assert reason == f"your file weighs {len(GOOD)} bytes; the limit is 20 bytes"
    assert "weighs 300.0 MiB; the limit is 256.0 MiB" in refusal(bytes(300 * 1024**2))


def test_a_file_over_the_row_limit_is_refused() -> None:
    reason = refusal(GOOD, limits=CsvSettings(max_rows=4))
    assert reason == "your file has 5 rows; the limit is 4"


def test_a_line_over_the_limit_is_named() -> None:
    long_line = b"id,target\na,0.9\nb," + b"0" * 100 + b"2\nc,0.5\nd,0.1\ne,0.8\n"
    assert refusal(long_line, limits=CsvSettings(max_line_bytes=64)) == (
        "line 3 of your file is longer than 64 bytes"
    )
    no_line_end = b"id,target\na," + b"0" * 100
    reason = refusal(no_line_end, limits=CsvSettings(max_line_bytes=64))
    assert reason == "line 2 of your file is longer than 64 bytes"


def test_the_line_limit_holds_across_the_scan_blocks() -> None:
    # The scan finds line ends a 4 MiB block at a time; a line that straddles a block's end is still measured whole.
    rows = 300_000
    data = ("id,target\n" + "".join(f"id{index:07d},0.5\n" for index in range(rows))).encode()
    solution = ("id,target,Usage\n" + "".join(f"id{index:07d},1,Public\n" for index in range(rows))).encode()
    settings = CsvSettings(max_line_bytes=20)
    assert read_submission(data, read_solution(solution, settings), settings).shape == (rows, 1)
    start = data.rindex(b"\n", 0, 4 * 1024**2 - 5) + 1  # a line that starts before the block's end, ends after
    widened = data[: start + 12] + b"0" * 9 + data[start + 12 :]
    assert widened.index(b"\n", start) > 4 * 1024**2
    line = data.count(b"\n", 0, start) + 1
    assert refusal(widened, solution, settings) == f"line {line} of your file is longer than 20 bytes"


# --- multi-class probabilities -----------------------------------------------------------------------------------

CLASSES = CsvSettings(prediction_columns=("cat", "dog", "bird"))
LABELS = b"id,label,Usage\n1,cat,Public\n2,bird,Private\n3,dog,Private\n4,cat,Ignored\n"


def test_a_multiclass_solution_keeps_its_labels_and_names_its_classes() -> None:
    solution = read_solution(LABELS, CLASSES)
    assert solution.classes == ("cat", "dog", "bird")
    assert solution.targets.tolist() == ["cat", "bird", "dog", "cat"]


def test_multiclass_probabilities_come_back_in_the_class_order() -> None:
    submission = b"id,bird,cat,dog\n3,0.1,0.2,0.7\n1,0.1,0.8,0.1\n4,0.3,0.3,0.4\n2,0.6,0.2,0.2\n"
    predictions = read_submission(submission, read_solution(LABELS, CLASSES), CLASSES, probabilities=True)
    np.testing.assert_array_equal(predictions, [[0.8, 0.1, 0.1], [0.2, 0.2, 0.6], [0.2, 0.7, 0.1], [0.3, 0.4, 0.3]])


def test_the_wrong_number_of_class_columns_is_refused() -> None:
    reason = refusal(b"id,cat,dog\n1,0.5,0.5\n", LABELS, CLASSES)
    assert "needs 3 class columns" in reason and "'cat', 'dog', 'bird'" in reason and "with 2" in reason
    assert "needs 3 class columns" in refusal(b"id,cat,dog,bird,fish\n1,0.1,0.2,0.3,0.4\n", LABELS, CLASSES)


def test_a_class_probability_outside_zero_one_names_its_class() -> None:
    submission = b"id,cat,dog,bird\n1,0.2,0.3,0.5\n2,0.1,0.2,0.7\n3,0.5,1.5,0\n4,0.3,0.3,0.4\n"
    reason = refusal(submission, LABELS, CLASSES, probabilities=True)
    assert "line 4, column 'dog': 1.5 is not a probability" in reason


def test_a_label_that_is_no_class_is_refused_in_the_solution() -> None:
    reason = solution_error(b"id,label,Usage\n1,cat,Public\n2,horse,Private\n", CLASSES)
    assert "line 3" in reason and "'horse'" in reason and "class columns" in reason


# --- against the script a host writes today ----------------------------------------------------------------------


def test_a_thousand_rows_align_as_a_pandas_merge_does() -> None:
    rng = np.random.default_rng(20)
    rows = 1000
    ids = [f"row-{value}" for value in rng.permutation(rows * 3)[:rows]]
    targets = rng.random((rows, 2))
    usage = rng.choice(["Public", "Private", "Ignored"], rows)
    solution = pd.DataFrame({"id": ids, "y1": targets[:, 0], "y2": targets[:, 1], "Usage": usage})
    order = rng.permutation(rows)
    submission = pd.DataFrame({"y2": rng.random(rows), "id": [ids[k] for k in order], "y1": rng.random(rows)})
    solution_csv = solution.to_csv(index=False, lineterminator="\r\n").encode()
    submission_csv = submission.to_csv(index=False).encode()

    ours = read_submission(submission_csv, read_solution(solution_csv))

    merged = pd.read_csv(io.BytesIO(solution_csv)).merge(
        pd.read_csv(io.BytesIO(submission_csv)), on="id", how="left", suffixes=("", "_predicted")
    )
    np.testing.assert_array_equal(ours, merged[["y1_predicted", "y2_predicted"]].to_numpy())
    parsed = read_solution(solution_csv)
    kept = merged["Usage"] != "Ignored"
    np.testing.assert_array_equal(parsed.kept, kept.to_numpy())
    np.testing.assert_array_equal(parsed.private, (merged["Usage"] == "Private").to_numpy())
    np.testing.assert_array_equal(parsed.targets[kept.to_numpy()], merged.loc[kept, ["y1", "y2"]].to_numpy())
