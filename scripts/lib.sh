# Shared by scripts/dev and scripts/test: make sure the local services answer, starting the
# ones installed on this machine when they do not. Sourced, not run.

REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
AMQP_PORT=${AMQP_PORT:-5672}

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL: where, and as whom. A URL given in DATABASE_URL (or TEST_DATABASE_URL, for
# scripts/test) names all of it, a password included; otherwise PG_HOST and PG_PORT, and libpq's
# own PGUSER and PGPASSWORD. The user and password are exported as PGUSER and
# PGPASSWORD, which every client the scripts start reads (psql, createdb, pgbench, and sqlx in the
# services and tests), so the URLs the scripts build carry no password.
pg_use_url() { # url
  [ -n "$1" ] || return 0
  local assignments
  assignments=$(python3 - "$1" <<'PY'
import shlex, sys
from urllib.parse import unquote, urlsplit
url = urlsplit(sys.argv[1])
if url.scheme not in ("postgres", "postgresql"):
    sys.exit(f"not a PostgreSQL URL: {url.scheme}://...")
for name, value in (("PG_HOST", url.hostname), ("PG_PORT", url.port),
                    ("PGUSER", url.username), ("PGPASSWORD", url.password)):
    if value is not None:
        print(f"{name}={shlex.quote(unquote(str(value)))}")
PY
) || die "cannot read the PostgreSQL URL in DATABASE_URL or TEST_DATABASE_URL"
  eval "$assignments"
  export PGUSER
  [ -z "${PGPASSWORD:-}" ] || export PGPASSWORD
}
pg_use_url "${DATABASE_URL:-}"
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
export PGUSER=${PGUSER:-postgres}
pg_url() { echo "postgres://$PGUSER@$PG_HOST:$PG_PORT/$1"; } # database

# A TCP port that accepts connections (bash's /dev/tcp: no client tools needed).
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Installs a Debian package when its command is missing (as root, which CI is); otherwise
# stops with what to install.
need() { # command, Debian package
  command -v "$1" >/dev/null && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "$1 is missing: install $2"
  log "installing $2"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$name did not come up within ${seconds}s"
    sleep 0.5
  done
}

ensure_postgres() {
  if pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; then return; fi
  command -v pg_ctlcluster >/dev/null || die "PostgreSQL does not answer at $PG_HOST:$PG_PORT and is not installed here"
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  wait_for PostgreSQL 60 pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

ensure_redis() {
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then return; fi
  command -v redis-server >/dev/null || die "Redis does not answer at $REDIS_HOST:$REDIS_PORT and is not installed here"
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 port_open "$REDIS_HOST" "$REDIS_PORT"
}

ensure_rabbitmq() {
  if port_open 127.0.0.1 "$AMQP_PORT"; then return; fi
  command -v rabbitmq-server >/dev/null || die "RabbitMQ does not answer at 127.0.0.1:$AMQP_PORT and is not installed here"
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_for RabbitMQ 120 rabbitmqctl await_startup
  wait_for RabbitMQ 60 port_open 127.0.0.1 "$AMQP_PORT"
}

# PROJECTOR_SHARDS > 1 routes through the consistent-hash exchange, a plugin RabbitMQ bundles
# but does not enable; the scale-out tests shard.
ensure_rabbitmq_plugins() {
  command -v rabbitmq-plugins >/dev/null || return 0
  if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_consistent_hash_exchange; then
    log "enabling RabbitMQ's consistent-hash exchange"
    rabbitmq-plugins enable rabbitmq_consistent_hash_exchange >/dev/null
  fi
}

ensure_services() {
  ensure_postgres
  ensure_redis
  ensure_rabbitmq
  ensure_rabbitmq_plugins
}

# One target directory outside the clone, shared by every checkout on this machine, so that a
# fresh clone (CI) does not rebuild every dependency.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/catalog-target}
