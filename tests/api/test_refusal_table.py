"""docs/api.md's refusal table says what the code does: each refusal's code, native status,
Square code and status, and Yotpo status, as `ledger.api.errors.ANSWERS` answers them."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from ledger import exceptions
from ledger.api.errors import answer_for

TABLE = Path(settings.BASE_DIR) / "docs" / "api.md"


def _rows() -> list[list[str]]:
    text = TABLE.read_text().split("## Refusals", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and hasattr(exceptions, cells[0].split(" ")[0]):
            rows.append(cells)
    return rows


def _status(cell: str) -> int | None:
    found = re.search(r"\b([1-5]\d\d)\b", cell)
    return int(found.group(1)) if found else None


ROWS = _rows()


def test_the_table_covers_every_refusal_an_adjustment_can_meet():
    named = {row[0].split(" ")[0] for row in ROWS}
    assert {
        "InvalidAmount",
        "UnknownReason",
        "InactiveReason",
        "ReasonSignMismatch",
        "NoteRequired",
        "TextTooLong",
        "InsufficientPoints",
        "OverrideNotAllowed",
        "NotAllowed",
        "IdempotencyConflict",
        "NotFound",
    } <= named


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_each_row_matches_the_code(row):
    refusal = getattr(exceptions, row[0].split(" ")[0])()
    answer = answer_for(refusal)
    assert row[1] == f"`{refusal.code}`"
    if len(row) == 6:  # refusal | code | native | Square | Yotpo | message
        native, square, yotpo = row[2], row[3], row[4]
        assert _status(native) == answer.status
        assert _status(yotpo) == (answer.yotpo_status or answer.status)
    else:  # the table of refusals only some surfaces meet: refusal | code | native | Square | …
        native, square = row[2], row[3]
        if _status(native) is not None and "Yotpo" not in native:
            assert _status(native) == answer.status
    if not square.startswith("—"):
        assert f"`{answer.square_code}`" in square
        assert _status(square) == (answer.square_status or answer.status)
