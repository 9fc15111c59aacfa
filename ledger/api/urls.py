"""Every API route: the native API, the Square Loyalty and Yotpo dialects, schema and docs."""

from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import schema  # noqa: F401  (registers the OpenAPI security schemes)
from .native import accounts as accounts_api
from .native import adjustments as adjustments_api
from .native import events as events_api
from .native import operations as operations_api
from .square import accounts as square_accounts
from .square import events as square_ledger
from .square import webhooks as square_webhooks
from .yotpo import customers as yotpo_api
from .yotpo import redemptions as yotpo_redemptions

native = [
    path("api/v1/accounts", accounts_api.AccountSearchApi.as_view(), name="api-accounts"),
    path(
        "api/v1/accounts/<str:account_id>",
        accounts_api.AccountDetailApi.as_view(),
        name="api-account",
    ),
    path("api/v1/reasons", adjustments_api.ReasonListApi.as_view(), name="api-reasons"),
    path(
        "api/v1/accounts/<str:account_id>/adjustments/preview",
        adjustments_api.AdjustmentPreviewApi.as_view(),
        name="api-adjustment-preview",
    ),
    path(
        "api/v1/accounts/<str:account_id>/adjustments",
        adjustments_api.AdjustmentCreateApi.as_view(),
        name="api-adjustments",
    ),
    path(
        "api/v1/accounts/<str:account_id>/events",
        events_api.AccountEventListApi.as_view(),
        name="api-account-events",
    ),
    path(
        "api/v1/approval-requests/<str:request_id>",
        adjustments_api.ApprovalRequestApi.as_view(),
        name="api-approval-request",
    ),
    path("api/v1/events", events_api.EventListApi.as_view(), name="api-events"),
    # Account operations
    path(
        "api/v1/accounts/<str:account_id>/merge",
        operations_api.MergeApi.as_view(),
        name="api-account-merge",
    ),
    path(
        "api/v1/accounts/<str:account_id>/transfers",
        operations_api.TransferApi.as_view(),
        name="api-account-transfers",
    ),
    path(
        "api/v1/events/<str:event_id>/reverse",
        events_api.EventReverseApi.as_view(),
        name="api-event-reverse",
    ),
]

square = [
    path("v2/loyalty/programs", square_accounts.ProgramListApi.as_view(), name="square-programs"),
    path(
        "v2/loyalty/programs/<str:program_id>",
        square_accounts.ProgramDetailApi.as_view(),
        name="square-program",
    ),
    path(
        "v2/loyalty/programs/<str:program_id>/calculate",
        square_accounts.CalculatePointsApi.as_view(),
        name="square-calculate",
    ),
    path("v2/loyalty/accounts", square_accounts.AccountCreateApi.as_view(), name="square-accounts"),
    path(
        "v2/loyalty/accounts/search",
        square_accounts.AccountSearchApi.as_view(),
        name="square-account-search",
    ),
    path(
        "v2/loyalty/accounts/<str:account_id>",
        square_accounts.AccountDetailApi.as_view(),
        name="square-account",
    ),
    path(
        "v2/loyalty/accounts/<str:account_id>/accumulate",
        square_ledger.AccumulatePointsApi.as_view(),
        name="square-accumulate",
    ),
    path(
        "v2/loyalty/accounts/<str:account_id>/adjust",
        square_ledger.AdjustPointsApi.as_view(),
        name="square-adjust",
    ),
    path(
        "v2/loyalty/events/search",
        square_ledger.EventSearchApi.as_view(),
        name="square-event-search",
    ),
]

square_webhook_routes = [
    path(
        "v2/webhooks/event-types",
        square_webhooks.EventTypeListApi.as_view(),
        name="square-webhook-event-types",
    ),
    path(
        "v2/webhooks/subscriptions",
        square_webhooks.SubscriptionListApi.as_view(),
        name="square-webhook-subscriptions",
    ),
    path(
        "v2/webhooks/subscriptions/<str:subscription_id>",
        square_webhooks.SubscriptionDetailApi.as_view(),
        name="square-webhook-subscription",
    ),
    path(
        "v2/webhooks/subscriptions/<str:subscription_id>/signature-key",
        square_webhooks.SignatureKeyApi.as_view(),
        name="square-webhook-signature-key",
    ),
    path(
        "v2/webhooks/subscriptions/<str:subscription_id>/test",
        square_webhooks.SubscriptionTestApi.as_view(),
        name="square-webhook-test",
    ),
]

yotpo = [
    path("api/v2/points/adjust", yotpo_api.PointsAdjustApi.as_view(), name="yotpo-adjust"),
    path("api/v2/customers", yotpo_api.CustomerDetailApi.as_view(), name="yotpo-customers"),
    path(
        "api/v2/redemption_options",
        yotpo_redemptions.RedemptionOptionListApi.as_view(),
        name="yotpo-redemption-options",
    ),
    path(
        "api/v2/redemptions",
        yotpo_redemptions.RedemptionCreateApi.as_view(),
        name="yotpo-redemptions",
    ),
]

# The split view serves Swagger UI's start-up code as a script file (?script), so the page
# needs no inline script; Swagger UI's own stylesheet block is the one relaxation.
api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="api-schema")
)

docs = [
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
]

urlpatterns = native + square + square_webhook_routes + yotpo + docs
