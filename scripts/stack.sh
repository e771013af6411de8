#!/usr/bin/env bash
# The service on Postgres and Redis as the Procfile runs it: web (gunicorn), one worker for every
# queue and the scheduler. Creates the database if it is missing and migrates it first. The first
# process to stop, or Ctrl-C, stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
: "${DATABASE_URL:?set DATABASE_URL (make stack sets it)}" "${REDIS_URL:?set REDIS_URL}"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
export DATABASE_URL REDIS_URL PATH="$BIN:$PATH"

flask --app wsgi billing migrate --create-database
pids=()
stop() {
  trap - EXIT INT TERM
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM
gunicorn wsgi:app --config python:entrypoints.gunicorn_conf --bind "${HOST:-127.0.0.1}:${PORT:-8000}" \
  --workers "${WEB_CONCURRENCY:-2}" --access-logfile - & pids+=($!)
python -m entrypoints.worker urgent webhooks bulk & pids+=($!)
python -m entrypoints.worker.scheduler & pids+=($!)
echo "billing: http://${HOST:-127.0.0.1}:${PORT:-8000} (web, worker and scheduler; Ctrl-C stops them)" >&2
wait -n
