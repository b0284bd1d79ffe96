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

from platform_kit.acl import FLUX_SERVICES, client_env

ROOT = Path(__file__).resolve().parents[1]

#: (module, port) of every process of the platform.
PROCESSES: dict[str, tuple[str, int]] = {
    "referentiel": ("services.referentiel", 8001),
    "contrats": ("services.contrats", 8002),
    "affaires": ("services.affaires", 8003),
    "planification": ("services.planification", 8004),
    "notifications": ("services.notifications", 8005),
    "si_comptage": ("simulators.si_comptage", 8009),
    "supervision": ("services.supervision", 8006),
    "passerelle": ("services.passerelle", 8007),
}

#: The processes that may run as several instances (one consumer group per service shares the partitions); the head-end
#: simulator and the supervision page stay single.
SCALABLE = ("referentiel", "contrats", "affaires", "planification", "notifications")
#: Instance i (from 1) of a process listens on its base port + INSTANCE_PORT_STRIDE * (i - 1): 8001, 8021, 8041...
#: (20, not 100: the test stacks of several engineers sit 100 ports apart).
INSTANCE_PORT_STRIDE = 20


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
    instance: int = 1

    @property
    def label(self) -> str:
        """`name` for the first instance, `name-i` for the others (log file, pid file, platform key)."""
        return self.name if self.instance == 1 else f"{self.name}-{self.instance}"

    def start(self) -> None:
        """Start the process (its output goes to a log file); unless detached, it dies with its parent."""
        if self.starts == 0 and self.healthy():
            raise RuntimeError(f"port {self.port} already serves a {self.name}: stop the stray process first")
        self.starts += 1
        log = open(self.log_dir / f"{self.label}.log", "ab")
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

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Wait for /health 200, failing if the process died (GRD_HEALTH_TIMEOUT_S, 90 s: more on a loaded machine)."""
        timeout = timeout if timeout is not None else float(os.environ.get("GRD_HEALTH_TIMEOUT_S", "90"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; see {self.log_dir / (self.label + '.log')}")
            if self.healthy():
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.label} not healthy after {timeout}s")


class Platform:
    """All the processes of the platform, with one environment; `instances` processes of each SCALABLE service."""

    def __init__(self, run_id: str, log_dir: Path, extra_env: dict[str, str] | None = None, port_offset: int = 0, instances: int = 1) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items()}
        base.update(extra_env or {})
        # Dev and test runs use the published demo accounts unless accounts are configured; the services fail closed otherwise.
        base.setdefault("GRD_DEMO_MODE", "1")
        # Demo and test runs: the clock can be moved forward for every service (`python -m platform_kit.clock avancer`).
        base.setdefault("GRD_CLOCK_CONTROL", "1")
        self.processes: dict[str, ServiceProcess] = {}
        for name, (module, base_port) in PROCESSES.items():
            port = base_port + port_offset
            prefix = name.upper()
            env = dict(base)
            env[f"{prefix}_DATABASE"] = f"grd_{run_id}_{name}"
            env[f"{prefix}_HTTP_PORT"] = str(port)
            env[f"{prefix}_SERVICE_NAME"] = name
            env[f"{prefix}_LOG_LEVEL"] = "INFO"
            if name in FLUX_SERVICES:
                env.update(client_env(name))  # each service authenticates to Kafka as its own principal
            self.processes[name] = ServiceProcess(name, module, port, env, log_dir)
            for _ in range(2, instances + 1 if name in SCALABLE else 2):
                self.add_instance(name)
        # The supervision polls the /health and /metrics of the services of this run (their ports move with the offset).
        watched = [
            f"{n}=http://127.0.0.1:{sp.port}"
            for n, sp in self.processes.items()
            if sp.module.startswith("services.") and n != "supervision" and sp.instance == 1
        ]
        self.processes["supervision"].env["SUPERVISION_SERVICES"] = ",".join(watched)

    def seed(self, count: int) -> None:
        """Load the demo data into every service's own database."""
        for sp in self.processes.values():
            seed_module = f"{sp.module}.seed"
            if sp.instance > 1:
                continue  # the instances of a service share its database
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

    def add_instance(self, name: str) -> ServiceProcess:
        """One more instance of a service (not started): same database and consumer groups, its own HTTP port."""
        first = self.processes[name]
        i = len(self.instances_of(name)) + 1
        port = first.port + INSTANCE_PORT_STRIDE * (i - 1)
        env = {**first.env, f"{name.upper()}_HTTP_PORT": str(port)}
        sp = ServiceProcess(name, first.module, port, env, first.log_dir, detached=first.detached, instance=i)
        self.processes[sp.label] = sp
        return sp

    def instances_of(self, name: str) -> list[ServiceProcess]:
        """Every instance of one process, the first one first."""
        return sorted((sp for sp in self.processes.values() if sp.name == name), key=lambda sp: sp.instance)
