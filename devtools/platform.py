"""Run the platform locally: `python -m devtools.platform start|stop|status` (the services as separate processes)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from devtools.processes import PROCESSES, ROOT, Platform

DATA = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data"))
PIDS = DATA / "pids" / "services"


def start(seed: int, instances: int = 1) -> None:
    """Seed the demo data, start every process detached (`instances` of each service), wait for /health, record the pids."""
    status()
    platform = Platform("demo", DATA / "logs" / "services", instances=instances)
    for sp in platform.processes.values():
        sp.env[f"{sp.name.upper()}_DATABASE"] = f"grd_{sp.name}"
        sp.detached = True
    if seed:
        print(f"[platform] seeding {seed} demo PDS into each service's database...", flush=True)
        platform.seed(seed)
    PIDS.mkdir(parents=True, exist_ok=True)
    for sp in platform.processes.values():
        if sp.healthy():
            print(f"[platform] {sp.label} already running on :{sp.port}")
            continue
        sp.start()
        assert sp.proc is not None
        (PIDS / f"{sp.label}.pid").write_text(str(sp.proc.pid))
    for sp in platform.processes.values():
        sp.wait_healthy()
        print(f"[platform] {sp.label:<16} http://127.0.0.1:{sp.port}/health  200")


def stop() -> None:
    """SIGTERM every recorded process (every instance)."""
    for pidfile in _pidfiles():
        name = pidfile.stem
        if not pidfile.exists():
            continue
        try:
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
            print(f"[platform] stopped {name}")
        except ProcessLookupError:
            pass
        pidfile.unlink()


def _pidfiles() -> list[Path]:
    """The pid file of every process (`name.pid`, `name-2.pid`...), and those of the processes never started."""
    recorded = sorted(PIDS.glob("*.pid")) if PIDS.exists() else []
    return sorted({*recorded, *(PIDS / f"{name}.pid" for name in PROCESSES)})


def status() -> None:
    """Print which recorded processes are alive."""
    for pidfile in _pidfiles():
        name = pidfile.stem
        alive = False
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), 0)
                alive = True
            except (ProcessLookupError, ValueError):
                alive = False
        print(f"[platform] {name:<14} {'running' if alive else 'stopped'}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--seed", type=int, default=5000, help="demo PDS to load (0: none)")
    parser.add_argument(
        "--instances",
        type=int,
        default=int(os.environ.get("GRD_INSTANCES", "1")),
        help="processes per service (env GRD_INSTANCES; they share the consumer groups; docs/scale-out.md)",
    )
    args = parser.parse_args()
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    if args.command == "start":
        start(args.seed, args.instances)
    elif args.command == "stop":
        stop()
    else:
        status()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
