"""Why an action is refused: the one base class of every domain refusal.

A refusal carries a stable `code`, a message an operator can read, and the input `field` it
is about (when there is one). The apps define their own (`accounts.exceptions`,
`ledger.exceptions`); each face maps any `Refusal` to its own format in one place: the
console next to the field, each API dialect in its error body.
"""


class Refusal(Exception):
    code = "REFUSED"
    field: str | None = None
    default_message = "This action was refused."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        if field is not None:
            self.field = field
        super().__init__(self.message)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.message == self.message  # type: ignore[attr-defined]
            and other.field == self.field  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message, self.field))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"
