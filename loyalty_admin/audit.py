"""The audit log's one writer, and the login signals that feed it.

Services call `record` inside their own transaction, so an action and its audit entry are
committed (or rolled back) together.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import Model
from django.dispatch import receiver
from django.http import HttpRequest

from .models import ApiClient, AuditEntry
from .request_log import current_request_id

# What the log records; the audit page filters by these.
ACTIONS = {
    "login": "Logged in",
    "login_failed": "Failed login",
    "approval.requested": "Approval requested",
    "approval.approved": "Approval granted",
    "approval.rejected": "Approval rejected",
    "event.reversed": "Event reversed",
    "reason.added": "Reason added",
    "reason.changed": "Reason changed",
    "reason.activated": "Reason reactivated",
    "reason.deactivated": "Reason deactivated",
    "operator.invited": "Operator invited",
    "operator.role_changed": "Operator role changed",
    "operator.deactivated": "Operator deactivated",
    "operator.reactivated": "Operator reactivated",
    "api_client.created": "API key created",
    "api_client.revoked": "API key revoked",
    # Webhooks
    "webhook.created": "Webhook subscription created",
    "webhook.changed": "Webhook subscription changed",
    "webhook.deleted": "Webhook subscription deleted",
    "webhook.key_rotated": "Webhook signature key rotated",
    "webhook.resent": "Webhook notification resent",
    # Account operations
    "account.merged": "Accounts merged",
    "account.transferred": "Points transferred",
    # reward tiers
    "reward_tier.added": "Reward tier added",
    "reward_tier.renamed": "Reward tier renamed",
    "reward_tier.retired": "Reward tier retired",
}

# The actor shown for actions taken with a management command on the server.
COMMAND_LINE = "command line"


def client_ip(request: HttpRequest | None) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a trusted proxy
    # sets it, and the deployment's proxy is expected to rewrite REMOTE_ADDR.
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    api_client: ApiClient | None = None,
    target: Model | None = None,
    summary: str,
    details: dict | None = None,
    ip: str | None = None,
    via: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log. `via` names an actor that is not a person or a key
    (COMMAND_LINE); the request id, when there is one, is kept in the details."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}.")
    if actor is not None and not actor.is_authenticated:
        actor = None
    details = dict(details or {})
    if via:
        details["via"] = via
    if request_id := current_request_id():
        details["request_id"] = request_id
    return AuditEntry.objects.create(
        action=action,
        actor=actor,
        api_client=api_client,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        summary=summary[:300],
        details=details,
        ip_address=ip,
    )


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request: HttpRequest, user: AbstractBaseUser, **kwargs) -> None:
    record(
        action="login",
        actor=user,
        target=user,
        summary=f"{user.get_username()} logged in",
        ip=client_ip(request),
    )


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; keep only the name tried.
    username = str(credentials.get("username", ""))[:254]
    record(
        action="login_failed",
        summary=f"Failed login for {username or 'an empty name'}",
        details={"username": username},
        ip=client_ip(request),
    )
