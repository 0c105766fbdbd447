"""Identity benchmark: P6, the OIDC token endpoint (QUALITY.md target ≥ 600/s), and P7, password
logins with Argon2id (m = 19 MiB, t = 2; target ≥ 50/s).

Against gunicorn and PostgreSQL on 127.0.0.1 (database tongban_bench_identity, recreated unless
--reuse; only migrated, no demo) with --users citizens created for it, it measures

P6a client credentials: ``POST /o/token/`` (grant client_credentials, scope messages, HTTP Basic
    client authentication) driven by wrk with a Lua body;
P6b refresh: ``POST /o/token/`` (grant refresh_token, scopes openid profile, so each answer also
    carries a new RS256 ID token) from a multi-threaded Python client; every thread follows its
    own token family and always presents the refresh token it was just given (rotation, reuse
    protection on), so every request is a real rotation;
P7a password logins through HTTP: ``GET /login/`` (CSRF cookie and token from the form) then
    ``POST /login/`` with a different citizen each time and a different client address per login
    (X-Real-IP, as the nginx front sets it with BEHIND_PROXY=1), so neither the per-address login
    rate limit nor the lockout (django-axes, failures only) is what is measured;
P7b in-process ``authenticate()`` (axes and the model backend, Argon2id verify) on 1, 2 and 4 threads.

    .venv/bin/python benchmarks/identity_bench.py --runs 3
    .venv/bin/python benchmarks/identity_bench.py --runs 1 --seconds 5     # a quick check

Client, server and PostgreSQL share the machine's cores: the figures are a floor. Everything it
starts (gunicorn) it stops again by process id; it only targets 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from http_bench import BIN, HOST, bench_environment, ensure_wrk, run_wrk, sh, start_server
from messaging_bench import machine_line, median_of, pct, port_free, postgres_version, stop

DB_NAME = "tongban_bench_identity"
USER_PREFIX = "bench.login."
PASSWORD = "Bench-login-password-0001"
CC_APP = "性能测试系统（客户端凭证）"
CODE_APP = "性能测试应用（刷新令牌）"
AUTH_THREADS = (1, 2, 4)
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CSRF_COOKIE = re.compile(r"csrftoken=([^;]+)")


# --- data (after django.setup()) -------------------------------------------------------------------


def bench_data(users: int, chains: int) -> dict[str, Any]:
    """Citizens (one Argon2id hash computed once and shared: the verify cost is the same), the two
    applications with fresh secrets (shown once, so a reused database gets new ones) and ``chains``
    refresh-token families, each with its login session and application sign-in so that the ID
    tokens carry a real ``sid``."""
    from datetime import timedelta

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, RefreshToken, set_token_value

    from tongban.identity.models import Account, AppSignIn, LoginSession, OidcApplication

    existing = set(Account.objects.filter(username__startswith=USER_PREFIX).values_list("username", flat=True))
    missing = [f"{USER_PREFIX}{i:05d}" for i in range(users) if f"{USER_PREFIX}{i:05d}" not in existing]
    if missing:
        started = time.monotonic()
        hashed = make_password(PASSWORD)
        Account.objects.bulk_create(
            [Account(username=name, password=hashed, kind=Account.Kind.CITIZEN, display_name=f"测试市民{name[-5:]}") for name in missing],
            batch_size=1000,
        )
        print(f"{len(missing)} citizens created in {time.monotonic() - started:.1f} s", flush=True)
    usernames = list(Account.objects.filter(username__startswith=USER_PREFIX).order_by("username").values_list("username", flat=True))[
        :users
    ]

    def application(name: str, grant: str, scopes: str, redirect: str) -> tuple[OidcApplication, str]:
        secret = secrets.token_urlsafe(32)
        app = OidcApplication.objects.filter(name=name).first() or OidcApplication(
            name=name,
            client_type=OidcApplication.CLIENT_CONFIDENTIAL,
            authorization_grant_type=grant,
            redirect_uris=redirect,
            algorithm=OidcApplication.RS256_ALGORITHM,
            allowed_scopes=scopes,
        )
        app.client_secret = secret  # hashed (Argon2id) on save
        app.save()
        return app, secret

    cc_app, cc_secret = application(CC_APP, OidcApplication.GRANT_CLIENT_CREDENTIALS, "messages", "")
    code_app, code_secret = application(CODE_APP, OidcApplication.GRANT_AUTHORIZATION_CODE, "openid profile", "http://127.0.0.1:9/cb")

    refresh_tokens = []
    owners = list(Account.objects.filter(username__in=usernames[:chains]))
    with transaction.atomic():
        for account in owners:
            login = LoginSession.objects.create(account=account, session_key="", method="password")
            AppSignIn.objects.create(login_session=login, application=code_app)
            access = AccessToken(user=account, application=code_app, expires=timezone.now() + timedelta(minutes=10), scope="openid profile")
            set_token_value(access, secrets.token_urlsafe(30))
            access.save()
            refresh = RefreshToken(user=account, application=code_app, access_token=access, token_family=uuid.uuid4())
            raw = secrets.token_urlsafe(30)
            set_token_value(refresh, raw)
            refresh.save()
            refresh_tokens.append(raw)
    return {
        "usernames": usernames,
        "cc": (cc_app.client_id, cc_secret),
        "code": (code_app.client_id, code_secret),
        "refresh_tokens": refresh_tokens,
    }


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- P6a: client credentials with wrk ----------------------------------------------------------------


def cc_script(directory: Path, authorization: str, error_file: Path) -> Path:
    lua = f"""-- generated by benchmarks/identity_bench.py
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=messages"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "{authorization}"
local logged = false

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
    path = directory / "client-credentials.lua"
    path.write_text(lua)
    return path


def cc_phase(wrk: str, port: int, data: dict[str, Any], args: argparse.Namespace, workdir: Path) -> None:
    from oauth2_provider.models import AccessToken

    error_file = workdir / "cc-errors.txt"
    script = cc_script(workdir, basic(*data["cc"]), error_file)
    url = f"http://{HOST}:{port}/o/token/"
    print(
        f"\nP6a. POST /o/token/ grant client_credentials (scope messages, HTTP Basic), gunicorn sync workers: {args.workers}, "
        f"wrk -t2 -c{args.connections}, {args.seconds} s per run",
        flush=True,
    )
    before = AccessToken.objects.filter(application__client_id=data["cc"][0]).count()
    run_wrk(wrk, url, args.connections, 3, script)  # warm-up (each worker verifies the secret once)
    results = []
    for _ in range(args.runs):
        r = run_wrk(wrk, url, args.connections, args.seconds, script)
        results.append(r)
        print(
            f"  client-credentials run: {r['rps']:8.0f} tokens/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"non-2xx {r['non2xx']} {r['socket_errors']}",
            flush=True,
        )
    issued = AccessToken.objects.filter(application__client_id=data["cc"][0]).count() - before
    print(
        f"P6 client credentials c={args.connections}: median {median_of(results, 'rps'):.0f} tokens/s, "
        f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms "
        f"({args.runs} runs of {args.seconds} s; {issued} access tokens stored incl. warm-up)",
        flush=True,
    )
    _first_errors(error_file)


def _first_errors(error_file: Path) -> None:
    if error_file.exists():
        for line in error_file.read_text().splitlines()[:2]:
            print(f"  first error: HTTP {line[:400]}", flush=True)


# --- P6b: refresh with rotation, Python threads --------------------------------------------------------


def _post(conn: http.client.HTTPConnection, path: str, body: str, headers: dict[str, str]) -> tuple[int, bytes, Any]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    answer = conn.getresponse()
    return answer.status, answer.read(), answer.headers


def timed_http_run(
    port: int, threads: int, seconds: int, name: str, once: Callable[[http.client.HTTPConnection, int], str | None]
) -> dict[str, Any]:
    """Run ``once(connection, thread index)`` in a loop on ``threads`` keep-alive connections for
    ``seconds``, timing each call. ``once`` returns None when it succeeded, or a failure that stops
    its thread."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    failures: list[str] = []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def work(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        own = latencies[index]
        try:
            barrier.wait(timeout=60)
            while time.perf_counter() < deadline[0]:
                started = time.perf_counter()
                failure = once(conn, index)
                if failure is not None:
                    failures.append(failure)
                    return
                own.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))
        finally:
            conn.close()

    workers = [threading.Thread(target=work, args=(i,), name=f"{name}-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait(timeout=60)
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    every = [x for own in latencies for x in own]
    return {
        "rps": len(every) / elapsed,
        "p50_ms": 1000 * pct(every, 0.50),
        "p99_ms": 1000 * pct(every, 0.99),
        "count": len(every),
        "failures": failures,
    }


def refresh_run(port: int, data: dict[str, Any], threads: int, seconds: int) -> dict[str, Any]:
    """Each thread rotates its own family for ``seconds``; the families' current tokens carry
    over to the next run."""
    tokens: list[str] = data["refresh_tokens"]
    authorization = basic(*data["code"])

    def once(conn: http.client.HTTPConnection, index: int) -> str | None:
        body = urlencode({"grant_type": "refresh_token", "refresh_token": tokens[index]})
        status, content, _ = _post(conn, "/o/token/", body, {"Authorization": authorization})
        if status != 200:
            return f"{status} {content[:300]!r}"  # this family is revoked or broken: stop it
        answer = json.loads(content)
        assert answer["refresh_token"] != tokens[index] and answer.get("id_token")
        tokens[index] = answer["refresh_token"]
        return None

    return timed_http_run(port, threads, seconds, "refresh", once)


def refresh_phase(port: int, data: dict[str, Any], args: argparse.Namespace) -> None:
    threads = args.refresh_threads
    print(
        f"\nP6b. POST /o/token/ grant refresh_token (scopes openid profile: new access, refresh and RS256 ID token each time), "
        f"{threads} client threads, each rotating its own family, {args.seconds} s per run",
        flush=True,
    )
    refresh_run(port, data, threads, 3)  # warm-up
    results = []
    for _ in range(args.runs):
        r = refresh_run(port, data, threads, args.seconds)
        results.append(r)
        print(
            f"  refresh run: {r['rps']:8.0f} refreshes/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
            f"({r['count']} rotations, failures {len(r['failures'])})",
            flush=True,
        )
        if r["failures"]:
            print(f"  first failure: {r['failures'][0]}", flush=True)
    print(
        f"P6 refresh, {threads} threads: median {median_of(results, 'rps'):.0f} refreshes/s, "
        f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms ({args.runs} runs of {args.seconds} s)",
        flush=True,
    )


# --- P7a: password logins through HTTP --------------------------------------------------------------


def login_run(port: int, usernames: list[str], counter: Any, threads: int, seconds: int) -> dict[str, Any]:
    """GET /login/ then POST /login/ per login, a different citizen and client address each time."""
    lock = threading.Lock()

    def once(conn: http.client.HTTPConnection, index: int) -> str | None:
        with lock:
            n = next(counter)
        address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        conn.request("GET", "/login/", headers={"X-Real-IP": address})
        page = conn.getresponse()
        html = page.read().decode()
        cookie = CSRF_COOKIE.search(page.headers.get("Set-Cookie", ""))
        token = CSRF_INPUT.search(html)
        if page.status != 200 or not cookie or not token:
            return f"GET /login/ {page.status}"
        body = urlencode(
            {
                "csrfmiddlewaretoken": token.group(1),
                "way": "password",
                "username": usernames[n % len(usernames)],
                "password": PASSWORD,
                "next": "/",
            }
        )
        status, content, _ = _post(conn, "/login/", body, {"Cookie": f"csrftoken={cookie.group(1)}", "X-Real-IP": address})
        if status != 302:
            text = re.sub(r"\s+", " ", content.decode(errors="replace"))
            return f"POST /login/ {status} {text[:300]}"
        return None

    return timed_http_run(port, threads, seconds, "login", once)


def login_phase(port: int, data: dict[str, Any], args: argparse.Namespace) -> None:
    threads = args.login_threads
    counter = itertools.count(1)
    print(
        f"\nP7a. password login through HTTP: GET /login/ + POST /login/ (CSRF), Argon2id m=19 MiB t=2, "
        f"{len(data['usernames'])} citizens rotating, a client address per login (BEHIND_PROXY, X-Real-IP), "
        f"{threads} client threads, {args.seconds} s per run",
        flush=True,
    )
    login_run(port, data["usernames"], counter, threads, 3)  # warm-up
    results = []
    for _ in range(args.runs):
        r = login_run(port, data["usernames"], counter, threads, args.seconds)
        results.append(r)
        print(
            f"  login run: {r['rps']:8.1f} logins/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms per login (GET+POST)  "
            f"failures {len(r['failures'])}",
            flush=True,
        )
        if r["failures"]:
            print(f"  first failure: {r['failures'][0]}", flush=True)
    print(
        f"P7 password logins through HTTP, {threads} threads: median {median_of(results, 'rps'):.1f} logins/s, "
        f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms ({args.runs} runs of {args.seconds} s)",
        flush=True,
    )


# --- P7b: authenticate() in-process -------------------------------------------------------------------


def authenticate_run(usernames: list[str], threads: int, count: int, offset: int) -> dict[str, float]:
    from django.contrib.auth import authenticate
    from django.db import connection
    from django.test import RequestFactory

    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        factory = RequestFactory()
        try:
            connection.ensure_connection()
            barrier.wait(timeout=60)
            for k in range(shares[index]):
                n = offset + index * 100_000 + k
                request = factory.post("/login/", REMOTE_ADDR=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}")
                started = time.perf_counter()
                account = authenticate(request, username=usernames[n % len(usernames)], password=PASSWORD)
                latencies[index].append(time.perf_counter() - started)
                if account is None:
                    raise RuntimeError(f"authenticate refused {usernames[n % len(usernames)]}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
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
    return {"rate": len(every) / elapsed, "p50_ms": 1000 * pct(every, 0.5), "p99_ms": 1000 * pct(every, 0.99)}


def authenticate_phase(data: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\nP7b. in-process authenticate() (django-axes + model backend + Argon2id verify), {args.auth_count} per run, "
        "threads 1/2/4 (argon2-cffi releases the GIL)",
        flush=True,
    )
    authenticate_run(data["usernames"], 1, 10, 0)  # warm-up
    for threads in AUTH_THREADS:
        results = [authenticate_run(data["usernames"], threads, args.auth_count, offset=1000 * (run + 1)) for run in range(args.runs)]
        for r in results:
            print(f"  threads={threads} run: {r['rate']:7.1f} logins/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms", flush=True)
        print(
            f"P7 authenticate() in-process, threads={threads}: median {median_of(results, 'rate'):.1f} logins/s, "
            f"p50 {median_of(results, 'p50_ms'):.2f} ms, p99 {median_of(results, 'p99_ms'):.2f} ms",
            flush=True,
        )


# --- main -------------------------------------------------------------------------------------------------


def prepare_database(database_url: str, env: dict[str, str]) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    sh([str(BIN / "tongban"), "migrate", "-v0"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15, help="seconds per run (wrk and the Python clients)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (client credentials)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")), help="gunicorn workers")
    parser.add_argument("--refresh-threads", type=int, default=8, help="client threads (token families) for refresh")
    parser.add_argument("--login-threads", type=int, default=8, help="client threads for HTTP logins")
    parser.add_argument("--users", type=int, default=2000, help="benchmark citizens")
    parser.add_argument("--auth-count", type=int, default=200, help="in-process authenticate() calls per run")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--skip-p6", action="store_true")
    parser.add_argument("--skip-p7", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help=f"default: a {DB_NAME} database on 127.0.0.1")
    parser.add_argument("--reuse", action="store_true", help="keep the database and data directory of a previous run")
    args = parser.parse_args()
    if min(args.runs, args.seconds, args.workers, args.refresh_threads, args.login_threads, args.users, args.auth_count) < 1:
        parser.error("--runs, --seconds, --workers, --refresh-threads, --login-threads, --users and --auth-count must be at least 1")
    if args.connections < 2:
        parser.error("--connections must be at least 2: wrk runs two threads (http_bench.run_wrk)")
    if args.users < args.refresh_threads:
        parser.error("--users must be at least --refresh-threads (one token family per citizen)")
    args.database_url = args.database_url or f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    if not args.database_url.startswith("postgres"):
        parser.error("the identity benchmark needs PostgreSQL")
    if not port_free(args.port):
        parser.error(f"port {args.port} on {HOST} is in use: pick another with --port")
    wrk = ensure_wrk() if not args.skip_p6 else ""
    print(f"{machine_line()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the start", flush=True)
    print(
        f"database: PostgreSQL {postgres_version(args.database_url)} on {HOST} ({args.database_url.rsplit('/', 1)[1]}); "
        f"gunicorn ({args.workers} sync workers), the clients (wrk, Python threads) and PostgreSQL share the machine",
        flush=True,
    )

    _, env = bench_environment(
        "identity",
        args.database_url,
        wipe=not args.reuse,
        PUBLIC_BASE_URL=f"http://{HOST}:{args.port}",
        BEHIND_PROXY="1",  # the client address comes from X-Real-IP, as behind the nginx front
    )
    if not args.reuse:
        prepare_database(args.database_url, env)
    else:
        sh([str(BIN / "tongban"), "migrate", "-v0"], env)
    sh([str(BIN / "tongban"), "collectstatic", "--noinput", "-v0"], env)

    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    data = bench_data(args.users, args.refresh_threads)
    connection.close()
    workdir = Path(tempfile.mkdtemp(prefix="tongban-identity-bench-"))
    server = start_server(env, args.port, args.workers)
    try:
        if not args.skip_p6:
            cc_phase(wrk, args.port, data, args, workdir)
            refresh_phase(args.port, data, args)
        if not args.skip_p7:
            login_phase(args.port, data, args)
    finally:
        stop(server)
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.skip_p7:
        authenticate_phase(data, args)  # with the server stopped: the two cores are the hasher's
    connection.close()
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end (other work on the machine lowers every figure)")


if __name__ == "__main__":
    main()
