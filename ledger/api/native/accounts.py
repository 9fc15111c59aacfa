"""Native API for customers: search and one account (GET /api/v1/accounts...)."""

from datetime import tzinfo

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import LoyaltyAccount
from accounts.selectors import search_accounts
from ledger import lookups
from ledger.api.auth import NativeApiView
from ledger.api.schema import native_errors
from loyalty_admin.timestamps import iso_datetime


class AccountOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    program_id = serializers.UUIDField()
    customer_id = serializers.CharField(allow_null=True)
    email = serializers.EmailField(allow_null=True)
    phone_number = serializers.CharField(source="phone", allow_null=True)
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    balance = serializers.IntegerField()
    lifetime_points = serializers.IntegerField()
    merged_into = serializers.UUIDField(
        source="merged_into_id",
        allow_null=True,
        help_text="Set when this account was merged into another: it is closed, and that "
        "account holds its points.",
    )
    closed_at = serializers.DateTimeField(allow_null=True)
    enrolled_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def account_output(account: LoyaltyAccount, zone: tzinfo | None = None) -> dict:
    """`AccountOutputSerializer(account).data`, built directly: a search answers with up to
    a hundred of them, and the serializer's per-field machinery cost more than the search
    itself. `zone`: the current time zone, if the caller has looked it up already.
    tests/api/test_native.py proves the two agree."""
    zone = zone or timezone.get_current_timezone()
    return {
        "id": str(account.pk),
        "program_id": str(account.program_id),
        "customer_id": account.customer_id,
        "email": account.email,
        "phone_number": account.phone,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "balance": account.balance,
        "lifetime_points": account.lifetime_points,
        "merged_into": str(account.merged_into_id) if account.merged_into_id else None,
        "closed_at": iso_datetime(account.closed_at, zone),
        "enrolled_at": iso_datetime(account.enrolled_at, zone),
        "created_at": iso_datetime(account.created_at, zone),
        "updated_at": iso_datetime(account.updated_at, zone),
    }


class AccountSearchApi(NativeApiView):
    class InputSerializer(serializers.Serializer):
        q = serializers.CharField(max_length=254)
        program = serializers.CharField(max_length=64, default="main")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=25)

    class OutputSerializer(serializers.Serializer):
        accounts = AccountOutputSerializer(many=True)

    @extend_schema(
        operation_id="native_search_accounts",
        summary="Search customers by email, phone or customer id (or a prefix)",
        parameters=[InputSerializer],
        responses={200: OutputSerializer, **native_errors(400, 404)},
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        program = lookups.program(params.validated_data["program"])
        limit = params.validated_data["limit"]
        page = search_accounts(program=program, query=params.validated_data["q"], limit=limit)
        zone = timezone.get_current_timezone()
        return Response({"accounts": [account_output(account, zone) for account in page]})


class AccountDetailApi(NativeApiView):
    @extend_schema(
        operation_id="native_get_account",
        summary="One customer's loyalty account",
        parameters=[OpenApiParameter("account_id", str, OpenApiParameter.PATH)],
        responses={200: AccountOutputSerializer, **native_errors(404)},
    )
    def get(self, request: Request, account_id: str) -> Response:
        return Response(account_output(lookups.account(account_id)))
