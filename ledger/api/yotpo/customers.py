"""Yotpo dialect: POST /api/v2/points/adjust and GET /api/v2/customers.

Authenticated as Yotpo sends it (see YotpoKeyAuthentication); the GUID names the program.
`apply_adjustment_to_points_earned` decides whether points earned (lifetime) change. A refused
adjustment is a 422 and an account locked too long a 423 (ANSWERS), nothing written. Events
made here have source YOTPO_API.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import YotpoApiView
from ledger.api.fields import (
    BodySerializer,
    PointsField,
    QueryBooleanField,
    StrictBooleanField,
    constant,
)
from ledger.api.schema import native_errors
from ledger.models import ApprovalRequest, LoyaltyEvent
from ledger.selectors import history_with_pending, purchases, rewards_taken, upcoming_expirations

X_GUID = OpenApiParameter(
    "x-guid",
    str,
    OpenApiParameter.HEADER,
    description="The program's GUID, its id or alias (also `?guid=`; default: the main program).",
)
HISTORY_LIMIT = 100
# The look-ups Yotpo documents for a customer, in the order they are tried.
IDENTITIES = ("customer_id", "customer_email", "phone_number", "pos_account_id")


def require_customer(data: dict, identities: tuple[str, ...]) -> dict:
    """A serializer's validation: the request names the customer by one of `identities`
    (refused on `customer_email`, the field every Yotpo call documents first)."""
    if not any(data.get(name) for name in identities):
        raise serializers.ValidationError(
            {"customer_email": [f"Send one of {', '.join(identities)}."]}, code="required"
        )
    return data


_ACTIONS = {
    LoyaltyEvent.Type.ACCUMULATE_POINTS: "Points earned",
    LoyaltyEvent.Type.ADJUST_POINTS: "Points adjustment",
    LoyaltyEvent.Type.EXPIRE_POINTS: "Points expired",
    LoyaltyEvent.Type.REVERSAL: "Reversal",
}


class HistoryItemSerializer(serializers.Serializer):
    """One line of the customer's history: an event, or a change waiting for a manager."""

    action = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    date = serializers.SerializerMethodField()
    points = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    visible = serializers.BooleanField(source="visible_to_customer")

    def get_action(self, item: LoyaltyEvent | ApprovalRequest) -> str:
        if isinstance(item, ApprovalRequest):
            return item.history_title or item.reason.label
        return item.history_title or _ACTIONS.get(item.type, item.type)

    @extend_schema_field(serializers.DateField())
    def get_date(self, item: LoyaltyEvent | ApprovalRequest) -> str:
        return serializers.DateField().to_representation(timezone.localdate(item.created_at))

    @extend_schema_field(serializers.ChoiceField(choices=["Approved", "Pending", "Reversed"]))
    def get_status(self, item: LoyaltyEvent | ApprovalRequest) -> str:
        if isinstance(item, ApprovalRequest):
            return "Pending"
        return "Reversed" if hasattr(item, "reversed_by") else "Approved"


class CustomerSerializer(serializers.Serializer):
    """Yotpo's customer record. docs/api.md says which fields are live; the others (marked
    "placeholder") are Yotpo's empty value of the field's type: this product keeps no spend,
    store credit or VIP tiers."""

    email = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField(allow_null=True)
    phone_number = serializers.CharField(source="phone", allow_null=True)
    pos_account_id = serializers.CharField(allow_null=True)
    third_party_id = serializers.CharField(source="customer_id", allow_null=True)
    # Yotpo sends the same id under this misspelt name too; clients may read either.
    thirty_party_id = serializers.CharField(source="customer_id", allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    points_balance = serializers.IntegerField(source="balance")
    points_earned = serializers.IntegerField(source="lifetime_points")
    points_expire_at = serializers.SerializerMethodField()
    perks_redeemed = serializers.SerializerMethodField()
    total_purchases = serializers.SerializerMethodField()
    last_purchase_at = serializers.SerializerMethodField()
    last_seen_at = serializers.DateTimeField(source="updated_at")
    opt_in = constant(True, serializers.BooleanField())  # every account is enrolled
    opted_in_at = serializers.DateTimeField(source="enrolled_at")
    total_spend_cents = constant(0, serializers.IntegerField())  # placeholder
    has_store_account = constant(False, serializers.BooleanField())  # placeholder
    credit_balance = constant("0.00", serializers.CharField())  # placeholder
    credit_balance_in_customer_currency = constant("0.00", serializers.CharField())
    vip_tier_name = constant(None, serializers.CharField(allow_null=True))  # placeholder
    vip_tier_actions_completed = constant({}, serializers.DictField())  # placeholder
    vip_tier_upgrade_requirements = constant({}, serializers.DictField())  # placeholder

    def to_representation(self, account):
        self._purchases = purchases(account=account)
        return super().to_representation(account)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_points_expire_at(self, account) -> str | None:
        """When the customer's soonest-expiring points expire (None: nothing expires)."""
        deadlines = upcoming_expirations(account=account, limit=1)
        if not deadlines:
            return None
        return serializers.DateTimeField().to_representation(deadlines[0].expires_at)

    def get_perks_redeemed(self, account) -> int:
        return rewards_taken(account=account)

    def get_total_purchases(self, account) -> int:
        return self._purchases.count

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_last_purchase_at(self, account) -> str | None:
        last = self._purchases.last_at
        return serializers.DateTimeField().to_representation(last) if last else None


class CustomerWithHistorySerializer(CustomerSerializer):
    history_items = HistoryItemSerializer(many=True, required=False)
    history = HistoryItemSerializer(many=True, required=False, help_text="Same as history_items.")


class PointsAdjustApi(YotpoApiView):
    ledger_fields = {
        "points": "point_adjustment_amount",
        "affects_lifetime": "apply_adjustment_to_points_earned",
        # Yotpo's adjustment has no note: a reason that requires one is the problem.
        "note": "reason",
    }

    class InputSerializer(BodySerializer):
        customer_email = serializers.EmailField(max_length=254, required=False)
        customer_id = serializers.CharField(max_length=191, required=False)
        point_adjustment_amount = PointsField()
        apply_adjustment_to_points_earned = StrictBooleanField(default=False)
        history_title = serializers.CharField(allow_blank=True, default="")
        visible_to_customer = StrictBooleanField(default=True)
        reason = serializers.CharField(required=False, help_text="A reason code (any case).")

        def validate(self, data):
            return require_customer(data, ("customer_email", "customer_id"))

    @extend_schema(
        operation_id="yotpo_adjust_points",
        tags=["Yotpo"],
        parameters=[X_GUID],
        request=InputSerializer,
        responses={200: CustomerSerializer, **native_errors(400, 404, 422, 423)},
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
        phone_number = serializers.CharField(
            max_length=100, required=False, help_text="E.164, e.g. +14155552671."
        )
        pos_account_id = serializers.CharField(max_length=191, required=False)
        with_history = QueryBooleanField(default=False)

        def validate(self, data):
            return require_customer(data, IDENTITIES)

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
            pos_account_id=values.get("pos_account_id"),
        )
        output = CustomerSerializer(account).data
        if values["with_history"]:
            items = history_with_pending(account=account, limit=HISTORY_LIMIT)
            output["history_items"] = HistoryItemSerializer(items, many=True).data
            output["history"] = output["history_items"]
        return Response(output)
