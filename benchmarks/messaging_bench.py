"""Message centre benchmark: messages accepted per second (QUALITY.md target: ≥ 1,000/s).

Against PostgreSQL on 127.0.0.1 (database tongban_bench_messages, recreated unless --reuse) with
the demo province loaded once and 1,000 citizens created for the benchmark, it measures

1. in-process: ``message_send`` (template case-progress: an inbox item plus a queued SMS), each
   send in its own ``transaction.atomic()`` as a domain would call it, with 1, 2 and 4 threads
   (one database connection each);
2. through the API: ``POST /api/v1/messages`` on gunicorn, driven by wrk with rotating recipients.
   The inbox row is written in the transaction that accepts the message, so the API latency is
   the end-to-end time to the inbox; a probe thread also measures it directly during one run;
3. SMS drain: ``tongban worker`` against the SMS deliveries the first two parts queued, with the
   sandbox gateway at 0 ms and at its default 80 ms latency, for a bounded time.

    .venv/bin/python benchmarks/messaging_bench.py --runs 3
    .venv/bin/python benchmarks/messaging_bench.py --runs 1 --messages 2000 --seconds 5

Client, server, worker and PostgreSQL share the machine's cores: the figures are a floor.
Everything it starts (gunicorn, the worker) it stops again by process id; it only targets 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from http_bench import BIN, HOST, bench_environment, ensure_wrk, prepare, run_wrk, sh, start_server, stop_server

# The worker's own queue groups (src/tongban/commands/management/commands/worker.py), repeated here
# so that --sms-threads can add SMS threads without importing Django before the environment is set.
DEFAULT_GROUPS = ["default,callbacks", "messages-sms", "messages-email", "messages-push"]

DB_NAME = "tongban_bench_messages"
CITIZENS = 1000
CITIZEN_PREFIX = "bench.citizen."
CITIZEN_PASSWORD = "Bench-citizen-password-0001"
CLIENT_NAME = "性能测试系统（benchmark）"
INPROCESS_TEMPLATE = "case-progress"  # a platform template: the domains' own sends
API_TEMPLATE = "bench-case-progress"  # the same texts, owned by a department so its client may send
DATA = {"item": "居民身份证换领", "case_code": "3601020001-20261122-000001", "step": "审核", "link": "/search?q=身份证"}
REASON = "性能测试：办件进度"
THREADS = (1, 2, 4)
PROBE_INTERVAL = 0.2
PROBE_TIMEOUT = 10.0


# --- the machine -----------------------------------------------------------------------------------


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return (
        f"machine: {os.cpu_count()} cores ({model}, {platform.machine()}){memory}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def postgres_version(database_url: str) -> str:
    admin = database_url.rsplit("/", 1)[0] + "/postgres"  # the benchmark's database may not exist yet
    out = subprocess.run(["psql", admin, "-Atc", "SHOW server_version"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def stop(proc: subprocess.Popen) -> None:
    """http_bench's stop (SIGTERM to the process group we started, SIGKILL after 20 s), then reap."""
    stop_server(proc)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"  process {proc.pid} did not exit after SIGKILL", flush=True)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: connections of an earlier run in TIME_WAIT do not make the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def median_of(results: list[dict[str, Any]], name: str) -> float:
    return statistics.median(r[name] for r in results)


# --- benchmark data (after django.setup()) -----------------------------------------------------------


def _in_threads(count: int, work: Any, items: list[Any]) -> None:
    """Run ``work(chunk)`` on ``count`` threads over ``items``; each thread closes its connection."""
    from django.db import connection

    errors: list[BaseException] = []

    def run(chunk: list[Any]) -> None:
        try:
            work(chunk)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(items[i::count],)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def bench_data(database_url: str) -> tuple[list[Any], str]:
    """The benchmark's citizens, its department template and a live key of a client with a very
    large rate limit. Idempotent, so --reuse finds what an earlier run made."""
    from tongban.identity import services as identity
    from tongban.identity.models import Account, ApiClient
    from tongban.messaging import services as messaging
    from tongban.messaging.builtin import BUILTIN, builtin_templates_save
    from tongban.org.models import Department

    builtin_templates_save(actor=None)  # the demo saved them already; unchanged, this writes nothing
    police = Department.objects.filter(division__code="360102", kind="公安").first()
    if police is None:
        raise SystemExit("the demo's 东湖区公安局 is missing: run without --reuse")
    spec = next(t for t in BUILTIN if t["code"] == INPROCESS_TEMPLATE)
    messaging.template_save(
        actor=None,
        code=API_TEMPLATE,
        name="办件进度通知（性能测试）",
        category=spec["category"],
        placeholders=spec["placeholders"],
        texts=spec["texts"],
        fallback=spec.get("fallback"),
        department=police,
    )

    existing = set(Account.objects.filter(username__startswith=CITIZEN_PREFIX).values_list("username", flat=True))
    missing = [i for i in range(CITIZENS) if f"{CITIZEN_PREFIX}{i:04d}" not in existing]
    if missing:
        started = time.monotonic()

        def create(numbers: list[int]) -> None:
            for i in numbers:
                identity.citizen_account_upsert(
                    actor=None,
                    username=f"{CITIZEN_PREFIX}{i:04d}",
                    password=CITIZEN_PASSWORD,
                    display_name=f"测试市民{i:04d}",
                    mobile=f"137{i:08d}",  # distinct, valid, none of the sandbox's test numbers (1390000000x)
                )

        # Argon2id hashing dominates and releases the GIL: one thread per core.
        _in_threads(os.cpu_count() or 2, create, missing)
        print(f"{len(missing)} citizens created in {time.monotonic() - started:.1f} s", flush=True)
        subprocess.run(["psql", database_url, "-qc", "ANALYZE"], check=True)
    accounts = list(Account.objects.filter(username__startswith=CITIZEN_PREFIX).order_by("username")[:CITIZENS])
    assert len(accounts) == CITIZENS, len(accounts)

    client = ApiClient.objects.filter(name=CLIENT_NAME).first()
    if client is None:
        client, keys = identity.api_client_create(actor=None, name=CLIENT_NAME, department=police, rate_limit_per_minute=1_000_000_000)
        key = keys["live"]
    else:  # keys are shown once: a reused database gets a fresh one
        key = identity.api_key_issue(actor=None, client=client, kind="live")
    return accounts, key


# --- 1. in-process ---------------------------------------------------------------------------------


def send_in_process(accounts: list[Any], total: int, threads: int, seed: int) -> dict[str, float]:
    from django.db import connection, transaction

    from tongban.messaging.services import message_send

    shares = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        own = latencies[index]
        try:
            connection.ensure_connection()  # connect before the clock starts
            barrier.wait(timeout=60)
            for _ in range(shares[index]):
                recipient = rng.choice(accounts)
                started = time.perf_counter()
                with transaction.atomic():
                    message_send(recipient=recipient, template=INPROCESS_TEMPLATE, data=DATA, reason=REASON)
                own.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,), name=f"send-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    every = [x for own in latencies for x in own]
    return {"rate": len(every) / elapsed, "p50_ms": 1000 * pct(every, 0.50), "p99_ms": 1000 * pct(every, 0.99), "count": len(every)}


def send_batches_in_process(accounts: list[Any], total: int, threads: int, batch: int, seed: int) -> dict[str, float]:
    """message_send_many: ``batch`` messages per transaction (a licence-expiry run, a department's batch)."""
    from django.db import connection, transaction

    from tongban.messaging.services import SendRequest, message_send_many

    rounds = max(1, total // (batch * threads))
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            for _ in range(rounds):
                requests = [
                    SendRequest(recipient=rng.choice(accounts), template=INPROCESS_TEMPLATE, data=DATA, reason=REASON) for _ in range(batch)
                ]
                started = time.perf_counter()
                with transaction.atomic():
                    message_send_many(requests=requests)
                with lock:
                    latencies.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,), name=f"batch-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    sent = len(latencies) * batch
    return {"rate": sent / elapsed, "p50_ms": 1000 * pct(latencies, 0.50), "p99_ms": 1000 * pct(latencies, 0.99), "count": sent}


def inprocess_phase(accounts: list[Any], args: argparse.Namespace) -> None:
    print(
        f"\n1. in-process: message_send('{INPROCESS_TEMPLATE}': inbox + SMS queued), one transaction.atomic() per send, "
        f"{args.messages} messages per run to {CITIZENS} citizens",
        flush=True,
    )
    send_in_process(accounts, 200, 1, seed=0)  # warm-up: imports, prepared statements, caches
    for threads in THREADS:
        results = []
        for run in range(args.runs):
            r = send_in_process(accounts, args.messages, threads, seed=threads * 100 + run + 1)
            results.append(r)
            print(
                f"  threads={threads} run: {r['rate']:8.0f} messages/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms per send",
                flush=True,
            )
        print(
            f"in-process threads={threads}: median {median_of(results, 'rate'):.0f} messages/s, "
            f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms per send "
            f"({args.runs} runs of {args.messages} messages)",
            flush=True,
        )
    print(f"\n1b. in-process: message_send_many, {args.batch} messages per transaction", flush=True)
    send_batches_in_process(accounts, args.batch * 2, 1, args.batch, seed=0)  # warm-up
    for threads in (1, 2):
        results = [send_batches_in_process(accounts, args.messages, threads, args.batch, seed=run + 7) for run in range(args.runs)]
        for r in results:
            print(
                f"  threads={threads} run: {r['rate']:8.0f} messages/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms per batch",
                flush=True,
            )
        print(
            f"in-process batches of {args.batch}, threads={threads}: median {median_of(results, 'rate'):.0f} messages/s, "
            f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms per batch",
            flush=True,
        )


# --- 2. through the API ------------------------------------------------------------------------------


def _body(account_id: str, reference: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"template": API_TEMPLATE, "recipient": {"account_id": account_id}, "data": DATA, "reason": REASON}
    if reference:
        body["reference"] = reference
    return body


def wrk_script(directory: Path, key: str, account_ids: list[str], error_file: Path) -> Path:
    """A wrk script that POSTs one message per request, rotating over the recipients, and writes
    the first non-2xx answer of each wrk thread to ``error_file``. Lua long strings ([==[ ]==])
    carry the JSON verbatim: ensure_ascii keeps it ASCII, the server decodes the \\u escapes."""
    prefix, suffix = json.dumps(_body("@ID@")).split("@ID@")
    lua = f"""-- generated by benchmarks/messaging_bench.py
local ids = {{{",".join(f'"{i}"' for i in account_ids)}}}
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
local threads = 0
local i = 0
local logged = false

function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 397)
end

function init(args)
  i = offset or 0
end

function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/messages", headers, prefix .. ids[(i % #ids) + 1] .. suffix)
end

function response(status, hdrs, body)
  if status >= 300 and not logged then
    logged = true
    local f = io.open([==[{error_file}]==], "a")
    if f then
      f:write(status .. " " .. body .. "\\n")
      f:close()
    end
  end
end
"""
    path = directory / "messages.lua"
    path.write_text(lua)
    return path


def probe(
    stop: threading.Event, base: str, key: str, account_ids: list[str], samples: list[tuple[float, float]], failures: list[str]
) -> None:
    """Every 200 ms: send one message through the API with a fresh reference, then poll the
    database until its inbox item is visible to another connection; record (API, to-inbox) times."""
    from django.db import connection

    from tongban.messaging.models import InboxItem

    rng = random.Random(7)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            body = json.dumps(_body(rng.choice(account_ids), reference=f"probe-{uuid.uuid4()}")).encode()
            request = urllib.request.Request(
                f"{base}/api/v1/messages",
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as answer:
                    message_id = json.load(answer)["id"]
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                detail = exc.read().decode(errors="replace")[:300] if isinstance(exc, urllib.error.HTTPError) else ""
                failures.append(f"{exc} {detail}".strip())
                stop.wait(PROBE_INTERVAL)
                continue
            answered = time.perf_counter()
            while not InboxItem.objects.filter(message__public_id=message_id).exists():
                if time.perf_counter() - started > PROBE_TIMEOUT:
                    failures.append(f"message {message_id}: no inbox item after {PROBE_TIMEOUT:.0f} s")
                    break
                time.sleep(0.002)
            else:
                samples.append((answered - started, time.perf_counter() - started))
            stop.wait(max(0.0, PROBE_INTERVAL - (time.perf_counter() - started)))
    finally:
        connection.close()


def batch_script(directory: Path, key: str, account_ids: list[str], batch: int) -> Path:
    """A wrk script that POSTs batches of ``batch`` messages, rotating over ten prepared bodies."""
    bodies = []
    for n in range(10):
        ids = [account_ids[(n * batch + k) % len(account_ids)] for k in range(batch)]
        bodies.append(json.dumps({"messages": [_body(i) for i in ids]}))
    lua = "-- generated by benchmarks/messaging_bench.py\nlocal bodies = {\n"
    lua += ",\n".join(f"[==[{b}]==]" for b in bodies)
    lua += f"""}}
local headers = {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}
local i = 0
function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/messages/batch", headers, bodies[(i % #bodies) + 1])
end
"""
    path = directory / "batch.lua"
    path.write_text(lua)
    return path


def api_batch_phase(wrk: str, port: int, key: str, accounts: list[Any], args: argparse.Namespace, workdir: Path) -> None:
    script = batch_script(workdir, key, [str(a.public_id) for a in accounts], args.batch)
    url = f"http://{HOST}:{port}/api/v1/messages/batch"
    connections = max(2, args.connections // 4)
    print(f"\n2b. API: POST /api/v1/messages/batch, {args.batch} messages per request, wrk -c{connections}", flush=True)
    run_wrk(wrk, url, connections, 3, script)  # warm-up
    results = []
    for _ in range(args.runs):
        r = run_wrk(wrk, url, connections, args.seconds, script)
        r["messages"] = r["rps"] * args.batch
        results.append(r)
        print(
            f"  batch run: {r['messages']:8.0f} messages/s ({r['rps']:.1f} batches/s)  p50 {r['p50_ms']:7.2f} ms  "
            f"p99 {r['p99_ms']:7.2f} ms per batch  non-2xx {r['non2xx']}",
            flush=True,
        )
    print(
        f"API batches of {args.batch}: median {median_of(results, 'messages'):.0f} messages/s accepted, "
        f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms per batch "
        f"(each message's inbox entry is visible when its batch answers)",
        flush=True,
    )


def api_phase(wrk: str, port: int, key: str, accounts: list[Any], args: argparse.Namespace, workdir: Path) -> None:
    from tongban.identity.models import ApiClient
    from tongban.messaging.models import Message

    client = ApiClient.objects.get(name=CLIENT_NAME)
    before = Message.objects.filter(client=client).count()
    account_ids = [str(a.public_id) for a in accounts]
    error_file = workdir / "first-errors.txt"
    script = wrk_script(workdir, key, account_ids, error_file)
    base = f"http://{HOST}:{port}"
    url = f"{base}/api/v1/messages"
    print(
        f"\n2. API: POST /api/v1/messages ('{API_TEMPLATE}': inbox + SMS queued), gunicorn sync workers: {args.workers}, "
        f"wrk -t2 -c{args.connections}, {args.seconds} s per run, {CITIZENS} recipients rotating",
        flush=True,
    )
    run_wrk(wrk, url, args.connections, 3, script)  # warm-up
    results = []
    samples: list[tuple[float, float]] = []
    failures: list[str] = []
    for run in range(args.runs):
        stop = threading.Event()
        prober = None
        if run == 0:  # the direct end-to-end measurement rides along the first run
            prober = threading.Thread(target=probe, args=(stop, base, key, account_ids, samples, failures), name="probe")
            prober.start()
        try:
            r = run_wrk(wrk, url, args.connections, args.seconds, script)
        finally:
            stop.set()
            if prober is not None:
                prober.join(timeout=PROBE_TIMEOUT + 5)
        results.append(r)
        print(
            f"  api run: {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"non-2xx {r['non2xx']} {r['socket_errors']}",
            flush=True,
        )
    accepted = Message.objects.filter(client=client).count() - before
    non2xx = sum(int(r["non2xx"]) for r in results)
    print(
        f"API c={args.connections}: median {median_of(results, 'rps'):.0f} messages/s accepted, "
        f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms, non-2xx {non2xx} "
        f"({args.runs} runs of {args.seconds} s; {accepted} messages recorded incl. warm-up and probe)",
        flush=True,
    )
    print(
        "  end-to-end to the inbox = the API latency: the inbox item commits in the transaction that accepts the message "
        f"(p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms under load)",
        flush=True,
    )
    if non2xx and error_file.exists():
        for line in error_file.read_text().splitlines()[:2]:  # the first error of each wrk thread
            status, _, body = line.partition(" ")
            try:
                body = json.dumps(json.loads(body), ensure_ascii=False)
            except ValueError:
                pass
            print(f"  first error: HTTP {status} {body[:500]}", flush=True)
    if samples:
        api_ms = [1000 * s[0] for s in samples]
        inbox_ms = [1000 * s[1] for s in samples]
        print(
            f"  probe (1 message every {PROBE_INTERVAL * 1000:.0f} ms during the first run, {len(samples)} samples): "
            f"send to inbox visible p50 {pct(inbox_ms, 0.5):.2f} ms, p99 {pct(inbox_ms, 0.99):.2f} ms "
            f"(of which the API answer p50 {pct(api_ms, 0.5):.2f} ms, p99 {pct(api_ms, 0.99):.2f} ms)",
            flush=True,
        )
    if failures:
        print(f"  probe failures: {len(failures)}; first: {failures[0]}", flush=True)


# --- 3. SMS drain --------------------------------------------------------------------------------------


def worker_command(sms_threads: int) -> list[str]:
    """`tongban worker` with its default queue groups and ``sms_threads`` SMS threads."""
    command = [str(BIN / "tongban"), "worker"]
    for group in DEFAULT_GROUPS:
        command += ["--queues", group] * (sms_threads if group == "messages-sms" else 1)
    return command


def drain(env: dict[str, str], latency_ms: int, seconds: int, sms_threads: int, logdir: Path) -> None:
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from tongban.messaging.models import Delivery

    queued = Delivery.objects.filter(channel="sms", state__in=[Delivery.State.CREATED, Delivery.State.SENDING])
    tasks = DBTaskResult.objects.filter(queue_name="messages-sms", status="READY")
    queued_before, tasks_before = queued.count(), tasks.count()
    if not queued_before:
        print(f"  gateway latency {latency_ms:3d} ms: no SMS deliveries queued, nothing to drain", flush=True)
        return
    log_path = logdir / f"worker-{latency_ms}ms.log"
    worker_env = {**env, "SMS_SANDBOX_LATENCY_MS": str(latency_ms)}
    launched = timezone.now()
    with log_path.open("w") as log:
        proc = subprocess.Popen(worker_command(sms_threads), env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # Start the clock at the first SMS sent, so the worker's start-up is not counted.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if Delivery.objects.filter(channel="sms", sent_at__gte=launched).exists():
                    break
                time.sleep(0.1)
            else:
                print(f"  latency {latency_ms} ms: the worker sent nothing within 60 s (exit {proc.poll()}); see {log_path}", flush=True)
                return
            window_start = timezone.now()
            stop_at = time.monotonic() + seconds
            while time.monotonic() < stop_at and proc.poll() is None:
                time.sleep(0.2)
            window_end = timezone.now()
            alive = proc.poll() is None
        finally:
            stop(proc)  # SIGTERM to the worker's own process group (its pid), SIGKILL after 20 s
    elapsed = (window_end - window_start).total_seconds()
    sent = Delivery.objects.filter(channel="sms", sent_at__gte=window_start, sent_at__lt=window_end).count()
    receipts = Delivery.objects.filter(
        channel="sms", state=Delivery.State.DELIVERED, finished_at__gte=window_start, finished_at__lt=window_end
    )
    queued_after, tasks_after = queued.count(), tasks.count()
    print(
        f"  gateway latency {latency_ms:3d} ms: {sent / elapsed:7.1f} SMS sent/s over {elapsed:.1f} s ({sent} sent, "
        f"{receipts.count()} delivery receipts recorded); queued {queued_before} → {queued_after}; "
        f"messages-sms tasks ready {tasks_before} → {tasks_after}" + ("" if alive else f"; worker exited early, see {log_path}"),
        flush=True,
    )


def drain_phase(env: dict[str, str], args: argparse.Namespace, logdir: Path) -> None:
    print(
        f"\n3. SMS drain: `tongban worker` (default queue groups, {args.sms_threads} SMS thread(s), scheduler on) "
        f"for {args.drain_seconds} s per gateway latency, "
        "sandbox gateway failure rate 0, no per-second cap, receipts posted to the benchmark's server",
        flush=True,
    )
    for latency_ms in (0, 80):
        drain(env, latency_ms, args.drain_seconds, args.sms_threads, logdir)


# --- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per in-process run")
    parser.add_argument("--seconds", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")), help="gunicorn workers")
    parser.add_argument("--drain-seconds", type=int, default=20, help="seconds the worker drains SMS, per gateway latency")
    parser.add_argument("--sms-threads", type=int, default=4, help="SMS queue threads of the worker (its default, WORKER_SMS_THREADS: 4)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--batch", type=int, default=100, help="messages per batch (in-process and API batch runs)")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--skip-drain", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help=f"default: a {DB_NAME} database on 127.0.0.1")
    parser.add_argument("--reuse", action="store_true", help="skip recreating the database: reuse the one of a previous run")
    args = parser.parse_args()
    if min(args.runs, args.messages, args.seconds, args.connections, args.workers, args.drain_seconds, args.sms_threads) < 1:
        parser.error("--runs, --messages, --seconds, --connections, --workers, --drain-seconds and --sms-threads must be at least 1")

    if args.connections < 2:
        parser.error("--connections must be at least 2: wrk runs two threads (http_bench.run_wrk)")
    args.database_url = args.database_url or f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    if not args.database_url.startswith("postgres"):
        parser.error("the message benchmark needs PostgreSQL")
    wants_server = not (args.skip_api and args.skip_drain)
    if wants_server and not port_free(args.port):
        parser.error(f"port {args.port} on {HOST} is in use: pick another with --port")
    wrk = ensure_wrk() if not args.skip_api else ""
    print(machine_line(), flush=True)
    print(
        f"database: PostgreSQL {postgres_version(args.database_url)} on {HOST} ({args.database_url.rsplit('/', 1)[1]}); "
        "wrk, gunicorn, the worker and PostgreSQL share the machine",
        flush=True,
    )

    data_dir, env = bench_environment(
        "messages",
        args.database_url,
        wipe=not args.reuse,
        RATE_LIMIT_SEARCH_PER_MINUTE="0",
        PUBLIC_BASE_URL=f"http://{HOST}:{args.port}",
        SMS_SANDBOX_CALLBACK_URL=f"http://{HOST}:{args.port}/api/v1/messages/receipts/sandbox-sms",
        SMS_SANDBOX_FAILURE_RATE="0",
        SMS_SANDBOX_MAX_PER_SECOND="1000000",
    )
    if not args.reuse:
        prepare(env, None)
    sh([str(BIN / "tongban"), "migrate", "-v0"], env)
    if wants_server:
        sh([str(BIN / "tongban"), "collectstatic", "--noinput", "-v0"], env)

    # Django in this process, for the in-process sends, the data set-up and the probes.
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    accounts, key = bench_data(args.database_url)
    connection.close()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-messaging-bench-"))
    try:
        if not args.skip_inprocess:
            inprocess_phase(accounts, args)
        if wants_server:
            server = start_server(env, args.port, args.workers)
            try:
                if not args.skip_api:
                    api_phase(wrk, args.port, key, accounts, args, workdir)
                    api_batch_phase(wrk, args.port, key, accounts, args, workdir)
                if not args.skip_drain:
                    drain_phase(env, args, data_dir)  # worker logs stay in the data directory
            finally:
                stop(server)
    finally:
        connection.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
