"""Serializer fields shared by the API dialects: JSON types taken at their word.

DRF's own fields coerce ("12" → 12, "yes" → True); Square and Yotpo document JSON integers and
booleans, so a string where an integer belongs is a 400 naming the field.
"""

import copy

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.serializers import BaseSerializer

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"expected_integer": "Expected an integer."}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", INT32_MIN)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("expected_integer")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"expected_boolean": "Expected true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("expected_boolean")
        return data


class QueryBooleanField(serializers.BooleanField):
    """A boolean query parameter: true/false (also 1/0)."""

    default_error_messages = {"invalid": "Expected true or false."}
    TRUE_VALUES = {"true", "True", "1", True}
    FALSE_VALUES = {"false", "False", "0", False}


class PointsField(StrictIntegerField):
    """A number of points: a JSON integer of any size. How many points one action may move
    is the ledger's rule (`ledger.services.rules`), refused with the same code in every face."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", None)
        kwargs.setdefault("max_value", None)
        super().__init__(**kwargs)


def constant(value: object, schema: serializers.Field) -> serializers.Field:
    """A read-only output field that is always `value`, typed in the schema as `schema`: for a
    dialect's field that this product keeps no data for (its empty value of the right type)."""

    @extend_schema_field(schema)
    class Constant(serializers.Field):
        def __init__(self) -> None:
            super().__init__(source="*", read_only=True)

        def to_representation(self, _instance: object) -> object:
            return copy.copy(value)  # never share a mutable {} between responses

    return Constant()


class BodySerializer(serializers.Serializer):
    """A request body's serializer whose plain fields are copied, not rebuilt, for each
    request. DRF deep-copies every declared field when it makes a serializer, which rebuilds
    each one from its arguments: for the adjust endpoints' few fields, 68 of the serializer's
    76 µs a request. A plain field keeps nothing of a request on itself but what binding sets,
    on the copy; a nested serializer is still deep-copied, as DRF does."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            name: copy.deepcopy(field) if isinstance(field, BaseSerializer) else _copy(field)
            for name, field in self._declared_fields.items()
        }


def _copy(field: serializers.Field) -> serializers.Field:
    """A shallow copy of a field: a new instance with the same attributes (what `copy.copy`
    makes, without its generic protocol's cost)."""
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone
