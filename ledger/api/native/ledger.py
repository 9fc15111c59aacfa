"""Native API for the ledger: reasons, preview, adjust, history, reverse (/api/v1/...).

The same services as the console, so the same refusals with the same messages. An API key acts
as its client; an operator's session acts as the operator (an agent may not override the
balance check or reverse; a manager may).
"""

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import services
from ledger.api.auth import NativeApiView, api_client_of, operator_of
from ledger.api.fields import StrictBooleanField, StrictIntegerField
from ledger.api.schema import native_errors
from ledger.models import IdempotencyRecord, LoyaltyEvent, Reason
from ledger.selectors import EventQuery, account_history, event_page
from loyalty_admin.roles import is_manager

from .accounts import account_or_404, program_or_404

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
    max_length = IdempotencyRecord._meta.get_field("key").max_length
    if not key:
        raise exceptions.ValidationError(
            {"Idempotency-Key": [exceptions.ErrorDetail("This header is required.", "required")]}
        )
    if len(key) > max_length:
        raise exceptions.ValidationError(
            {
                "Idempotency-Key": [
                    exceptions.ErrorDetail(
                        f"Use at most {max_length} characters.", code="max_length"
                    )
                ]
            }
        )
    return key


def refuse_override_for_agents(request: Request, allow_negative: bool) -> None:
    operator = operator_of(request)
    if allow_negative and operator is not None and not is_manager(operator):
        raise exceptions.PermissionDenied("Only a manager may allow a negative balance.")


def reason_of(account, code: str) -> Reason:
    reason = Reason.objects.filter(program_id=account.program_id, code=code).first()
    if reason is None:
        raise exceptions.ValidationError({"reason": ["No reason has this code."]})
    return reason


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
    reversed_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_reversed_by(self, event: LoyaltyEvent) -> uuid.UUID | None:
        try:
            return event.reversed_by.pk
        except LoyaltyEvent.DoesNotExist:
            return None


class EventPageOutputSerializer(serializers.Serializer):
    events = EventOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AdjustmentInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=40, help_text="A reason code, e.g. REWARD.")
    points = StrictIntegerField(help_text="Signed: positive adds, negative removes.")
    allow_negative = StrictBooleanField(default=False)
    note = serializers.CharField(max_length=2000, allow_blank=True, default="")


class ReasonListApi(NativeApiView):
    class InputSerializer(serializers.Serializer):
        program = serializers.CharField(max_length=64, default="main")

    class OutputSerializer(serializers.Serializer):
        reasons = ReasonOutputSerializer(many=True)

    @extend_schema(
        operation_id="native_list_reasons",
        summary="The program's adjustment reasons in use",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **native_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        program = program_or_404(params.validated_data["program"])
        reasons = [
            {
                "code": r.code,
                "label": r.label,
                "sign": "+" if r.sign > 0 else "-",
                "affects_lifetime": r.affects_lifetime,
                "requires_note": r.requires_note,
            }
            for r in Reason.objects.filter(program=program, active=True)
        ]
        return Response({"reasons": reasons})


class AdjustmentPreviewApi(NativeApiView):
    required_scope = "read"  # writes nothing

    class OutputSerializer(serializers.Serializer):
        balance_before = serializers.IntegerField()
        balance_after = serializers.IntegerField()
        lifetime_before = serializers.IntegerField()
        lifetime_after = serializers.IntegerField()
        allowed = serializers.BooleanField()
        needs_approval = serializers.BooleanField()
        problems = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))

    @extend_schema(
        operation_id="native_preview_adjustment",
        summary="What an adjustment would do, without doing it",
        parameters=[ACCOUNT_ID],
        request=AdjustmentInputSerializer,
        responses={200: OutputSerializer, **native_errors(400, 404)},
    )
    def post(self, request: Request, account_id: str) -> Response:
        account = account_or_404(account_id)
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refuse_override_for_agents(request, data.validated_data["allow_negative"])
        preview = services.preview_adjustment(
            account=account,
            points=data.validated_data["points"],
            reason=reason_of(account, data.validated_data["reason"]),
            note=data.validated_data["note"],
            allow_negative=data.validated_data["allow_negative"],
            actor=operator_of(request),
        )
        output = {
            "balance_before": preview.balance_before,
            "balance_after": preview.balance_after,
            "lifetime_before": preview.lifetime_before,
            "lifetime_after": preview.lifetime_after,
            "allowed": preview.allowed,
            "needs_approval": preview.needs_approval,
            "problems": [{"code": p.code, "message": p.message} for p in preview.problems],
        }
        return Response(self.OutputSerializer(output).data)


class AdjustmentCreateApi(NativeApiView):
    class InputSerializer(AdjustmentInputSerializer):
        history_title = serializers.CharField(max_length=200, allow_blank=True, default="")
        visible_to_customer = StrictBooleanField(default=True)

    @extend_schema(
        operation_id="native_adjust_points",
        summary="Adjust a customer's points (Idempotency-Key required)",
        parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: EventOutputSerializer, **native_errors(400, 404, 422)},
    )
    def post(self, request: Request, account_id: str) -> Response:
        account = account_or_404(account_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = idempotency_key_of(request)
        refuse_override_for_agents(request, data.validated_data["allow_negative"])
        event = services.adjust_points(
            account=account,
            points=data.validated_data["points"],
            reason=reason_of(account, data.validated_data["reason"]),
            note=data.validated_data["note"],
            history_title=data.validated_data["history_title"],
            visible_to_customer=data.validated_data["visible_to_customer"],
            allow_negative=data.validated_data["allow_negative"],
            source=Source.NATIVE_API,
            actor=operator_of(request),
            api_client=api_client_of(request),
            idempotency_key=key,
        )
        return Response(EventOutputSerializer(event).data, status=status.HTTP_201_CREATED)


class AccountEventListApi(NativeApiView):
    @extend_schema(
        operation_id="native_account_history",
        summary="One customer's events, newest first (keyset cursor)",
        parameters=[ACCOUNT_ID, PageInputSerializer],
        responses={200: EventPageOutputSerializer, **native_errors(400, 404)},
    )
    def get(self, request: Request, account_id: str) -> Response:
        account = account_or_404(account_id)
        params = PageInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        page = account_history(
            account=account,
            cursor=params.validated_data.get("cursor"),
            limit=params.validated_data["limit"],
        )
        output = {"events": page.items, "next_cursor": page.next_cursor}
        return Response(EventPageOutputSerializer(output).data)


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
        )
        output = {"events": page.items, "next_cursor": page.next_cursor}
        return Response(EventPageOutputSerializer(output).data)


class EventReverseApi(NativeApiView):
    class InputSerializer(serializers.Serializer):
        # Blank passes here so that the ledger's own message ("Say why…") answers it.
        note = serializers.CharField(max_length=2000, allow_blank=True)
        allow_negative = StrictBooleanField(default=False)

    @extend_schema(
        operation_id="native_reverse_event",
        summary="Reverse an event (Idempotency-Key required)",
        parameters=[EVENT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: EventOutputSerializer, **native_errors(400, 404, 409, 422)},
    )
    def post(self, request: Request, event_id: str) -> Response:
        operator = operator_of(request)
        if operator is not None and not is_manager(operator):
            raise exceptions.PermissionDenied("Only a manager may reverse an event.")
        try:
            event = LoyaltyEvent.objects.select_related("account").get(pk=uuid.UUID(event_id))
        except (ValueError, LoyaltyEvent.DoesNotExist):
            raise Http404("No event has this id.") from None
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reversal = services.reverse_event(
            event=event,
            note=data.validated_data["note"],
            allow_negative=data.validated_data["allow_negative"],
            source=Source.NATIVE_API,
            actor=operator,
            api_client=api_client_of(request),
            idempotency_key=idempotency_key_of(request),
        )
        return Response(EventOutputSerializer(reversal).data, status=status.HTTP_201_CREATED)
