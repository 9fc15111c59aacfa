"""The reference for the adjust endpoints: the same rows written in raw SQL by a bare view
(no DRF, no authentication, no idempotency record, no rate limit, no ORM)."""

import json
import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .sql import ADJUST_STATEMENTS


@csrf_exempt
def bare_adjust(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    """Lock the account row, insert the event and its lot, update the balance: one
    transaction, as ledger.services.adjust_points writes it (positive points only)."""
    if request.method != "POST":
        return HttpResponse(status=405)
    points = int(json.loads(request.body)["points"])
    client_id = request.headers["X-Bench-Client"]
    with transaction.atomic(), connection.cursor() as cursor:
        lock, insert_event, insert_lot, update = ADJUST_STATEMENTS
        cursor.execute(lock, [account_id])
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"error": "not found"}, status=404)
        program_id, balance, lifetime, updated_at = row
        now = max(timezone.now(), updated_at + timedelta(microseconds=1))
        event_id = uuid.uuid4()
        balance, lifetime = balance + points, lifetime + points
        cursor.execute(
            insert_event,
            [event_id, program_id, account_id, points, balance, lifetime, client_id, now],
        )
        cursor.execute(insert_lot, [account_id, event_id, points, points, now, now])
        cursor.execute(update, [balance, lifetime, now, account_id])
    return JsonResponse({"id": str(event_id), "balance": balance}, status=201)
