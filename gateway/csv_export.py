"""CSV that a spreadsheet opens safely. Team names are chosen by participants: a cell that begins with `=`, `+`,
`-`, `@`, a tab or a carriage return is read as a formula by Excel, LibreOffice and Sheets (`=HYPERLINK(…)`),
so such text cells are prefixed with a quote, as OWASP's CSV-injection guidance says. Numbers stay numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
    return out.getvalue()
