"""A PostgreSQL cluster of the test's own, on its own port, that a test may restart.

Never the shared cluster on 5432: other test runs use it. `pg_createcluster` (Debian's
postgresql-common, run as root) makes it under /var/lib/postgresql/<version>/<name>, trusting
local connections and listening on localhost only; `drop` removes it and its files.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from .server import ROOT

NAME = "reliability"
PORT = int(os.environ.get("RELIABILITY_PG_PORT", "5434"))


def postgres_version() -> str:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


class DedicatedCluster:
    def __init__(self, *, name: str = NAME, port: int = PORT) -> None:
        self.version, self.name, self.port = postgres_version(), name, port
        self.url = f"postgres://postgres@127.0.0.1:{port}/loyalty"

    def _run(self, *command: str, timeout: float = 120) -> str:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {result.stdout}{result.stderr}")
        return result.stdout

    def exists(self) -> bool:
        return Path(f"/etc/postgresql/{self.version}/{self.name}").exists()

    def create(self) -> "DedicatedCluster":
        if self.exists():  # left by an interrupted run
            self.drop()
        self._run(
            "pg_createcluster", self.version, self.name, f"--port={self.port}",
            "--start-conf=manual", "--start", "--", "--auth=trust",
        )  # fmt: skip
        self.psql("postgres", "CREATE DATABASE loyalty")
        return self

    def psql(self, database: str, sql: str) -> str:
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
            "-v", "ON_ERROR_STOP=1", "-At", "-c", sql,
        )  # fmt: skip

    def restart(self) -> None:
        self._run("pg_ctlcluster", self.version, self.name, "restart", "-m", "fast")

    def drop(self) -> None:
        self._run("pg_dropcluster", self.version, self.name, "--stop")

    def manage(self, *args: str, timeout: float = 300) -> str:
        """`manage.py ARGS` against this cluster's database."""
        env = {**os.environ, "DATABASE_URL": self.url, "LOG_LEVEL": "WARNING"}
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def python(self, code: str) -> object:
        """Run `code` (which prints one JSON value last) in Django against this database."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])
