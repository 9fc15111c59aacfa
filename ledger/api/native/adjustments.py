"""Native API, adjustments: the reasons, preview, adjust, and held requests (/api/v1/...).

The same service command as the console, so the same verdicts and refusals with the same
messages. An API key acts as its client; an operator's session acts as the operator, so an
agent's adjustment above the approval threshold is held for a manager here too.
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import NativeApiView
from ledger.api.fields import BodySerializer, PointsField, StrictBooleanField
from ledger.api.schema import native_errors
from ledger.models import ApprovalRequest, Reason

from .events import (
    ACCOUNT_ID,
    IDEMPOTENCY_KEY,
    EventOutputSerializer,
    event_output,
    idempotency_key_of,
)

REQUEST_ID = OpenApiParameter("request_id", str, OpenApiParameter.PATH)


class ReasonOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    sign = serializers.ChoiceField(choices=["+", "-"])
    affects_lifetime = serializers.BooleanField()
    requires_note = serializers.BooleanField()


class AdjustmentInputSerializer(BodySerializer):
    # No length limits here: the ledger refuses what is too long, with the same code in
    # every face.
    reason = serializers.CharField(help_text="A reason code, e.g. REWARD (any case).")
    points = PointsField(help_text="Signed: positive adds, negative removes.")
    allow_negative = StrictBooleanField(default=False)
    note = serializers.CharField(allow_blank=True, default="")


class ApprovalRequestOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ApprovalRequest.Status.choices)
    account_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=ApprovalRequest.Kind.choices)
    target_account_id = serializers.UUIDField(source="target_id", allow_null=True)
    points = serializers.IntegerField()
    reason = serializers.CharField(source="reason.code", allow_null=True, default=None)
    reason_text = serializers.CharField()
    history_title = serializers.CharField()
    note = serializers.CharField()
    visible_to_customer = serializers.BooleanField()
    requested_by = serializers.CharField(source="requested_by.get_username")
    created_at = serializers.DateTimeField()
    decided_by = serializers.CharField(
        source="decided_by.get_username", allow_null=True, default=None
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_note = serializers.CharField()
    event_id = serializers.UUIDField(allow_null=True)
    link = serializers.SerializerMethodField()

    def get_link(self, approval: ApprovalRequest) -> str:
        return reverse("api-approval-request", args=[approval.pk])


class HeldOutputSerializer(serializers.Serializer):
    approval_request = ApprovalRequestOutputSerializer()


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
        program = lookups.program(params.validated_data["program"])
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

    class InputSerializer(AdjustmentInputSerializer):
        history_title = serializers.CharField(allow_blank=True, default="")

    class OutputSerializer(serializers.Serializer):
        balance_before = serializers.IntegerField()
        balance_after = serializers.IntegerField()
        lifetime_before = serializers.IntegerField()
        lifetime_after = serializers.IntegerField()
        allowed = serializers.BooleanField()
        needs_approval = serializers.BooleanField()
        verdict = serializers.ChoiceField(choices=["apply", "hold", "refuse"])
        problems = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))

    @extend_schema(
        operation_id="native_preview_adjustment",
        summary="What an adjustment would do (apply, hold for approval, refuse), without doing it",
        parameters=[ACCOUNT_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **native_errors(400, 404)},
    )
    def post(self, request: Request, account_id: str) -> Response:
        account = lookups.account(account_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        preview = services.preview_adjustment(
            account=account,
            points=values["points"],
            reason=lookups.reason(account.program, values["reason"]),
            note=values["note"],
            history_title=values["history_title"],
            allow_negative=values["allow_negative"],
            actor=self.actor(request),
        )
        output = {
            "balance_before": preview.balance_before,
            "balance_after": preview.balance_after,
            "lifetime_before": preview.lifetime_before,
            "lifetime_after": preview.lifetime_after,
            "allowed": preview.allowed,
            "needs_approval": preview.needs_approval,
            "verdict": preview.verdict,
            "problems": [{"code": p.code, "message": p.message} for p in preview.problems],
        }
        return Response(self.OutputSerializer(output).data)


class AdjustmentCreateApi(NativeApiView):
    class InputSerializer(AdjustmentInputSerializer):
        history_title = serializers.CharField(allow_blank=True, default="")
        visible_to_customer = StrictBooleanField(default=True)

    @extend_schema(
        operation_id="native_adjust_points",
        summary="Adjust a customer's points (Idempotency-Key required)",
        description=(
            "201 with the event when applied. When an agent (a session) asks for more than "
            "the program's approval threshold, the adjustment is held for a manager: 202 with "
            "the approval request, whose `link` tells its status."
        ),
        parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={
            201: EventOutputSerializer,
            202: HeldOutputSerializer,
            **native_errors(400, 404, 409, 422),
        },
    )
    def post(self, request: Request, account_id: str) -> Response:
        # The service reads the account once, under its lock, and the reason by its code.
        account = lookups.account_to_lock(account_id)
        data = self.InputSerializer(data=request.data)
        if not data.is_valid():
            lookups.account(account_id)  # an unknown account is a 404 before any 400
            raise ValidationError(data.errors)
        key = idempotency_key_of(request)
        values = data.validated_data
        adjustment = services.adjust_points(
            account=account,
            points=values["points"],
            reason=Reason.normalize_code(values["reason"]),
            note=values["note"],
            history_title=values["history_title"],
            visible_to_customer=values["visible_to_customer"],
            allow_negative=values["allow_negative"],
            actor=self.actor(request),
            idempotency_key=key,
        )
        if adjustment.held:
            body = HeldOutputSerializer({"approval_request": adjustment.approval}).data
            location = body["approval_request"]["link"]
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
        return Response(event_output(adjustment.event), status=status.HTTP_201_CREATED)


class ApprovalRequestApi(NativeApiView):
    @extend_schema(
        operation_id="native_get_approval_request",
        summary="A held adjustment: pending, approved (with its event) or rejected",
        parameters=[REQUEST_ID],
        responses={200: ApprovalRequestOutputSerializer, **native_errors(404)},
    )
    def get(self, request: Request, request_id: str) -> Response:
        approval = lookups.approval_request(request_id)
        return Response(ApprovalRequestOutputSerializer(approval).data)
