#!/usr/bin/env bash
# Local SMTP sink (infra/smtp_sink.py, aiosmtpd) storing every mail as .eml under .data/mail: start|stop|restart|status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDFILE="$PID_DIR/smtp.pid"
LOGFILE="$LOG_DIR/smtp.log"
MATCH="$INFRA_DIR/smtp_sink.py" # what our sink's command line contains

wait_ready() {
  local pid_arg=()
  [[ -s "$PIDFILE" ]] && pid_arg=(--pid "$(<"$PIDFILE")")
  if ! "$(python_bin)" "$INFRA_DIR/wait_smtp.py" --host 127.0.0.1 --port "$SMTP_SINK_PORT" \
    --timeout "${SMTP_READY_TIMEOUT:-20}" "${pid_arg[@]}"; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "smtp: sink not ready (log: $LOGFILE)"
  fi
}

start() {
  mkdir_data
  if pid_alive "$PIDFILE" "$MATCH"; then
    log "smtp: already running (pid $(<"$PIDFILE"))"
    wait_ready
    return 0
  fi
  ensure_port_free "$SMTP_SINK_PORT" "smtp sink"
  require_py_modules aiosmtpd
  mkdir -p "$SMTP_SINK_DIR"
  log "smtp: starting sink on 127.0.0.1:$SMTP_SINK_PORT, mails in $SMTP_SINK_DIR (log: $LOGFILE)"
  spawn "$PIDFILE" "$LOGFILE" "$DATA" "$(python_bin)" -u "$INFRA_DIR/smtp_sink.py" \
    --host 127.0.0.1 --port "$SMTP_SINK_PORT" --dir "$SMTP_SINK_DIR"
  wait_ready
}

case "${1:-}" in
  start | stop | restart) lock smtp ;;
esac
case "${1:-}" in
  start) start ;;
  stop) stop_pid "$PIDFILE" "$MATCH" smtp 10 ;;
  restart)
    stop_pid "$PIDFILE" "$MATCH" smtp 10
    start
    ;;
  status) status_pid "$PIDFILE" "$MATCH" smtp "$SMTP_SINK_PORT" ;;
  *)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
