from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework import serializers

from loyalty_admin.timestamps import iso_datetime

TIMES = [
    datetime(2026, 11, 30, 2, 16, 53, tzinfo=UTC),
    datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
    datetime(2026, 7, 4, 23, 59, 59, 1, tzinfo=dt_timezone(timedelta(hours=-7))),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("value", TIMES)
def test_it_writes_what_drf_writes(value, zone):
    with timezone.override(zone):
        assert iso_datetime(value) == serializers.DateTimeField().to_representation(value)


def test_none_stays_none():
    assert iso_datetime(None) is None


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("value", TIMES)
def test_a_zone_looked_up_once_writes_the_same(value, zone):
    with timezone.override(zone):
        looked_up = timezone.get_current_timezone()
        assert iso_datetime(value, looked_up) == serializers.DateTimeField().to_representation(
            value
        )
