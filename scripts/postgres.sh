#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: `start` creates one in a temporary
# directory (initdb, trust auth on loopback only), runs it as an unprivileged user on a
# free 127.0.0.1 port and prints its URL as the last line; `stop` stops it and removes the
# directory. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
# Installs Debian's `postgresql` package when no server binaries are found.
# State: .postgres/ (the data directory's path, pid check through pg_ctl).
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=".postgres"
mkdir -p "$STATE"

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  if [ -f "$STATE/dir" ] && [ -d "$(cat "$STATE/dir")/data" ] &&
    as_owner "$(pg_bin)/pg_ctl" -D "$(cat "$STATE/dir")/data" status >/dev/null 2>&1; then
    echo "postgres: already running"
    cat "$STATE/url"
    return 0
  fi
  if [ -z "$(pg_bin)" ]; then
    echo "postgres: no server binaries; installing Debian's postgresql package" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
  local bin dir port
  bin="$(pg_bin)"
  dir="$(mktemp -d /tmp/courier-postgres.XXXXXX)"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  port="${COURIER_TEST_POSTGRES_PORT:-55432}"
  while port_busy "$port"; do port=$((port + 1)); done
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: a throwaway cluster; the crash tests kill clients, never the server.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >/dev/null ||
    { tail -n 20 "$dir/log" >&2; exit 1; }
  echo "$dir" >"$STATE/dir"
  echo "postgres://postgres@127.0.0.1:$port/postgres" >"$STATE/url"
  echo "postgres: ready ($("$bin/postgres" --version), data in $dir)"
  cat "$STATE/url"
}

stop() {
  [ -f "$STATE/dir" ] || { echo "postgres: not running"; return 0; }
  local dir
  dir="$(cat "$STATE/dir")"
  if [ -d "$dir/data" ]; then
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  rm -f "$STATE/dir" "$STATE/url"
  echo "postgres: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
