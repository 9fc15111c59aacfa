"""Square Loyalty dialect, rewards: create, search, retrieve, redeem, delete
(/v2/loyalty/rewards...), thin translations over `ledger.services.rewards`.

A reward locks its tier's points at once (the balance drops, a CREATE_REWARD event); redeeming
is final; deleting an issued reward returns the points. Square's DeleteLoyaltyReward takes no
idempotency key, so a repeated delete is refused (the reward is no longer issued).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import SquareApiView
from ledger.api.fields import StrictIntegerField
from ledger.api.schema import square_errors
from ledger.models import LoyaltyEvent, Reward
from ledger.selectors import account_rewards
from ledger.selectors.square import timestamp
from loyalty_admin.pagination import keyset_page

from .accounts import named_in_body, square_page
from .events import SquareEventSerializer, square_event

REWARD_ID = OpenApiParameter("reward_id", str, OpenApiParameter.PATH)


def square_reward(reward: Reward) -> dict:
    data = {
        "id": str(reward.pk),
        "status": reward.status,
        "loyalty_account_id": str(reward.account_id),
        "reward_tier_id": str(reward.tier_id),
        "points": reward.points,
        "created_at": timestamp(reward.created_at),
        "updated_at": timestamp(reward.updated_at),
    }
    if reward.order_id:
        data["order_id"] = reward.order_id
    if reward.redeemed_at:
        data["redeemed_at"] = timestamp(reward.redeemed_at)
    return data


class SquareRewardSerializer(serializers.Serializer):
    """Documents `square_reward`'s output."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=Reward.Status.choices)
    loyalty_account_id = serializers.CharField()
    reward_tier_id = serializers.CharField()
    points = serializers.IntegerField()
    order_id = serializers.CharField(required=False)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    redeemed_at = serializers.CharField(required=False)


class RewardEnvelopeSerializer(serializers.Serializer):
    reward = SquareRewardSerializer()


class DeletedSerializer(serializers.Serializer):
    """Square answers a delete with an empty object."""


class RewardInputSerializer(serializers.Serializer):
    loyalty_account_id = serializers.CharField(max_length=36)
    reward_tier_id = serializers.CharField(max_length=36)
    order_id = serializers.CharField(max_length=191, required=False, allow_null=True)


class RewardCreateApi(SquareApiView):
    ledger_fields = {
        "points": "reward.reward_tier_id",
        "reward_tier_id": "reward.reward_tier_id",
        "order_id": "reward.order_id",
    }

    class InputSerializer(serializers.Serializer):
        reward = RewardInputSerializer()
        idempotency_key = serializers.CharField(min_length=1, max_length=128)

    @extend_schema(
        operation_id="square_create_loyalty_reward",
        tags=["Square Loyalty"],
        request=InputSerializer,
        responses={200: RewardEnvelopeSerializer, **square_errors(400, 404)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["reward"]
        account = named_in_body(
            lookups.account, wanted["loyalty_account_id"], ["reward", "loyalty_account_id"]
        )
        tier = named_in_body(
            lookups.reward_tier,
            wanted["reward_tier_id"],
            ["reward", "reward_tier_id"],
            program=account.program,
        )
        reward = services.create_reward(
            account=account,
            tier=tier,
            order_id=wanted.get("order_id"),
            actor=self.actor(request),
            idempotency_key=data.validated_data["idempotency_key"],
        )
        return Response({"reward": square_reward(reward)})


class RewardQuerySerializer(serializers.Serializer):
    loyalty_account_id = serializers.CharField(max_length=36)
    status = serializers.ChoiceField(choices=Reward.Status.choices, required=False, allow_null=True)


class RewardSearchApi(SquareApiView):
    required_scope = "read"

    class InputSerializer(serializers.Serializer):
        query = RewardQuerySerializer()
        limit = StrictIntegerField(min_value=1, max_value=30, required=False, allow_null=True)
        cursor = serializers.CharField(max_length=500, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        rewards = SquareRewardSerializer(many=True)
        cursor = serializers.CharField(required=False)

    @extend_schema(
        operation_id="square_search_loyalty_rewards",
        tags=["Square Loyalty"],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = data.validated_data["query"]
        account = named_in_body(
            lookups.account, query["loyalty_account_id"], ["query", "loyalty_account_id"]
        )
        status = query.get("status")
        rewards = account_rewards(account=account, statuses=(status,) if status else None)
        page = keyset_page(
            rewards,
            cursor=data.validated_data.get("cursor"),
            limit=data.validated_data.get("limit") or 30,
        )
        return square_page("rewards", page, square_reward)


class RewardDetailApi(SquareApiView):
    @extend_schema(
        operation_id="square_retrieve_loyalty_reward",
        tags=["Square Loyalty"],
        parameters=[REWARD_ID],
        responses={200: RewardEnvelopeSerializer, **square_errors(404)},
    )
    def get(self, request: Request, reward_id: str) -> Response:
        return Response({"reward": square_reward(lookups.reward(reward_id))})

    @extend_schema(
        operation_id="square_delete_loyalty_reward",
        tags=["Square Loyalty"],
        parameters=[REWARD_ID],
        responses={200: DeletedSerializer, **square_errors(400, 404)},
    )
    def delete(self, request: Request, reward_id: str) -> Response:
        services.delete_reward(reward=lookups.reward(reward_id), actor=self.actor(request))
        return Response({})


class RewardRedeemApi(SquareApiView):
    class InputSerializer(serializers.Serializer):
        idempotency_key = serializers.CharField(min_length=1, max_length=128)
        location_id = serializers.CharField(max_length=191)

    class OutputSerializer(serializers.Serializer):
        event = SquareEventSerializer()

    @extend_schema(
        operation_id="square_redeem_loyalty_reward",
        tags=["Square Loyalty"],
        parameters=[REWARD_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400, 404)},
    )
    def post(self, request: Request, reward_id: str) -> Response:
        reward = lookups.reward(reward_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reward = services.redeem_reward(
            reward=reward,
            location_id=data.validated_data["location_id"],
            actor=self.actor(request),
            idempotency_key=data.validated_data["idempotency_key"],
        )
        redemption = reward.events.get(type=LoyaltyEvent.Type.REDEEM_REWARD)
        return Response({"event": square_event(redemption)})
