"""A gunicorn server on 127.0.0.1, started by a test against the test's PostgreSQL database."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database the test runs on (pytest-django's test database)."""
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class GunicornServer:
    def __init__(
        self, tmp_path: Path, *, workers: int = 2, threads: int = 4, env: dict | None = None
    ):
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DEBUG": "0",
            "SECRET_KEY": "reliability-test-" + "x" * 40,
            "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "REDIS_URL": os.environ.get("RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "loyalty_admin.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={workers}",
            f"--threads={threads}",
            "--worker-class=gthread",
            "--timeout=30",
            "--graceful-timeout=3",
        ]
        self.process: subprocess.Popen | None = None

    def start(self) -> "GunicornServer":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log.read_text()[-3000:]}")
            try:
                # /health answers 503 when Redis is down on purpose; either means "serving".
                status = requests.get(self.url + "/health", timeout=2).status_code
                if status in (200, 503) and len(self.worker_pids()) == self.workers:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill_worker(self) -> int:
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def server_errors_logged(self) -> list[str]:
        """Django's log of each 500 ("Internal Server Error: /path"), any traceback, and
        django-structlog's `request_failed` (an exception that escaped the views)."""
        text = self.log.read_text(errors="replace")
        return [
            line
            for line in text.splitlines()
            if "Internal Server Error" in line
            or line.startswith("Traceback")
            or '"request_failed"' in line  # an exception no handler answered (JSON logs)
        ]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
