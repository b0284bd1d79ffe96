#!/usr/bin/env bash
# Stop the local stack and delete its data (Kafka logs, FerretDB files, mails, logs); keeps the fetched jars and built binary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$INFRA_DIR/down.sh"
rm -rf "$DATA/kafka/data" "$DATA/kafka/server.properties" "$DATA/kafka/log4j.properties" \
  "$DATA/ferretdb" "$DATA/mail" "$LOG_DIR" "$PID_DIR" "$DATA/env"
# A custom SMTP_SINK_DIR is only removed when it lives under .data.
case "$SMTP_SINK_DIR" in "$DATA"/*) rm -rf "$SMTP_SINK_DIR" ;; esac
log "reset done (kept the downloaded jars and the built binary in $CACHE)"
