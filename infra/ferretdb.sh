#!/usr/bin/env bash
# Local MongoDB-compatible server: FerretDB 1.24 (SQLite backend, patched: infra/ferretdb/patch.sh) built from infra/ferretdb: build|start|stop|restart|kill|status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$INFRA_DIR/ferretdb"
BIN="$CACHE/bin/ferretdb"
FDATA="$DATA/ferretdb"
PIDFILE="$PID_DIR/ferretdb.pid"
LOGFILE="$LOG_DIR/ferretdb.log"
LISTEN="127.0.0.1:$FERRETDB_PORT"
MATCH="$BIN -listen" # what our server's command line contains

build() {
  if [[ -x "$BIN" && "$BIN" -nt "$SRC/main.go" && "$BIN" -nt "$SRC/go.mod" && "$BIN" -nt "$SRC/go.sum" \
    && "$BIN" -nt "$SRC/patch.sh" ]]; then
    return 0
  fi
  require_cmd go "Go >= 1.24, to build FerretDB from the Go module proxy"
  log "ferretdb: building $BIN (first build downloads modules and compiles SQLite: a few minutes)"
  mkdir -p "$CACHE/bin" "$LOG_DIR"
  local t0=$SECONDS
  # Build to a temp name then rename, so an interrupted build never leaves a broken binary.
  # Build from a vendored copy with our patch applied (infra/ferretdb/patch.sh: lookups by _id use the index).
  local work="$CACHE/ferretdb-build"
  rm -rf "$work" && mkdir -p "$work" && cp "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" "$work/"
  if ! (cd "$work" && go mod vendor && bash "$SRC/patch.sh" "$work/vendor" \
    && CGO_ENABLED=0 go build -mod=vendor -buildvcs=false -trimpath -o "$BIN.tmp" .) >"$LOG_DIR/ferretdb-build.log" 2>&1; then
    tail -n 40 "$LOG_DIR/ferretdb-build.log" >&2
    die "ferretdb: go build failed (is the Go module proxy reachable?); log: $LOG_DIR/ferretdb-build.log"
  fi
  mv -f "$BIN.tmp" "$BIN"
  log "ferretdb: built $BIN in $((SECONDS - t0))s"
}

wait_ready() {
  local pid_arg=()
  [[ -s "$PIDFILE" ]] && pid_arg=(--pid "$(<"$PIDFILE")")
  if ! "$(python_bin)" "$INFRA_DIR/wait_mongo.py" --url "mongodb://$LISTEN/" \
    --timeout "${FERRETDB_READY_TIMEOUT:-60}" "${pid_arg[@]}"; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "ferretdb: not ready (log: $LOGFILE)"
  fi
}

start() {
  mkdir_data
  if pid_alive "$PIDFILE" "$MATCH"; then
    log "ferretdb: already running (pid $(<"$PIDFILE"))"
    wait_ready
    return 0
  fi
  ensure_port_free "$FERRETDB_PORT" ferretdb
  build
  mkdir -p "$FDATA"
  log "ferretdb: starting on $LISTEN, data in $FDATA (log: $LOGFILE)"
  spawn "$PIDFILE" "$LOGFILE" "$FDATA" "$BIN" -listen "$LISTEN" -dir "$FDATA" \
    -log-level "${FERRETDB_LOG_LEVEL:-error}"
  wait_ready
}

case "${1:-}" in
  build | start | stop | restart | kill) lock ferretdb ;;
esac
case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop_pid "$PIDFILE" "$MATCH" ferretdb "${FERRETDB_STOP_TIMEOUT:-20}" ;;
  restart)
    stop_pid "$PIDFILE" "$MATCH" ferretdb "${FERRETDB_STOP_TIMEOUT:-20}"
    start
    ;;
  kill) kill_pid "$PIDFILE" "$MATCH" ferretdb ;;
  status) status_pid "$PIDFILE" "$MATCH" ferretdb "$FERRETDB_PORT" ;;
  *)
    echo "usage: $0 build|start|stop|restart|kill|status" >&2
    exit 2
    ;;
esac
