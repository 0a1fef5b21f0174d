#!/usr/bin/env bash
# The Lambda adapter benchmark: installs AWS Lambda Powertools (PyPI) into .tools/venv for
# the Python side, then runs `cargo bench -p courier-lambdas --bench adapter`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x .tools/venv/bin/python ]; then python3 -m venv .tools/venv; fi
.tools/venv/bin/pip install --quiet --disable-pip-version-check 'aws-lambda-powertools==3.37.0'
POWERTOOLS_PYTHON="$PWD/.tools/venv/bin/python" cargo bench -p courier-lambdas --bench adapter
