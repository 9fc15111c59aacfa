"""The ledger's gauges, read from the database when Prometheus scrapes /metrics (never on a
request's path): approvals waiting for a manager, and bulk batches by status."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from .models import ApprovalRequest, BulkBatch


class LedgerStateCollector:
    def collect(self):
        pending = GaugeMetricFamily(
            "loyalty_approvals_pending", "Adjustment requests waiting for a manager."
        )
        pending.add_metric(
            [], ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).count()
        )
        yield pending
        batches = GaugeMetricFamily(
            "loyalty_bulk_batches", "Bulk batches by status.", labels=["status"]
        )
        counts = dict(BulkBatch.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in BulkBatch.Status.values:
            batches.add_metric([status.lower()], counts.get(status, 0))
        yield batches
