"""Native API, events: an account's history, all events filtered, reversing one (/api/v1/...).

The same services as the console, so the same refusals with the same messages. An API key acts
as its client; an operator's session acts as the operator (an agent may not reverse; a manager
may).
"""

import uuid
from datetime import tzinfo

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import NativeApiView
from ledger.api.fields import StrictBooleanField
from ledger.api.schema import native_errors
from ledger.models import LoyaltyEvent
from ledger.selectors import EventQuery, Shown, account_history, event_page
from loyalty_admin.pagination import KeysetPage
from loyalty_admin.timestamps import iso_datetime

Source = LoyaltyEvent.Source

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per request; a retry with the same key and body is applied once.",
)
ACCOUNT_ID = OpenApiParameter("account_id", str, OpenApiParameter.PATH)
EVENT_ID = OpenApiParameter("event_id", str, OpenApiParameter.PATH)


def idempotency_key_of(request: Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise exceptions.ValidationError(
            {"Idempotency-Key": [exceptions.ErrorDetail("This header is required.", "required")]}
        )
    return key


class PageInputSerializer(serializers.Serializer):
    cursor = serializers.CharField(max_length=500, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=25)


class ReasonOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    sign = serializers.ChoiceField(choices=["+", "-"])
    affects_lifetime = serializers.BooleanField()
    requires_note = serializers.BooleanField()


class EventOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    program_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=LoyaltyEvent.Type.choices)
    points = serializers.IntegerField()
    affects_lifetime = serializers.BooleanField()
    balance_after = serializers.IntegerField()
    lifetime_after = serializers.IntegerField()
    reason = serializers.CharField(source="reason.code", allow_null=True, default=None)
    reason_text = serializers.CharField()
    history_title = serializers.CharField()
    note = serializers.CharField()
    visible_to_customer = serializers.BooleanField()
    source = serializers.ChoiceField(choices=Source.choices)
    actor = serializers.CharField(source="actor.get_username", allow_null=True, default=None)
    api_client = serializers.CharField(source="api_client.name", allow_null=True, default=None)
    order_id = serializers.CharField(allow_null=True)
    location_id = serializers.CharField()
    reverses = serializers.UUIDField(source="reverses_id", allow_null=True)
    counterpart = serializers.UUIDField(
        source="counterpart_id",
        allow_null=True,
        help_text="The other half of a transfer or merge (on the other account).",
    )
    earned_moved = serializers.IntegerField(
        help_text="Points earned that a merge moved (besides `points`)."
    )
    reversed_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_reversed_by(self, event: LoyaltyEvent) -> uuid.UUID | None:
        try:
            return event.reversed_by.pk
        except LoyaltyEvent.DoesNotExist:
            return None


# What `event_output` reads besides the event's own columns.
EVENT_ROW = Shown(joins=("reason",), prefetches=("actor", "api_client", "reversed_by"))


def event_output(event: LoyaltyEvent, zone: tzinfo | None = None) -> dict:
    """`EventOutputSerializer(event).data`, built directly for the adjust response and the
    event pages: a DRF serializer deep-copies its declared fields on every instantiation and
    reads each field through several layers, which costs more than the rest of the response.
    `zone`: the current time zone, if the caller has looked it up already.
    tests/api/test_native.py proves the two agree."""
    try:
        reversed_by = event.reversed_by
    except LoyaltyEvent.DoesNotExist:
        reversed_by = None
    return {
        "id": str(event.pk),
        "account_id": str(event.account_id),
        "program_id": str(event.program_id),
        "type": event.type,
        "points": event.points,
        "affects_lifetime": event.affects_lifetime,
        "balance_after": event.balance_after,
        "lifetime_after": event.lifetime_after,
        "reason": event.reason.code if event.reason_id else None,
        "reason_text": event.reason_text,
        "history_title": event.history_title,
        "note": event.note,
        "visible_to_customer": event.visible_to_customer,
        "source": event.source,
        "actor": event.actor.get_username() if event.actor_id else None,
        "api_client": event.api_client.name if event.api_client_id else None,
        "order_id": event.order_id,
        "location_id": event.location_id,
        "reverses": str(event.reverses_id) if event.reverses_id else None,
        "counterpart": str(event.counterpart_id) if event.counterpart_id else None,
        "earned_moved": event.earned_moved,
        "reversed_by": str(reversed_by.pk) if reversed_by else None,
        "created_at": iso_datetime(event.created_at, zone),
    }


class EventPageOutputSerializer(serializers.Serializer):
    events = EventOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def event_page_output(page: KeysetPage[LoyaltyEvent]) -> dict:
    """`EventPageOutputSerializer` of a page, each event built by `event_output`."""
    zone = timezone.get_current_timezone()
    return {
        "events": [event_output(event, zone) for event in page.items],
        "next_cursor": page.next_cursor,
    }


class AccountEventListApi(NativeApiView):
    @extend_schema(
        operation_id="native_account_history",
        summary="One customer's events, newest first (keyset cursor)",
        parameters=[ACCOUNT_ID, PageInputSerializer],
        responses={200: EventPageOutputSerializer, **native_errors(400, 404)},
    )
    def get(self, request: Request, account_id: str) -> Response:
        account = lookups.account(account_id)
        params = PageInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = account_history(
            account=account,
            cursor=params.validated_data.get("cursor"),
            limit=params.validated_data["limit"],
            shown=EVENT_ROW,
        )
        return Response(event_page_output(page))


class EventListApi(NativeApiView):
    class InputSerializer(serializers.Serializer):
        """The filters; a blank one is ignored, as an absent one."""

        account = serializers.UUIDField(required=False)
        type = serializers.ChoiceField(choices=LoyaltyEvent.Type.choices, required=False)
        source = serializers.ChoiceField(choices=Source.choices, required=False)
        reason = serializers.CharField(max_length=40, required=False, allow_blank=True)
        created_after = serializers.DateTimeField(required=False, help_text="Inclusive.")
        created_before = serializers.DateTimeField(required=False, help_text="Exclusive.")

    @extend_schema(
        operation_id="native_list_events",
        summary="All events, newest first, filtered (keyset cursor)",
        parameters=[PageInputSerializer, InputSerializer],
        responses={200: EventPageOutputSerializer, **native_errors(400)},
    )
    def get(self, request: Request) -> Response:
        params = PageInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        given = filters.validated_data
        query = EventQuery(
            account_id=given.get("account"),
            types=(given["type"],) if given.get("type") else None,
            source=given.get("source"),
            reason_code=given.get("reason") or None,
            created_from=given.get("created_after"),
            created_before=given.get("created_before"),
        )
        page = event_page(
            query=query,
            cursor=params.validated_data.get("cursor"),
            limit=params.validated_data["limit"],
            shown=EVENT_ROW,
        )
        return Response(event_page_output(page))


class EventReverseApi(NativeApiView):
    class InputSerializer(serializers.Serializer):
        # Blank and long pass here so that the ledger's own messages answer them.
        note = serializers.CharField(allow_blank=True)
        allow_negative = StrictBooleanField(default=False)

    @extend_schema(
        operation_id="native_reverse_event",
        summary="Reverse an event (Idempotency-Key required)",
        parameters=[EVENT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: EventOutputSerializer, **native_errors(400, 404, 409, 422)},
    )
    def post(self, request: Request, event_id: str) -> Response:
        event = lookups.event(event_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reversal = services.reverse_event(
            event=event,
            note=data.validated_data["note"],
            allow_negative=data.validated_data["allow_negative"],
            actor=self.actor(request),
            idempotency_key=idempotency_key_of(request),
        )
        return Response(EventOutputSerializer(reversal).data, status=status.HTTP_201_CREATED)
