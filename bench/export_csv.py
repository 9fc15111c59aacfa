"""Peak memory of streaming N events as CSV (run in its own process by bench/run.py).

A generator over `.iterator()` (a server-side cursor on PostgreSQL) feeding csv.writer, so
memory stays flat however many rows there are. The console's export
(`ledger.selectors.export_rows`, `/history/export.csv`) streams in keyset chunks to the same
end; its own memory test is tests/review/test_export.py.
"""

import csv
import json
import sys
import time
from pathlib import Path

import django


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since this program started) from /proc, in MB. Not
    getrusage's ru_maxrss: Linux carries that over from the parent across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


class Echo:
    def write(self, value: str) -> str:
        return value


def rows(limit: int):
    from ledger.models import LoyaltyEvent

    writer = csv.writer(Echo())
    yield writer.writerow(
        ["id", "account", "type", "points", "balance_after", "reason", "source", "created_at"]
    )
    events = (
        LoyaltyEvent.objects.order_by("created_at", "id")
        .values_list(
            "id",
            "account_id",
            "type",
            "points",
            "balance_after",
            "reason_text",
            "source",
            "created_at",
        )[:limit]
        .iterator(chunk_size=5_000)
    )
    for event in events:
        yield writer.writerow([*event[:7], event[7].isoformat()])


def main() -> None:
    limit = int(sys.argv[1])
    django.setup()
    from django.http import StreamingHttpResponse

    from ledger.models import LoyaltyEvent

    LoyaltyEvent.objects.first()  # connect before the baseline
    baseline = memory_mb("VmHWM")
    started = time.perf_counter()
    response = StreamingHttpResponse(rows(limit), content_type="text/csv")
    written, count = 0, -1
    with open("/dev/null", "wb") as sink:
        for chunk in response.streaming_content:
            sink.write(chunk)
            written += len(chunk)
            count += 1
    seconds = time.perf_counter() - started
    peak = memory_mb("VmHWM")
    print(
        json.dumps(
            {
                "rows": count,
                "baseline_mb": baseline,
                "peak_mb": peak,
                "mb_out": written / 1e6,
                "seconds": seconds,
                "rows_per_s": count / seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
