# Shared settings of the LocalStack scripts; sourced, not run.
# LocalStack runs on the host from PyPI (no Docker here): localstack-core 4.14.0 in a venv,
# pinned by constraints.txt, on a loopback port.
LOCALSTACK_VERSION="4.14.0"
LOCALSTACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCALSTACK_HOME="${COURIER_LOCALSTACK_HOME:-$LOCALSTACK_DIR/../.localstack}"
LOCALSTACK_VENV="$LOCALSTACK_HOME/venv"
LOCALSTACK_PIDFILE="$LOCALSTACK_HOME/localstack.pid"
LOCALSTACK_PORTFILE="$LOCALSTACK_HOME/localstack.port"
LOCALSTACK_LOG="$LOCALSTACK_HOME/localstack.log"

# Prints a Python >= 3.12 (LocalStack answers 500 to every call on 3.11), or fails.
find_python() {
  local candidates=()
  if [ -n "${LOCALSTACK_PYTHON:-}" ]; then candidates+=("$LOCALSTACK_PYTHON"); fi
  if command -v pyenv >/dev/null 2>&1; then
    local root
    root="$(pyenv root)"
    # newest first
    while IFS= read -r v; do candidates+=("$root/versions/$v/bin/python3"); done \
      < <(ls "$root/versions" 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.|$)' | sort -t. -k1,1nr -k2,2nr -k3,3nr)
  fi
  candidates+=(python3.14 python3.13 python3.12 python3)
  local py
  for py in "${candidates[@]}"; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  echo "localstack: no Python >= 3.12 found (tried pyenv versions, python3.12+, python3); set LOCALSTACK_PYTHON" >&2
  return 1
}

# Whether something listens on 127.0.0.1:$1.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
