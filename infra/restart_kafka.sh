#!/usr/bin/env bash
# Restart the Kafka broker keeping its data (fault-injection tests); same as infra/kafka.sh restart.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/kafka.sh" restart
