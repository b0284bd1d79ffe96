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

# Fingerprint of what the binary is built from: a changed patch, pin or main.go rebuilds it at the next
# `infra/up.sh` of any stack (and in CI), whatever the files' dates.
inputs_hash() {
  cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" "$SRC/patch.sh" | sha256sum | cut -d' ' -f1
}

built() { [[ -x "$BIN" && "$(cat "$BIN.stamp" 2>/dev/null)" == "$(inputs_hash)" ]]; }

build() {
  built && return 0
  require_cmd go "Go >= 1.24, to build FerretDB from the Go module proxy"
  mkdir -p "$CACHE/bin" "$LOG_DIR"
  # Every stack of this checkout (demo, tests, other sessions) shares the binary: one build at a time. The lock's
  # fd is only open in this subshell, so the server started afterwards does not inherit (and hold) the lock.
  (
    if command -v flock >/dev/null 2>&1; then
      flock -w 1200 8 || die "ferretdb: timed out waiting for another build ($CACHE/ferretdb-build.v2.lock)"
    fi
    built && exit 0 # another stack built it while we waited
    log "ferretdb: building $BIN (first build downloads modules and compiles SQLite: a few minutes)"
    local t0=$SECONDS work
    # Build from a vendored copy with our patches applied (infra/ferretdb/patch.sh: _id index, atomic updates),
    # in a fresh directory, to a file that is renamed over the old binary only once complete: an interrupted
    # build leaves nothing half-written, and a running server keeps executing its own (unlinked) file.
    work="$(mktemp -d "$CACHE/ferretdb-build.XXXXXX")"
    cp "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" "$work/"
    if ! (cd "$work" && go mod vendor && bash "$SRC/patch.sh" "$work/vendor" \
      && CGO_ENABLED=0 go build -mod=vendor -buildvcs=false -trimpath -o "$work/ferretdb" .) >"$LOG_DIR/ferretdb-build.log" 2>&1; then
      tail -n 40 "$LOG_DIR/ferretdb-build.log" >&2
      rm -rf "$work"
      die "ferretdb: go build failed (is the Go module proxy reachable?); log: $LOG_DIR/ferretdb-build.log"
    fi
    mv -f "$work/ferretdb" "$BIN"
    inputs_hash >"$BIN.stamp.tmp" && mv -f "$BIN.stamp.tmp" "$BIN.stamp"
    # Keep the last patched sources for reading: $CACHE/ferretdb-build/vendor/github.com/FerretDB/FerretDB.
    rm -rf "$CACHE/ferretdb-build" && mv "$work" "$CACHE/ferretdb-build"
    log "ferretdb: built $BIN in $((SECONDS - t0))s"
  ) 8>"$CACHE/ferretdb-build.v2.lock"
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
    # The binary was rebuilt (new patch) since this server started: it runs the old one until restarted.
    if [[ "$(readlink "/proc/$(<"$PIDFILE")/exe" 2>/dev/null)" == *" (deleted)" ]]; then
      log "ferretdb: WARNING: pid $(<"$PIDFILE") runs an older build of $BIN; 'infra/ferretdb.sh restart' picks up the new one"
    fi
    wait_ready
    return 0
  fi
  ensure_port_free "$FERRETDB_PORT" ferretdb
  build
  mkdir -p "$FDATA"
  log "ferretdb: starting on $LISTEN, data in $FDATA (log: $LOGFILE)"
  # FERRETDB_DEBUG_ADDR (e.g. 127.0.0.1:8088): Go's pprof profiles of the server, for benchmarks; off by default.
  # GOGC 400: the server's garbage collection took ~12% of its CPU under the benchmark at Go's default (100); its
  # live heap is small (tens of MB), so collecting 4x less often costs little memory. FERRETDB_GOGC overrides.
  GOGC="${FERRETDB_GOGC:-400}" spawn "$PIDFILE" "$LOGFILE" "$FDATA" "$BIN" -listen "$LISTEN" -dir "$FDATA" \
    -log-level "${FERRETDB_LOG_LEVEL:-error}" -debug-addr "${FERRETDB_DEBUG_ADDR:-}" \
    -sqlite-synchronous "${FERRETDB_SQLITE_SYNCHRONOUS:-full}"
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
