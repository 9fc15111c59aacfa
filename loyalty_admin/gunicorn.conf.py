"""gunicorn settings for `make serve`: with PROMETHEUS_MULTIPROC_DIR set, a worker that exits
has its live gauges removed, so /metrics sums only the running workers."""

import os


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
