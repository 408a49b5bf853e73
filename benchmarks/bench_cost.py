"""Costing throughput: one model end to end (CLI), single-model API, batch API (cold and warm cache).

Run: .venv/bin/python benchmarks/bench_cost.py   (targets: `atomnet cost` < 1 s; batch >= 10,000 models/s;
`atomnet cost person_detect.tflite`: well under a second of work after start-up)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import SHARED, public_db
from atomnet.boards import Board, get_board
from atomnet.cost import BatchCoster, LatencyModel, cost_model, load_latency_model
from atomnet.search import get_space
from atomnet.spec import from_stage_config
from atomnet.zoo import get_zoo


def main() -> None:
    db = public_db()
    env = {**os.environ, "ATOMNET_DB": db.path}
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "atomnet", "cost", "atomnet-256kb", "--json"], env=env, check=True,
                       capture_output=True)
        dt = time.perf_counter() - t
    print(f"`atomnet cost atomnet-256kb --json` end to end (new process, public AtomDB): {dt:.2f} s (target < 1 s)")
    board = get_board("stm32h743")
    lm = load_latency_model(board, db)
    _bench_tflite(env, board, lm)
    spec = get_zoo("atomnet-256kb")
    n = 200
    t = time.perf_counter()
    for _ in range(n):
        cost_model(spec, board, latency_model=lm)
    dt = time.perf_counter() - t
    print(f"cost_model (lower + price + plan + flash), atomnet-256kb: {dt / n * 1e3:.2f} ms/model = {n / dt:,.0f} "
          "models/s")
    space = get_space("hybrid")
    r, c = space.sample(np.random.default_rng(0), 20_000)
    specs = [from_stage_config(space.stage_config(int(r[i]), c[i])) for i in range(len(r))]
    bc = BatchCoster(board, lm)
    t = time.perf_counter()
    bc.cost(specs)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    out = bc.cost(specs)
    warm = time.perf_counter() - t
    print(f"BatchCoster, {len(specs):,} random hybrid-space specs: cold cache {len(specs) / cold:,.0f} models/s, "
          f"warm cache {len(specs) / warm:,.0f} models/s (target >= 10,000/s); mean latency "
          f"{out.latency_ms.mean():.1f} ms")
    t = time.perf_counter()
    bc.cost(specs[:500], exact_sram=True)
    dt = time.perf_counter() - t
    print(f"BatchCoster with exact SRAM (planner per model): {500 / dt:,.0f} models/s")


def _bench_tflite(env: dict[str, str], board: Board, lm: LatencyModel) -> None:
    """``atomnet cost person_detect.tflite``: the process (start-up included) against the same command's start-up
    alone (``--help``), and the work in process: read + validate the file, cost it (every runtime's planner, the
    TFLM arena, the AtomDB lookup)."""
    from atomnet.export import cost_tflite, read_tflite

    path = SHARED / "models/tflite/tflm_person_detect.tflite"
    runs = {}
    for label, args in (("cost", ["cost", str(path)]), ("start-up (--help)", ["cost", "--help"])):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "atomnet", *args], env=env, check=True, capture_output=True)
            best = min(best, time.perf_counter() - t)
        runs[label] = best
    print(f"`atomnet cost {path.name}` end to end: {runs['cost']:.2f} s, of which start-up "
          f"{runs['start-up (--help)']:.2f} s: {runs['cost'] - runs['start-up (--help)']:.2f} s of work")
    n = 20
    t = time.perf_counter()
    for _ in range(n):
        cost_tflite(read_tflite(Path(path)), board, latency_model=lm)
    dt = (time.perf_counter() - t) / n
    print(f"read_tflite + cost_tflite, {path.name} (31 operators): {dt * 1e3:.1f} ms per file (in process)")


if __name__ == "__main__":
    main()
