"""Yotpo dialect: GET /api/v2/redemption_options and POST /api/v2/redemptions.

A redemption option is one of the program's reward tiers: the same catalogue the Square
dialect and the console offer. Redeeming an option issues a reward from its tier through the
ledger's `create_reward` (the points leave the balance at once, a CREATE_REWARD event); the
reward's id is its coupon code, so the checkout that receives the code can find the reward
and redeem it. With an `Idempotency-Key` header a retried request returns the first reward.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import LoyaltyAccount
from ledger import lookups, services
from ledger.api.auth import YotpoApiView
from ledger.api.schema import native_errors
from ledger.models import Reward, RewardTier
from ledger.selectors import reward_tiers

from .customers import X_GUID, require_customer


def coupon_code(reward: Reward) -> str:
    """The reward's coupon code: its id as 32 capital hex digits (`uuid.UUID(code)` is the id
    again, for the checkout that looks the reward up)."""
    return reward.id.hex.upper()


class RedemptionOptionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The reward tier's id: send it as redemption_option_id.")
    name = serializers.CharField()
    description = serializers.SerializerMethodField()
    icon = serializers.SerializerMethodField()
    cost_text = serializers.SerializerMethodField()
    points_cost = serializers.IntegerField(source="points")

    def get_description(self, tier: RewardTier) -> str:
        return f"{tier.name} for {self.get_cost_text(tier)}"

    def get_icon(self, tier: RewardTier) -> str:
        return ""  # placeholder: tiers have no image

    def get_cost_text(self, tier: RewardTier) -> str:
        return f"{tier.points:,} {tier.program.points_label(tier.points).lower()}"


class RedemptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    coupon_code = serializers.SerializerMethodField()
    redemption_option_id = serializers.CharField(source="tier_id")
    reward_text = serializers.CharField(source="tier.name")
    points_deducted = serializers.IntegerField(source="points")
    status = serializers.ChoiceField(choices=Reward.Status.choices)
    created_at = serializers.DateTimeField()
    customer_email = serializers.CharField(source="account.email", allow_null=True)
    customer_external_id = serializers.CharField(source="account.customer_id", allow_null=True)
    points_balance = serializers.IntegerField(source="account.balance")

    def get_coupon_code(self, reward: Reward) -> str:
        return coupon_code(reward)


class CustomerIdentitySerializer(serializers.Serializer):
    """The identities Yotpo names a customer by in the redemption calls."""

    customer_email = serializers.CharField(max_length=254, required=False)
    customer_external_id = serializers.CharField(max_length=191, required=False)
    phone_number = serializers.CharField(max_length=100, required=False)
    pos_account_id = serializers.CharField(max_length=191, required=False)

    IDENTITIES = ("customer_external_id", "customer_email", "phone_number", "pos_account_id")

    def named(self) -> bool:
        return any(self.validated_data.get(name) for name in self.IDENTITIES)

    def account(self, program) -> LoyaltyAccount:
        values = self.validated_data
        return lookups.account_by_identity(
            program=program,
            customer_id=values.get("customer_external_id"),
            email=values.get("customer_email"),
            phone=values.get("phone_number"),
            pos_account_id=values.get("pos_account_id"),
        )


class RedemptionOptionListApi(YotpoApiView):
    ledger_fields = {"phone": "phone_number", "email": "customer_email"}

    class InputSerializer(CustomerIdentitySerializer):
        pass

    @extend_schema(
        operation_id="yotpo_list_redemption_options",
        tags=["Yotpo"],
        parameters=[X_GUID, InputSerializer],
        responses={200: RedemptionOptionSerializer(many=True), **native_errors(400, 404)},
        description="The program's reward tiers; for one customer, those they can redeem now.",
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        tiers = list(reward_tiers(program=self.program).select_related("program"))
        if params.named():
            account = params.account(self.program)
            actor = self.actor(request)
            tiers = [
                tier
                for tier in tiers
                if services.preview_reward(account=account, tier=tier, actor=actor).allowed
            ]
        return Response(RedemptionOptionSerializer(tiers, many=True).data)


class RedemptionCreateApi(YotpoApiView):
    ledger_fields = {
        "points": "redemption_option_id",
        "reward_tier_id": "redemption_option_id",
        "phone": "phone_number",
        "email": "customer_email",
    }

    class InputSerializer(CustomerIdentitySerializer):
        redemption_option_id = serializers.CharField(max_length=64)

        def validate(self, data):
            return require_customer(data, self.IDENTITIES)

    @extend_schema(
        operation_id="yotpo_create_redemption",
        tags=["Yotpo"],
        parameters=[X_GUID],
        request=InputSerializer,
        responses={200: RedemptionSerializer, **native_errors(400, 404, 422, 423)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = data.account(self.program)
        tier = lookups.reward_tier(
            data.validated_data["redemption_option_id"], program=self.program
        )
        reward = services.create_reward(
            account=account,
            tier=tier,
            actor=self.actor(request),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        # The reward's account is the one the command locked and moved (or, for a replay, as it
        # is now): its balance is the customer's balance after the redemption.
        return Response(RedemptionSerializer(reward).data)
