"""Our objects as Square's API reference shows them: the Square dialect answers with them and
the webhooks send them, so a receiver sees the same shape from both."""

import uuid
from datetime import UTC

from accounts.models import LoyaltyAccount, Program
from loyalty_admin.timestamps import iso_datetime

from ..models import LoyaltyEvent, RewardTier
from .lots import upcoming_expirations
from .rewards import reward_tiers

Source = LoyaltyEvent.Source

# Square has no mapping ids of its own here: derive a stable one from the account.
_MAPPING_NAMESPACE = uuid.UUID("6f1d6c0e-3b39-4d5e-9a53-2f0c1c4b7a10")

# Square's event types → ours. A reversal is Square's catch-all OTHER.
SQUARE_TYPES = {
    "ACCUMULATE_POINTS": LoyaltyEvent.Type.ACCUMULATE_POINTS,
    "ADJUST_POINTS": LoyaltyEvent.Type.ADJUST_POINTS,
    "EXPIRE_POINTS": LoyaltyEvent.Type.EXPIRE_POINTS,
    "OTHER": LoyaltyEvent.Type.REVERSAL,
    "CREATE_REWARD": LoyaltyEvent.Type.CREATE_REWARD,
    "REDEEM_REWARD": LoyaltyEvent.Type.REDEEM_REWARD,
    "DELETE_REWARD": LoyaltyEvent.Type.DELETE_REWARD,
    "ACCUMULATE_PROMOTION_POINTS": None,
}
SQUARE_TYPE_CHOICES = list(SQUARE_TYPES)
SQUARE_TYPE_OF = {ours: theirs for theirs, ours in SQUARE_TYPES.items() if ours}
# Transfers and merges have no Square type: like a reversal, they are Square's OTHER.
PAIRED_TYPES = (
    LoyaltyEvent.Type.TRANSFER_OUT,
    LoyaltyEvent.Type.TRANSFER_IN,
    LoyaltyEvent.Type.MERGE_OUT,
    LoyaltyEvent.Type.MERGE_IN,
)
SQUARE_TYPE_OF.update(dict.fromkeys(PAIRED_TYPES, "OTHER"))
_BODY_OF = {
    "ACCUMULATE_POINTS": "accumulate_points",
    "ADJUST_POINTS": "adjust_points",
    "EXPIRE_POINTS": "expire_points",
    "OTHER": "other_event",
    "CREATE_REWARD": "create_reward",
    "REDEEM_REWARD": "redeem_reward",
    "DELETE_REWARD": "delete_reward",
}
# Square knows two sources: its own apps, and the API. Every API dialect here is "the API".
_API_SOURCES = {Source.SQUARE_API, Source.NATIVE_API, Source.YOTPO_API}


def timestamp(value) -> str:
    """RFC 3339 in UTC with a Z, as Square writes times, whatever the server's time zone."""
    return iso_datetime(value, UTC)


def square_program(program: Program) -> dict:
    data = {
        "id": str(program.pk),
        "status": program.status,
        "reward_tiers": [square_reward_tier(t) for t in reward_tiers(program=program)],
        "terminology": {"one": program.terminology_one, "other": program.terminology_other},
        "location_ids": list(program.location_ids or []),
        "created_at": timestamp(program.created_at),
        "updated_at": timestamp(program.updated_at),
        "accrual_rules": [
            {
                "accrual_type": "SPEND",
                "points": program.accrual_points,
                "spend_data": {
                    "amount_money": {
                        "amount": program.accrual_amount,
                        "currency": program.currency,
                    },
                    "excluded_category_ids": [],
                    "excluded_item_variation_ids": [],
                    "tax_mode": "BEFORE_TAX",
                },
            }
        ],
    }
    if program.expiration_policy:
        data["expiration_policy"] = {"expiration_duration": program.expiration_policy}
    return data


def square_reward_tier(tier: RewardTier) -> dict:
    # No catalogue or pricing rule is kept: both references are returned empty.
    return {
        "id": str(tier.pk),
        "name": tier.name,
        "points": tier.points,
        "created_at": timestamp(tier.created_at),
        "definition": {},
        "pricing_rule_reference": {},
    }


def square_account(account: LoyaltyAccount, *, as_of: LoyaltyEvent | None = None) -> dict:
    """The account now; or, `as_of` one of its events, as that event left it (from the event
    alone, without the expiry deadlines, which would cost a query)."""
    data = {
        "id": str(account.pk),
        "program_id": str(account.program_id),
        "balance": account.balance if as_of is None else as_of.balance_after,
        "lifetime_points": account.lifetime_points if as_of is None else as_of.lifetime_after,
        "enrolled_at": timestamp(account.enrolled_at),
        "created_at": timestamp(account.created_at),
        "updated_at": timestamp(account.updated_at if as_of is None else as_of.created_at),
    }
    if account.customer_id:
        data["customer_id"] = account.customer_id
    deadlines = upcoming_expirations(account=account) if as_of is None else []
    if deadlines:
        data["expiring_point_deadlines"] = [
            {"points": d.points, "expires_at": timestamp(d.expires_at)} for d in deadlines
        ]
    if account.phone:
        data["mapping"] = {
            "id": str(uuid.uuid5(_MAPPING_NAMESPACE, str(account.pk))),
            "phone_number": account.phone,
            "created_at": timestamp(account.created_at),
        }
    return data


def square_event(event: LoyaltyEvent) -> dict:
    # A type Square has no word for is its catch-all OTHER, so every event can be shown.
    square_type = SQUARE_TYPE_OF.get(event.type, "OTHER")
    body: dict = {"loyalty_program_id": str(event.program_id)}
    if square_type.endswith("_REWARD") and event.reward_id:
        body["reward_id"] = str(event.reward_id)
    if square_type != "REDEEM_REWARD":  # a redemption moves no points; it names its order
        body["points"] = event.points
    if square_type == "ADJUST_POINTS" and event.reason_text:
        body["reason"] = event.reason_text
    if square_type in ("ACCUMULATE_POINTS", "REDEEM_REWARD") and event.order_id:
        body["order_id"] = event.order_id
    data = {
        "id": str(event.pk),
        "type": square_type,
        "created_at": timestamp(event.created_at),
        "loyalty_account_id": str(event.account_id),
        "source": "LOYALTY_API" if event.source in _API_SOURCES else "SQUARE",
        _BODY_OF[square_type]: body,
    }
    if event.location_id:
        data["location_id"] = event.location_id
    return data
