"""The `csv` format, Kaggle's convention: a host's solution CSV (an id column, the target column(s) and a `Usage`
column saying Public/Private/Ignored row by row) and a participant's submission CSV (the same ids, one prediction
column per target, or one probability column per class), read with polars and checked cell by cell.

A clean file is read in one pass with its number columns parsed as floats. Where that fails (or leaves a cell
empty), every cell is read again as text, so a refusal can name the exact line, column and value: the numbers are
cast in bulk and a cell that was not empty but did not cast is the one reported. Ids are matched through a sorted
table of their hashes, then compared as text (`IdIndex`), which needs far less memory than a join.

A cell that looks like a spreadsheet formula (`=SUM(A1)`, `@x`) is only text: it is never evaluated, and a reason
that quotes it shows it quoted and escaped. A UTF-8 BOM, CRLF line ends and quoted fields are accepted; blank
lines are skipped. Line numbers count physical lines with the header as line 1 (a quoted field spanning several
lines shifts the count of the lines after it, a rare case we accept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import polars as pl

from podium_runtime.scoring.refusals import SubmissionRefused

USAGE_COLUMN = "Usage"
USAGES = ("public", "private", "ignored")
BOM = b"\xef\xbb\xbf"
# The row index travels with the cells under a name no header can take (the header check refuses it).
_LINE = "\x00line"
# How much of a participant's text a reason quotes: enough to recognise it, never a page of it.
_SHOWN_CHARS = 40
_SHOWN_IDS = 5
_SCAN_BLOCK = 4 * 1024**2

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class CsvSettings:
    """A task's `csv = { … }` settings; every field has a default that needs no configuration.

    `id_column` empty: the solution's first column. `target_columns` empty: every other solution column except
    `Usage`. `prediction_columns` empty: a submission's columns are named like the targets; a multi-class
    probability task names its class columns here, and its solution then holds one label column whose values are
    those names."""

    id_column: str = ""
    target_columns: tuple[str, ...] = ()
    prediction_columns: tuple[str, ...] = ()
    # 1,000,000 rows of a binary task weigh about 20 MB; ten times that still reads in a second or two.
    max_bytes: int = 256 * 1024**2
    max_rows: int = 10_000_000
    # Room for a thousand class columns of full-precision floats, not for a file with no line ends.
    max_line_bytes: int = 64 * 1024


@dataclass(frozen=True)
class Solution:
    """A host's solution, checked, in its own row order; a submission's predictions come back in this order."""

    id_column: str
    target_columns: tuple[str, ...]
    # What a submission names besides the id, in the order of the predictions' columns.
    prediction_columns: tuple[str, ...]
    ids: pl.Series
    # n×k floats (NaN on Ignored rows), or, for a multi-class label task, the n labels (text) with `classes` set.
    targets: npt.NDArray[Any]
    classes: tuple[str, ...]
    private: BoolArray
    # False on Ignored rows, which count in neither split.
    kept: BoolArray
    index: IdIndex

    @property
    def public(self) -> BoolArray:
        return self.kept & ~self.private

    @property
    def private_kept(self) -> BoolArray:
        return self.kept & self.private

    def __len__(self) -> int:
        return len(self.ids)


def read_solution(data: bytes, settings: CsvSettings = CsvSettings()) -> Solution:
    """Check a host's solution CSV (when it is uploaded): ValueError with the reason when it cannot be used."""
    table = _open(data, settings, ValueError, "the solution")
    header = table.header
    id_column = settings.id_column or header[0]
    usage = next((name for name in header if name.lower() == USAGE_COLUMN.lower()), None)
    if usage is None:
        raise ValueError(f"the solution has no {USAGE_COLUMN} column (Public, Private or Ignored on every row)")
    targets = settings.target_columns or tuple(name for name in header if name not in (id_column, usage))
    absent = [name for name in (id_column, *targets) if name not in header]
    if absent:
        raise ValueError(f"the solution has no column {_names(absent)}; its header is {_names(header)}")
    if not targets:
        raise ValueError(f"the solution has no target column besides {_shown(id_column)} and {USAGE_COLUMN}")
    predictions = settings.prediction_columns or targets
    labelled = len(targets) == 1 and len(predictions) >= 2
    if len(predictions) != len(targets) and not labelled:
        raise ValueError(
            f"{len(predictions)} prediction columns cannot pair with {len(targets)} target columns: name one per "
            "target, or name the class columns of a single label column"
        )
    if len(set(predictions)) != len(predictions) or id_column in predictions:
        raise ValueError(f"the prediction columns {_names(predictions)} repeat a name or the id column's")
    typed = _typed(table, () if labelled else targets)
    rows = typed if typed is not None else _cells(table)
    if rows.height == 0:
        raise ValueError("the solution has no rows")

    _refuse_missing_ids(rows, id_column, ValueError)
    ids = rows.get_column(id_column)
    index = IdIndex.of(ids, rows.get_column(_LINE))
    kept, private = _split(rows, usage)

    values: npt.NDArray[Any]
    if labelled:
        label = targets[0]
        checked = rows.filter(pl.Series(kept))
        _refuse_missing_cells(checked, (label,), ValueError)
        strange = checked.filter(~pl.col(label).is_in(list(predictions)))
        if strange.height:
            first = strange.row(0, named=True)
            raise ValueError(
                f"line {first[_LINE]}: the label {_shown(first[label])} is not one of the class columns "
                f"{_names(predictions)}"
            )
        values = rows.get_column(label).to_numpy().astype(object)
    else:
        numbers = rows if typed is not None else _numbers(rows.select(_LINE, *targets), targets, ValueError, kept)
        _refuse_non_finite(numbers, ValueError, targets, check=kept)
        values = numbers.select(targets).to_numpy().astype(np.float64)
        values[~kept] = np.nan
    return Solution(
        id_column=id_column,
        target_columns=tuple(targets),
        prediction_columns=tuple(predictions),
        ids=ids,
        targets=values,
        classes=tuple(predictions) if labelled else (),
        private=private,
        kept=kept,
        index=index,
    )


def read_submission(
    data: bytes, solution: Solution, settings: CsvSettings = CsvSettings(), *, probabilities: bool = False
) -> FloatArray:
    """A participant's predictions, checked, as n×k float64 in the solution's row order (k: its prediction
    columns); SubmissionRefused with the reason otherwise. `probabilities`: every value must lie in [0, 1]."""
    table = _open(data, settings, SubmissionRefused, "your file")
    _check_header(table.header, solution)
    columns = solution.prediction_columns
    typed = _typed(table, columns)
    rows = typed if typed is not None else _cells(table)
    _refuse_missing_ids(rows, solution.id_column, SubmissionRefused)
    positions = solution.index.positions(rows.get_column(solution.id_column), solution.ids)
    seen = np.zeros(len(solution), dtype=np.bool_)
    seen[positions[positions >= 0]] = True
    if rows.height != len(solution) or not seen.all():
        _refuse_ids(rows, solution)
    # The values are checked in the file's order, so the first fault reported is the first in the file.
    numbers = rows if typed is not None else _numbers(rows.select(_LINE, *columns), columns, SubmissionRefused)
    _refuse_non_finite(numbers, SubmissionRefused, columns)
    values = numbers.select(columns).to_numpy().astype(np.float64, copy=False)
    if probabilities:
        outside = (values < 0.0) | (values > 1.0)
        if outside.any():
            row, column = (int(place) for place in np.argwhere(outside)[0])
            raise SubmissionRefused(
                f"line {numbers.item(row, _LINE)}, column {_shown(columns[column])}: "
                f"{float(values[row, column])!r} is not a probability; this task's metric needs every value "
                "between 0 and 1"
            )
    predictions = np.empty_like(values)
    predictions[positions] = values
    return predictions


@dataclass(frozen=True)
class IdIndex:
    """A solution's ids by a 64-bit hash, sorted. A submission's ids are placed by binary search (their hashes
    sorted first, so the searches walk the table in order) and then compared as text, so a collision can never
    pair two different ids. Far lighter than a hash join on text, which would build its table per submission."""

    seed: int
    hashes: npt.NDArray[np.uint64]
    rows: npt.NDArray[np.intp]

    @classmethod
    def of(cls, ids: pl.Series, lines: pl.Series) -> IdIndex:
        """The index of a solution's ids (`lines`: each one's line, to name a repeated id's)."""
        # Equal neighbours are a repeated id, or two ids with one hash under this seed (odds about n²/2⁶⁵), told
        # apart under another seed.
        for seed in range(8):
            hashes = ids.hash(seed=seed).to_numpy()
            order = np.argsort(hashes)
            ordered = hashes[order]
            equal = np.flatnonzero(ordered[1:] == ordered[:-1])
            if not len(equal):
                return cls(seed=seed, hashes=ordered, rows=order)
            first, second = order[equal], order[equal + 1]
            repeated = np.flatnonzero((ids.gather(first) == ids.gather(second)).to_numpy())
            if len(repeated):
                row = int(first[repeated[0]])
                raise ValueError(f"the solution repeats id {_shown(ids[row])} (line {lines[row]} and others)")
        raise ValueError("the solution's ids could not be indexed (their hashes collide under every seed)")

    def positions(self, ids: pl.Series, solution_ids: pl.Series) -> npt.NDArray[np.intp]:
        """Each id's row in the solution, or -1 where the solution has no such id."""
        hashes = ids.hash(seed=self.seed).to_numpy()
        order = np.argsort(hashes)
        ordered = hashes[order]
        found = np.minimum(np.searchsorted(self.hashes, ordered), len(self.hashes) - 1)
        rows = np.where(self.hashes[found] == ordered, self.rows[found], -1)
        positions = np.empty_like(rows)
        positions[order] = rows
        same = (ids == solution_ids.gather(np.maximum(positions, 0))).to_numpy()
        positions[~same] = -1
        return positions


# --- reading the cells -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A CSV whose size, line lengths and header passed the checks; its rows are read next."""

    data: bytes
    header: list[str]
    refuse: type[ValueError]
    whose: str


def _open(data: bytes, settings: CsvSettings, refuse: type[ValueError], whose: str) -> _Table:
    if len(data) > settings.max_bytes:
        raise refuse(f"{whose} weighs {_size(len(data))}; the limit is {_size(settings.max_bytes)}")
    if data.startswith(BOM):
        data = data[len(BOM) :]
    if not data.strip():
        raise refuse(f"{whose} is empty: it needs a header line and one line per id")
    _check_lines(data, settings, refuse, whose)
    try:
        first = pl.read_csv(data, has_header=False, infer_schema=False, n_rows=1, truncate_ragged_lines=True)
    except pl.exceptions.ComputeError as error:
        raise refuse(_parse_failure(data, str(error), whose)) from None
    header = [(name or "").strip() for name in first.row(0)]
    empty = [index + 1 for index, name in enumerate(header) if not name]
    if empty:
        raise refuse(f"the header of {whose} has an empty name in column {empty[0]}; name every column")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise refuse(f"the header of {whose} names {_names(repeated)} more than once")
    if _LINE in header:
        raise refuse(f"the header of {whose} names a column {_shown(_LINE)}, which is reserved")
    return _Table(data=data, header=header, refuse=refuse, whose=whose)


def _typed(table: _Table, numeric: tuple[str, ...]) -> pl.DataFrame | None:
    """The fast path for a clean file: the `numeric` columns parsed as floats as they are read, the others as
    text, and a `_LINE` column. None where that fails or leaves an empty cell: `_cells` then reads every cell as
    text, to say exactly which one is at fault (or to forgive what only looked wrong, like a blank line)."""
    schema = {name: pl.Float64 if name in numeric else pl.String for name in table.header}
    try:
        rows = pl.read_csv(table.data, has_header=True, schema=schema, quote_char='"')
    except pl.exceptions.PolarsError:
        return None
    if sum(rows.null_count().row(0)):
        return None
    return rows.with_row_index(_LINE, offset=2)


def _cells(table: _Table) -> pl.DataFrame:
    """Every data row as text with its `_LINE` (the line in the file), blank lines dropped; refuse a file that
    is not CSV, naming the line where it can."""
    try:
        cells = pl.read_csv(table.data, has_header=False, infer_schema=False, quote_char='"')
    except pl.exceptions.ComputeError as error:
        raise table.refuse(_parse_failure(table.data, str(error), table.whose)) from None
    rows = cells.rename(dict(zip(cells.columns, table.header, strict=True))).with_row_index(_LINE, offset=1).slice(1)
    if sum(rows.null_count().row(0)) == 0:
        return rows
    return rows.filter(~pl.all_horizontal(pl.exclude(_LINE).is_null()))


def _check_lines(data: bytes, settings: CsvSettings, refuse: type[ValueError], whose: str) -> None:
    # The header plus max_rows lines, the last one perhaps without its line end.
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines > settings.max_rows + 1:
        raise refuse(f"{whose} has {lines - 1:,} rows; the limit is {settings.max_rows:,}")
    if len(data) <= settings.max_line_bytes:
        return
    # Line ends found a block at a time, so the scan needs a few MB whatever the file weighs.
    view, limit = np.frombuffer(data, dtype=np.uint8), settings.max_line_bytes + 1
    previous_end, line = -1, 0
    for start in range(0, len(data), _SCAN_BLOCK):
        ends = np.flatnonzero(view[start : start + _SCAN_BLOCK] == ord("\n")) + start
        too_long = np.flatnonzero(np.diff(ends, prepend=previous_end) > limit)
        if len(too_long):
            first = line + int(too_long[0]) + 1
            raise refuse(f"line {first} of {whose} is longer than {settings.max_line_bytes:,} bytes")
        if len(ends):
            line, previous_end = line + len(ends), int(ends[-1])
    if len(data) - previous_end - 1 > settings.max_line_bytes:
        raise refuse(f"line {line + 1} of {whose} is longer than {settings.max_line_bytes:,} bytes")


def _parse_failure(data: bytes, message: str, whose: str) -> str:
    """Why polars could not read the file, in the participant's words (where possible, on which line)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as undecodable:
        line = data.count(b"\n", 0, undecodable.start) + 1
        return f"{whose} is not UTF-8 text (line {line}): save it as UTF-8 CSV"
    if "more fields" in message:
        # Read again under a first line one field wider than the header: the first line with a value in that last
        # field is the culprit (an empty one reads as missing), and the added line makes row numbers line numbers.
        header = pl.read_csv(data, has_header=False, infer_schema=False, n_rows=1, truncate_ragged_lines=True)
        width = header.width
        wider = pl.read_csv(
            b",".join([b"x"] * (width + 1)) + b"\n" + data,
            has_header=False,
            infer_schema=False,
            truncate_ragged_lines=True,
        ).with_row_index(_LINE)
        extra = wider.slice(1).filter(pl.col(wider.columns[-1]).is_not_null())
        if extra.height:
            return f"line {extra.item(0, _LINE)} of {whose} has more fields than its header's {width} columns"
        return f"a line of {whose} has more fields than its header's {width} columns (a separator at its end?)"
    if "escaped" in message or "quote" in message:
        return (
            f"{whose} has a quoted field that is not closed properly: a field that starts with a double quote must "
            'end with one, and a double quote inside it is written twice ("")'
        )
    return f"{whose} could not be read as CSV ({message.splitlines()[0][:200]})"


# --- checking the cells ------------------------------------------------------------------------------------------


def _as_float(name: str, *, strip: bool = True) -> pl.Expr:
    # Surrounding spaces are forgiven (" 0.5"); anything else that is not a number becomes null and is reported.
    # Stripping costs more than the cast itself, so the common path casts first and strips only where that fails.
    text = pl.col(name).str.strip_chars() if strip else pl.col(name)
    return text.cast(pl.Float64, strict=False)


def _numbers(
    rows: pl.DataFrame, columns: tuple[str, ...], refuse: type[ValueError], check: BoolArray | None = None
) -> pl.DataFrame:
    """`columns` of `rows` as floats; refuse the first empty cell or cell that is not a number (on `check` rows)."""
    numbers = rows.with_columns(_as_float(name, strip=False) for name in columns)
    if not _flagged(numbers, [pl.col(name).is_null() for name in columns], check).height:
        return numbers
    numbers = rows.with_columns(_as_float(name) for name in columns)
    checked = rows if check is None else rows.filter(pl.Series(check))
    _refuse_missing_cells(checked, columns, refuse)
    flagged = _flagged(numbers, [pl.col(name).is_null().alias(name) for name in columns], check)
    if flagged.height:
        first = flagged.row(0, named=True)
        column = next(name for name in columns if first[name])
        cell = rows.filter(pl.col(_LINE) == first[_LINE]).item(0, column)
        raise refuse(f"line {first[_LINE]}, column {_shown(column)}: {_shown(cell)} is not a number")
    return numbers


def _flagged(frame: pl.DataFrame, flags: list[pl.Expr], check: BoolArray | None) -> pl.DataFrame:
    """The line and the flags of each row (among `check`'s) with a flag raised, in the file's order."""
    raised = pl.any_horizontal(flags)
    if check is not None:
        raised = raised & pl.lit(pl.Series(check))
    return frame.lazy().filter(raised).select(_LINE, *flags).sort(_LINE).collect()


def _refuse_missing_cells(rows: pl.DataFrame, columns: tuple[str, ...], refuse: type[ValueError]) -> None:
    empty = rows.filter(pl.any_horizontal(pl.col(columns).is_null()))
    if empty.height:
        first = empty.row(0, named=True)
        column = next(name for name in columns if first[name] is None)
        raise refuse(f"line {first[_LINE]}, column {_shown(column)}: the cell is empty; it needs a number")


def _refuse_missing_ids(rows: pl.DataFrame, id_column: str, refuse: type[ValueError]) -> None:
    empty = rows.filter(pl.col(id_column).is_null())
    if empty.height:
        raise refuse(f"line {empty.item(0, _LINE)}: the id ({_shown(id_column)}) is empty")


def _refuse_non_finite(
    frame: pl.DataFrame, refuse: type[ValueError], columns: tuple[str, ...], check: BoolArray | None = None
) -> None:
    flagged = _flagged(frame, [(~pl.col(name).is_finite()).alias(name) for name in columns], check)
    if flagged.height:
        first = flagged.row(0, named=True)
        column = next(name for name in columns if first[name])
        value = frame.filter(pl.col(_LINE) == first[_LINE]).item(0, column)
        raise refuse(f"line {first[_LINE]}, column {_shown(column)}: {value!r} is not a finite number (NaN, infinite)")


def _split(rows: pl.DataFrame, usage: str) -> tuple[BoolArray, BoolArray]:
    """Each row's (kept, private) from its Usage, read case-insensitively; refuse a row with another value."""
    # Spelled as Kaggle spells them, the values cast to a three-value enum: no lower-cased copy of the column.
    spelled = rows.get_column(usage).cast(pl.Enum(["Public", "Private", "Ignored"]), strict=False)
    if spelled.null_count() == 0:
        codes = spelled.to_physical().to_numpy()
        return codes != 2, codes == 1
    split = rows.get_column(usage).str.strip_chars().str.to_lowercase()
    unknown = rows.filter(~split.is_in(USAGES).fill_null(False))
    if unknown.height:
        first = unknown.row(0, named=True)
        raise ValueError(
            f"line {first[_LINE]}: {USAGE_COLUMN} is {_shown(first[usage])}; it must be Public, Private or Ignored"
        )
    return (split != "ignored").to_numpy(), (split == "private").to_numpy()


def _check_header(header: list[str], solution: Solution) -> None:
    expected = (solution.id_column, *solution.prediction_columns)
    if set(header) == set(expected):
        return
    found = f"your header is {_names(header)}"
    if solution.classes and solution.id_column in header and len(header) - 1 != len(solution.classes):
        raise SubmissionRefused(
            f"this task needs {len(solution.classes)} class columns, one probability per class "
            f"({_names(solution.classes)}), besides the id; {found}, with {len(header) - 1}"
        )
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in expected]
    problems = [f"missing {_names(missing)}"] if missing else []
    problems += [f"not expected {_names(unexpected)}"] if unexpected else []
    raise SubmissionRefused(
        f"the header must name the columns {_names(expected)} (in any order); {found}: {'; '.join(problems)}"
    )


def _refuse_ids(rows: pl.DataFrame, solution: Solution) -> NoReturn:
    """The slow path, taken only when the ids do not match: say every way they differ."""
    id_column = solution.id_column
    submitted = rows.get_column(id_column)
    problems: list[str] = []
    duplicated = rows.filter(submitted.is_duplicated()).get_column(id_column).unique(maintain_order=True)
    if len(duplicated):
        problems.append(f"{_count(duplicated, 'id appears', 'ids appear')} more than once ({_first(duplicated)})")
    unexpected = submitted.filter(~submitted.is_in(solution.ids.implode())).unique(maintain_order=True)
    if len(unexpected):
        problems.append(f"{_count(unexpected, 'id is', 'ids are')} not in this task ({_first(unexpected)})")
    missing = solution.ids.filter(~solution.ids.is_in(submitted.implode()))
    if len(missing):
        verb = "is" if len(missing) == 1 else "are"
        problems.append(f"{len(missing):,} of the task's {len(solution):,} ids {verb} missing ({_first(missing)})")
    raise SubmissionRefused(f"the ids in column {_shown(id_column)} do not match the task's: " + "; ".join(problems))


# --- showing the participant's text ------------------------------------------------------------------------------


def _shown(text: object) -> str:
    """A participant's text as a quoted, escaped literal, cut short: never evaluated, never a page long."""
    if text is None:
        return "(empty)"
    value = str(text)
    cut = value[:_SHOWN_CHARS]
    return repr(cut) + ("…" if len(value) > _SHOWN_CHARS else "")


def _names(names: list[str] | tuple[str, ...]) -> str:
    listed = ", ".join(_shown(name) for name in names[:20])
    return listed + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _first(ids: pl.Series) -> str:
    shown = ", ".join(_shown(value) for value in ids.head(_SHOWN_IDS).to_list())
    return ("first: " if len(ids) > _SHOWN_IDS else "") + shown


def _count(ids: pl.Series, one: str, many: str) -> str:
    return f"{len(ids):,} {one if len(ids) == 1 else many}"


def _size(size: int) -> str:
    return f"{size:,} bytes" if size < 1024**2 else f"{size / 1024**2:,.1f} MiB"
