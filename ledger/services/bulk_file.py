"""The bulk adjustment file: a CSV with one adjustment per row.

Columns: one of `email`, `phone`, `customer_id` (which customer), `points` (signed),
`reason` (a reason code), and optionally `history_title`, `note`, `visible_to_customer`.
This module reads the file into rows; `ledger.services.bulk.check_bulk_file` judges them.
"""

import csv
import io
from dataclasses import dataclass, field

IDENTITY_COLUMNS = ("customer_id", "email", "phone")
REQUIRED_COLUMNS = ("points", "reason")
OPTIONAL_COLUMNS = ("history_title", "note", "visible_to_customer")
KNOWN_COLUMNS = set(IDENTITY_COLUMNS + REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
MAX_ROWS = 500_000
TRUE_WORDS = {"", "1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class RawRow:
    line: int
    values: dict[str, str]


@dataclass
class ParsedFile:
    rows: list[RawRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def decode(data: bytes) -> str:
    """The file's text: UTF-8 (with or without the BOM spreadsheets add)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be read). "
            "Save it as “CSV UTF-8” and upload it again."
        ) from exc
    if "\x00" in text:
        # Not text a spreadsheet writes, and PostgreSQL cannot store it in a text column.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ValueError(
            f"The file contains a NUL byte (line {line}): it is not a CSV text file. "
            "Save it as “CSV UTF-8” and upload it again."
        )
    return text


def parse(content: str) -> ParsedFile:
    parsed = ParsedFile()
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        parsed.errors.append(RowError(1, "file", "The file is empty."))
        return parsed
    except csv.Error as exc:
        parsed.errors.append(RowError(1, "file", f"The header cannot be read: {exc}."))
        return parsed
    columns = [c.strip().lower() for c in header]
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        parsed.errors.append(
            RowError(
                1,
                "header",
                f"Unknown column(s): {', '.join(unknown)}. Known: "
                f"{', '.join(sorted(KNOWN_COLUMNS))}.",
            )
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        parsed.errors.append(RowError(1, "header", f"Missing column(s): {', '.join(missing)}."))
    if not any(c in columns for c in IDENTITY_COLUMNS):
        parsed.errors.append(
            RowError(
                1, "header", "Add a column that names the customer: email, phone or customer_id."
            )
        )
    if len(set(columns)) != len(columns):
        parsed.errors.append(RowError(1, "header", "A column appears twice."))
    if parsed.errors:
        return parsed
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines are harmless
            if len(values) != len(columns):
                parsed.errors.append(
                    RowError(line, "row", f"Expected {len(columns)} values, found {len(values)}.")
                )
                continue
            parsed.rows.append(
                RawRow(line, {c: v.strip() for c, v in zip(columns, values, strict=True)})
            )
            if len(parsed.rows) > MAX_ROWS:
                parsed.errors.append(RowError(line, "file", f"At most {MAX_ROWS:,} rows per file."))
                break
    except csv.Error as exc:
        parsed.errors.append(RowError(reader.line_num, "row", f"Unreadable CSV: {exc}."))
    if not parsed.rows and not parsed.errors:
        parsed.errors.append(RowError(2, "file", "The file has a header but no rows."))
    return parsed


def parse_visible(value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
