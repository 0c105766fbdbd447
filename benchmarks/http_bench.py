"""HTTP benchmarks P1 (home and guide pages) and P2 (search over 100,000 implementations).

Starts gunicorn on loopback against PostgreSQL (default) with the demo province loaded, drives it
with wrk (Debian package; installed on demand when run as root), repeats each scenario and prints
the median of the runs. Client and server share the machine's cores: the figures are a floor.

    .venv/bin/python benchmarks/http_bench.py --scenario p1 --runs 3
    .venv/bin/python benchmarks/http_bench.py --scenario p2 --runs 3 --implementations 100000

Everything it starts (gunicorn) it stops again by process id; it only ever targets 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

SEARCH_QUERIES = [
    "上户口",
    "出生",
    "社保",
    "社保卡",
    "上牌",
    "换驾照",
    "开公司",
    "营业执照",
    "公积金提取",
    "结婚登记",
    "身份证",
    "退休",
    "食品经营许可",
    "低保",
    "医保",
    "过户",
    "抵押",
    "用电",
    "护照",
    "户口迁移",
    "怎么给孩子上户口",
    "企业注销",
    "残疾人证",
    "失业金",
    "居住证",
    "施工许可",
    "发票",
    "刻章",
    "公租房",
    "异地就医",
]


def sh(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=True, **kw)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: sudo apt-get install wrk")
    return found


def bench_environment(name: str, database_url: str, *, wipe: bool, **extra: str) -> tuple[Path, dict[str, str]]:
    """The data directory and environment of one benchmark's processes. The data directory holds
    the keys the platform generates (field encryption, OIDC signing): the server, the worker and the
    benchmark itself share it, and a reused database needs the same one, so it is wiped only with
    a fresh database."""
    data_dir = Path(os.environ.get("BENCH_DATA_DIR", tempfile.gettempdir())) / f"tongban-bench-{name}"
    if wipe:
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "tongban.config.settings",
        **extra,
    }
    return data_dir, env


def prepare(env: dict[str, str], implementations: int | None) -> None:
    if env["DATABASE_URL"].startswith("postgres"):
        name = env["DATABASE_URL"].rsplit("/", 1)[1]
        admin = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    t0 = time.monotonic()
    sh([str(BIN / "tongban"), "demo"], env, stdout=subprocess.DEVNULL)
    print(f"demo loaded in {time.monotonic() - t0:.1f} s", flush=True)
    if implementations:
        t0 = time.monotonic()
        sh([str(BIN / "tongban"), "bench_data", "--implementations", str(implementations)], env, stdout=subprocess.DEVNULL)
        print(f"bench data ({implementations} implementations) in {time.monotonic() - t0:.1f} s", flush=True)
    if env["DATABASE_URL"].startswith("postgres"):
        # What autovacuum would have done by the time a real catalogue serves traffic.
        subprocess.run(["psql", env["DATABASE_URL"], "-qc", "VACUUM ANALYZE"], check=True)


def start_server(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    server_env = {**env, "PORT": str(port), "HOST": HOST, "WEB_CONCURRENCY": str(workers)}
    proc = subprocess.Popen(
        [str(BIN / "tongban"), "serve", "--no-collectstatic"],
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    sys.exit("server did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, url: str, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket.group(1) if socket else "",
    }


def rotating_script(paths: list[str]) -> Path:
    lua = "paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
    lua += "i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1])\nend\n"
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    handle.write(lua)
    handle.close()
    return Path(handle.name)


def guide_paths(env: dict[str, str], count: int) -> list[str]:
    code = (
        "from tongban.catalog.models import Implementation as I;"
        f"print('\\n'.join(I.objects.filter(status='published').order_by('?').values_list('code', flat=True)[:{count}]))"
    )
    out = subprocess.run([str(BIN / "tongban"), "shell", "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    return [f"/guide/{line.strip()}" for line in out.splitlines() if re.fullmatch(r"[0-9A-Z]{31}", line.strip())]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["p1", "p2"], required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--implementations", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help="default: a tongban_bench_<scenario> database")
    parser.add_argument("--reuse", action="store_true", help="skip loading: reuse the database of a previous run")
    args = parser.parse_args()

    args.database_url = args.database_url or f"postgres://postgres@127.0.0.1:5432/tongban_bench_{args.scenario}"
    wrk = ensure_wrk()
    _, env = bench_environment(args.scenario, args.database_url, wipe=False, RATE_LIMIT_SEARCH_PER_MINUTE="0")
    if not args.reuse:
        prepare(env, args.implementations if args.scenario == "p2" else None)
    sh([str(BIN / "tongban"), "migrate", "-v0"], env)
    sh([str(BIN / "tongban"), "collectstatic", "--noinput", "-v0"], env)

    if args.scenario == "p1":
        scenarios = [("home", "/", None, 16), ("guide", "/guide/", rotating_script(guide_paths(env, 500)), 16)]
    else:
        paths = [f"/api/v1/search?q={urllib.request.quote(q)}" for q in SEARCH_QUERIES]
        paths += [f"/api/v1/search?q={urllib.request.quote(q)}&hall=360102" for q in SEARCH_QUERIES]
        scenarios = [
            ("search-api", "/", rotating_script(paths), 20),
            ("search-page", "/", rotating_script([p.replace("/api/v1/search", "/search") for p in paths]), 20),
        ]

    proc = start_server(env, args.port, args.workers)
    try:
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
            f"database: {args.database_url.split('@')[-1].split('/')[0] if '@' in args.database_url else 'sqlite'}; "
            f"gunicorn sync workers: {args.workers}; wrk on the same machine",
            flush=True,
        )
        for name, path, script, connections in scenarios:
            url = f"http://{HOST}:{args.port}{path}"
            run_wrk(wrk, url, connections, 3, script)  # warm-up
            results = [run_wrk(wrk, url, connections, args.seconds, script) for _ in range(args.runs)]
            for r in results:
                print(
                    f"  {name:12} run: {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
                    f"non-2xx {r['non2xx']} {r['socket_errors']}",
                    flush=True,
                )
            print(
                f"{name:12} c={connections}: median {statistics.median(r['rps'] for r in results):.0f} req/s, "
                f"p50 {statistics.median(r['p50_ms'] for r in results):.2f} ms, "
                f"p99 {statistics.median(r['p99_ms'] for r in results):.2f} ms ({args.runs} runs of {args.seconds} s)",
                flush=True,
            )
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
