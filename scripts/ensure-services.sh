#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1 for the integration tests:
# starts them if installed, installs them from Debian's packages if missing.
set -euo pipefail

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 0.5; done
  echo "$2 did not start on port $1" >&2
  return 1
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

as_postgres() { $SUDO runuser -u postgres -- "$@" 2>/dev/null || $SUDO su postgres -c "$*"; }

ensure_postgres() {
  local started=""
  if listening "$PG_PORT"; then echo "postgres: running on $PG_PORT"; else
    started=1
    if ! command -v pg_ctlcluster >/dev/null; then
      echo "postgres: installing"; apt_install postgresql
    fi
    version=$(ls /etc/postgresql | sort -V | tail -1)
    if [ -z "$version" ]; then echo "postgres: no cluster found" >&2; return 1; fi
    echo "postgres: starting cluster $version/main"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for "$PG_PORT" postgres
  fi
  # The tests connect as postgres/postgres to the database "test". A server this script did not
  # start is left as it is (with trust auth the password is ignored); one it started, from
  # Debian's defaults, needs the password for TCP logins.
  if [ -n "$started" ]; then
    as_postgres psql -q -p "$PG_PORT" -c "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || true
  fi
  as_postgres psql -q -p "$PG_PORT" -tc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null \
    | grep -q 1 || as_postgres createdb -p "$PG_PORT" test 2>/dev/null || true
}

ensure_redis() {
  if listening "$REDIS_PORT"; then echo "redis: running on $REDIS_PORT"; return 0; fi
  command -v redis-server >/dev/null || { echo "redis: installing"; apt_install redis-server; }
  echo "redis: starting"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "$REDIS_PORT" redis
}

ensure_postgres
ensure_redis
