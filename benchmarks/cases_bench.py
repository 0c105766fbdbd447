"""Case centre benchmarks: P3, durable case submissions on PostgreSQL (QUALITY.md target ≥ 500/s
sustained, p99 ≤ 50 ms, none lost on kill -9), and P4, a clerk's work queue with 1,000,000 cases
in the database for a clerk who sees only their own department (target p99 ≤ 100 ms).

Against PostgreSQL on 127.0.0.1 (database tongban_bench_cases, recreated unless --reuse, with the
demo province) it

P4  generates --cases cases (1,000,000) with set-based SQL over the implementations of the
    --departments (100) departments with the most implementations: three years of submissions,
    ids in submission order, mostly concluded or delivered, the recent weeks in the active
    states; a clerk with a role in exactly one of those departments (the busiest); then
    a. prints EXPLAIN ANALYZE of the queue statements and of access.scope's department subquery,
    b. times ``selectors.work_queue`` in-process: every tab of the workbench, first page and
       following cursor pages, --calls per run,
    c. times ``GET /workbench/`` (the same tabs and cursor pages, a session made server-side) on
       gunicorn with wrk;
P3  times ``services.case_submit`` of prepared drafts (the registration code from the day
    sequence, the case, its event, the audit row and the case-progress message in one
    transaction) from 1, 2 and 4 processes, and ``forms.case_apply`` (validation, the Argon2id
    hash of the query password, the draft and the submission) from 2 processes, spread over the
    implementations of other departments;
    then the kill -9 test: child processes submit and print each registration code only after
    the commit returned; they are SIGKILLed mid-run (by process id) and every printed code must be
    in the database, once, with its event, audit row and message.

    .venv/bin/python benchmarks/cases_bench.py --runs 3
    .venv/bin/python benchmarks/cases_bench.py --runs 1 --cases 100000 --seconds 5   # a quick check
    .venv/bin/python benchmarks/cases_bench.py --reuse --skip-p4                      # only P3

Client, server and PostgreSQL share the machine's cores: the figures are a floor. Everything it
starts (gunicorn, submitters) it stops again by process id; it only targets 127.0.0.1.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from http_bench import BIN, HOST, bench_environment, ensure_wrk, run_wrk, sh, start_server
from messaging_bench import _in_threads, machine_line, median_of, pct, port_free, postgres_version, stop

DB_NAME = "tongban_bench_cases"
CITIZEN_PREFIX = "bench.case.citizen."
CITIZENS = 1000
CLERK = "bench.clerk.cases"
CLERK_PASSWORD = "Bench-clerk-password-0001"
KILL_PREFIX = "bench.case.kill."
GENERATED_MARK = "性能测试办件"
P3_IMPLEMENTATIONS = 200
FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "申请人姓名": {"type": "string", "title": "申请人姓名", "maxLength": 30},
        "申请事由": {"type": "string", "title": "申请事由", "maxLength": 200},
        "份数": {"type": "integer", "title": "份数"},
        "是否加急": {"type": "boolean", "title": "是否加急"},
    },
    "required": ["申请人姓名", "申请事由"],
}
FORM_DATA = {"申请人姓名": "测试市民", "申请事由": "性能测试：在线申请", "份数": "1", "是否加急": ""}


# --- data (after django.setup()) -------------------------------------------------------------------


def citizens() -> list[Any]:
    """The benchmark's applicants (with a mobile number, so each case-progress message queues an
    SMS as for a real citizen). Idempotent."""
    from tongban.identity import services as identity
    from tongban.identity.models import Account

    existing = set(Account.objects.filter(username__startswith=CITIZEN_PREFIX).values_list("username", flat=True))
    missing = [i for i in range(CITIZENS) if f"{CITIZEN_PREFIX}{i:04d}" not in existing]
    if missing:
        started = time.monotonic()

        def create(numbers: list[int]) -> None:
            for i in numbers:
                identity.citizen_account_upsert(
                    actor=None,
                    username=f"{CITIZEN_PREFIX}{i:04d}",
                    password=CLERK_PASSWORD,
                    display_name=f"测试市民{i:04d}",
                    mobile=f"136{i:08d}",  # distinct from the messaging benchmark's 137…
                )

        # Argon2id per account dominates and releases the GIL: one thread per core.
        _in_threads(os.cpu_count() or 2, create, missing)
        print(f"{len(missing)} citizens created in {time.monotonic() - started:.1f} s", flush=True)
    return list(Account.objects.filter(username__startswith=CITIZEN_PREFIX).order_by("username")[:CITIZENS])


def queue_departments(count: int) -> list[int]:
    """The ``count`` departments with the most implementations (ties by id): the generated cases' departments."""
    from django.db.models import Count

    from tongban.catalog.models import Implementation

    rows = (
        Implementation.objects.values("department_id")
        .annotate(n=Count("id"))
        .order_by("-n", "department_id")
        .values_list("department_id", flat=True)[:count]
    )
    return list(rows)


GENERATE_SQL = """
CREATE TEMP TABLE bench_impl AS
  SELECT (row_number() OVER (ORDER BY i.id) - 1)::int AS idx, i.id, i.code, i.department_id, i.legal_limit, i.promised_limit
  FROM catalog_implementation i WHERE i.department_id = ANY(%(departments)s);
CREATE INDEX ON bench_impl (idx);
ANALYZE bench_impl;
INSERT INTO cases_case (
  public_id, code, state, version, channel, form_data, submitted_at, accepted_on, legal_limit_days, promised_limit_days,
  extension_days, suspended_since, suspended_working_days, due_legal, due_promised, conclusion, submission_round,
  query_password_hash, commitment_text, commitment_signed_at, created_at, updated_at, applicant_id, bundle_application_id,
  form_id, implementation_id, assignee_id, claimed_at, delivery_address, delivery_method, department_id, intake_by_id,
  reminded_stage, step_due)
WITH g AS (
  -- row i: a skewed choice of implementation (some items are much busier), a day in the last
  -- %(span)s days rising with i (ids follow submission order), two dice
  SELECT i, floor((SELECT count(*) FROM bench_impl) * power(random(), 1.5))::int AS idx,
         current_date - 1 - floor((1 - i::float8 / %(n)s) * %(span)s)::int AS day, random() AS r, random() AS r2
  FROM generate_series(0, %(n)s - 1) AS i
), s AS (
  SELECT g.*, b.id AS impl_id, b.code AS impl_code, b.department_id, b.legal_limit, b.promised_limit,
    CASE WHEN current_date - g.day > %(recent)s THEN
      -- older than the recent weeks: closed, except a few long-running cases
      CASE WHEN r < 0.70 THEN 'delivered' WHEN r < 0.89 THEN 'concluded' WHEN r < 0.92 THEN 'refused'
           WHEN r < 0.96 THEN 'withdrawn' WHEN r < 0.99 THEN 'delivered' WHEN r < 0.995 THEN 'accepted' ELSE 'suspended' END
    ELSE
      CASE WHEN r < 0.01 THEN 'draft' WHEN r < 0.16 THEN 'submitted' WHEN r < 0.21 THEN 'correcting' WHEN r < 0.56 THEN 'accepted'
           WHEN r < 0.59 THEN 'supplementing' WHEN r < 0.61 THEN 'suspended' WHEN r < 0.66 THEN 'decided'
           WHEN r < 0.81 THEN 'concluded' WHEN r < 0.95 THEN 'delivered' WHEN r < 0.97 THEN 'refused' ELSE 'withdrawn' END
    END AS state,
    row_number() OVER (PARTITION BY g.idx, g.day ORDER BY g.i) AS number
  FROM g JOIN bench_impl b ON b.idx = g.idx
), t AS (
  SELECT s.*,
    (s.day + time '08:30' + r2 * interval '9 hours') AT TIME ZONE 'Asia/Shanghai' AS at,
    CASE WHEN s.state IN ('accepted', 'supplementing', 'suspended', 'decided', 'concluded', 'delivered') THEN s.day + 1 END AS accepted
  FROM s
)
SELECT gen_random_uuid(),
  CASE WHEN state = 'draft' THEN NULL ELSE impl_code || to_char(day, 'YYYYMMDD') || lpad(number::text, 4, '0') END,
  state,
  CASE state WHEN 'draft' THEN 1 WHEN 'submitted' THEN 2 WHEN 'supplementing' THEN 4 WHEN 'suspended' THEN 4 WHEN 'decided' THEN 5
             WHEN 'concluded' THEN 6 WHEN 'delivered' THEN 7 ELSE 3 END,
  CASE WHEN r2 < 0.2 THEN 0 ELSE 1 END,
  jsonb_build_object('申请人姓名', '测试市民', '申请事由', %(mark)s || ' ' || i),
  CASE WHEN state = 'draft' THEN NULL ELSE at END,
  accepted, legal_limit, promised_limit, 0,
  CASE WHEN state = 'suspended' THEN accepted + 3 END, 0,
  accepted + (legal_limit * 7 / 5 + 1), CASE WHEN promised_limit > 0 THEN accepted + (promised_limit * 7 / 5 + 1) END,
  CASE WHEN state IN ('decided', 'concluded', 'delivered') THEN (CASE WHEN r2 < 0.97 THEN 0 ELSE 1 END)
       WHEN state = 'refused' THEN 6 WHEN state = 'withdrawn' THEN 5 END,
  CASE WHEN state = 'draft' THEN 0 ELSE 1 END,
  '', '', NULL, at - interval '10 minutes', at + interval '1 day',
  (%(applicants)s::bigint[])[1 + (i::bigint * 7919) %% array_length(%(applicants)s::bigint[], 1)],
  NULL, NULL, impl_id, NULL, NULL, '', 1, department_id, NULL, 0, NULL
FROM t ORDER BY i;
DROP TABLE bench_impl;
"""


def generate_cases(database_url: str, count: int, departments: list[int], applicants: list[int]) -> None:
    """``count`` cases in one INSERT … SELECT generate_series, then VACUUM ANALYZE."""
    from django.db import connection

    existing = _generated()
    if existing >= count:
        print(f"{existing:,} generated cases already in the database (--reuse)", flush=True)
        return
    if existing:
        raise SystemExit(f"{existing:,} generated cases, fewer than --cases {count:,}: run without --reuse")
    started = time.monotonic()
    with connection.cursor() as cursor:
        params: dict[str, Any] = {
            "departments": departments,
            "n": count,
            "span": 1095,
            "recent": 60,
            "mark": GENERATED_MARK,
            "applicants": applicants,
        }
        for statement in GENERATE_SQL.split(";\n"):
            if statement.strip():
                cursor.execute(statement, {k: v for k, v in params.items() if f"%({k})s" in statement})
    connection.close()
    inserted = time.monotonic() - started
    started = time.monotonic()
    subprocess.run(["psql", database_url, "-qc", "VACUUM ANALYZE"], check=True)
    print(f"{count:,} cases generated in {inserted:.0f} s (set-based SQL), VACUUM ANALYZE {time.monotonic() - started:.0f} s", flush=True)


def _generated() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM cases_case WHERE form_data->>'申请事由' LIKE %s", [GENERATED_MARK + " %"])
        return int(cursor.fetchone()[0])


def clerk_account(department_id: int) -> Any:
    """A reviewer with a role in exactly one department, second factor enrolled (so the console
    lets them in), password fresh."""
    from tongban.identity import services as identity
    from tongban.identity import staff
    from tongban.identity.models import Account, StaffRole
    from tongban.org.models import Department

    department = Department.objects.get(pk=department_id)
    account = Account.objects.filter(username=CLERK).first()
    if account is None:
        account = identity.staff_account_upsert(
            actor=None, username=CLERK, password=CLERK_PASSWORD, display_name="测试审核人员", kind="staff", department=department
        )
    staff.system_role_grant(account=account, role=StaffRole.Role.REVIEWER, department=department)
    staff.totp_enrol_known_secret(actor=None, account=account, secret=staff.demo_totp_secret(CLERK))
    held = set(StaffRole.objects.filter(account=account).values_list("department_id", flat=True))
    assert held == {department_id}, f"the clerk must hold roles in exactly one department, holds {held}"
    account.refresh_from_db()
    return account


def session_cookie(account: Any) -> str:
    """A signed-in console session made server-side (what the password + TOTP sign-in leaves)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(account.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = account.get_session_auth_hash()
    store.set_expiry(3600)
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def p3_implementations(excluded: list[int]) -> list[Any]:
    """Implementations of departments outside the queue's, each with an application form."""
    from tongban.cases import forms
    from tongban.catalog.models import Implementation

    chosen = list(
        Implementation.objects.exclude(department_id__in=excluded).select_related("base").order_by("id")[::8][:P3_IMPLEMENTATIONS]
    )
    for implementation in chosen:
        if forms.form_current(implementation) is None:
            forms.application_form_save(actor=None, implementation=implementation, schema=FORM_SCHEMA, layout={})
    return chosen


def backend_cpu() -> float | None:
    """CPU seconds (user + system) the PostgreSQL backend of this process's connection has used,
    from /proc (PostgreSQL runs on this machine); None where it cannot be read. With the client's
    own CPU time it gives a cost per operation that other load on the machine hardly changes."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_cost(run: Any, count: int) -> tuple[float, float | None]:
    """Milliseconds of CPU per call of ``run()``: this process, and its PostgreSQL backend."""
    before_db, before = backend_cpu(), time.process_time()
    for _ in range(count):
        run()
    client = time.process_time() - before
    after_db = backend_cpu()
    server = after_db - before_db if before_db is not None and after_db is not None else None
    return 1000 * client / count, (1000 * server / count if server is not None else None)


def cpu_line(client_ms: float, server_ms: float | None, cores: int) -> str:
    if server_ms is None:
        return f"CPU per call: {client_ms:.2f} ms in Python (the PostgreSQL backend's not readable)"
    total = client_ms + server_ms
    return (
        f"CPU per call: {client_ms:.2f} ms in Python + {server_ms:.2f} ms in the PostgreSQL backend = {total:.2f} ms, "
        f"so {cores} cores top out near {1000 * cores / total:,.0f}/s when nothing else runs"
    )


# --- P4: the clerk's work queue ---------------------------------------------------------------------------


def queue_tabs() -> list[tuple[str, list[str]]]:
    from tongban.web.workbench.views import TABS

    return [(key, [str(s) for s in states]) for key, _label, states in TABS]


def explain(label: str, sql: str, params: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"\n  EXPLAIN ANALYZE — {label}:", flush=True)
    for line in plan:
        print(f"    {line}", flush=True)


def p4_explain(clerk: Any) -> None:
    from tongban.cases import selectors
    from tongban.cases.models import Case
    from tongban.common.pagination import decode_cursor
    from tongban.identity import access

    active = ["submitted", "correcting", "accepted", "supplementing", "suspended"]
    scoped = selectors._scoped(clerk).select_related("implementation__base")
    first = scoped.filter(state__in=active).order_by("id")[:51]
    explain("work_queue, the active states, first page", *first.query.sql_with_params())
    cursor = None
    for _ in range(3):
        cursor = selectors.work_queue(account=clerk, states=["accepted"], cursor=cursor).next_cursor
        if not cursor:
            break
    if cursor:
        later = scoped.filter(state__in=["accepted"], id__gt=decode_cursor(cursor)).order_by("id")[:51]
        explain("work_queue, tab 办理中 (accepted), the fourth page (cursor)", *later.query.sql_with_params())
    every = scoped.order_by("id")[:51]
    explain("work_queue, tab 全部 (no state filter), first page", *every.query.sql_with_params())
    departments = access.departments_for(clerk).order_by().values("pk")
    explain("access.scope's department subquery (departments_for) on its own", *departments.query.sql_with_params())
    subquery = access.scope(Case.objects.exclude(state="draft"), clerk, field="department").select_related("implementation__base")
    old = subquery.filter(state__in=active).order_by("id")[:51]
    explain("for comparison: the active states, first page, scoped by access.scope's subquery", *old.query.sql_with_params())
    count = Case.objects.filter(department_id=clerk.department_id).count()
    print(f"\n  (the clerk's department holds {count:,} cases)", flush=True)


def p4_walk(clerk: Any, calls: int, pages: int) -> dict[str, Any]:
    """``calls`` work_queue calls: each tab, its first page and up to ``pages`` - 1 cursor pages, round robin."""
    from tongban.cases import selectors

    tabs = queue_tabs()
    first: list[float] = []
    following: list[float] = []
    rows = 0
    while len(first) + len(following) < calls:
        for _key, states in tabs:
            cursor = None
            for n in range(pages):
                started = time.perf_counter()
                page = selectors.work_queue(account=clerk, states=states, cursor=cursor, limit=50)
                for case in page.items:  # what the page renders of each row
                    rows += bool(case.implementation.base.name)
                (first if n == 0 else following).append(time.perf_counter() - started)
                cursor = page.next_cursor
                if not cursor or len(first) + len(following) >= calls:
                    break
            if len(first) + len(following) >= calls:
                break
    every = first + following
    return {
        "calls": len(every),
        "rows": rows,
        "p50_ms": 1000 * pct(every, 0.5),
        "p95_ms": 1000 * pct(every, 0.95),
        "p99_ms": 1000 * pct(every, 0.99),
        "first_p99_ms": 1000 * pct(first, 0.99),
        "next_p99_ms": 1000 * pct(following, 0.99),
    }


def p4_inprocess(clerk: Any, args: argparse.Namespace) -> None:
    from django.db import connection

    print(
        f"\nP4b. selectors.work_queue in-process, clerk of one department, 50 per page, every tab (first page and up to "
        f"{args.pages - 1} cursor pages), {args.calls} calls per run",
        flush=True,
    )
    p4_walk(clerk, 30, args.pages)  # warm-up
    results = []
    for _ in range(args.runs):
        r = p4_walk(clerk, args.calls, args.pages)
        results.append(r)
        print(
            f"  run: {r['calls']} calls  p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"(first pages p99 {r['first_p99_ms']:.2f} ms, cursor pages p99 {r['next_p99_ms']:.2f} ms)",
            flush=True,
        )
    print(
        f"P4 work_queue in-process: median p50 {median_of(results, 'p50_ms'):.2f} ms, p95 {median_of(results, 'p95_ms'):.2f} ms, "
        f"p99 {median_of(results, 'p99_ms'):.2f} ms ({args.runs} runs of {args.calls} calls)",
        flush=True,
    )
    client_ms, server_ms = cpu_cost(lambda: p4_walk(clerk, args.calls, args.pages), 1)
    server = server_ms / args.calls if server_ms is not None else None
    print(f"  work_queue {cpu_line(client_ms / args.calls, server, os.cpu_count() or 1)}", flush=True)
    connection.close()


def queue_paths(clerk: Any, pages: int) -> list[str]:
    """The workbench URLs a clerk walks: each tab's first page and its following cursor pages."""
    from tongban.cases import selectors

    paths = []
    for key, states in queue_tabs():
        cursor = None
        for _ in range(pages):
            paths.append(f"/workbench/?state={key}" + (f"&cursor={cursor}" if cursor else ""))
            cursor = selectors.work_queue(account=clerk, states=states, cursor=cursor, limit=50).next_cursor
            if not cursor:
                break
    return paths


def wrk_script(directory: Path, paths: list[str], cookie: str) -> Path:
    lua = "-- generated by benchmarks/cases_bench.py\n"
    lua += "paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
    lua += f'wrk.headers["Cookie"] = "{cookie}"\n'
    lua += "i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
    path = directory / "workbench.lua"
    path.write_text(lua)
    return path


def p4_http(wrk: str, env: dict[str, str], clerk: Any, args: argparse.Namespace, workdir: Path) -> None:
    from django.db import connection

    paths = queue_paths(clerk, args.pages)
    cookie = session_cookie(clerk)
    connection.close()
    server = start_server(env, args.port, args.workers)
    try:
        request = urllib.request.Request(f"http://{HOST}:{args.port}{paths[0]}", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as answer:
            html = answer.read().decode()
            if answer.status != 200 or answer.url.rstrip("/").endswith("login") or "/workbench/cases/" not in html:
                raise SystemExit(f"the workbench did not answer with the clerk's queue: {answer.status} {answer.url}")
        script = wrk_script(workdir, paths, cookie)
        url = f"http://{HOST}:{args.port}/"
        print(
            f"\nP4c. GET /workbench/ (the clerk's session; {len(paths)} URLs: every tab, first and cursor pages), gunicorn sync workers: "
            f"{args.workers}, wrk -t2 -c{args.connections}, {args.seconds} s per run",
            flush=True,
        )
        run_wrk(wrk, url, args.connections, 3, script)  # warm-up
        results = []
        for _ in range(args.runs):
            r = run_wrk(wrk, url, args.connections, args.seconds, script)
            results.append(r)
            print(
                f"  workbench run: {r['rps']:8.0f} pages/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                f"non-2xx {r['non2xx']} {r['socket_errors']}",
                flush=True,
            )
        print(
            f"P4 /workbench/ c={args.connections}: median {median_of(results, 'rps'):.0f} pages/s, "
            f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms ({args.runs} runs of {args.seconds} s)",
            flush=True,
        )
    finally:
        stop(server)


# --- P3: durable submissions -------------------------------------------------------------------------------


def make_drafts(applicants: list[Any], implementations: list[Any], count: int, seed: int) -> list[tuple[Any, str]]:
    """``count`` drafts (bulk, outside the timing): (applicant, case public id)."""
    from tongban.cases.models import Case

    rng = random.Random(seed)
    drafts = []
    for _ in range(count):
        implementation = rng.choice(implementations)
        drafts.append(
            Case(
                applicant=rng.choice(applicants),
                implementation=implementation,
                department_id=implementation.department_id,
                form_data=dict(FORM_DATA),
            )
        )
    Case.objects.bulk_create(drafts, batch_size=2000)
    return [(case.applicant, str(case.public_id)) for case in drafts]


def _submitter(mode: str, seconds: float, start_at: float, seed: int, drafts: int, out: Any) -> None:
    """One submitting process (forked after django.setup(); its own database connection)."""
    from django.db import connection

    from tongban.cases import forms, services
    from tongban.identity.models import Account

    connection.close()  # never share the parent's socket
    rng = random.Random(seed)
    applicants = list(Account.objects.filter(username__startswith=CITIZEN_PREFIX).exclude(username__startswith=KILL_PREFIX))
    implementations = _apply_implementations() if mode == "apply" else _p3_implementations_cached()
    if mode == "hot":  # every submission to one implementation: they queue for its day-sequence row
        implementations = implementations[:1]
    latencies: list[float] = []
    errors: list[str] = []
    prepared = make_drafts(applicants, implementations, drafts, seed) if mode != "apply" else []
    while time.time() < start_at:
        time.sleep(0.01)
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            if mode != "apply":
                if not prepared:
                    errors.append("ran out of prepared drafts")
                    break
                applicant, case_id = prepared.pop()
                t0 = time.perf_counter()
                case = services.case_submit(applicant=applicant, case_id=case_id)
            else:
                t0 = time.perf_counter()
                case = forms.case_apply(
                    applicant=rng.choice(applicants),
                    implementation=rng.choice(implementations),
                    data=dict(FORM_DATA),
                    query_password="bench-123456",
                    token=str(uuid.uuid4()),
                )
            latencies.append(time.perf_counter() - t0)
            if not case.code or len(case.code) != 43:
                errors.append(f"bad code {case.code!r}")
                break
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        errors.append(repr(exc)[:300])
    elapsed = time.perf_counter() - started
    connection.close()
    out.put({"latencies": latencies, "elapsed": elapsed, "errors": errors})


_IMPLEMENTATIONS: list[Any] = []
_APPLY_IMPLEMENTATIONS: list[Any] = []


def _apply_implementations() -> list[Any]:
    """Of the P3 implementations, those an online application may be submitted to without
    uploading a file (no required electronic material): case_apply refuses the others."""
    if not _APPLY_IMPLEMENTATIONS:
        try:
            from tongban.cases.materials import materials_missing_for
        except ImportError:  # before the materials module: every form may be submitted
            _APPLY_IMPLEMENTATIONS.extend(_p3_implementations_cached())
        else:
            _APPLY_IMPLEMENTATIONS.extend(i for i in _p3_implementations_cached() if not materials_missing_for(i.pk, None))
    return _APPLY_IMPLEMENTATIONS


def _p3_implementations_cached() -> list[Any]:
    from tongban.catalog.models import Implementation

    if not _IMPLEMENTATIONS:
        ids = [int(x) for x in os.environ["BENCH_P3_IMPLEMENTATIONS"].split(",")]
        _IMPLEMENTATIONS.extend(Implementation.objects.filter(pk__in=ids).select_related("base"))
    return _IMPLEMENTATIONS


def submit_run(mode: str, processes: int, seconds: float, seed: int) -> dict[str, Any]:
    from django.db import connection

    connection.close()
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    drafts = max(1000, int(seconds * 700 / processes) + 200) if mode != "apply" else 0
    start_at = time.time() + 2 + drafts / 4000  # after every process has made its drafts
    children = [context.Process(target=_submitter, args=(mode, seconds, start_at, seed * 100 + i, drafts, out)) for i in range(processes)]
    for child in children:
        child.start()
    results = []
    try:
        for _ in children:
            results.append(out.get(timeout=seconds + 300))
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()  # SIGKILL to this child's own pid
                child.join()
    every = [x for r in results for x in r["latencies"]]
    elapsed = max(r["elapsed"] for r in results)
    return {
        "rate": len(every) / elapsed,
        "count": len(every),
        "p50_ms": 1000 * pct(every, 0.5),
        "p99_ms": 1000 * pct(every, 0.99),
        "errors": [e for r in results for e in r["errors"]],
    }


LABELS = {"submit": "case_submit", "hot": "case_submit, one implementation", "apply": "case_apply"}


def p3_phase(args: argparse.Namespace) -> None:
    print(
        f"\nP3a. services.case_submit of prepared drafts (code from the day sequence, case, event, audit row, case-progress message: "
        f"one transaction, synchronous_commit on), {P3_IMPLEMENTATIONS} implementations, 1,000 applicants, processes "
        f"{'/'.join(map(str, args.submitters))}, {args.seconds} s per run",
        flush=True,
    )
    plan = [("submit", n) for n in args.submitters] + [("hot", n) for n in args.hot_submitters]
    if _apply_implementations():
        plan += [("apply", n) for n in args.apply_submitters]
    else:
        print("  (case_apply not measured: every P3 implementation requires an uploaded material)", flush=True)
    for index, (mode, processes) in enumerate(plan):
        if mode == "hot" and plan[index - 1][0] != "hot":
            print(
                "\nP3a'. the same, every submission to one implementation (the busiest item of a morning): "
                "they queue for that item's day-sequence row, locked until each commit",
                flush=True,
            )
        if mode == "apply" and plan[index - 1][0] != "apply":
            print(
                "\nP3b. forms.case_apply (validate the form, Argon2id hash of the query password, the draft and case_submit), "
                f"{len(_apply_implementations())} implementations without required uploads, "
                f"processes {'/'.join(map(str, args.apply_submitters))}, {args.seconds} s per run",
                flush=True,
            )
        submit_run(mode, processes, 2, seed=999)  # warm-up
        results = []
        for run in range(args.runs):
            r = submit_run(mode, processes, args.seconds, seed=run + 1 + 10 * processes)
            results.append(r)
            print(
                f"  {mode} processes={processes} run: {r['rate']:7.1f} submissions/s  "
                f"p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                f"({r['count']} cases{', errors: ' + r['errors'][0] if r['errors'] else ''})",
                flush=True,
            )
        print(
            f"P3 {LABELS[mode]}, {processes} processes: median {median_of(results, 'rate'):.1f} "
            f"submissions/s, p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms",
            flush=True,
        )


def p3_profile() -> None:
    """Statements and time of one case_submit and one case_apply, by part."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tongban.cases import forms, services
    from tongban.identity.models import Account

    applicants = list(Account.objects.filter(username__startswith=CITIZEN_PREFIX).exclude(username__startswith=KILL_PREFIX)[:50])
    implementations = _p3_implementations_cached()
    print("\nP3c. one submission, profiled in-process (statements with django's CaptureQueriesContext, median of 50):", flush=True)
    drafts = make_drafts(applicants, implementations, 60, seed=4242)
    counts: list[float] = []
    totals: list[float] = []
    sql_ms: list[float] = []
    for applicant, case_id in drafts[:50]:
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            services.case_submit(applicant=applicant, case_id=case_id)
            totals.append(time.perf_counter() - t0)
        counts.append(len(captured.captured_queries))
        sql_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    print(
        f"  case_submit: {pct(counts, 0.5):.0f} statements (with BEGIN/COMMIT savepoints as Django issues them), "
        f"{1000 * pct(totals, 0.5):.2f} ms in all, of which {pct(sql_ms, 0.5):.2f} ms waiting on PostgreSQL (incl. the commit)",
        flush=True,
    )
    for q in captured.captured_queries:
        print(f"    {float(q['time']) * 1000:6.2f} ms  {q['sql'][:150]}", flush=True)
    # CPU per submission (load on the machine stretches wall time, much less CPU time)
    more = iter(make_drafts(applicants, implementations, 300, seed=4343))
    client_ms, server_ms = cpu_cost(lambda: services.case_submit(applicant=(d := next(more))[0], case_id=d[1]), 300)
    print(f"  case_submit {cpu_line(client_ms, server_ms, os.cpu_count() or 1)}", flush=True)
    # the parts of case_apply
    from django.contrib.auth.hashers import make_password

    hashes = []
    for _ in range(10):
        t0 = time.perf_counter()
        make_password("bench-123456")
        hashes.append(time.perf_counter() - t0)
    counts, totals = [], []
    implementations = _apply_implementations()
    if not implementations:
        print("  case_apply: no P3 implementation without required materials; not profiled", flush=True)
        return
    for i in range(20):
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            forms.case_apply(
                applicant=applicants[i],
                implementation=implementations[i % len(implementations)],
                data=dict(FORM_DATA),
                query_password="bench-123456",
                token=str(uuid.uuid4()),
            )
            totals.append(time.perf_counter() - t0)
        counts.append(len(captured.captured_queries))
    print(
        f"  case_apply: {pct(counts, 0.5):.0f} statements, {1000 * pct(totals, 0.5):.2f} ms in all, of which the Argon2id hash of the "
        f"query password {1000 * pct(hashes, 0.5):.2f} ms (inside the transaction that holds the draft's row lock)",
        flush=True,
    )


# --- the kill -9 test ---------------------------------------------------------------------------------------


def child_submit(seconds: float) -> None:
    """Run by the kill test in a child process: submit drafts one after another and print each
    code only after case_submit (and so its commit) returned."""
    import django

    django.setup()
    from tongban.cases import services
    from tongban.identity.models import Account

    applicant = Account.objects.get(username=os.environ["BENCH_KILL_APPLICANT"])
    implementations = _p3_implementations_cached()
    rng = random.Random(os.getpid())
    deadline = time.monotonic() + seconds
    print("ready", flush=True)
    while time.monotonic() < deadline:
        prepared = make_drafts([applicant], implementations, 50, seed=rng.randrange(1 << 30))
        for _, case_id in prepared:
            case = services.case_submit(applicant=applicant, case_id=case_id)
            sys.stdout.write(f"{case.code}\n")
            sys.stdout.flush()


def kill_run(env: dict[str, str], children: int, kill_after: float, run: int) -> dict[str, Any]:
    """Start ``children`` submitters, SIGKILL them (by pid) after ``kill_after`` s plus a random part
    of a second, then check every printed code against the database."""
    from tongban.identity import services as identity
    from tongban.identity.models import Account

    names = []
    for i in range(children):
        name = f"{KILL_PREFIX}{run}.{i}.{uuid.uuid4().hex[:8]}"
        identity.citizen_account_upsert(
            actor=None, username=name, password=CLERK_PASSWORD, display_name="测试市民（断电）", mobile=f"135{run:04d}{i:04d}"
        )
        names.append(name)
    procs = []
    for name in names:
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child-submit", "--child-seconds", str(kill_after + 60)],
                env={**env, "BENCH_KILL_APPLICANT": name},
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    printed: dict[str, list[str]] = {name: [] for name in names}
    try:
        for proc in procs:  # wait until each child is set up
            line = proc.stdout.readline() if proc.stdout else ""
            if line.strip() != "ready":
                raise SystemExit(f"kill test child did not start: {line!r}")
        deadline = time.monotonic() + kill_after + random.random()
        while time.monotonic() < deadline:
            time.sleep(0.05)
        for proc in procs:
            os.kill(proc.pid, signal.SIGKILL)  # only the children this test started
        for name, proc in zip(names, procs, strict=True):
            assert proc.stdout is not None
            printed[name] = [line.strip() for line in proc.stdout.read().splitlines() if line.strip() and line.strip() != "ready"]
            proc.wait(timeout=10)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    # what the database holds for these applicants
    from django.db import connection

    time.sleep(1)  # the server side of a killed connection rolls back
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.code,
                   EXISTS (SELECT 1 FROM cases_caseevent e WHERE e.case_id = c.id AND e.action = 'submit'),
                   EXISTS (SELECT 1 FROM common_auditevent a WHERE a.object_type = 'case' AND a.object_id = c.public_id::text
                           AND a.action = 'case.submit'),
                   EXISTS (SELECT 1 FROM messaging_inboxitem i WHERE i.account_id = c.applicant_id
                           AND i.link = '/my/cases/' || c.public_id::text || '/')
            FROM cases_case c JOIN identity_account a ON a.id = c.applicant_id
            WHERE a.username = ANY(%s) AND c.code IS NOT NULL
            """,
            [names],
        )
        stored = cursor.fetchall()
    codes = [row[0] for row in stored]
    every_printed = [code for name in names for code in printed[name]]
    missing = sorted(set(every_printed) - set(codes))
    return {
        "printed": len(every_printed),
        "stored": len(codes),
        "missing": missing,
        "duplicate_printed": len(every_printed) - len(set(every_printed)),
        "duplicate_stored": len(codes) - len(set(codes)),
        "unprinted": len(set(codes) - set(every_printed)),
        "without_event": sum(1 for row in stored if not row[1]),
        "without_audit": sum(1 for row in stored if not row[2]),
        "without_message": sum(1 for row in stored if not row[3]),
        "killed_accounts": Account.objects.filter(username__in=names).count(),
    }


def kill_phase(env: dict[str, str], args: argparse.Namespace) -> None:
    print(
        f"\nP3d. kill -9: {args.kill_children} child processes submit (printing each code after its commit returned), SIGKILLed after "
        f"{args.kill_after}–{args.kill_after + 1} s; every printed code must be in the database",
        flush=True,
    )
    failed = False
    for run in range(args.runs):
        r = kill_run(env, args.kill_children, args.kill_after, run)
        ok = (
            not r["missing"]
            and not r["duplicate_printed"]
            and not r["duplicate_stored"]
            and not r["without_event"]
            and not r["without_audit"]
            and not r["without_message"]
        )
        failed = failed or not ok
        print(
            f"  run: {r['printed']} codes printed, {r['stored']} stored, {len(r['missing'])} printed but missing, "
            f"{r['duplicate_printed']}/{r['duplicate_stored']} duplicates (printed/stored), "
            f"{r['unprinted']} committed but killed before printing, "
            f"{r['without_event']} without event, {r['without_audit']} without audit row, {r['without_message']} without inbox message"
            f"{'' if ok else '  FAILED'}",
            flush=True,
        )
        if r["missing"]:
            print(f"  first missing: {r['missing'][:3]}", flush=True)
    print(f"P3 kill -9: {'none lost' if not failed else 'LOST OR INCONSISTENT SUBMISSIONS: see above'} ({args.runs} runs)", flush=True)


# --- main -------------------------------------------------------------------------------------------------


def prepare_database(database_url: str, env: dict[str, str]) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    started = time.monotonic()
    sh([str(BIN / "tongban"), "demo"], env, stdout=subprocess.DEVNULL)
    print(f"demo loaded in {time.monotonic() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", type=int, default=1_000_000, help="generated cases (P4)")
    parser.add_argument("--departments", type=int, default=100, help="departments the generated cases are spread over")
    parser.add_argument("--calls", type=int, default=300, help="in-process work_queue calls per run")
    parser.add_argument("--pages", type=int, default=5, help="pages per tab: the first and the following cursor pages")
    parser.add_argument("--seconds", type=int, default=15, help="seconds per timed run (wrk, submitters)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections for the workbench")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")), help="gunicorn workers")
    parser.add_argument("--submitters", default="1,2,4", help="case_submit processes, comma-separated")
    parser.add_argument("--hot-submitters", default="4", help="case_submit processes all on one implementation, comma-separated")
    parser.add_argument("--apply-submitters", default="2", help="case_apply processes, comma-separated")
    parser.add_argument("--kill-children", type=int, default=2)
    parser.add_argument("--kill-after", type=float, default=4.0, help="seconds before the SIGKILL")
    parser.add_argument("--port", type=int, default=8768)
    parser.add_argument("--skip-p3", action="store_true")
    parser.add_argument("--skip-p4", action="store_true")
    parser.add_argument("--skip-http", action="store_true", help="P4 in-process only")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help=f"default: a {DB_NAME} database on 127.0.0.1")
    parser.add_argument("--reuse", action="store_true", help="keep the database and data directory of a previous run")
    parser.add_argument("--child-submit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-seconds", type=float, default=60, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_submit:
        child_submit(min(args.child_seconds, 300))
        return
    try:
        args.submitters = [int(x) for x in args.submitters.split(",") if x]
        args.apply_submitters = [int(x) for x in args.apply_submitters.split(",") if x]
        args.hot_submitters = [int(x) for x in args.hot_submitters.split(",") if x]
    except ValueError:
        parser.error("--submitters and --apply-submitters are comma-separated numbers")
    if (
        min(
            args.runs,
            args.cases,
            args.departments,
            args.calls,
            args.pages,
            args.seconds,
            args.workers,
            args.kill_children,
            *args.submitters,
        )
        < 1
    ):
        parser.error(
            "--runs, --cases, --departments, --calls, --pages, --seconds, --workers, --kill-children and --submitters must be at least 1"
        )
    if args.connections < 2:
        parser.error("--connections must be at least 2: wrk runs two threads (http_bench.run_wrk)")
    args.database_url = args.database_url or f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    if not args.database_url.startswith("postgres"):
        parser.error("the case benchmark needs PostgreSQL")
    if not args.skip_p4 and not args.skip_http and not port_free(args.port):
        parser.error(f"port {args.port} on {HOST} is in use: pick another with --port")
    wrk = ensure_wrk() if not (args.skip_p4 or args.skip_http) else ""
    print(f"{machine_line()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start", flush=True)
    settings_line = subprocess.run(
        ["psql", args.database_url.rsplit("/", 1)[0] + "/postgres", "-Atc", "SHOW synchronous_commit; SHOW fsync; SHOW shared_buffers"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    print(
        f"database: PostgreSQL {postgres_version(args.database_url)} on {HOST} ({args.database_url.rsplit('/', 1)[1]}), "
        f"synchronous_commit {settings_line[0]}, fsync {settings_line[1]}, shared_buffers {settings_line[2]}; "
        "clients, gunicorn and PostgreSQL share the machine",
        flush=True,
    )

    _, env = bench_environment("cases", args.database_url, wipe=not args.reuse, PUBLIC_BASE_URL=f"http://{HOST}:{args.port}")
    if not args.reuse:
        prepare_database(args.database_url, env)
    sh([str(BIN / "tongban"), "migrate", "-v0"], env)
    if not args.skip_p4 and not args.skip_http:
        sh([str(BIN / "tongban"), "collectstatic", "--noinput", "-v0"], env)

    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    applicants = citizens()
    departments = queue_departments(args.departments)
    implementations = p3_implementations(departments)
    os.environ["BENCH_P3_IMPLEMENTATIONS"] = ",".join(str(i.pk) for i in implementations)
    env["BENCH_P3_IMPLEMENTATIONS"] = os.environ["BENCH_P3_IMPLEMENTATIONS"]
    if not args.skip_p4:
        generate_cases(args.database_url, args.cases, departments, [a.pk for a in applicants])
        from django.db.models import Count

        from tongban.cases.models import Case

        busiest = Case.objects.filter(department_id__in=departments).values("department_id").annotate(n=Count("id")).order_by("-n").first()
        assert busiest is not None
        clerk = clerk_account(busiest["department_id"])
        active = Case.objects.filter(
            department_id=clerk.department_id, state__in=["submitted", "correcting", "accepted", "supplementing", "suspended"]
        )
        print(
            f"\nP4. {Case.objects.count():,} cases in the database over {len(departments)} departments; the clerk {CLERK} "
            f"(reviewer of one department, the busiest: {busiest['n']:,} cases, {active.count():,} in active states)",
            flush=True,
        )
        p4_explain(clerk)
        p4_inprocess(clerk, args)
        if not args.skip_http:
            workdir = Path(tempfile.mkdtemp(prefix="tongban-cases-bench-"))
            try:
                p4_http(wrk, env, clerk, args, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    if not args.skip_p3:
        p3_profile()
        connection.close()
        p3_phase(args)
        if not args.skip_kill:
            connection.close()
            kill_phase(env, args)
    connection.close()
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end (other work on the machine lowers every figure)")


if __name__ == "__main__":
    main()
