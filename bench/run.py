"""`make bench`: every figure of docs/performance.md next to its reference, in one run.

    uv run python -m bench.run            # 1M accounts, 5M events: 11 to 40 minutes, by host
    uv run python -m bench.run --smoke    # small data, 2 s of load: CI's crash test

It (re)creates its own database (BENCH_DATABASE_URL, default .../bench), seeds it, serves the
app with gunicorn (4 workers) and Redis, drives it with wrk from another process, runs pgbench
against the same database, and writes the table into docs/performance.md (full run) or prints
it (smoke). Nothing else on the machine is load-tested.
"""

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PGBENCH = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
HOST, PORT = "127.0.0.1", int(os.environ.get("BENCH_PORT", "8765"))
BASE = f"http://{HOST}:{PORT}"


@dataclass(frozen=True)
class Size:
    accounts: int
    hot_events: int
    total_events: int
    load_seconds: int
    bulk_rows: int
    bulk_reference_rows: int
    export_events: int
    samples: int
    memory_requests: int


FULL = Size(1_000_000, 100_000, 5_000_000, 12, 100_000, 3_000, 1_000_000, 200, 10_000)
SMOKE = Size(3_000, 2_000, 15_000, 2, 2_000, 200, 10_000, 20, 1_000)


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    reference: str = ""
    ratio: str = ""
    ok: bool | None = None
    errors: int = 0  # failed requests: the smoke run (CI) fails on any


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    def add(self, *args, **kwargs) -> None:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(
            f"  {row.figure}: {row.measured}  (ref {row.reference or '-'}) {row.ratio}", flush=True
        )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def ms(x: float) -> str:
    return f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms"


# --- Environment ----------------------------------------------------------------------------


def environment(database_url: str) -> dict[str, str]:
    var = Path(tempfile.gettempdir()) / "loyalty-bench-var"
    var.mkdir(exist_ok=True)
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on localhost; TLS ends at the load balancer
        "LOYALTY_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT),
    }


def recreate_database(database_url: str) -> None:
    parts = urllib.parse.urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def checkpoint(database_url: str) -> str:
    """Write out what the seed and the top-up left for PostgreSQL's next checkpoint (about half
    a gigabyte of WAL on the full run), so that it is not written during whichever load step
    comes first: a checkpoint spreads its writes over tens of seconds, and the native and
    Square steps, which follow the seed at once, would share the cores and the disk with it,
    where the bare view, a minute later, would not. Needs a superuser or the pg_checkpoint
    role; a note says which."""
    started = time.monotonic()
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        return "Before the load steps: no CHECKPOINT (the bench's role may not run one)."
    return (
        f"Before the load steps: a CHECKPOINT wrote out what the seed left, in "
        f"{time.monotonic() - started:.1f} s."
    )


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem = f"{int(mem) / 1024 / 1024:.0f} GB"
    except OSError:
        mem = "unknown"
    return {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# --- gunicorn -------------------------------------------------------------------------------


class Server:
    def __init__(self, env: dict, workers: int = 4) -> None:
        self.env, self.workers = env, workers
        self.log = open(Path(tempfile.gettempdir()) / "loyalty-bench-gunicorn.log", "w")  # noqa: SIM115

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "loyalty_admin.wsgi",
                "--workers",
                str(self.workers),
                "--bind",
                f"{HOST}:{PORT}",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "--no-control-socket",  # not the shared default socket other servers use
            ],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{BASE}/health", timeout=2) as response:
                    self.health = json.loads(response.read())
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        self.process.terminate()
        raise RuntimeError("gunicorn did not answer /health in 60 s")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def workers_pids(self) -> list[int]:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(c) for c in children]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the workers (and the master)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.process.pid, *self.workers_pids()]:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def rss_mb(self) -> list[float]:
        """Each worker's resident memory."""
        out = []
        for pid in self.workers_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        return out


def request(method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    """(status, server ms from Server-Timing, round-trip ms, body)."""
    req = urllib.request.Request(f"{BASE}{path}", data=body, method=method, headers=headers or {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, data, timing = (
                response.status,
                response.read(),
                response.headers.get("Server-Timing", ""),
            )
    except urllib.error.HTTPError as exc:
        status, data, timing = exc.code, exc.read(), exc.headers.get("Server-Timing", "")
    total = (time.perf_counter() - started) * 1000
    server = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    return status, server, total, data


# --- Load: wrk and pgbench --------------------------------------------------------------------


def wrk(
    mode: str,
    ids_file: Path,
    key: str,
    client_id: str,
    seconds: int,
    connections: int = 8,
    server: "Server | None" = None,
) -> dict:
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_IDS": str(ids_file),
        "BENCH_KEY": key,
        "BENCH_CLIENT": client_id,
    }
    cpu_before = server.cpu_seconds() if server else 0.0
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "adjust.lua"),
            BASE,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("BENCH_JSON "))
    got = json.loads(line.removeprefix("BENCH_JSON "))
    if server:
        # The app's own CPU per request: stable on a shared machine, where requests/s is not.
        got["cpu_ms"] = (server.cpu_seconds() - cpu_before) * 1000 / max(1, got["requests"])
    return got


def pgbench(
    database_url: str, accounts: int, client_id: str, seconds: int, clients: int = 8
) -> dict:
    from bench.sql import PGBENCH_SCRIPT

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "adjust.sql"
        script.write_text(PGBENCH_SCRIPT.replace(":'client'", "'" + client_id + "'"))
        parts = urllib.parse.urlsplit(database_url)
        result = subprocess.run(
            [
                PGBENCH,
                "-n",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                str(script),
                "-D",
                f"accounts={accounts}",
                "--log",
                f"--log-prefix={tmp}/tx",
                "-h",
                parts.hostname,
                "-p",
                str(parts.port or 5432),
                "-U",
                parts.username or "postgres",
                parts.path.lstrip("/"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        latencies = []
        for log_file in Path(tmp).glob("tx*"):
            for line in log_file.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000)
        tps = next(
            float(x.split("=")[1].split()[0])
            for x in result.stdout.splitlines()
            if x.startswith("tps")
        )
        failed = next(
            (
                int(x.split(":")[1].split()[0])
                for x in result.stdout.splitlines()
                if "failed transactions" in x
            ),
            0,
        )
    return {
        "rps": tps,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "errors": failed,
        "requests": len(latencies),
    }


def load_row(name: str, result: dict) -> str:
    cpu = f"; app CPU {result['cpu_ms']:.2f} ms/request" if "cpu_ms" in result else ""
    return (
        f"{result['rps']:,.0f} req/s; p50/p95/p99 {result['p50']:.1f}/{result['p95']:.1f}/"
        f"{result['p99']:.1f} ms; {result['errors']} errors / {result['requests']:,}{cpu}"
    )


# --- The run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    default_db = "bench_smoke" if args.smoke else "bench"
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_db}"
    )
    env = environment(database_url)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    results = Results()
    started = time.monotonic()
    results.raw["machine_before"] = machine()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk (make bench tries this when run as root)")

    # BENCH_REUSE=1 (for working on the benchmark itself) keeps an already loaded database;
    # a real run always starts from an empty one, so the seed is timed too.
    reuse = os.environ.get("BENCH_REUSE") == "1"
    if not reuse:
        log(f"database {database_url}: recreate, migrate")
        recreate_database(database_url)
    manage(env, "migrate", "--no-input", "-v0")
    log(f"seed_demo --accounts {size.accounts:,}")
    t0 = time.monotonic()
    seeded = manage(env, "seed_demo", "--accounts", str(size.accounts))
    seed_seconds = time.monotonic() - t0
    results.raw["seed_output"] = seeded.stdout.strip().splitlines()[-1]

    import django

    django.setup()
    from bench import load_events, scenarios

    data = scenarios.prepare(size)
    log(f"top up: hot account {size.hot_events:,} events, {size.total_events:,} events in all")
    t0 = time.monotonic()
    topped = load_events.top_up(
        program=data.program,
        hot_account=data.hot,
        client_id=data.client.pk,
        hot_events=0 if reuse else size.hot_events,
        total_events=size.total_events,
    )
    topup_seconds = time.monotonic() - t0
    data.refresh_counts()
    results.add(
        "Seed 1M accounts (seed_demo, COPY)"
        if not args.smoke
        else f"Seed {size.accounts:,} accounts",
        "< 60 s" if not args.smoke else "—",
        f"{seed_seconds:.1f} s ({size.accounts / seed_seconds:,.0f} accounts/s)",
        f"+ {topped['hot'] + topped['spread']:,} extra events in {topup_seconds:.0f} s "
        "(bench loader)",
        ok=seed_seconds < 60 if not args.smoke else None,
    )
    results.notes.append(
        f"Data: {data.accounts:,} accounts, {data.events:,} events, hot account "
        f"{data.hot_events:,} events; seed said: {results.raw['seed_output']}"
    )
    bad = load_events.check_touched([data.hot.pk, *topped["touched_sample"]])
    assert not bad, bad[:5]
    results.notes.append(checkpoint(database_url))

    ids_file = Path(tempfile.gettempdir()) / "loyalty-bench-ids.txt"
    ids_file.write_text("\n".join(str(pk) for pk in data.spread_ids) + "\n")
    hot_file = Path(tempfile.gettempdir()) / "loyalty-bench-hot.txt"
    hot_file.write_text(f"{data.hot.pk}\n")
    scenarios.register_pgbench_accounts(data.spread_ids)

    manage(env, "collectstatic", "--no-input", "-v0")
    with Server(env) as server:
        results.raw["health"] = server.health
        log(f"gunicorn up: /health {server.health}")
        results.add(
            "GET /health under gunicorn (4 workers)",
            "200, database and Redis ok",
            json.dumps(server.health["checks"]),
            ok=server.health["status"] == "ok" and "redis" in server.health["checks"],
        )
        # Warm every worker's connections and imports before measuring.
        wrk("native", ids_file, data.key, data.client.pk, 2)
        wrk("bare", ids_file, data.key, data.client.pk, 2)

        log("adjust throughput: native, Square, bare view, pgbench, hot account")
        seconds = size.load_seconds
        native = wrk("native", ids_file, data.key, data.client.pk, seconds, server=server)
        square = wrk("square", ids_file, data.key, data.client.pk, seconds, server=server)
        bare = wrk("bare", ids_file, data.key, data.client.pk, seconds, server=server)
        pg = pgbench(database_url, len(data.spread_ids), data.client.pk, seconds)
        hot = wrk("native", hot_file, data.key, data.client.pk, seconds, server=server)
        hot_bare = wrk("bare", hot_file, data.key, data.client.pk, seconds, server=server)
        results.raw["load"] = {
            "native": native,
            "square": square,
            "bare": bare,
            "pgbench": pg,
            "hot": hot,
            "hot_bare": hot_bare,
        }
        for name, result in (("Native adjust", native), ("Square adjust", square)):
            ratio = result["rps"] / bare["rps"]
            results.add(
                f"{name} (POST, 8 conns, spread over {len(data.spread_ids):,} accounts)",
                "≥ 0.5× bare view (aim 0.8×)",
                load_row(name, result),
                f"bare view {bare['rps']:,.0f} req/s (p50/p95/p99 {bare['p50']:.1f}/"
                f"{bare['p95']:.1f}/"
                f"{bare['p99']:.1f} ms); pgbench {pg['rps']:,.0f} tx/s (p50/p95/p99 "
                f"{pg['p50']:.1f}/{pg['p95']:.1f}/{pg['p99']:.1f} ms)",
                f"{ratio:.2f}× bare, {result['rps'] / pg['rps']:.2f}× pgbench; app CPU "
                f"{bare['cpu_ms'] / result['cpu_ms']:.2f}× bare",
                ok=ratio >= 0.5 and result["errors"] == 0,
                errors=result["errors"],
            )
        results.add(
            "Native adjust, one hot account",
            "≥ 0.5× bare view (serialized by the row lock)",
            load_row("hot", hot),
            f"bare view {hot_bare['rps']:,.0f} req/s; app CPU {hot_bare['cpu_ms']:.2f} ms/request",
            f"{hot['rps'] / hot_bare['rps']:.2f}× bare",
            ok=hot["rps"] >= 0.5 * hot_bare["rps"] and hot["errors"] == 0,
            errors=hot["errors"] + bare["errors"] + hot_bare["errors"] + pg["errors"],
        )

        log("search, history, preview")
        scenarios.reads(results, data, size)

    log("memory: one worker's RSS after 100 and after many adjust requests")
    with Server(env, workers=1) as server:
        scenarios.memory(results, data, size, server)

    log("bulk apply")
    scenarios.bulk(results, data, size)
    log("CSV export memory")
    scenarios.export_memory(results, env, size)
    log("profile")
    scenarios.profile(results, data, args.smoke)

    touched = [
        data.hot.pk,
        *random.Random(1).sample(data.spread_ids, min(500, len(data.spread_ids))),
    ]
    bad = load_events.check_touched(touched + data.bulk_sample)
    results.add(
        "ledger_discrepancies on touched accounts",
        "empty",
        f"{len(bad)} discrepancies in {len(touched) + len(data.bulk_sample):,} accounts",
        ok=not bad,
    )
    results.raw["machine_after"] = machine()
    results.raw["elapsed_s"] = round(time.monotonic() - started)
    table = render(results, args.smoke)
    print(table)
    out = BENCH / ("results-smoke.json" if args.smoke else "results.json")
    out.write_text(json.dumps(results.raw, indent=2, default=str) + "\n")
    if not args.smoke:
        write_docs(table)
    failed = [r for r in results.rows if r.ok is False]
    log(f"done in {results.raw['elapsed_s']} s; {len(failed)} figure(s) below target")
    # The smoke run (CI) asserts that nothing crashed: no failed request, a consistent ledger,
    # and no adjust request making more SQL statements than tests/api/test_adjust_queries.py
    # allows.
    crashes = [
        r.figure
        for r in results.rows
        if r.errors
        or (r.figure.startswith(("ledger_discrepancies", "GET /health", "SQL")) and not r.ok)
    ]
    if crashes:
        sys.exit(
            f"failed requests, too many SQL statements or an inconsistent ledger in: {crashes}"
        )


def render(results: Results, smoke: bool) -> str:
    before, after = results.raw["machine_before"], results.raw["machine_after"]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"{' (SMOKE: tiny data)' if smoke else ''}, "
        f"{results.raw['elapsed_s']} s in all. Machine: {before['cpu']}, {before['memory']} RAM, "
        f"{before['os']}, Python {before['python']}, PostgreSQL 15 and Redis on the same machine, "
        f"gunicorn 4 sync workers, wrk 2 threads/8 connections, pgbench 8 clients. "
        f"Load average (1/5/15 min) before: {before['loadavg']}, after: {after['loadavg']} "
        "(other work may share the machine).",
        "",
        "| figure | target | measured | reference (same run) | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in results.rows:
        mark = {True: " ✅", False: " ❌", None: ""}[row.ok]
        lines.append(
            f"| {row.figure} | {row.target} | {row.measured}{mark} | {row.reference} "
            f"| {row.ratio} |"
        )
    lines.append("")
    lines.extend(f"- {note}" for note in results.notes)
    return "\n".join(lines) + "\n"


def write_docs(table: str) -> None:
    doc = ROOT / "docs" / "performance.md"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    doc.write_text(f"{head}{begin}\n{table}{end}{tail}")


if __name__ == "__main__":
    main()
