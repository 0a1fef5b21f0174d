#!/usr/bin/env bash
# A DynamoDB-API server for the tests: dynalite (npm, pinned by scripts/dynalite/
# package-lock.json, installed into .tools/dynalite), in memory, on a free 127.0.0.1
# port. `start` prints its URL as the last line; `stop` stops it.
# (LocalStack cannot serve DynamoDB here: it downloads DynamoDB Local at first use.)
set -euo pipefail
cd "$(dirname "$0")/.."
HOME_DIR=".tools/dynalite"
PIDFILE="$HOME_DIR/dynalite.pid"
URLFILE="$HOME_DIR/dynalite.url"
mkdir -p "$HOME_DIR"

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

install() {
  if ! cmp -s scripts/dynalite/package-lock.json "$HOME_DIR/package-lock.json" ||
    ! [ -x "$HOME_DIR/node_modules/.bin/dynalite" ]; then
    cp scripts/dynalite/package.json scripts/dynalite/package-lock.json "$HOME_DIR/"
    # The optional native LevelDB binding is only for on-disk mode; in memory needs nothing.
    (cd "$HOME_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
  fi
}

start() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "dynalite: already running (pid $(cat "$PIDFILE"))"
    cat "$URLFILE"
    return 0
  fi
  install
  local port url
  port="${COURIER_TEST_DYNALITE_PORT:-8600}"
  while port_busy "$port"; do port=$((port + 1)); done
  url="http://127.0.0.1:$port"
  nohup node "$HOME_DIR/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" \
    >"$HOME_DIR/dynalite.log" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "dynalite: exited during start:" >&2
      tail -n 20 "$HOME_DIR/dynalite.log" >&2
      exit 1
    fi
    if port_busy "$port"; then
      echo "$url" >"$URLFILE"
      echo "dynalite: ready (pid $(cat "$PIDFILE"))"
      echo "$url"
      return 0
    fi
    sleep 0.25
  done
  echo "dynalite: not listening after 15 s" >&2
  exit 1
}

stop() {
  [ -f "$PIDFILE" ] || { echo "dynalite: not running"; return 0; }
  local pid
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$PIDFILE" "$URLFILE"
  echo "dynalite: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
