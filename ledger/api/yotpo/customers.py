"""Yotpo dialect: POST /api/v2/points/adjust and GET /api/v2/customers.

Authenticated by `x-api-key` (or `?api_key=`); `x-guid`, when sent, names the program (see
YotpoApiView). `apply_adjustment_to_points_earned` decides whether points earned (lifetime)
change. Not enough points: 422, nothing written. Events made here have source YOTPO_API.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import YotpoApiView
from ledger.api.fields import PointsField, QueryBooleanField, StrictBooleanField
from ledger.api.schema import native_errors
from ledger.models import LoyaltyEvent
from ledger.selectors import EventQuery, event_page, upcoming_expirations

X_GUID = OpenApiParameter(
    "x-guid", str, OpenApiParameter.HEADER, description="The program's id or alias (optional)."
)
HISTORY_LIMIT = 100


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
    ledger_fields = {
        "points": "point_adjustment_amount",
        "affects_lifetime": "apply_adjustment_to_points_earned",
    }

    class InputSerializer(serializers.Serializer):
        customer_email = serializers.EmailField(max_length=254, required=False)
        customer_id = serializers.CharField(max_length=191, required=False)
        point_adjustment_amount = PointsField()
        apply_adjustment_to_points_earned = StrictBooleanField(default=False)
        history_title = serializers.CharField(allow_blank=True, default="")
        visible_to_customer = StrictBooleanField(default=True)
        reason = serializers.CharField(required=False, help_text="A reason code (any case).")

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
        values = data.validated_data
        account = lookups.account_by_identity(
            program=self.program,
            customer_id=values.get("customer_id"),
            email=values.get("customer_email"),
        )
        reason = lookups.reason(self.program, values["reason"]) if values.get("reason") else None
        services.adjust_points(
            account=account,
            points=values["point_adjustment_amount"],
            reason=reason,
            affects_lifetime=values["apply_adjustment_to_points_earned"],
            history_title=values["history_title"],
            visible_to_customer=values["visible_to_customer"],
            actor=self.actor(request),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        account.refresh_from_db()
        return Response(CustomerSerializer(account).data)


class CustomerDetailApi(YotpoApiView):
    ledger_fields = {"phone": "phone_number", "email": "customer_email"}

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
        values = params.validated_data
        account = lookups.account_by_identity(
            program=self.program,
            customer_id=values.get("customer_id"),
            email=values.get("customer_email"),
            phone=values.get("phone_number"),
        )
        output = CustomerSerializer(account).data
        if params.validated_data["with_history"]:
            events = event_page(query=EventQuery(account_id=account.pk), limit=HISTORY_LIMIT)
            output["history"] = HistoryItemSerializer(events.items, many=True).data
        return Response(output)
