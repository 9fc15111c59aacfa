"""The benchmark's scenarios after the data is loaded (see bench/run.py)."""

import contextlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction

from accounts.models import LoyaltyAccount, Program
from accounts.selectors import search_accounts
from ledger import services
from ledger.models import LoyaltyEvent, Reason
from ledger.selectors import account_history
from ledger.services import Actor, bulk_writer, posting
from ledger.services import bulk as bulk_service
from loyalty_admin.models import ApiClient
from loyalty_admin.pagination import encode_cursor, keyset_page
from loyalty_admin.services import save_operator
from tests.api.test_adjust_queries import MAX_STATEMENTS, POSTGRESQL_STATEMENTS

from .run import HOST, PORT, ROOT, Results, ms, pct, request

SPREAD_ACCOUNTS = 100_000


@dataclass
class Data:
    program: Program
    hot: LoyaltyAccount
    client: ApiClient
    key: str
    session: str
    csrf: str
    spread_ids: list[uuid.UUID]
    accounts: int = 0
    events: int = 0
    hot_events: int = 0
    bulk_sample: list = field(default_factory=list)

    def refresh_counts(self) -> None:
        self.accounts = LoyaltyAccount.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM ledger_loyaltyevent")
            self.events = cursor.fetchone()[0]
        self.hot_events = LoyaltyEvent.objects.filter(account=self.hot).count()


def prepare(size) -> Data:
    program = Program.objects.resolve("main")
    hot = LoyaltyAccount.objects.get(program=program, customer_id="CUST-0000042")
    client, key = ApiClient.objects.create_key(
        name="Benchmark", scopes="read,write", rate_limit=1_000_000_000
    )
    manager, _ = save_operator(email="bench-manager@example.com", role="manager")
    session = SessionStore()
    session[SESSION_KEY] = str(manager.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = manager.get_session_auth_hash()
    session.create()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM accounts_loyaltyaccount WHERE id <> %s AND merged_into_id IS NULL "
            "ORDER BY random() LIMIT %s",
            [hot.pk, SPREAD_ACCOUNTS],
        )
        spread = [row[0] for row in cursor.fetchall()]
    return Data(
        program=program,
        hot=hot,
        client=client,
        key=key,
        session=session.session_key,
        csrf=uuid.uuid4().hex,  # an unmasked 32-character secret: cookie and header agree
        spread_ids=spread,
    )


def register_pgbench_accounts(ids: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_account")
        cursor.execute("CREATE TABLE bench_account (n integer PRIMARY KEY, id uuid NOT NULL)")
        with cursor.cursor.copy("COPY bench_account (n, id) FROM STDIN") as copy:
            for n, pk in enumerate(ids, start=1):
                copy.write_row((n, pk))
        cursor.execute("ANALYZE bench_account")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def http_samples(paths: list[str], headers: dict, method: str = "GET", bodies=None) -> dict:
    # One unmeasured pass first: every worker has loaded what the request needs (phone
    # metadata, templates) and the pages are in PostgreSQL's cache.
    for i, path in enumerate(paths):
        request(method, path, body=bodies[i] if bodies else None, headers=headers)
    server, total, bad = [], [], 0
    for i, path in enumerate(paths):
        body = bodies[i] if bodies else None
        status, s, t, _ = request(method, path, body=body, headers=headers)
        bad += status != 200
        server.append(s)
        total.append(t)
    return {"server": server, "total": total, "errors": bad}


def p50_p95(values: list[float]) -> str:
    return f"p50 {ms(pct(values, 50))}, p95 {ms(pct(values, 95))}"


def reads(results: Results, data: Data, size) -> None:
    rng = random.Random(7)
    auth = {"Authorization": f"Bearer {data.key}"}
    sample = list(
        LoyaltyAccount.objects.filter(pk__in=rng.sample(data.spread_ids, size.samples)).values_list(
            "email", "phone", "customer_id"
        )
    )
    queries = {
        "email prefix (2–6 characters)": [e[: rng.randint(2, 6)] for e, _, _ in sample],
        "phone prefix (+1 and 3–7 digits)": [p[: rng.randint(5, 9)] for _, p, _ in sample],
        "exact customer id": [c for _, _, c in sample],
    }
    for name, qs in queries.items():
        got = http_samples(
            [f"/api/v1/accounts?{urllib.parse.urlencode({'q': q})}" for q in qs], auth
        )

        def selector(qs=qs):
            for q in qs:
                list(search_accounts(program=data.program, query=q, limit=25))

        selector()  # warm up
        started = time.perf_counter()
        selector()
        in_process = (time.perf_counter() - started) * 1000 / len(qs)
        results.add(
            f"Search, {name}, GET /api/v1/accounts?q= (server time)",
            "p95 < 10 ms",
            f"{p50_p95(got['server'])}; {got['errors']} errors / {len(qs)}",
            f"selector alone (ORM + SQL, in-process): mean {ms(in_process)}",
            f"{pct(got['server'], 95) / 10:.2f} of budget",
            ok=pct(got["server"], 95) < 10 and not got["errors"],
            errors=got["errors"],
        )

    # History: the first page and a deep keyset page, for the hot account and for everyone.
    hot_events = LoyaltyEvent.objects.filter(account=data.hot).order_by("-created_at", "-id")
    deep_hot = hot_events.values_list("created_at", "id")[int(data.hot_events * 0.9)]
    everyone = LoyaltyEvent.objects.order_by("-created_at", "-id")
    deep_all = everyone.values_list("created_at", "id")[data.events // 2]
    cases = [
        ("hot account, first page", f"/api/v1/accounts/{data.hot.pk}/events?limit=25", None, True),
        (
            f"hot account, page at event {int(data.hot_events * 0.9):,}",
            f"/api/v1/accounts/{data.hot.pk}/events?limit=25&cursor={encode_cursor(*deep_hot)}",
            encode_cursor(*deep_hot),
            True,
        ),
        ("all events, first page", "/api/v1/events?limit=25", None, False),
        (
            f"all events, page at event {data.events // 2:,}",
            f"/api/v1/events?limit=25&cursor={encode_cursor(*deep_all)}",
            encode_cursor(*deep_all),
            False,
        ),
    ]
    for name, path, cursor, per_account in cases:
        got = http_samples([path] * size.samples, auth)

        def selector(cursor=cursor, per_account=per_account):
            if per_account:
                account_history(account=data.hot, cursor=cursor, limit=25)
            else:
                keyset_page(LoyaltyEvent.objects.all(), cursor=cursor, limit=25)

        in_process = timed(selector, size.samples)
        results.add(
            f"History, {name} (server time)",
            "p95 < 15 ms",
            f"{p50_p95(got['server'])}; {got['errors']} errors",
            f"selector alone: {p50_p95(in_process)}",
            f"{pct(got['server'], 95) / 15:.2f} of budget",
            ok=pct(got["server"], 95) < 15 and not got["errors"],
            errors=got["errors"],
        )

    # The console's HTMX preview, logged in as a manager.
    reason = Reason.objects.get(program=data.program, code="REWARD")
    ids = rng.sample(data.spread_ids, size.samples)
    headers = {
        "Cookie": f"sessionid={data.session}; csrftoken={data.csrf}",
        "X-CSRFToken": data.csrf,
        "HX-Request": "true",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    form = urllib.parse.urlencode(
        {"reason": reason.pk, "amount": 50, "history_title": "", "note": "", "token": uuid.uuid4()}
    ).encode()
    got = http_samples(
        [f"/accounts/{pk}/adjustments/preview" for pk in ids],
        headers,
        method="POST",
        bodies=[form] * len(ids),
    )
    health = http_samples(["/health"] * size.samples, {})
    results.add(
        "Preview partial (HTMX POST, logged in): round trip",
        "p95 < 50 ms",
        f"{p50_p95(got['total'])} (server {p50_p95(got['server'])}); {got['errors']} errors",
        f"GET /health round trip: {p50_p95(health['total'])}",
        f"{pct(got['total'], 95) / 50:.2f} of budget",
        ok=pct(got["total"], 95) < 50 and not got["errors"],
        errors=got["errors"] + health["errors"],
    )

    # The console's steps from the search box to a submitted adjustment, and the manager's
    # explorer: each page or fragment under 100 ms of server time; the account page's weight.
    pages = {
        "Search results (HTMX)": (
            [
                f"/?q={urllib.parse.quote(email[:4])}"
                for email in LoyaltyAccount.objects.filter(pk__in=ids).values_list(
                    "email", flat=True
                )
            ],
            True,
        ),
        "Account page": ([f"/accounts/{pk}/" for pk in ids], False),
        "History explorer, unfiltered": (["/history/"], False),
        "History explorer's totals and chart (HTMX, asked for once the page shows)": (
            ["/history/summary"],
            True,
        ),
        "Reversal form (HTMX, when opened)": (
            [
                f"/events/{pk}/reverse/form?origin=account"
                for pk in LoyaltyEvent.objects.filter(account_id__in=ids[:5]).values_list(
                    "pk", flat=True
                )[: size.samples]
            ],
            True,
        ),
    }
    for name, (paths, htmx) in pages.items():
        paths = (paths * size.samples)[: size.samples]
        step_headers = {"Cookie": headers["Cookie"], **({"HX-Request": "true"} if htmx else {})}
        got = http_samples(paths, step_headers)
        weight = ""
        if name == "Account page":
            _, _, _, body = request("GET", f"/accounts/{data.hot.pk}/", headers=step_headers)
            weight = f"hot account's page {len(body) / 1024:.1f} KB (budget 30 KB)"
        results.add(
            f"Console step: {name} (server time)",
            "p95 < 100 ms",
            f"{p50_p95(got['server'])}; {got['errors']} errors",
            weight,
            f"{pct(got['server'], 95) / 100:.2f} of budget",
            ok=pct(got["server"], 95) < 100 and not got["errors"],
            errors=got["errors"],
        )


def _bulk_file(customer_ids: list[str]) -> bytes:
    lines = ["customer_id,points,reason,history_title"]
    for cid in customer_ids:
        lines.append(f"{cid},25,REWARD,Benchmark bonus")
        lines.append(f"{cid},-10,REDEEM_DISCOUNT,Benchmark redemption")
    return ("\n".join(lines) + "\n").encode()


class _timing:
    """Adds up the time spent in some of a module's functions until restore()."""

    def __init__(self, module, names: list[str]) -> None:
        self.module, self.seconds = module, dict.fromkeys(names, 0.0)
        self.originals = {name: getattr(module, name) for name in names}
        for name, original in self.originals.items():
            setattr(module, name, self._timed(name, original))

    def _timed(self, name, original):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed

    def restore(self) -> None:
        for name, original in self.originals.items():
            setattr(self.module, name, original)


class _Rollback(Exception):
    pass


class _Statements:
    """Records what a block sends to PostgreSQL through this connection (each statement with
    its parameters and kind of cursor, and each COPY's data as written), to send it again
    later with nothing computed in between: the database's own pace for that work."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    @contextlib.contextmanager
    def recording(self):
        def execute(execute, sql, params, many, context):
            binary = not isinstance(context["cursor"].cursor, psycopg.ClientCursor)
            self.sent.append(("execute", sql, params, binary))
            return execute(sql, params, many, context)

        original_copy = psycopg.Cursor.copy

        @contextlib.contextmanager
        def copy(cursor, statement, *args, **kwargs):
            with original_copy(cursor, statement, *args, **kwargs) as writer:
                chunks: list = []
                self.sent.append(("copy", statement, chunks, False))
                write = writer.write
                writer.write = lambda data: (chunks.append(data), write(data))[1]
                yield writer

        psycopg.Cursor.copy = copy
        try:
            with connection.execute_wrapper(execute):
                yield self
        finally:
            psycopg.Cursor.copy = original_copy

    def replay(self, database_url: str) -> float:
        """Seconds to send it all again in one transaction, the deferred checks included
        (made immediate at the end), then roll it back."""
        with psycopg.connect(database_url) as conn:
            text, binary = psycopg.ClientCursor(conn), psycopg.Cursor(conn)
            started = time.perf_counter()
            for kind, statement, params, server_side in self.sent:
                cursor = binary if server_side else text
                if kind == "copy":
                    with cursor.copy(statement) as copy:
                        for chunk in params:
                            copy.write(chunk)
                    continue
                cursor.execute(statement, params)
                if cursor.description is not None:
                    cursor.fetchall()
            text.execute("SET CONSTRAINTS ALL IMMEDIATE")
            seconds = time.perf_counter() - started
            conn.rollback()
        return seconds


def bulk(results: Results, data: Data, size) -> None:
    manager = save_operator(email="bench-manager@example.com", role="manager")[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_id FROM accounts_loyaltyaccount WHERE id <> %s "
            "AND merged_into_id IS NULL ORDER BY random() LIMIT %s",
            [data.hot.pk, size.bulk_rows + size.bulk_reference_rows // 2],
        )
        customers = [row[0] for row in cursor.fetchall()]
    reference_customers = customers[: size.bulk_reference_rows // 2]
    customers = customers[size.bulk_reference_rows // 2 :]
    pace_customers = customers[size.bulk_rows // 2 :]
    customers = customers[: size.bulk_rows // 2]

    # Reference: the previous implementation, one `append` (ORM writes) per row; rolled back.
    actor = Actor.of_operator(manager)
    rows_actor = Actor.of_operator(manager, source=LoyaltyEvent.Source.BULK_IMPORT)
    batch, check = services.upload_bulk_file(
        program=data.program,
        actor=actor,
        filename="ref.csv",
        data=_bulk_file(reference_customers),
    )
    assert not check.errors, check.errors[:3]
    started = time.perf_counter()
    try:
        with transaction.atomic():
            lines = services.check_bulk_file(
                program=data.program, content=batch.content, actor=rows_actor, lock=True
            ).lines
            # The file's accounts (locked by the check) as the models `append` writes.
            # (A line's account pk is the id as text on PostgreSQL.)
            locked = {
                str(pk): account
                for pk, account in LoyaltyAccount.objects.select_related("program")
                .in_bulk({line.account.pk for line in lines})
                .items()
            }
            for line in lines:
                posting.append(
                    locked[str(line.account.pk)],
                    points=line.points,
                    affects_lifetime=line.reason.affects_lifetime,
                    type=LoyaltyEvent.Type.ADJUST_POINTS,
                    reason=line.reason,
                    reason_text=line.reason.label,
                    history_title=line.history_title,
                    note=line.note,
                    visible_to_customer=line.visible_to_customer,
                    actor=rows_actor,
                    batch=batch,
                )
            raise _Rollback
    except _Rollback:
        pass
    reference_rate = len(lines) / (time.perf_counter() - started)

    content = _bulk_file(customers)
    started = time.perf_counter()
    batch, check = services.upload_bulk_file(
        program=data.program, actor=actor, filename="bench.csv", data=content
    )
    check_seconds = time.perf_counter() - started
    assert not check.errors, check.errors[:3]
    writer_steps = ["_load_open_lots", "_insert_rows", "_update_rows", "_allocate_ids"]
    phases = [
        _timing(bulk_service, ["check_bulk_file", "write_lines"]),
        _timing(bulk_writer, writer_steps),
    ]
    started = time.perf_counter()
    try:
        services.apply_batch(batch=batch)
    finally:
        for phase in phases:
            phase.restore()
    apply_seconds = time.perf_counter() - started
    seconds = {name: s for phase in phases for name, s in phase.seconds.items()}
    steps = ", ".join(f"{name} {seconds[name]:.1f}" for name in writer_steps)
    events = seconds["write_lines"] - sum(seconds[name] for name in writer_steps)
    commit = apply_seconds - seconds["check_bulk_file"] - seconds["write_lines"]
    results.notes.append(
        f"Bulk apply of {check.rows:,} rows, seconds by phase: check_bulk_file "
        f"{seconds['check_bulk_file']:.1f} (the file read again and every row checked against "
        f"the locked accounts), write_lines {seconds['write_lines']:.1f} ({steps}, and "
        f"{events:.1f} for the events, computed while they stream to COPY), then {commit:.1f} "
        "for the commit (the deferred foreign-key checks) and the batch's row."
    )
    rate = check.rows / apply_seconds

    # The database's pace: a like file for as many other customers, applied once to record
    # what the apply sends (rolled back), then sent again with nothing computed in between.
    pace_batch, pace_check = services.upload_bulk_file(
        program=data.program, actor=actor, filename="pace.csv", data=_bulk_file(pace_customers)
    )
    assert not pace_check.errors, pace_check.errors[:3]
    statements = _Statements()
    try:
        with transaction.atomic(), statements.recording():
            services.apply_batch(batch=pace_batch)
            raise _Rollback
    except _Rollback:
        pass
    pace_seconds = statements.replay(os.environ["DATABASE_URL"])
    pace_rate = pace_check.rows / pace_seconds
    results.notes.append(
        f"Bulk apply at the database's pace: the {len(statements.sent)} statements and COPYs "
        f"that applying a like file of {pace_check.rows:,} rows for other customers sends "
        f"(recorded, rolled back), sent again in one transaction with nothing computed between "
        f"them, the deferred foreign-key checks included: {pace_seconds:.1f} s, "
        f"{pace_rate:,.0f} rows/s. The apply took {apply_seconds / pace_seconds:.2f}× that time."
    )
    results.add(
        f"Bulk apply of {check.rows:,} rows ({len(customers):,} customers, +25 then −10 each)",
        "≥ 10,000 rows/s",
        f"{rate:,.0f} rows/s ({apply_seconds:.1f} s; the upload's dry run took "
        f"{check_seconds:.1f} s)",
        f"its own statements replayed with no Python between them: {pace_rate:,.0f} rows/s "
        f"({pace_seconds:.1f} s); row-by-row ORM writes (previous apply_batch), {len(lines):,} "
        f"rows: {reference_rate:,.0f} rows/s",
        f"{rate / pace_rate:.2f}× the database's pace; {rate / reference_rate:.1f}× previous",
        ok=rate >= 10_000,
    )
    sample = random.Random(3).sample(customers, min(2_000, len(customers)))
    data.bulk_sample = list(
        LoyaltyAccount.objects.filter(customer_id__in=sample).values_list("pk", flat=True)
    )


def export_memory(results: Results, env: dict, size) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.export_csv", str(size.export_events)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    results.add(
        f"CSV export of {got['rows']:,} events: peak memory (streaming, bench script)",
        "bounded (not proportional to rows)",
        f"peak RSS {got['peak_mb']:.0f} MB (+{got['peak_mb'] - got['baseline_mb']:.0f} MB while "
        f"streaming {got['mb_out']:.0f} MB of CSV in {got['seconds']:.1f} s)",
        f"process after Django set-up: {got['baseline_mb']:.0f} MB; "
        f"{got['rows_per_s']:,.0f} rows/s",
        "",
    )


def profile(results: Results, data: Data, smoke: bool) -> None:
    from django.test import Client
    from pyinstrument import Profiler

    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {data.key}"}
    rng = random.Random(11)
    n = 30 if smoke else 400
    db_ms = [0.0]
    db_calls = [0]

    def measure(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db_ms[0] += (time.perf_counter() - started) * 1000
            db_calls[0] += 1

    def native():
        pk = rng.choice(data.spread_ids)
        response = client.post(
            f"/api/v1/accounts/{pk}/adjustments",
            {"reason": "REWARD", "points": 1},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **auth,
        )
        assert response.status_code == 201, response.content

    def bare():
        pk = rng.choice(data.spread_ids)
        response = client.post(
            f"/bench/bare/{pk}/adjust",
            {"points": 1},
            content_type="application/json",
            HTTP_X_BENCH_CLIENT=data.client.pk,
        )
        assert response.status_code == 201, response.content

    def square():
        pk = rng.choice(data.spread_ids)
        response = client.post(
            f"/v2/loyalty/accounts/{pk}/adjust",
            {"idempotency_key": str(uuid.uuid4()), "adjust_points": {"points": 1}},
            content_type="application/json",
            **auth,
        )
        assert response.status_code == 200, response.content

    figures, per_request = {}, {}
    for name, fn in (("native", native), ("square", square), ("bare", bare)):
        fn()  # warm up: the key and the reasons are cached as in a running server
        db_ms[0], db_calls[0] = 0.0, 0
        counts = []
        with connection.execute_wrapper(measure):
            total = 0.0
            for _ in range(n):
                before = db_calls[0]
                total += timed(fn, 1)[0]
                counts.append(db_calls[0] - before)
        figures[name] = (total / n, db_ms[0] / n, db_calls[0] / n)
        per_request[name] = sorted(counts)
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(n):
        native()
    profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    target = (
        Path(ROOT / "docs" / "profile-adjust.txt")
        if not smoke
        else Path(ROOT / "bench" / "profile-smoke.txt")
    )
    target.write_text(
        f"pyinstrument: {n} native POST /api/v1/accounts/{{id}}/adjustments in-process "
        "(django.test.Client, bench settings, PostgreSQL + Redis)\n\n" + text
    )
    (nt, nd, nq), (st, sd, sq), (bt, bd, bq) = (figures[k] for k in ("native", "square", "bare"))
    results.add(
        "Adjust in-process (profile run): time per request, of which SQL round trips",
        "—",
        f"native {ms(nt)} (SQL {ms(nd)} in {nq:.2f} statements, Python {ms(nt - nd)}); "
        f"Square {ms(st)} (SQL {ms(sd)} in {sq:.2f} statements, Python {ms(st - sd)})",
        f"bare view {ms(bt)} (SQL {ms(bd)} in {bq:.0f} statements, Python {ms(bt - bd)})",
        f"{bt / nt:.2f}× bare (native), {bt / st:.2f}× bare (Square)",
    )
    # A request that refreshes the per-process cache of keys or reasons (every few seconds)
    # reads them once more: the median is the steady state, the maximum shows the refresh.
    medians = {k: pct(v, 50) for k, v in per_request.items()}
    results.add(
        "SQL statements per adjust request (BEGIN/COMMIT not counted; key check and "
        "idempotency included)",
        f"≤ {MAX_STATEMENTS} (the test allows {POSTGRESQL_STATEMENTS} on PostgreSQL)",
        f"native {medians['native']:.0f} (max {per_request['native'][-1]}), Square "
        f"{medians['square']:.0f} (max {per_request['square'][-1]}) in {n} requests each",
        f"bare view {medians['bare']:.0f}",
        "",
        ok=max(medians["native"], medians["square"]) <= POSTGRESQL_STATEMENTS,
    )
    results.raw["profile"] = {**figures, "statements": per_request, "file": str(target)}


def memory(results: Results, data: Data, size, server) -> None:
    """One worker's resident memory after 100 adjust requests and after many more: a
    per-request leak (a cache that grows with accounts or keys) shows as growth."""
    import http.client

    connection_ = http.client.HTTPConnection(HOST, PORT, timeout=30)
    rng = random.Random(5)
    auth = {"Authorization": f"Bearer {data.key}", "Content-Type": "application/json"}
    body = json.dumps({"reason": "REWARD", "points": 1})
    errors, rss = 0, {}
    for n in range(1, size.memory_requests + 1):
        pk = rng.choice(data.spread_ids)
        connection_.request(
            "POST",
            f"/api/v1/accounts/{pk}/adjustments",
            body=body,
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        response = connection_.getresponse()
        response.read()
        errors += response.status != 201
        if n in (100, size.memory_requests):
            rss[n] = server.rss_mb()[0]
    connection_.close()
    first, last = rss[100], rss[size.memory_requests]
    growth = (last - first) / first
    results.add(
        f"Memory: the worker's RSS after {size.memory_requests:,} adjust requests vs after 100",
        "within 10 %",
        f"{last:.1f} MB after {size.memory_requests:,} ({growth:+.1%}); {errors} errors",
        f"{first:.1f} MB after 100",
        "",
        ok=abs(growth) <= 0.10 and not errors,
        errors=errors,
    )
