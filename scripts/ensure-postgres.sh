#!/usr/bin/env bash
# The PostgreSQL test run needs a server on 127.0.0.1:5432 with trust auth for user postgres.
set -euo pipefail
HOST=${PGHOST:-127.0.0.1}
PORT=${PGPORT:-5432}
if pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "PostgreSQL is not running; starting the local cluster..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 20); do pg_isready -q -h "$HOST" -p "$PORT" && exit 0; sleep 0.5; done
fi
echo "PostgreSQL is not reachable at $HOST:$PORT. Start it (trust auth, user postgres) and run 'make test' again." >&2
exit 1
