#!/usr/bin/env bash
# Start the local PostgreSQL and Redis that the test suite uses, when they are not answering, and wait
# (bounded) until they answer.
#
#   scripts/services.sh          start + wait; messages on stderr
#   scripts/services.sh --env    the same, then print `export VAR=URL` lines on stdout for each service that
#                                answers and whose RUNPLANE_TEST_*_URL is not set yet (for `eval` in make test)
#
# Required vs best effort: with CI=true or RUNPLANE_REQUIRE_SERVICES=1 a service that does not answer is an
# error (exit 1). Otherwise (a laptop without these services, not root, ...) it only warns and exits 0:
# the test suite then skips the tests that need the missing service.
set -uo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_URL=postgresql://postgres@127.0.0.1:5432/postgres
REDIS_URL=redis://127.0.0.1:6379/15
WAIT_SECONDS=${RUNPLANE_SERVICES_WAIT:-30}

print_env=0
case "${1:-}" in
    --env) print_env=1 ;;
    "") ;;
    *) echo "usage: $0 [--env]" >&2; exit 2 ;;
esac

required=0
if [[ "${CI:-}" == "true" || "${RUNPLANE_REQUIRE_SERVICES:-}" == "1" ]]; then
    required=1
fi

say() { echo "services: $*" >&2; }

pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; }
redis_up() { command -v redis-cli >/dev/null 2>&1 && redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1; }

wait_for() {  # wait_for NAME CHECK_FUNCTION
    local name=$1 check=$2 i
    for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
        "$check" && return 0
        sleep 0.5
    done
    say "$name did not answer within ${WAIT_SECONDS}s"
    return 1
}

start_postgres() {
    pg_up && return 0
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -d /etc/postgresql ]]; then
        say "PostgreSQL is not answering on $PG_HOST:$PG_PORT and pg_ctlcluster is not installed"
        return 1
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || say "pg_ctlcluster failed"
    wait_for PostgreSQL pg_up
}

start_redis() {
    redis_up && return 0
    if ! command -v redis-server >/dev/null 2>&1; then
        say "Redis is not answering on $REDIS_HOST:$REDIS_PORT and redis-server is not installed"
        return 1
    fi
    say "starting Redis"
    if [[ $(id -u) -eq 0 ]]; then
        mkdir -p /var/lib/redis /var/log/redis
    fi
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || say "redis-server failed"
    wait_for Redis redis_up
}

status=0
start_postgres || status=1
start_redis || status=1

if ((status != 0)); then
    if ((required)); then
        say "ERROR: a required service is not answering (CI=true or RUNPLANE_REQUIRE_SERVICES=1)"
        exit 1
    fi
    say "WARNING: continuing without it; tests that need it will be skipped"
fi

if ((print_env)); then
    if [[ -z "${RUNPLANE_TEST_POSTGRES_URL:-}" ]] && pg_up; then
        echo "export RUNPLANE_TEST_POSTGRES_URL=$PG_URL"
    fi
    if [[ -z "${RUNPLANE_TEST_REDIS_URL:-}" ]] && redis_up; then
        echo "export RUNPLANE_TEST_REDIS_URL=$REDIS_URL"
    fi
fi
exit 0
