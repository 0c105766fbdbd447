#!/usr/bin/env bash
# All HTTP benchmarks against PostgreSQL on loopback; prints medians. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-postgres.sh
.venv/bin/python benchmarks/http_bench.py --scenario p1 --runs "${RUNS:-3}"
.venv/bin/python benchmarks/http_bench.py --scenario p2 --runs "${RUNS:-3}" --implementations "${IMPLEMENTATIONS:-100000}"
.venv/bin/python benchmarks/messaging_bench.py --runs "${RUNS:-3}"
.venv/bin/python benchmarks/identity_bench.py --runs "${RUNS:-3}"
.venv/bin/python benchmarks/cases_bench.py --runs "${RUNS:-3}"
