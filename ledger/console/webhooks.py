"""Webhook subscriptions and their delivery log (managers)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from ledger import lookups
from ledger.exceptions import LedgerError
from ledger.models import WebhookSubscription
from ledger.selectors.webhooks import delivery_log, subscriptions_with_counts
from ledger.services import webhooks
from loyalty_admin.decorators import manager_required

from .access import actor_of, found
from .forms import WebhookSubscriptionForm

EVENT_TYPES = list(webhooks.EVENT_TYPES)


def _form(*args, **kwargs) -> WebhookSubscriptionForm:
    return WebhookSubscriptionForm(*args, event_types=EVENT_TYPES, **kwargs)


def _save(form: WebhookSubscriptionForm, command, **arguments) -> WebhookSubscription | None:
    """Run the service with the form's values; a refusal goes next to its field."""
    if not form.is_valid():
        return None
    try:
        return command(**arguments, **form.cleaned_data)
    except LedgerError as error:
        form.add_error(error.field, error.message)
        return None


@require_http_methods(["GET", "POST"])
@manager_required
def subscriptions(request: HttpRequest) -> HttpResponse:
    form, created, status = _form(initial={"event_types": EVENT_TYPES}), None, 200
    if request.method == "POST":
        form = _form(request.POST)
        created = _save(form, webhooks.create_subscription, actor=actor_of(request))
        if created is None:
            status = 422
        else:
            form = _form(initial={"event_types": EVENT_TYPES})
    context = {"form": form, "subscriptions": subscriptions_with_counts(), "created": created}
    return TemplateResponse(request, "ledger/webhooks.html", context, status=status)


def _subscription_page(
    request: HttpRequest,
    subscription: WebhookSubscription,
    *,
    form: WebhookSubscriptionForm | None = None,
    new_key: str = "",
    status: int = 200,
) -> TemplateResponse:
    initial = {
        field: getattr(subscription, field)
        for field in ("name", "notification_url", "event_types", "enabled")
    }
    context = {
        "subscription": subscription,
        "form": form or _form(initial=initial),
        "log": delivery_log(subscription),
        "new_key": new_key,
        "event_types": EVENT_TYPES,
    }
    template_name = "ledger/webhook.html"
    if request.htmx:
        template_name += "#delivery-log"
    return TemplateResponse(request, template_name, context, status=status)


@require_http_methods(["GET", "POST"])
@manager_required
def subscription_detail(request: HttpRequest, subscription_id: str) -> HttpResponse:
    subscription = found(lookups.subscription, subscription_id)
    if request.method == "GET":
        return _subscription_page(request, subscription)
    form = _form(request.POST)
    saved = _save(
        form, webhooks.update_subscription, subscription=subscription, actor=actor_of(request)
    )
    if saved is None:
        return _subscription_page(request, subscription, form=form, status=422)
    messages.success(request, f"Saved “{saved}”.")
    return redirect("webhook", subscription.pk)


@require_POST
@manager_required
def subscription_test(request: HttpRequest, subscription_id: str) -> HttpResponse:
    subscription = found(lookups.subscription, subscription_id)
    sent = webhooks.send_test_notification(
        subscription=subscription,
        event_type=request.POST.get("event_type") or None,
        actor=actor_of(request),
    )
    if sent.status == sent.Status.DELIVERED:
        messages.success(request, f"Test sent: the receiver answered {sent.last_status_code}.")
    else:
        answer = sent.last_status_code or sent.last_error
        messages.error(request, f"Test not accepted: {answer}.")
    return redirect("webhook", subscription.pk)


@require_POST
@manager_required
def subscription_rotate_key(request: HttpRequest, subscription_id: str) -> HttpResponse:
    subscription = found(lookups.subscription, subscription_id)
    key = webhooks.rotate_signature_key(subscription=subscription, actor=actor_of(request))
    return _subscription_page(request, subscription, new_key=key)


@require_POST
@manager_required
def subscription_delete(request: HttpRequest, subscription_id: str) -> HttpResponse:
    subscription = found(lookups.subscription, subscription_id)
    webhooks.delete_subscription(subscription=subscription, actor=actor_of(request))
    messages.success(request, f"Deleted “{subscription}”.")
    return redirect("webhooks")


@require_POST
@manager_required
def notification_resend(
    request: HttpRequest, subscription_id: str, notification_id: int
) -> HttpResponse:
    subscription = found(lookups.subscription, subscription_id)
    notification = found(lookups.notification, notification_id, subscription=subscription)
    webhooks.resend_notification(notification=notification, actor=actor_of(request))
    messages.success(request, f"{notification.event_type} {notification.event_id} will be resent.")
    return redirect("webhook", subscription.pk)
