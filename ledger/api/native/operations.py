"""Native API, account operations: merge a duplicate account, transfer points (/api/v1/...).

The same service commands as the console (`merge_accounts`, `transfer_points`), so the same
verdicts and refusals with the same codes; an agent's session is held for a manager where the
console's would be (202 with the approval request).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ledger import lookups, services
from ledger.api.auth import NativeApiView
from ledger.api.fields import PointsField, StrictBooleanField
from ledger.api.schema import native_errors

from .adjustments import HeldOutputSerializer
from .events import ACCOUNT_ID, IDEMPOTENCY_KEY, EventOutputSerializer, idempotency_key_of


class OperationOutputSerializer(serializers.Serializer):
    out_event = EventOutputSerializer(help_text="On the account that gives.")
    in_event = EventOutputSerializer(help_text="On the account that receives.")


def _answer(done: services.Operation) -> Response:
    if done.held:
        body = HeldOutputSerializer({"approval_request": done.approval}).data
        location = body["approval_request"]["link"]
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})
    body = OperationOutputSerializer({"out_event": done.out_event, "in_event": done.in_event})
    return Response(body.data, status=status.HTTP_201_CREATED)


class MergeApi(NativeApiView):
    ledger_fields = {"target": "into"}

    class InputSerializer(serializers.Serializer):
        into = serializers.CharField(help_text="The id of the account that survives.")
        note = serializers.CharField(allow_blank=True, default="")

    @extend_schema(
        operation_id="native_merge_account",
        summary="Merge this (duplicate) account into another of the same customer",
        description=(
            "Moves the balance, the points earned and the open lots (with their expiry dates) "
            "to `into`, and closes this account: it keeps its history, refuses new events "
            "(409 `ACCOUNT_CLOSED`), and its email, phone and customer id find `into`. 201 "
            "with the pair of events; 202 with the approval request when an agent's merge "
            "waits for a manager. Idempotency-Key required."
        ),
        parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={
            201: OperationOutputSerializer,
            202: HeldOutputSerializer,
            **native_errors(400, 404, 409, 422),
        },
    )
    def post(self, request: Request, account_id: str) -> Response:
        source = lookups.account(account_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = idempotency_key_of(request)
        done = services.merge_accounts(
            source=source,
            target=lookups.account(data.validated_data["into"]),
            note=data.validated_data["note"],
            actor=self.actor(request),
            idempotency_key=key,
        )
        return _answer(done)


class TransferApi(NativeApiView):
    ledger_fields = {"target": "to"}

    class InputSerializer(serializers.Serializer):
        to = serializers.CharField(help_text="The id of the account that receives the points.")
        points = PointsField(help_text="How many points to move (positive).")
        reason = serializers.CharField(allow_blank=True, help_text="Why, in words.")
        note = serializers.CharField(allow_blank=True, default="")
        allow_negative = StrictBooleanField(default=False)

    @extend_schema(
        operation_id="native_transfer_points",
        summary="Transfer points from this account to another",
        description=(
            "The soonest-expiring points move first and keep their expiry dates; the overdraft "
            "rules of a normal debit apply. 201 with the pair of events; 202 with the approval "
            "request when an agent's transfer waits for a manager. Idempotency-Key required."
        ),
        parameters=[ACCOUNT_ID, IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={
            201: OperationOutputSerializer,
            202: HeldOutputSerializer,
            **native_errors(400, 403, 404, 409, 422),
        },
    )
    def post(self, request: Request, account_id: str) -> Response:
        source = lookups.account(account_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = idempotency_key_of(request)
        values = data.validated_data
        done = services.transfer_points(
            source=source,
            target=lookups.account(values["to"]),
            points=values["points"],
            reason=values["reason"],
            note=values["note"],
            allow_negative=values["allow_negative"],
            actor=self.actor(request),
            idempotency_key=key,
        )
        return _answer(done)
