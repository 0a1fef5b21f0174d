#!/usr/bin/env bash
# Installs localstack-core (pinned) into a venv under .localstack/; does nothing when present.
set -euo pipefail
. "$(dirname "$0")/common.sh"
if [ -x "$LOCALSTACK_VENV/bin/python" ] && "$LOCALSTACK_VENV/bin/python" -c \
    "import importlib.metadata as m, sys; sys.exit(0 if m.version('localstack-core') == '$LOCALSTACK_VERSION' else 1)" 2>/dev/null; then
  echo "localstack: localstack-core $LOCALSTACK_VERSION already installed in $LOCALSTACK_VENV"
  exit 0
fi
py="$(find_python)"
echo "localstack: installing localstack-core $LOCALSTACK_VERSION with $py into $LOCALSTACK_VENV"
mkdir -p "$LOCALSTACK_HOME"
rm -rf "$LOCALSTACK_VENV"
"$py" -m venv "$LOCALSTACK_VENV"
"$LOCALSTACK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -c "$LOCALSTACK_DIR/constraints.txt" "localstack-core[base-runtime]==$LOCALSTACK_VERSION"
echo "localstack: installed"
