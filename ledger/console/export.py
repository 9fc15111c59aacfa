"""CSV for finance: one line per event, safe to open in a spreadsheet."""

import csv
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose write() returns what it is given: csv.writer then formats one
    row at a time without buffering the file."""

    def write(self, value: str) -> str:
        return value


def _text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


# Called for every cell of millions of rows: dispatch on the exact type, no isinstance chain.
_CELL = {
    str: _text,
    int: lambda value: value,  # numbers stay numbers, minus sign included
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "",
    datetime: lambda value: value.astimezone(UTC).isoformat(),
    uuid.UUID: str,
}


def cell(value: object) -> object:
    convert = _CELL.get(type(value))
    return convert(value) if convert is not None else _text(str(value))


def csv_lines(header: Iterable[str], rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([cell(value) for value in row])
