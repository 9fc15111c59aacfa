"""Request bodies' serializers copy their plain fields for each request instead of rebuilding
them: one request's input, errors or binding never reach another's."""

from ledger.api.native.adjustments import AdjustmentCreateApi
from ledger.api.square.events import AdjustPointsApi

Native = AdjustmentCreateApi.InputSerializer
Square = AdjustPointsApi.InputSerializer


def test_two_requests_validated_in_turn_keep_their_own_data_and_errors():
    bad = Native(data={"reason": "REWARD", "points": "12"})
    good = Native(data={"reason": "goodwill", "points": -5, "note": "sorry"})
    bad_valid, good_valid = bad.is_valid(), good.is_valid()

    assert (bad_valid, good_valid) == (False, True)
    assert bad.errors == {"points": ["Expected an integer."]}
    assert good.errors == {}
    assert good.validated_data == {
        "reason": "goodwill",
        "points": -5,
        "allow_negative": False,
        "note": "sorry",
        "history_title": "",
        "visible_to_customer": True,
    }


def test_each_serializer_binds_copies_and_leaves_the_declared_fields_unbound():
    first, second = Native(data={}), Native(data={})

    for name, declared in Native._declared_fields.items():
        assert first.fields[name] is not declared
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first
        assert second.fields[name].parent is second
        assert declared.parent is None and declared.field_name is None


def test_a_nested_body_is_its_own_per_request():
    first = Square(data={"idempotency_key": "k1", "adjust_points": {"points": 5}})
    second = Square(data={"idempotency_key": "k2", "adjust_points": {"points": "x"}})

    assert first.is_valid() and not second.is_valid()
    assert first.validated_data["adjust_points"] == {"points": 5}
    assert second.errors == {"adjust_points": {"points": ["Expected an integer."]}}
    assert first.fields["adjust_points"] is not second.fields["adjust_points"]
