"""Yotpo dialect: POST /api/v2/points/adjust and GET /api/v2/customers.

Authenticated by `x-api-key` (or `?api_key=`); `x-guid`, when sent, names the program (see
YotpoApiView). `apply_adjustment_to_points_earned` decides whether points earned (lifetime)
change. Not enough points: 422, nothing written. Events made here have source YOTPO_API.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import LoyaltyAccount, Program
from accounts.phones import InvalidPhoneNumber, normalize_phone
from ledger import services
from ledger.api.auth import YotpoApiView, api_client_of
from ledger.api.fields import QueryBooleanField, StrictBooleanField, StrictIntegerField
from ledger.api.schema import native_errors
from ledger.models import LoyaltyEvent, Reason
from ledger.selectors import EventQuery, event_page, upcoming_expirations

X_GUID = OpenApiParameter(
    "x-guid", str, OpenApiParameter.HEADER, description="The program's id or alias (optional)."
)
HISTORY_LIMIT = 100


def customer_or_404(program: Program, **lookup: str) -> LoyaltyAccount:
    account = LoyaltyAccount.objects.filter(program=program, **lookup).first()
    if account is None:
        raise Http404("No customer matches.")
    return account


_ACTIONS = {
    LoyaltyEvent.Type.ACCUMULATE_POINTS: "Points earned",
    LoyaltyEvent.Type.ADJUST_POINTS: "Points adjustment",
    LoyaltyEvent.Type.EXPIRE_POINTS: "Points expired",
    LoyaltyEvent.Type.REVERSAL: "Reversal",
}


class HistoryItemSerializer(serializers.Serializer):
    action = serializers.SerializerMethodField()
    points = serializers.IntegerField()
    date = serializers.DateTimeField(source="created_at")
    visible = serializers.BooleanField(source="visible_to_customer")

    def get_action(self, event: LoyaltyEvent) -> str:
        return event.history_title or _ACTIONS.get(event.type, event.type)


class CustomerSerializer(serializers.Serializer):
    email = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField(allow_null=True)
    phone_number = serializers.CharField(source="phone", allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    points_balance = serializers.IntegerField(source="balance")
    points_earned = serializers.IntegerField(source="lifetime_points")
    points_expire_at = serializers.SerializerMethodField()

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_points_expire_at(self, account) -> str | None:
        """When the customer's soonest-expiring points expire (None: nothing expires)."""
        deadlines = upcoming_expirations(account=account, limit=1)
        if not deadlines:
            return None
        return serializers.DateTimeField().to_representation(deadlines[0].expires_at)


class CustomerWithHistorySerializer(CustomerSerializer):
    history = HistoryItemSerializer(many=True, required=False)


class PointsAdjustApi(YotpoApiView):
    ledger_fields = {"points": "point_adjustment_amount", "reason": "reason"}

    class InputSerializer(serializers.Serializer):
        customer_email = serializers.EmailField(max_length=254, required=False)
        customer_id = serializers.CharField(max_length=191, required=False)
        point_adjustment_amount = StrictIntegerField()
        apply_adjustment_to_points_earned = StrictBooleanField(default=False)
        history_title = serializers.CharField(max_length=200, allow_blank=True, default="")
        visible_to_customer = StrictBooleanField(default=True)
        reason = serializers.CharField(max_length=40, required=False, help_text="A reason code.")

        def validate(self, data):
            if not data.get("customer_email") and not data.get("customer_id"):
                raise serializers.ValidationError(
                    {"customer_email": ["Send customer_email or customer_id."]}, code="required"
                )
            return data

    @extend_schema(
        operation_id="yotpo_adjust_points",
        tags=["Yotpo"],
        parameters=[X_GUID],
        request=InputSerializer,
        responses={200: CustomerSerializer, **native_errors(400, 404, 422)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data.get("customer_id"):
            account = customer_or_404(self.program, customer_id=data.validated_data["customer_id"])
        else:
            email = data.validated_data["customer_email"].strip().lower()
            account = customer_or_404(self.program, email=email)
        reason = None
        if data.validated_data.get("reason"):
            reason = Reason.objects.filter(
                program=self.program, code=data.validated_data["reason"]
            ).first()
            if reason is None:
                raise exceptions.ValidationError({"reason": ["No reason has this code."]})
        services.adjust_points(
            account=account,
            points=data.validated_data["point_adjustment_amount"],
            reason=reason,
            affects_lifetime=data.validated_data["apply_adjustment_to_points_earned"],
            history_title=data.validated_data["history_title"],
            visible_to_customer=data.validated_data["visible_to_customer"],
            source=LoyaltyEvent.Source.YOTPO_API,
            api_client=api_client_of(request),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        account.refresh_from_db()
        return Response(CustomerSerializer(account).data)


class CustomerDetailApi(YotpoApiView):
    class InputSerializer(serializers.Serializer):
        customer_email = serializers.CharField(max_length=254, required=False)
        customer_id = serializers.CharField(max_length=191, required=False)
        phone_number = serializers.CharField(max_length=100, required=False)
        with_history = QueryBooleanField(default=False)

        def validate(self, data):
            if not any(data.get(f) for f in ("customer_email", "customer_id", "phone_number")):
                raise serializers.ValidationError(
                    {"customer_email": ["Send customer_email, customer_id or phone_number."]},
                    code="required",
                )
            return data

    @extend_schema(
        operation_id="yotpo_get_customer",
        tags=["Yotpo"],
        parameters=[X_GUID, InputSerializer],
        responses={200: CustomerWithHistorySerializer, **native_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        if params.validated_data.get("customer_id"):
            lookup = {"customer_id": params.validated_data["customer_id"].strip()}
        elif params.validated_data.get("customer_email"):
            lookup = {"email": params.validated_data["customer_email"].strip().lower()}
        else:
            try:
                lookup = {"phone": normalize_phone(params.validated_data["phone_number"])}
            except InvalidPhoneNumber as exc:
                raise exceptions.ValidationError({"phone_number": [str(exc)]}) from None
        account = customer_or_404(self.program, **lookup)
        output = CustomerSerializer(account).data
        if params.validated_data["with_history"]:
            events = event_page(query=EventQuery(account_id=account.pk), limit=HISTORY_LIMIT)
            output["history"] = HistoryItemSerializer(events.items, many=True).data
        return Response(output)
