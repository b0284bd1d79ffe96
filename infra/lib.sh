# Shared helpers for the infra/*.sh scripts (sourced, not executed): paths, prerequisites, pid files, ports.
# shellcheck shell=bash

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$INFRA_DIR/.." && pwd)"
DATA="${GRD_DATA_DIR:-$ROOT/.data}"
# Downloaded jars and built binaries are shared by every stack (demo and test) of this checkout.
CACHE="$ROOT/.data/cache"
LOG_DIR="$DATA/logs"
PID_DIR="$DATA/pids"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
FERRETDB_PORT="${FERRETDB_PORT:-27017}"
SMTP_SINK_PORT="${SMTP_SINK_PORT:-1025}"
SMTP_SINK_DIR="${SMTP_SINK_DIR:-$DATA/mail}"
[[ "$SMTP_SINK_DIR" == /* ]] || SMTP_SINK_DIR="$PWD/$SMTP_SINK_DIR"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# The Python interpreter: $PYTHON, else the repo's .venv, else python3.
python_bin() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then echo "$ROOT/.venv/bin/python"
  else command -v python3 || command -v python || die "python3 not found"
  fi
}

# require_cmd <command> <why>
require_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  die "'$1' is required ($2) but not installed. Install it with:
    apt-get install openjdk-17-jre-headless maven golang
  (FerretDB needs Go >= 1.24; Debian 12's golang is 1.19, so take Go from go.dev/dl, or keep
  GOTOOLCHAIN=auto with Go >= 1.21 so that go fetches the 1.24 toolchain from the module proxy)
  or run the stack with Docker instead:  docker compose -f $ROOT/docker-compose.yml up -d"
}

# check_prereqs <command>...: one clear message naming everything missing, then exit non-zero.
check_prereqs() {
  local missing=() c
  for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
  ((${#missing[@]} == 0)) && return 0
  die "missing prerequisite(s): ${missing[*]}
  java runs the Kafka broker, mvn fetches it from Maven Central, go builds FerretDB from the Go module proxy.
  Install them with:  apt-get install openjdk-17-jre-headless maven golang
  (FerretDB needs Go >= 1.24; Debian 12's golang is 1.19, so take Go from go.dev/dl, or keep
  GOTOOLCHAIN=auto with Go >= 1.21 so that go fetches the 1.24 toolchain from the module proxy)
  or run the stack with Docker instead:  docker compose -f $ROOT/docker-compose.yml up -d"
}

# require_py_modules <module>...: fail clearly when the Python deps are not installed.
require_py_modules() {
  local py; py="$(python_bin)"
  "$py" -c "import importlib, sys
missing = []
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except ImportError:
        missing.append(m)
if missing:
    sys.exit('missing Python modules: ' + ', '.join(missing))" "$@" \
    || die "install the project's Python dependencies first (pip install -e '$ROOT' from the repo root), using $py"
}

mkdir_data() { mkdir -p "$LOG_DIR" "$PID_DIR"; }

# lock <name>: serialize concurrent invocations (e.g. two test sessions running up.sh at once);
# the lock is held on fd 9 until the script exits. No-op where flock(1) is missing.
lock() {
  mkdir_data
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$PID_DIR/$1.lock"
  flock -w 300 9 || die "timed out waiting for $PID_DIR/$1.lock"
}

# pid_alive <pidfile> <cmdline pattern>: true when the recorded process runs and is really ours
# (guards against a recycled pid after a reboot or a crash).
pid_alive() {
  local pidfile="$1" pattern="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# port_in_use <port>: true when something accepts TCP connections on 127.0.0.1:<port>.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ensure_port_free <port> <name>
ensure_port_free() {
  if port_in_use "$1"; then
    die "port $1 (for $2) is already in use by a process these scripts did not start; stop it first (ss -ltnp 'sport = :$1' shows it)"
  fi
}

# spawn <pidfile> <logfile> <workdir> <command>...: run detached (own session, survives the caller),
# stdout+stderr appended to the log; the pid written is the one of the final exec'ed program.
# fd 9 (our lock) is closed for the child, or the daemon would hold the lock forever.
spawn() {
  local pidfile="$1" logfile="$2" workdir="$3"; shift 3
  rm -f "$pidfile"
  (
    cd "$workdir" || exit 1
    # shellcheck disable=SC2016 # $$ and $@ are expanded by the inner bash, on purpose
    nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null 8>&- 9>&- &
  )
  local i
  for i in $(seq 1 50); do [[ -s "$pidfile" ]] && return 0; sleep 0.1; done
  die "could not start $1"
}

# stop_pid <pidfile> <pattern> <name> <grace seconds>: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pidfile="$1" pattern="$2" name="$3" grace="$4" pid i
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    log "$name: not running"
    return 0
  fi
  pid="$(<"$pidfile")"
  log "$name: stopping pid $pid (SIGTERM, up to ${grace}s)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "$name: stopped"
}

# kill_pid <pidfile> <pattern> <name>: immediate SIGKILL (crash simulation for fault-injection tests).
kill_pid() {
  local pidfile="$1" pattern="$2" name="$3" pid i
  if pid_alive "$pidfile" "$pattern"; then
    pid="$(<"$pidfile")"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "$name: killed pid $pid"
  else
    log "$name: not running"
  fi
  rm -f "$pidfile"
}

# status_pid <pidfile> <pattern> <name> <port>: exit 0 when running, 3 when not (LSB convention).
status_pid() {
  if pid_alive "$1" "$2"; then
    echo "$3: running (pid $(<"$1"), 127.0.0.1:$4)"
    return 0
  fi
  echo "$3: stopped"
  return 3
}
