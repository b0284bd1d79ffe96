#!/usr/bin/env bash
# Stop the local stack (SMTP sink, FerretDB, Kafka: reverse start order). Data is kept. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lock stack

"$INFRA_DIR/smtp.sh" stop
"$INFRA_DIR/ferretdb.sh" stop
"$INFRA_DIR/kafka.sh" stop
"$INFRA_DIR/kafka_cluster.sh" stop
