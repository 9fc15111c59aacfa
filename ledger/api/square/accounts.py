"""Square Loyalty dialect, customer side: programs, calculate, accounts (/v2/loyalty/...).

Objects as Square's API reference shows them (`ledger.selectors.square`), so that the official
`squareup` SDK parses them.
Errors come from the Square exception handler (ledger.api.errors).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.identities import normalize_customer_id, normalize_phone_identity
from accounts.models import Program
from accounts.selectors import accounts_with_identities
from ledger import lookups, services
from ledger.api.auth import SquareApiView
from ledger.api.fields import StrictIntegerField
from ledger.api.schema import square_errors
from ledger.exceptions import ProgramNotFound
from ledger.selectors.square import square_account, square_program
from loyalty_admin.pagination import keyset_page

PROGRAM_ID = OpenApiParameter("program_id", str, OpenApiParameter.PATH, description="id or main")
ACCOUNT_ID = OpenApiParameter("account_id", str, OpenApiParameter.PATH)


def invalid(field_path: list, message: str, code: str = "invalid") -> exceptions.ValidationError:
    """A ValidationError about one (nested) input field, e.g. ["query", "mappings", 0, "x"]."""
    detail: object = [exceptions.ErrorDetail(message, code)]
    for key in reversed(field_path):
        detail = {key: detail}
    return exceptions.ValidationError(detail)


# --- Schema of Square's objects (the dicts above are the truth; these document them) -------


class MoneySerializer(serializers.Serializer):
    amount = serializers.IntegerField()
    currency = serializers.CharField()


class TerminologySerializer(serializers.Serializer):
    one = serializers.CharField()
    other = serializers.CharField()


class SpendDataSerializer(serializers.Serializer):
    amount_money = MoneySerializer()
    excluded_category_ids = serializers.ListField(child=serializers.CharField())
    excluded_item_variation_ids = serializers.ListField(child=serializers.CharField())
    tax_mode = serializers.CharField()


class AccrualRuleSerializer(serializers.Serializer):
    accrual_type = serializers.CharField()
    points = serializers.IntegerField()
    spend_data = SpendDataSerializer()


class ExpirationPolicySerializer(serializers.Serializer):
    expiration_duration = serializers.CharField()


class ProgramSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    reward_tiers = serializers.ListField(child=serializers.DictField())
    expiration_policy = ExpirationPolicySerializer(required=False)
    terminology = TerminologySerializer()
    location_ids = serializers.ListField(child=serializers.CharField())
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    accrual_rules = AccrualRuleSerializer(many=True)


class MappingSerializer(serializers.Serializer):
    id = serializers.CharField()
    phone_number = serializers.CharField()
    created_at = serializers.CharField()


class ExpiringPointsSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    expires_at = serializers.CharField()


class SquareAccountSerializer(serializers.Serializer):
    id = serializers.CharField()
    program_id = serializers.CharField()
    balance = serializers.IntegerField()
    lifetime_points = serializers.IntegerField()
    customer_id = serializers.CharField(required=False)
    mapping = MappingSerializer(required=False)
    expiring_point_deadlines = ExpiringPointsSerializer(many=True, required=False)
    enrolled_at = serializers.CharField()
    created_at = serializers.CharField()
    updated_at = serializers.CharField()


class AccountEnvelopeSerializer(serializers.Serializer):
    loyalty_account = SquareAccountSerializer()


# --- Views ----------------------------------------------------------------------------------


class ProgramListApi(SquareApiView):
    class OutputSerializer(serializers.Serializer):
        programs = ProgramSerializer(many=True)

    @extend_schema(
        operation_id="square_list_loyalty_programs",
        tags=["Square Loyalty"],
        responses={200: OutputSerializer, **square_errors()},
    )
    def get(self, request: Request) -> Response:
        programs = Program.objects.order_by("-is_default", "created_at")
        return Response({"programs": [square_program(p) for p in programs]})


class ProgramDetailApi(SquareApiView):
    class OutputSerializer(serializers.Serializer):
        program = ProgramSerializer()

    @extend_schema(
        operation_id="square_retrieve_loyalty_program",
        tags=["Square Loyalty"],
        parameters=[PROGRAM_ID],
        responses={200: OutputSerializer, **square_errors(404)},
    )
    def get(self, request: Request, program_id: str) -> Response:
        return Response({"program": square_program(lookups.program(program_id))})


class MoneyInputSerializer(serializers.Serializer):
    amount = StrictIntegerField(min_value=0, max_value=2**63 - 1)
    currency = serializers.RegexField(r"^[A-Z]{3}$", max_length=3)


class CalculatePointsApi(SquareApiView):
    required_scope = "read"
    ledger_fields = {"currency": "transaction_amount_money.currency"}

    class InputSerializer(serializers.Serializer):
        order_id = serializers.CharField(max_length=191, required=False, allow_null=True)
        transaction_amount_money = MoneyInputSerializer(required=False, allow_null=True)
        loyalty_account_id = serializers.CharField(max_length=36, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        points = serializers.IntegerField()
        promotion_points = serializers.IntegerField()

    @extend_schema(
        operation_id="square_calculate_loyalty_points",
        tags=["Square Loyalty"],
        parameters=[PROGRAM_ID],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400, 404)},
    )
    def post(self, request: Request, program_id: str) -> Response:
        program = lookups.program(program_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        money = data.validated_data.get("transaction_amount_money")
        if money is None:
            if data.validated_data.get("order_id"):
                raise invalid(
                    ["order_id"],
                    "This server keeps no orders; send transaction_amount_money instead.",
                )
            raise invalid(
                ["transaction_amount_money"], "Send transaction_amount_money.", "required"
            )
        if data.validated_data.get("loyalty_account_id"):
            lookups.account(data.validated_data["loyalty_account_id"])
        points = services.points_for_spend(
            program=program, amount=money["amount"], currency=money["currency"]
        )
        return Response({"points": points, "promotion_points": 0})


class MappingInputSerializer(serializers.Serializer):
    phone_number = serializers.CharField(max_length=100)


class AccountInputSerializer(serializers.Serializer):
    program_id = serializers.CharField(max_length=64)
    mapping = MappingInputSerializer()
    customer_id = serializers.CharField(max_length=191, required=False, allow_null=True)


class AccountCreateApi(SquareApiView):
    ledger_fields = {
        "phone": "loyalty_account.mapping.phone_number",
        "phone_number": "loyalty_account.mapping.phone_number",
        "customer_id": "loyalty_account.customer_id",
    }

    class InputSerializer(serializers.Serializer):
        loyalty_account = AccountInputSerializer()
        idempotency_key = serializers.CharField(min_length=1, max_length=128)

    @extend_schema(
        operation_id="square_create_loyalty_account",
        tags=["Square Loyalty"],
        request=InputSerializer,
        responses={200: AccountEnvelopeSerializer, **square_errors(400, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = data.validated_data["loyalty_account"]
        try:
            program = lookups.program(account["program_id"])
        except ProgramNotFound:
            raise invalid(
                ["loyalty_account", "program_id"], "No loyalty program has this id."
            ) from None
        account = services.enroll_account_once(
            program=program,
            phone=account["mapping"]["phone_number"],
            customer_id=account.get("customer_id"),
            actor=self.actor(request),
            idempotency_key=data.validated_data["idempotency_key"],
        )
        return Response({"loyalty_account": square_account(account)})


class MappingQuerySerializer(serializers.Serializer):
    phone_number = serializers.CharField(max_length=100)


class AccountQuerySerializer(serializers.Serializer):
    mappings = serializers.ListField(
        child=MappingQuerySerializer(), required=False, allow_null=True, max_length=30
    )
    customer_ids = serializers.ListField(
        child=serializers.CharField(max_length=191), required=False, allow_null=True, max_length=30
    )


class AccountSearchApi(SquareApiView):
    required_scope = "read"

    class InputSerializer(serializers.Serializer):
        query = AccountQuerySerializer(required=False, allow_null=True)
        limit = StrictIntegerField(min_value=1, max_value=200, required=False, allow_null=True)
        cursor = serializers.CharField(max_length=500, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        loyalty_accounts = SquareAccountSerializer(many=True)
        cursor = serializers.CharField(required=False)

    @extend_schema(
        operation_id="square_search_loyalty_accounts",
        tags=["Square Loyalty"],
        request=InputSerializer,
        responses={200: OutputSerializer, **square_errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        query = data.validated_data.get("query") or {}
        phones = [
            normalize_phone_identity(
                mapping["phone_number"], field=f"query.mappings[{index}].phone_number"
            )
            for index, mapping in enumerate(query.get("mappings") or [])
        ]
        accounts = accounts_with_identities(
            phones=phones,
            customer_ids=[normalize_customer_id(c) for c in query.get("customer_ids") or []],
        )
        page = keyset_page(
            accounts,
            cursor=data.validated_data.get("cursor"),
            limit=data.validated_data.get("limit") or 30,
            newest_first=False,
        )
        output: dict = {"loyalty_accounts": [square_account(a) for a in page.items]}
        if page.next_cursor:
            output["cursor"] = page.next_cursor
        return Response(output)


class AccountDetailApi(SquareApiView):
    @extend_schema(
        operation_id="square_retrieve_loyalty_account",
        tags=["Square Loyalty"],
        parameters=[ACCOUNT_ID],
        responses={200: AccountEnvelopeSerializer, **square_errors(404)},
    )
    def get(self, request: Request, account_id: str) -> Response:
        return Response({"loyalty_account": square_account(lookups.account(account_id))})
