"""The exact optimum of MCUNet's per-block space (21,149,413,138,780,456,247,172 architectures) with the public
AtomDB on the STM32H743, end to end (block tables of all 108 sub-spaces + branch and bound + full-cost
confirmation), at several budgets and runtimes.

Run: .venv/bin/python benchmarks/bench_exact_mcunet.py   (target: <= 60 s per search, issue 16)
"""

from __future__ import annotations

import sys
import time

from _common import public_db
from atomnet.boards import get_board
from atomnet.cost import load_latency_model
from atomnet.search import Limits, get_block_space, search_block_space

KB, MB = 1024, 1024 * 1024
BUDGETS = [  # (runtime or None for the board's, SRAM, Flash, latency ms)
    (None, 256 * KB, 1 * MB, 275.0),
    (None, 320 * KB, 1 * MB, float("inf")),
    (None, 320 * KB, 1 * MB, 500.0),
    ("tinyengine", 256 * KB, 1 * MB, 275.0),
    ("tinyengine", 320 * KB, 1 * MB, float("inf")),
    ("tflm", 320 * KB, 1 * MB, 500.0),
]


def main() -> None:
    db = public_db()
    board = get_board("stm32h743")
    space = get_block_space("mcunet")
    assert space is not None
    print(f"mcunet: {space.size():,} architectures, {len(space.width_multipliers) * len(space.resolutions)} "
          f"sub-spaces; board {board.name}")
    quick = "--quick" in sys.argv
    for rt, sram, flash, lat in BUDGETS[:1] if quick else BUDGETS:
        runtime = rt or board.runtime
        lm = load_latency_model(board, db, for_runtime=runtime)
        t = time.perf_counter()
        res = search_block_space(space, board, lm, Limits(lat, flash, sram), runtime)
        wall = time.perf_counter() - t
        head = (f"{runtime}, SRAM {sram // KB} KB, Flash {flash // KB} KB, latency "
                + (f"{lat:g} ms" if lat != float("inf") else "none"))
        if res.cost is None or res.spec is None:
            print(f"{head}: no optimum claimed: none of the best {res.confirmed_after:,} table candidates met the "
                  f"full cost (the planner's peak SRAM above the tables' bound) ({wall:.1f} s)")
            continue
        c = res.cost
        print(f"{head}: {c.macs / 1e6:.2f} M MACs, {c.latency_ms:.1f} ms, SRAM {c.peak_sram_bytes / KB:.1f} KB, "
              f"Flash {c.flash_bytes / KB:.1f} KB; {wall:.1f} s (tables {res.table_seconds:.1f} s + search "
              f"{res.search_seconds:.1f} s; {res.subspaces_walked} sub-space(s) walked, {res.nodes:,} nodes, "
              f"confirmed after {res.confirmed_after})  target <= 60 s")
        print(f"  {res.spec.name}")


if __name__ == "__main__":
    main()
