#!/usr/bin/env bash
# The Lambda adapter benchmark: installs AWS Lambda Powertools (PyPI) into .tools/venv for
# the Python side, builds the `inventory` bootstrap for the cold start, then runs
# `cargo bench -p courier-lambdas --bench adapter`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x .tools/venv/bin/python ]; then python3 -m venv .tools/venv; fi
.tools/venv/bin/pip install --quiet --disable-pip-version-check 'aws-lambda-powertools==3.37.0'
cargo build --release -p courier-shop --bin inventory
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
COURIER_BENCH_BOOTSTRAP="$target_dir/release/inventory" \
  POWERTOOLS_PYTHON="$PWD/.tools/venv/bin/python" cargo bench -p courier-lambdas --bench adapter
