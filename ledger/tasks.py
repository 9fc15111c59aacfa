"""Background jobs (django-tasks, database backend; `manage.py db_worker` runs them)."""

import logging

from django.core.cache import caches
from django_tasks import task

from . import services
from .exceptions import LedgerError
from .models import BulkBatch

log = logging.getLogger(__name__)


def progress_key(batch_id: object) -> str:
    return f"bulk-progress:{batch_id}"


def applied_so_far(batch: BulkBatch) -> int:
    """Rows the worker has written so far (inside its not yet committed transaction)."""
    if batch.status == BulkBatch.Status.APPLIED:
        return batch.rows_applied
    return caches["shared"].get(progress_key(batch.pk), 0)


@task()
def apply_bulk_batch(batch_id: str, allow_duplicate: bool = False) -> int:
    BulkBatch.objects.filter(pk=batch_id).update(status=BulkBatch.Status.APPLYING)
    batch = BulkBatch.objects.get(pk=batch_id)
    cache = caches["shared"]
    try:
        batch = services.run_bulk(
            batch=batch,
            allow_duplicate=allow_duplicate,
            progress=lambda done: cache.set(progress_key(batch_id), done, timeout=3600),
        )
    except LedgerError as exc:
        log.warning("bulk batch %s not applied: %s", batch_id, exc.message)
        return 0
    except Exception:
        BulkBatch.objects.filter(pk=batch_id).update(
            status=BulkBatch.Status.FAILED, failure="An unexpected error stopped the import."
        )
        raise
    finally:
        cache.delete(progress_key(batch_id))
    return batch.rows_applied
