#!/usr/bin/env bash
# Stops the LocalStack started by start.sh (SIGTERM, then SIGKILL after 15 s).
set -euo pipefail
. "$(dirname "$0")/common.sh"
[ -f "$LOCALSTACK_PIDFILE" ] || { echo "localstack: not running"; exit 0; }
pid="$(cat "$LOCALSTACK_PIDFILE")"
if kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
fi
rm -f "$LOCALSTACK_PIDFILE" "$LOCALSTACK_PORTFILE"
echo "localstack: stopped"
