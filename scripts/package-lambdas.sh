#!/usr/bin/env bash
# Builds the four Lambda functions as release `bootstrap` binaries for the
# `provided.al2023` runtime (x86_64, linked against glibc 2.34 so that Amazon Linux 2023
# runs them) and zips each as target/lambda/<name>.zip, where infra/ expects them.
#
# Tools come from the package registries into .tools/: ziglang (PyPI) as the linker and
# cargo-zigbuild (crates.io) to drive it. Usage: ./scripts/package-lambdas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
TARGET="x86_64-unknown-linux-gnu"
GLIBC="2.34"   # Amazon Linux 2023
FUNCTIONS=(inventory payment shipping notification)

mkdir -p "$TOOLS"
if ! [ -x "$TOOLS/venv/bin/python" ] || ! "$TOOLS/venv/bin/python" -m ziglang version >/dev/null 2>&1; then
  echo "==> installing ziglang (PyPI) into .tools/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check ziglang==0.15.2
fi
if ! [ -x "$TOOLS/bin/cargo-zigbuild" ]; then
  echo "==> installing cargo-zigbuild (crates.io) into .tools"
  cargo install cargo-zigbuild --version 0.24.1 --locked --root "$TOOLS"
fi
export PATH="$TOOLS/bin:$TOOLS/venv/bin:$PATH"

echo "==> building release bootstraps for $TARGET (glibc $GLIBC)"
bins=()
for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
cargo zigbuild --profile lambda -p courier-shop --features otel --target "$TARGET.$GLIBC" "${bins[@]}"

target_dir="${CARGO_TARGET_DIR:-target}"
out="target/lambda"
mkdir -p "$out"
printf '%-14s %12s %12s\n' function bootstrap zip
for f in "${FUNCTIONS[@]}"; do
  bin="$target_dir/$TARGET/lambda/$f"
  # Newer glibc symbols would fail to load on Amazon Linux 2023.
  if objdump -T "$bin" 2>/dev/null | grep -oE 'GLIBC_2\.[0-9]+' | sort -uV | tail -n 1 | grep -qvE '^GLIBC_2\.([0-9]|[12][0-9]|3[0-4])$'; then
    echo "error: $bin needs a glibc newer than $GLIBC" >&2
    exit 1
  fi
  python3 - "$bin" "$out/$f.zip" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16  # executable, as the runtime requires
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(src, "rb") as f:
        z.writestr(info, f.read())
PY
  printf '%-14s %12s %12s\n' "$f" "$(stat -c %s "$bin")" "$(stat -c %s "$out/$f.zip")"
done
echo "zips in $out/"
