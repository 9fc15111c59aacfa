"""Every action that changes the ledger. Nothing else writes an event or a balance.

Each command is keyword-only, one transaction, and takes the `Actor` who acts. The faces (the
console, the native API, the Square and Yotpo dialects, the bulk file, the management
commands) translate their input into a command's arguments and its result or refusal into
their format; every rule lives here:

=================  ===============================================================
module             what it holds
=================  ===============================================================
actors             who acts, and what their role allows
rules              every rule of an adjustment: apply, hold or refuse
idempotency        the one wrapper that makes a command idempotent under a key; pruning
posting, lots      appending an event; the point lots that expire
adjustments        preview_adjustment, adjust_points, accumulate_points
approvals          holding for approval, approve_request, reject_request
limits             each agent's daily limit of points granted
operations, pairs  merge_accounts, transfer_points (and previews); posting their event pairs
reversal           reverse_event
expiry             expire_points, rebuild_lots
reasons            add_reason, change_reason, set_reason_active
programs           create_program, points_for_spend, enroll_account_once
rewards            add_reward_tier, rename_reward_tier, retire_reward_tier;
                   preview_reward, create_reward, redeem_reward, delete_reward
bulk               check_bulk_file, upload_bulk_file, apply_batch, apply_or_queue_batch
bulk_file          reading the CSV; bulk_writer: writing a checked file set-based
tallies            compact_tallies: merging the event tallies writers kept apart
=================  ===============================================================
"""

from .actors import Actor
from .adjustments import Adjustment, accumulate_points, adjust_points, preview_adjustment
from .approvals import approve_request, reject_request
from .bulk import (
    BulkCheck,
    applied_so_far,
    apply_batch,
    apply_or_queue_batch,
    apply_queued_batch,
    check_bulk_file,
    previous_application,
    recover_stale_batches,
    upload_bulk_file,
)
from .expiry import expire_points, rebuild_lots
from .idempotency import prune_idempotency_records
from .lots import lot_expiry
from .operations import (
    Operation,
    OperationPreview,
    merge_accounts,
    preview_merge,
    preview_transfer,
    transfer_points,
)
from .programs import create_program, enroll_account_once, points_for_spend
from .reasons import add_reason, change_reason, set_reason_active
from .reversal import reverse_event
from .rewards import (
    RewardPreview,
    add_reward_tier,
    create_reward,
    delete_reward,
    preview_reward,
    redeem_reward,
    rename_reward_tier,
    retire_reward_tier,
)
from .rules import MAX_POINTS, TEXT_LIMITS, AdjustmentPreview
from .tallies import compact_tallies

__all__ = [
    "MAX_POINTS",
    "TEXT_LIMITS",
    "Actor",
    "Adjustment",
    "AdjustmentPreview",
    "BulkCheck",
    "Operation",
    "OperationPreview",
    "RewardPreview",
    "accumulate_points",
    "add_reason",
    "adjust_points",
    "applied_so_far",
    "apply_batch",
    "apply_or_queue_batch",
    "apply_queued_batch",
    "approve_request",
    "change_reason",
    "check_bulk_file",
    "compact_tallies",
    "create_program",
    "enroll_account_once",
    "expire_points",
    "lot_expiry",
    "merge_accounts",
    "points_for_spend",
    "preview_adjustment",
    "preview_merge",
    "preview_transfer",
    "previous_application",
    "prune_idempotency_records",
    "rebuild_lots",
    "recover_stale_batches",
    "reject_request",
    "reverse_event",
    "set_reason_active",
    "transfer_points",
    "upload_bulk_file",
    # rewards
    "add_reward_tier",
    "create_reward",
    "delete_reward",
    "preview_reward",
    "redeem_reward",
    "rename_reward_tier",
    "retire_reward_tier",
]
