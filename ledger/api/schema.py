"""OpenAPI (drf-spectacular) pieces shared by the API modules: error bodies and security."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

# Every API view may answer these whatever its input: no or a bad key, a missing scope,
# over the rate limit.
_ALWAYS = (401, 403, 429)

NativeErrorSerializer = inline_serializer(
    "NativeErrors",
    {
        "errors": inline_serializer(
            "NativeError",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "field": serializers.CharField(required=False),
            },
            many=True,
        )
    },
)

SquareErrorSerializer = inline_serializer(
    "SquareErrors",
    {
        "errors": inline_serializer(
            "SquareError",
            {
                "category": serializers.CharField(),
                "code": serializers.CharField(),
                "detail": serializers.CharField(),
                "field": serializers.CharField(required=False),
            },
            many=True,
        )
    },
)


def _errors(serializer, statuses: tuple[int, ...]) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(serializer, description="Refused; see errors[].")
        for status in sorted({*statuses, *_ALWAYS})
    }


def native_errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses in the native (and Yotpo) format."""
    return _errors(NativeErrorSerializer, statuses)


def square_errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return _errors(SquareErrorSerializer, statuses)


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ledger.api.auth.BearerKeyAuthentication"
    name = "bearerKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_client`.",
        }


class YotpoKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ledger.api.auth.YotpoKeyAuthentication"
    name = "yotpoKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-key",
            "description": (
                "An API key from `manage.py create_api_client`, with the program's GUID (its "
                "id or alias) in `x-guid`; or both as the `api_key` and `guid` query "
                "parameters. A GUID that names no program is refused like an unknown key."
            ),
        }


class OperatorSessionScheme(OpenApiAuthenticationExtension):
    target_class = "ledger.api.auth.OperatorSessionAuthentication"
    name = "operatorSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class ApiAutoSchema(AutoSchema):
    """Names nested serializers after their view ("AdjustmentCreateApiInput"), so that the
    many `InputSerializer`s of the one-view-per-operation style do not collide."""

    def get_serializer_name(self, serializer, direction):
        name = type(serializer).__qualname__
        if "." not in name:
            return name
        dialect = type(serializer).__module__.split(".")[2]  # ledger.api.<dialect>.…
        prefix = {"square": "Square", "yotpo": "Yotpo"}.get(dialect, "")
        return prefix + name.replace(".", "")
