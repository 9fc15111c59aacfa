"""Rewards in the console: managers keep the program's reward tiers; on a customer's page an
agent issues a reward from a tier (preview, then submit once), redeems or deletes one."""

import uuid
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import LoyaltyAccount
from ledger import lookups
from ledger.exceptions import LedgerError
from ledger.models import Reward
from ledger.selectors import account_history, open_rewards, reward_tiers, upcoming_expirations
from ledger.services import (
    RewardPreview,
    add_reward_tier,
    create_reward,
    delete_reward,
    preview_reward,
    redeem_reward,
    rename_reward_tier,
    retire_reward_tier,
)
from loyalty_admin.decorators import manager_required, operator_required

from .access import actor_of, found
from .forms import RewardActionForm, RewardForm, RewardTierForm, RewardTierRenameForm

HISTORY_PAGE_SIZE = 20


# --- Tiers (managers) ------------------------------------------------------------------------


def _tiers_page(
    request: HttpRequest,
    *,
    form: RewardTierForm | None = None,
    renamed: tuple[UUID, RewardTierRenameForm] | None = None,
    status: int = 200,
) -> TemplateResponse:
    rows = []
    for tier in reward_tiers(program=request.program, include_retired=True):
        if renamed and renamed[0] == tier.pk:
            rows.append((tier, renamed[1]))
        else:
            rows.append(
                (tier, RewardTierRenameForm(initial={"name": tier.name}, prefix=str(tier.pk)))
            )
    context = {"form": form or RewardTierForm(prefix="tier"), "rows": rows}
    template_name = "ledger/reward_tiers.html"
    if request.htmx:
        template_name += "#tiers"
    return TemplateResponse(request, template_name, context, status=status)


def _tier_saved(request: HttpRequest, message: str) -> HttpResponse:
    if not request.htmx:
        messages.success(request, message)
        return redirect("reward-tiers")
    response = _tiers_page(request)
    response.context_data["confirmation"] = message
    return response


@require_http_methods(["GET", "POST"])
@manager_required
def tiers(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _tiers_page(request)
    form = RewardTierForm(request.POST, prefix="tier")
    if form.is_valid():
        try:
            tier = add_reward_tier(
                program=request.program, actor=actor_of(request), **form.cleaned_data
            )
        except LedgerError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            return _tier_saved(request, f"Added “{tier.name}” for {tier.points:,}.")
    return _tiers_page(request, form=form, status=422)


@require_POST
@manager_required
def tier_rename(request: HttpRequest, tier_id: UUID) -> HttpResponse:
    tier = found(lookups.reward_tier, tier_id, program=request.program)
    form = RewardTierRenameForm(request.POST, prefix=str(tier.pk))
    if form.is_valid():
        try:
            before = tier.name
            tier = rename_reward_tier(
                tier=tier, name=form.cleaned_data["name"], actor=actor_of(request)
            )
        except LedgerError as error:
            form.add_error("name", error.message)
        else:
            return _tier_saved(request, f"Renamed “{before}” to “{tier.name}”.")
    return _tiers_page(request, renamed=(tier.pk, form), status=422)


@require_POST
@manager_required
def tier_retire(request: HttpRequest, tier_id: UUID) -> HttpResponse:
    tier = found(lookups.reward_tier, tier_id, program=request.program)
    tier = retire_reward_tier(tier=tier, actor=actor_of(request))
    return _tier_saved(request, f"Retired “{tier.name}”. Rewards already issued stay open.")


# --- Rewards on the account page -------------------------------------------------------------


def rewards_context(
    account: LoyaltyAccount,
    *,
    form: RewardForm | None = None,
    preview: RewardPreview | None = None,
    confirmation: str = "",
    refusal: str = "",
) -> dict:
    """What the account page's rewards card shows; each open reward with its own token."""
    return {
        "reward_form": form or RewardForm(program=account.program),
        "reward_preview": preview,
        "open_rewards": [(r, uuid.uuid4()) for r in open_rewards(account=account)],
        "reward_confirmation": confirmation,
        "reward_refusal": refusal,
    }


def _account(request: HttpRequest, account_id: UUID) -> LoyaltyAccount:
    return found(lookups.account, account_id, program=request.program)


def _card(request: HttpRequest, account: LoyaltyAccount, status: int, **kwargs) -> HttpResponse:
    """The rewards card alone (HTMX), or back to the page with the refusal as a message."""
    if not request.htmx:
        messages.error(request, kwargs.get("refusal") or "Nothing was saved.")
        return redirect("account", account_id=account.pk)
    context = {"account": account, **rewards_context(account, **kwargs)}
    return TemplateResponse(request, "ledger/rewards.html#rewards", context, status=status)


def _done(request: HttpRequest, account: LoyaltyAccount, confirmation: str) -> HttpResponse:
    """After a reward changed: the card, the balance and the history, each once."""
    if not request.htmx:
        messages.success(request, confirmation)
        return redirect("account", account_id=account.pk)
    account.refresh_from_db()
    context = {
        "account": account,
        **rewards_context(account, confirmation=confirmation),
        "history": account_history(account=account, limit=HISTORY_PAGE_SIZE),
        "expirations": upcoming_expirations(account=account, limit=5),
    }
    return TemplateResponse(request, "ledger/rewarded.html", context)


@require_POST
@operator_required
def reward_preview(request: HttpRequest, account_id: UUID) -> TemplateResponse:
    account = _account(request, account_id)
    form = RewardForm(request.POST, program=account.program)
    preview = None
    if form.is_valid():
        preview = preview_reward(
            account=account, tier=form.cleaned_data["tier"], actor=actor_of(request)
        )
    context = {"account": account, "reward_form": form, "reward_preview": preview}
    return TemplateResponse(request, "ledger/rewards.html#reward-preview", context)


@require_POST
@operator_required
def reward_create(request: HttpRequest, account_id: UUID) -> HttpResponse:
    account = _account(request, account_id)
    form = RewardForm(request.POST, program=account.program)
    if form.is_valid():
        actor, tier = actor_of(request), form.cleaned_data["tier"]
        try:
            reward = create_reward(
                account=account,
                tier=tier,
                actor=actor,
                idempotency_key=str(form.cleaned_data["token"]),
            )
        except LedgerError as error:
            form.add_ledger_error(error)
            preview = preview_reward(account=account, tier=tier, actor=actor)
            return _card(request, account, 422, form=form, preview=preview, refusal=error.message)
        unit = account.program.terminology_other.lower()
        return _done(request, account, f"Issued “{reward.tier.name}” for {reward.points:,} {unit}.")
    return _card(request, account, 422, form=form, refusal="Choose a reward.")


def _reward_action(request: HttpRequest, reward_id: UUID, *, command, done: str) -> HttpResponse:
    reward: Reward = found(lookups.reward, reward_id, program=request.program)
    form = RewardActionForm(request.POST)
    if not form.is_valid():
        return _card(request, reward.account, 422, refusal="Reload the page and try again.")
    try:
        reward = command(
            reward=reward, actor=actor_of(request), idempotency_key=str(form.cleaned_data["token"])
        )
    except LedgerError as error:
        return _card(request, reward.account, 422, refusal=error.message)
    unit = reward.account.program.terminology_other.lower()
    return _done(
        request, reward.account, done.format(name=reward.tier.name, points=reward.points, unit=unit)
    )


@require_POST
@operator_required
def reward_redeem(request: HttpRequest, reward_id: UUID) -> HttpResponse:
    return _reward_action(request, reward_id, command=redeem_reward, done="Redeemed “{name}”.")


@require_POST
@operator_required
def reward_delete(request: HttpRequest, reward_id: UUID) -> HttpResponse:
    return _reward_action(
        request,
        reward_id,
        command=delete_reward,
        done="Deleted “{name}”: {points:,} {unit} returned to the balance.",
    )
