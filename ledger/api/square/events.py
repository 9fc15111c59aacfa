"""Square Loyalty dialect, ledger side: accumulate, adjust, search events (/v2/loyalty/...).

Events made here have source SQUARE_API (stored as Square's own word, LOYALTY_API). A positive
adjustment counts towards points earned (lifetime_points), a negative one only changes the
balance, as in Square.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import SquareApiView
from ledger.api.fields import BodySerializer, PointsField, StrictBooleanField, StrictIntegerField
from ledger.api.schema import square_errors
from ledger.selectors import EventQuery, Shown, event_page
from ledger.selectors.square import SQUARE_TYPE_CHOICES, SQUARE_TYPE_OF, SQUARE_TYPES, square_event

from .accounts import invalid, square_page

ACCOUNT_ID = OpenApiParameter("account_id", str, OpenApiParameter.PATH)


class EventPointsSerializer(serializers.Serializer):
    loyalty_program_id = serializers.CharField()
    points = serializers.IntegerField(required=False)
    reward_id = serializers.CharField(required=False)
    reason = serializers.CharField(required=False)
    order_id = serializers.CharField(required=False)


class SquareEventSerializer(serializers.Serializer):
    """Documents `square_event`'s output."""

    id = serializers.CharField()
    type = serializers.ChoiceField(choices=SQUARE_TYPE_CHOICES)
    created_at = serializers.CharField()
    loyalty_account_id = serializers.CharField()
    source = serializers.ChoiceField(choices=["SQUARE", "LOYALTY_API"])
    location_id = serializers.CharField(required=False)
    accumulate_points = EventPointsSerializer(required=False)
    adjust_points = EventPointsSerializer(required=False)
    expire_points = EventPointsSerializer(required=False)
    other_event = EventPointsSerializer(required=False)
    create_reward = EventPointsSerializer(required=False)
    redeem_reward = EventPointsSerializer(required=False)
    delete_reward = EventPointsSerializer(required=False)


class AccumulatePointsInputSerializer(serializers.Serializer):
    points = PointsField(required=False, allow_null=True)
    order_id = serializers.CharField(max_length=191, required=False, allow_null=True)


class AdjustPointsInputSerializer(BodySerializer):
    points = PointsField()
    # Up to 3,500 characters, as Square documents; the ledger enforces the limit.
    reason = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False
    )


class AccumulatePointsApi(SquareApiView):
    ledger_fields = {
        "points": "accumulate_points.points",
        "order_id": "accumulate_points.order_id",
        "location_id": "location_id",
    }

    class InputSerializer(serializers.Serializer):
        accumulate_points = AccumulatePointsInputSerializer()
        location_id = serializers.CharField(max_length=191)
        idempotency_key = serializers.CharField(min_length=1, max_length=128)

    class OutputSerializer(serializers.Serializer):
        events = SquareEventSerializer(many=True)

    @extend_schema(
        operation_id="square_accumulate_loyalty_points",
        tags=["Square Loyalty"],
        parameters=[ACCOUNT_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400, 404, 409)},
    )
    def post(self, request: Request, account_id: str) -> Response:
        account = lookups.account(account_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        points = data.validated_data["accumulate_points"].get("points")
        order_id = data.validated_data["accumulate_points"].get("order_id")
        location_id = data.validated_data["location_id"]
        if points is None:
            if order_id:
                # We keep no orders, so we cannot compute the points of one; say so plainly.
                raise invalid(
                    ["accumulate_points", "order_id"],
                    "This server keeps no orders, so it cannot compute points from order_id; "
                    "send accumulate_points.points (see CalculateLoyaltyPoints) with it.",
                )
            raise invalid(["accumulate_points", "points"], "Send the points to add.", "required")
        event = services.accumulate_points(
            account=account,
            points=points,
            order_id=order_id,
            location_id=location_id,
            actor=self.actor(request),
            idempotency_key=data.validated_data["idempotency_key"],
        )
        return Response({"events": [square_event(event)]})


class AdjustPointsApi(SquareApiView):
    ledger_fields = {
        "points": "adjust_points.points",
        "reason_text": "adjust_points.reason",
        "allow_negative": "allow_negative_balance",
    }

    class InputSerializer(BodySerializer):
        idempotency_key = serializers.CharField(min_length=1, max_length=128)
        adjust_points = AdjustPointsInputSerializer()
        allow_negative_balance = StrictBooleanField(required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        event = SquareEventSerializer()

    @extend_schema(
        operation_id="square_adjust_loyalty_points",
        tags=["Square Loyalty"],
        parameters=[ACCOUNT_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400, 404)},
    )
    def post(self, request: Request, account_id: str) -> Response:
        # The service reads the account once, under its lock.
        account = lookups.account_to_lock(account_id)
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            lookups.account(account_id)  # an unknown account is a 404 before any 400
            raise ValidationError(data.errors)
        adjustment = services.adjust_points(
            account=account,
            points=data.validated_data["adjust_points"]["points"],
            reason_text=data.validated_data["adjust_points"].get("reason") or "",
            allow_negative=bool(data.validated_data.get("allow_negative_balance")),
            actor=self.actor(request),
            idempotency_key=data.validated_data["idempotency_key"],
        )
        # An API key is never held for approval (see ledger.services.actors).
        return Response({"event": square_event(adjustment.event)})


class AccountFilterSerializer(serializers.Serializer):
    loyalty_account_id = serializers.UUIDField()


class TypeFilterSerializer(serializers.Serializer):
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=SQUARE_TYPE_CHOICES), max_length=len(SQUARE_TYPES)
    )


class TimeRangeSerializer(serializers.Serializer):
    start_at = serializers.DateTimeField(required=False, allow_null=True)
    end_at = serializers.DateTimeField(required=False, allow_null=True)


class DateTimeFilterSerializer(serializers.Serializer):
    created_at = TimeRangeSerializer()


class LocationFilterSerializer(serializers.Serializer):
    location_ids = serializers.ListField(child=serializers.CharField(max_length=191), max_length=30)


class OrderFilterSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=191)


class EventFilterSerializer(serializers.Serializer):
    loyalty_account_filter = AccountFilterSerializer(required=False, allow_null=True)
    type_filter = TypeFilterSerializer(required=False, allow_null=True)
    date_time_filter = DateTimeFilterSerializer(required=False, allow_null=True)
    location_filter = LocationFilterSerializer(required=False, allow_null=True)
    order_filter = OrderFilterSerializer(required=False, allow_null=True)


class EventQuerySerializer(serializers.Serializer):
    filter = EventFilterSerializer(required=False, allow_null=True)


class EventSearchApi(SquareApiView):
    required_scope = "read"

    class InputSerializer(serializers.Serializer):
        query = EventQuerySerializer(required=False, allow_null=True)
        limit = StrictIntegerField(min_value=1, max_value=30, required=False, allow_null=True)
        cursor = serializers.CharField(max_length=500, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        events = SquareEventSerializer(many=True)
        cursor = serializers.CharField(required=False)

    @extend_schema(
        operation_id="square_search_loyalty_events",
        tags=["Square Loyalty"],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        filters = (data.validated_data.get("query") or {}).get("filter") or {}
        created = (filters.get("date_time_filter") or {}).get("created_at") or {}
        types = None
        if filters.get("type_filter"):
            types = tuple(
                ours
                for ours, theirs in SQUARE_TYPE_OF.items()
                if theirs in filters["type_filter"]["types"]
            )
        location_ids = (filters.get("location_filter") or {}).get("location_ids")
        query = EventQuery(
            account_id=(filters.get("loyalty_account_filter") or {}).get("loyalty_account_id"),
            types=types,
            created_from=created.get("start_at"),
            created_before=created.get("end_at"),  # Square: start inclusive, end exclusive
            location_ids=tuple(location_ids) if location_ids is not None else None,
            order_id=(filters.get("order_filter") or {}).get("order_id"),
        )
        page = event_page(
            query=query,
            cursor=data.validated_data.get("cursor"),
            limit=data.validated_data.get("limit") or 30,
            shown=Shown(),  # `square_event` reads only the event's own columns
        )
        return square_page("events", page, square_event)
