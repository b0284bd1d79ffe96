#!/usr/bin/env bash
# THE test command: installs everything, starts a private fresh stack (Kafka, FerretDB, SMTP sink), runs the
# quality gates and the whole test suite (unit, integration, end-to-end), then stops the stack.
# A missing piece of infrastructure fails the run; no test is ever skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A private stack on its own ports and data folder, so a running demo platform is left alone.
export GRD_DATA_DIR="$ROOT/.data/test-stack"
export KAFKA_PORT="${TEST_KAFKA_PORT:-19092}" KAFKA_CONTROLLER_PORT="${TEST_KAFKA_CONTROLLER_PORT:-19093}"
export FERRETDB_PORT="${TEST_FERRETDB_PORT:-37017}" SMTP_SINK_PORT="${TEST_SMTP_PORT:-2025}"
export SMTP_SINK_DIR="$GRD_DATA_DIR/mail"
export GRD_TEST_PORT_OFFSET="${GRD_TEST_PORT_OFFSET:-10000}"
export GRD_FORBID_SKIP=1

scripts/install.sh
# The supervision's end-to-end test drives its page in a real headless browser (Debian's chromium, via playwright).
if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] apt-get install chromium (supervision e2e)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
infra/reset.sh >/dev/null 2>&1 || true
trap 'infra/down.sh || true' EXIT
infra/up.sh
# shellcheck disable=SC1091
source "$GRD_DATA_DIR/env"

echo "[test] ruff" >&2
ruff check contracts platform_kit demo_data services simulators devtools tests scripts grd_client
echo "[test] mypy --strict" >&2
mypy contracts platform_kit demo_data services simulators devtools tests grd_client
echo "[test] pytest" >&2
python -m pytest -p no:cacheprovider "$@"
