"""Square Webhook Subscriptions API (/v2/webhooks/...), over `ledger.services.webhooks`.

As Square's: the signature key is in the answer to create and to signature-key rotation only;
the list leaves out disabled subscriptions unless `include_disabled=true`.
"""

import json

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups
from ledger.api.auth import SquareApiView
from ledger.api.fields import StrictBooleanField
from ledger.api.schema import square_errors
from ledger.models import WebhookNotification, WebhookSubscription
from ledger.selectors.square import timestamp
from ledger.services import webhooks

SUBSCRIPTION_ID = OpenApiParameter("subscription_id", str, OpenApiParameter.PATH)


def square_subscription(subscription: WebhookSubscription, *, with_key: bool = False) -> dict:
    data = {
        "id": subscription.pk,
        "name": subscription.name,
        "enabled": subscription.enabled,
        "event_types": list(subscription.event_types),
        "notification_url": subscription.notification_url,
        "api_version": subscription.api_version,
        "created_at": timestamp(subscription.created_at),
        "updated_at": timestamp(subscription.updated_at),
    }
    if with_key:
        data["signature_key"] = subscription.signature_key
    return data


class SubscriptionSerializer(serializers.Serializer):
    """Documents `square_subscription`."""

    id = serializers.CharField()
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    event_types = serializers.ListField(child=serializers.CharField())
    notification_url = serializers.CharField()
    api_version = serializers.CharField()
    signature_key = serializers.CharField(required=False)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class EmptySerializer(serializers.Serializer):
    """Square answers a deletion with `{}`."""


class SubscriptionEnvelopeSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()


class SubscriptionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    enabled = StrictBooleanField(required=False, allow_null=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, allow_null=True, max_length=20
    )
    notification_url = serializers.CharField(max_length=2000, required=False, allow_null=True)
    api_version = serializers.CharField(max_length=20, required=False, allow_null=True)


def _given(data: dict) -> dict:
    return {field: value for field, value in data.items() if value is not None}


class EventTypeListApi(SquareApiView):
    class OutputSerializer(serializers.Serializer):
        event_types = serializers.ListField(child=serializers.CharField())
        metadata = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="square_list_webhook_event_types",
        tags=["Square Webhooks"],
        parameters=[OpenApiParameter("api_version", str, required=False)],
        responses={200: OutputSerializer, **square_errors()},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "event_types": list(webhooks.EVENT_TYPES),
                "metadata": [
                    {
                        "event_type": event_type,
                        "api_version_introduced": version,
                        "release_status": "PUBLIC",
                    }
                    for event_type, version in webhooks.EVENT_TYPES.items()
                ],
            }
        )


class SubscriptionListApi(SquareApiView):
    ledger_fields = {
        "notification_url": "subscription.notification_url",
        "event_types": "subscription.event_types",
    }

    class QuerySerializer(serializers.Serializer):
        include_disabled = serializers.BooleanField(required=False, default=False)
        sort_order = serializers.ChoiceField(choices=["ASC", "DESC"], required=False, default="ASC")
        limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=100)
        cursor = serializers.CharField(required=False)

    class OutputSerializer(serializers.Serializer):
        subscriptions = SubscriptionSerializer(many=True)

    class InputSerializer(serializers.Serializer):
        idempotency_key = serializers.CharField(max_length=45, required=False, allow_null=True)
        subscription = SubscriptionInputSerializer()

    @extend_schema(
        operation_id="square_list_webhook_subscriptions",
        tags=["Square Webhooks"],
        parameters=[QuerySerializer],
        responses={200: OutputSerializer, **square_errors(400)},
    )
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = WebhookSubscription.objects.all()
        if not query.validated_data["include_disabled"]:
            found = found.filter(enabled=True)
        order = ["created_at", "id"]
        if query.validated_data["sort_order"] == "DESC":
            order = ["-created_at", "-id"]
        found = found.order_by(*order)[: query.validated_data["limit"]]
        return Response({"subscriptions": [square_subscription(s) for s in found]})

    @extend_schema(
        operation_id="square_create_webhook_subscription",
        tags=["Square Webhooks"],
        request=InputSerializer,
        responses={200: SubscriptionEnvelopeSerializer, **square_errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = _given(data.validated_data["subscription"])
        subscription = webhooks.create_subscription(
            notification_url=given.get("notification_url", ""),
            event_types=given.get("event_types", []),
            name=given.get("name", ""),
            enabled=given.get("enabled", True),
            api_version=given.get("api_version", ""),
            actor=self.actor(request),
            idempotency_key=data.validated_data.get("idempotency_key"),
        )
        return Response({"subscription": square_subscription(subscription, with_key=True)})


class SubscriptionDetailApi(SquareApiView):
    ledger_fields = SubscriptionListApi.ledger_fields

    class InputSerializer(serializers.Serializer):
        subscription = SubscriptionInputSerializer(required=False, allow_null=True)

    @extend_schema(
        operation_id="square_retrieve_webhook_subscription",
        tags=["Square Webhooks"],
        parameters=[SUBSCRIPTION_ID],
        responses={200: SubscriptionEnvelopeSerializer, **square_errors(404)},
    )
    def get(self, request: Request, subscription_id: str) -> Response:
        subscription = lookups.subscription(subscription_id)
        return Response({"subscription": square_subscription(subscription)})

    @extend_schema(
        operation_id="square_update_webhook_subscription",
        tags=["Square Webhooks"],
        parameters=[SUBSCRIPTION_ID],
        request=InputSerializer,
        responses={200: SubscriptionEnvelopeSerializer, **square_errors(400, 404)},
    )
    def put(self, request: Request, subscription_id: str) -> Response:
        subscription = lookups.subscription(subscription_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = webhooks.update_subscription(
            subscription=subscription,
            actor=self.actor(request),
            **_given(data.validated_data.get("subscription") or {}),
        )
        return Response({"subscription": square_subscription(subscription)})

    @extend_schema(
        operation_id="square_delete_webhook_subscription",
        tags=["Square Webhooks"],
        parameters=[SUBSCRIPTION_ID],
        responses={200: EmptySerializer, **square_errors(404)},
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        subscription = lookups.subscription(subscription_id)
        webhooks.delete_subscription(subscription=subscription, actor=self.actor(request))
        return Response({})


class SignatureKeyApi(SquareApiView):
    class InputSerializer(serializers.Serializer):
        idempotency_key = serializers.CharField(max_length=45, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        signature_key = serializers.CharField()

    @extend_schema(
        operation_id="square_update_webhook_subscription_signature_key",
        tags=["Square Webhooks"],
        parameters=[SUBSCRIPTION_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(404)},
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        subscription = lookups.subscription(subscription_id)
        self.InputSerializer(data=request.data).is_valid(raise_exception=True)
        key = webhooks.rotate_signature_key(subscription=subscription, actor=self.actor(request))
        return Response({"signature_key": key})


class SubscriptionTestApi(SquareApiView):
    ledger_fields = {"event_types": "event_type"}

    class InputSerializer(serializers.Serializer):
        event_type = serializers.CharField(max_length=60, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        subscription_test_result = serializers.DictField()

    @extend_schema(
        operation_id="square_test_webhook_subscription",
        tags=["Square Webhooks"],
        parameters=[SUBSCRIPTION_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400, 404)},
    )
    def post(self, request: Request, subscription_id: str) -> Response:
        subscription = lookups.subscription(subscription_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sent: WebhookNotification = webhooks.send_test_notification(
            subscription=subscription,
            event_type=data.validated_data.get("event_type"),
            actor=self.actor(request),
        )
        result = {
            "id": str(sent.event_id),
            "notification_url": subscription.notification_url,
            "passes_filter": sent.event_type in subscription.event_types,
            "payload": json.loads(sent.body),
            "created_at": timestamp(sent.created_at),
            "updated_at": timestamp(sent.last_attempt_at or sent.created_at),
        }
        if sent.last_status_code is not None:
            result["status_code"] = sent.last_status_code
        return Response({"subscription_test_result": result})
