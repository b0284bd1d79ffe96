"""Profile the services under load: py-spy records each service process during a max-rate phase of the e2e workload.

`python scripts/bench_profile.py --demands 500 --pds 5000` (needs the local stack and `pip install py-spy`). Seeds,
starts the three services on the demands' path, warms up, then runs `py-spy record` (non-blocking, 100 Hz, active samples only) on every service
while the demands flow, and prints per service the functions where the CPU is spent (self) and the frames of
interest that hold the most samples (inclusive: our code and the libraries on the message path). The raw stacks stay
in the run's log directory (flame graphs: `py-spy record --format speedscope` instead, or any collapsed-stack tool).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

from devtools.bench_e2e import drop_databases, mixed_demands, platform_system, run_phase, start_platform
from devtools.processes import ROOT, Platform

#: The services a demande diverse or a réclamation goes through.
PATH = ("referentiel", "affaires", "notifications")
#: Inclusive frames worth naming: where a message's time goes, by layer.
LAYERS = (
    "services/",
    "platform_kit/",
    "contracts/",
    "pydantic",
    "faststream",
    "aiokafka",
    "pymongo",
    "bson",
    "jinja2",
    "email/",
    "aiosmtplib",
    "asyncio/",
    "selectors",
    "json",
    "ssl",
)


def read_collapsed(path: Path) -> Counter[tuple[str, ...]]:
    """py-spy's raw output: one `frame;frame;... count` line per distinct stack."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def summary(name: str, stacks: Counter[tuple[str, ...]], top: int) -> list[str]:
    """The top self frames and the inclusive share of each layer."""
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    frames: Counter[str] = Counter()
    for stack, n in stacks.items():
        own[stack[-1]] += n
        seen_layers = {layer for frame in stack for layer in LAYERS if layer in frame}
        for layer in seen_layers:
            layers[layer] += n
        for frame in set(stack):
            if "services/" in frame or "platform_kit/" in frame:
                frames[frame] += n
    lines = [f"== {name}: {total} samples"]
    lines.append("  self (where the CPU is):")
    lines += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive, by layer (a sample counts once per layer on its stack):")
    lines += [f"    {n * 100 / total:5.1f}%  {layer}" for layer, n in layers.most_common()]
    lines.append("  inclusive, our frames:")
    lines += [f"    {n * 100 / total:5.1f}%  {f}" for f, n in frames.most_common(top)]
    return lines


def main() -> None:
    """Seed, start, warm up, record every service while the demands flow, print the summaries."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demands", type=int, default=500)
    parser.add_argument("--pds", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--all", action="store_true", help="record every service, not only the demands' path")
    parser.add_argument("--reuse", metavar="RUN_ID", help="use the databases a `bench_e2e --keep` run seeded (kept afterwards)")
    args = parser.parse_args()
    run_id = args.reuse or f"prof{uuid.uuid4().hex[:6]}"
    log_dir = Path(os.environ.get("GRD_DATA_DIR", ROOT / ".data")) / "logs" / run_id
    platform = Platform(run_id, log_dir, port_offset=int(os.environ.get("GRD_TEST_PORT_OFFSET", "0")))
    for sp in platform.processes.values():
        sp.env[f"{sp.name.upper()}_LOG_LEVEL"] = "WARNING"
        sp.env[f"{sp.name.upper()}_PARTITIONS"] = str(args.partitions)
    if not args.reuse:
        print(f"[profile] seeding {args.pds} PDS ({run_id})...", flush=True)
        platform.seed(args.pds)
    # Only the services on the path of these demands (the others would idle): the profile is theirs.
    recorded = tuple(platform.processes) if args.all else PATH
    for name in [n for n in platform.processes if n not in recorded]:
        del platform.processes[name]
    start_platform(platform, 300)
    system = platform_system(run_id, args.partitions)
    recorders: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        asyncio.run(run_phase(system, mixed_demands(50, args.pds), None, 120))
        for name in recorded:
            sp = platform[name]
            assert sp.proc is not None
            out = log_dir / f"pyspy-{name}.txt"
            cmd = ["py-spy", "record", "--pid", str(sp.proc.pid), "--rate", str(args.rate), "--nonblocking", "--format", "raw", "--output", str(out)]
            recorders[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
        time.sleep(2)  # py-spy attaches
        t0 = time.perf_counter()
        phase = asyncio.run(run_phase(system, mixed_demands(args.demands, args.pds), None, 600))
        print(f"[profile] {phase.complete}/{phase.demands} demands complete in {time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        for proc, _ in recorders.values():
            proc.send_signal(signal.SIGINT)
        for proc, _ in recorders.values():
            proc.wait(60)
        platform.stop()
        if not args.reuse:
            drop_databases(run_id)
    for name, (_, out) in recorders.items():
        if out.exists():
            print("\n".join(summary(name, read_collapsed(out), args.top)))
    print(f"[profile] raw stacks in {log_dir}")


if __name__ == "__main__":
    main()
