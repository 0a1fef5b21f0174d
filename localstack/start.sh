#!/usr/bin/env bash
# Starts LocalStack (SQS, SNS) on 127.0.0.1 in the background and waits until it answers.
# Installs it first if needed. The port is $LOCALSTACK_PORT, else 4566, else the next free
# one; it is written to .localstack/localstack.port. Prints the URL as its last line.
set -euo pipefail
. "$(dirname "$0")/common.sh"
"$LOCALSTACK_DIR/install.sh"
if [ -f "$LOCALSTACK_PIDFILE" ] && kill -0 "$(cat "$LOCALSTACK_PIDFILE")" 2>/dev/null && [ -f "$LOCALSTACK_PORTFILE" ]; then
  port="$(cat "$LOCALSTACK_PORTFILE")"
  if [ -z "${LOCALSTACK_PORT:-}" ] || [ "$LOCALSTACK_PORT" = "$port" ]; then
    echo "localstack: already running (pid $(cat "$LOCALSTACK_PIDFILE"))"
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  echo "localstack: already running on port $port, not $LOCALSTACK_PORT; stop it first (localstack/stop.sh)" >&2
  exit 1
fi
if [ -n "${LOCALSTACK_PORT:-}" ]; then
  port="$LOCALSTACK_PORT"
  if port_busy "$port"; then
    echo "localstack: port $port is taken by another process; choose another LOCALSTACK_PORT" >&2
    exit 1
  fi
else
  port=4566
  while port_busy "$port"; do port=$((port + 1)); done
fi
url="http://127.0.0.1:$port"
echo "$port" >"$LOCALSTACK_PORTFILE"
mkdir -p "$LOCALSTACK_HOME/fs"
# Environment measured to work offline on loopback without Docker (see README).
env OVERRIDE_IN_DOCKER=0 DNS_ADDRESS=0 GATEWAY_SERVER=hypercorn \
  GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
  SERVICES=sqs,sns EAGER_SERVICE_LOADING=1 SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 \
  PERSISTENCE=0 SQS_ENDPOINT_STRATEGY=path FILESYSTEM_ROOT="$LOCALSTACK_HOME/fs" \
  nohup "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main >"$LOCALSTACK_LOG" 2>&1 &
echo $! >"$LOCALSTACK_PIDFILE"
for _ in $(seq 1 120); do
  if ! kill -0 "$(cat "$LOCALSTACK_PIDFILE")" 2>/dev/null; then
    echo "localstack: exited during start; last lines of $LOCALSTACK_LOG:" >&2
    tail -n 20 "$LOCALSTACK_LOG" >&2
    exit 1
  fi
  health="$("$LOCALSTACK_VENV/bin/python" - "$url" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2))["services"]
if h.get("sqs") in ("running", "available") and h.get("sns") in ("running", "available"):
    # Healthy is not enough: one real SQS call must answer 200 (it answers 500 on a
    # Python that LocalStack cannot run on).
    req = urllib.request.Request(sys.argv[1] + "/", data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"})
    try:
        urllib.request.urlopen(req, timeout=5)
        print("ok")
    except urllib.error.HTTPError as e:
        print("broken: SQS answered %d: %s" % (e.code, e.read()[:300].decode(errors="replace")))
PY
)"
  case "$health" in broken*)
    echo "localstack: started but does not work: ${health#broken: }" >&2
    "$LOCALSTACK_DIR/stop.sh" >/dev/null
    exit 1;;
  esac
  if [ "$health" = "ok" ]; then
    echo "localstack: ready (pid $(cat "$LOCALSTACK_PIDFILE"))"
    echo "$url"
    exit 0
  fi
  sleep 0.5
done
echo "localstack: not healthy after 60 s; last lines of $LOCALSTACK_LOG:" >&2
tail -n 20 "$LOCALSTACK_LOG" >&2
exit 1
