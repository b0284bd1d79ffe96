"""Runs the five services (and the head-end simulator) as separate OS processes, as in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

#: (module, port) of every process of the platform.
PROCESSES: dict[str, tuple[str, int]] = {
    "referentiel": ("services.referentiel", 8001),
    "contrats": ("services.contrats", 8002),
    "affaires": ("services.affaires", 8003),
    "planification": ("services.planification", 8004),
    "notifications": ("services.notifications", 8005),
    "si_comptage": ("simulators.si_comptage", 8009),
}


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the parent dies, so a killed test run leaves no stray service behind."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class ServiceProcess:
    """One service process: start, health, SIGKILL, restart."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)
    starts: int = 0
    detached: bool = False

    def start(self) -> None:
        """Start the process (its output goes to a log file); unless detached, it dies with its parent."""
        if self.starts == 0 and self.healthy():
            raise RuntimeError(f"port {self.port} already serves a {self.name}: stop the stray process first")
        self.starts += 1
        log = open(self.log_dir / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=self.detached,
            preexec_fn=None if self.detached else _die_with_parent,
        )

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook runs, exactly like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def healthy(self) -> bool:
        """True when GET /health answers 200."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 90) -> None:
        """Wait for /health 200, failing if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_dir / (self.name + '.log')}")
            if self.healthy():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not healthy after {timeout}s")


class Platform:
    """All the processes of the platform, with one environment."""

    def __init__(self, run_id: str, log_dir: Path, extra_env: dict[str, str] | None = None, port_offset: int = 0) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items()}
        base.update(extra_env or {})
        self.processes: dict[str, ServiceProcess] = {}
        for name, (module, base_port) in PROCESSES.items():
            port = base_port + port_offset
            prefix = name.upper()
            env = dict(base)
            env[f"{prefix}_DATABASE"] = f"grd_{run_id}_{name}"
            env[f"{prefix}_HTTP_PORT"] = str(port)
            env[f"{prefix}_SERVICE_NAME"] = name
            env[f"{prefix}_LOG_LEVEL"] = "INFO"
            self.processes[name] = ServiceProcess(name, module, port, env, log_dir)

    def seed(self, count: int) -> None:
        """Load the demo data into every service's own database."""
        for sp in self.processes.values():
            seed_module = f"{sp.module}.seed"
            if not (ROOT / seed_module.replace(".", "/")).with_suffix(".py").exists():
                continue
            subprocess.run(
                [sys.executable, "-m", seed_module, "--count", str(count)],
                cwd=ROOT,
                env=sp.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )

    def start(self) -> None:
        """Start every process and wait until all are healthy."""
        for sp in self.processes.values():
            sp.start()
        for sp in self.processes.values():
            sp.wait_healthy()

    def stop(self) -> None:
        """Stop every process."""
        for sp in self.processes.values():
            sp.stop()

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]
