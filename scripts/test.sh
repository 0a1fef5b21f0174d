#!/usr/bin/env bash
# The one test command: everything a fresh machine needs, then every test.
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> cargo test (unit, conformance suite on the memory broker, CLI, doc tests)"
cargo test --workspace --all-features
