"""Evolution's reach: fraction of the exact optimum in 20,000 evaluations, seeds 0-9 x the three budgets of
``bench_search.py`` on the hybrid space with the public AtomDB (issue 16 asks >= 99 % in every cell).

Run: .venv/bin/python benchmarks/bench_evolution.py [--seeds 0-9] [--space hybrid]
The exact optimum comes from ``--strategy exact`` (equal to exhaustive, tests/test_search_exact.py).

``--space mcunet``: the per-block evolution (:func:`atomnet.search.evolve_blocks`) on MCUNet's space at
:data:`MCUNET_BUDGETS`, against the exact programme's optimum (``search_block_space``, confirmed with the full cost
model); both winners are confirmed, so the fraction compares full-cost MACs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import public_db
from atomnet.boards import Board, get_board
from atomnet.cost import LatencyModel, load_latency_model
from atomnet.search import (
    BlockSpace,
    Evolution,
    Limits,
    TableEvaluator,
    build_tables,
    evolve_blocks,
    get_block_space,
    get_space,
    get_strategy,
)
from atomnet.search._evolve_blocks import BlockEvaluator
from atomnet.search._exact_blocks import search_block_space

BUDGETS = (Limits(275.0, 1024 * 1024, 256 * 1024), Limits(150.0, 1024 * 1024, 320 * 1024),
           Limits(500.0, 2 * 1024 * 1024, 512 * 1024))
MCUNET_BUDGETS = (Limits(500.0, 1024 * 1024, 320 * 1024), Limits(275.0, 1024 * 1024, 256 * 1024),
                  Limits(1000.0, 2 * 1024 * 1024, 512 * 1024))


def _label(lim: Limits) -> str:
    return f"{lim.latency_ms:g}ms/{lim.peak_sram_bytes // 1024:g}KB/{lim.flash_bytes // 1024:g}KB"


def _print(title: str, seeds: range, cols: list[tuple[Limits, float, list[float], float]], ref: str) -> float:
    print(title)
    print("seed  " + "  ".join(_label(lim).rjust(20) for lim, *_ in cols))
    for i, seed in enumerate(seeds):
        print(f"{seed:>4}  " + "  ".join(f"{100 * col[i]:.2f} %".rjust(20) for _, _, col, _ in cols))
    print(f"{ref:<6}" + "  ".join(f"{best / 1e6:.2f} M MACs".rjust(20) for _, best, _, _ in cols))
    print("s/run " + "  ".join(f"{dt:.1f}".rjust(20) for *_, dt in cols))
    worst = min(min(col) for _, _, col, _ in cols)
    print(f"worst cell {100 * worst:.2f} % ({'all' if worst >= 0.99 else 'NOT all'} >= 99 %)")
    return worst


def _exact_macs(space: BlockSpace, board: Board, lm: LatencyModel, lim: Limits, cache: str) -> float:
    """The exact programme's optimum (full-cost MACs) at ``lim``; with ``cache`` (a JSON file keyed by the
    budget's label) computed once per budget and read back on later runs."""
    known = json.loads(Path(cache).read_text()) if cache and Path(cache).exists() else {}
    if _label(lim) in known:
        return float(known[_label(lim)])
    t = time.perf_counter()
    exact = search_block_space(space, board, lm, lim, "xcube-ai")
    assert exact.cost is not None, "the exact programme found nothing"
    print(f"exact {_label(lim)}: {exact.cost.macs / 1e6:.3f} M MACs in {time.perf_counter() - t:.1f} s "
          f"(confirmed after {exact.confirmed_after})", flush=True)
    if cache:
        known[_label(lim)] = float(exact.cost.macs)
        Path(cache).write_text(json.dumps(known, indent=1) + "\n")
    return float(exact.cost.macs)


def mcunet(seeds: range, cycles: int, lm: LatencyModel, board: Board, budgets: str = "", cache: str = "") -> None:
    space = get_block_space("mcunet")
    assert space is not None
    ev = BlockEvaluator(space, board, lm, "xcube-ai")
    cols = []
    for lim in [MCUNET_BUDGETS[int(i)] for i in budgets.split(",")] if budgets else MCUNET_BUDGETS:
        best = _exact_macs(space, board, lm, lim, cache)
        t = time.perf_counter()
        col = []
        for seed in seeds:
            r = evolve_blocks(space, board, "xcube-ai", lm, lim, evaluations=cycles, seed=seed, tables=ev)
            assert r.evaluated <= cycles  # every architecture whose figures were computed counts
            col.append((r.cost.macs if r.cost else 0.0) / best)
            print(f"  {_label(lim)} seed {seed}: {100 * col[-1]:.2f} %", flush=True)
        cols.append((lim, best, col, (time.perf_counter() - t) / len(col)))
    _print(f"per-block evolution, {cycles:,} evaluations, mcunet space: fraction of the exact optimum (full cost)",
           seeds, cols, "exact")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0-9", help="first-last seed")
    ap.add_argument("--space", default="hybrid")
    ap.add_argument("--cycles", type=int, default=20_000)
    ap.add_argument("--budgets", default="", help="mcunet only: budget indices to run, e.g. 0,2 (default all)")
    ap.add_argument("--exact-cache", default="", help="mcunet only: JSON file caching the exact optimum per budget")
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.seeds.split("-"))
    seeds = range(lo, hi + 1)
    board = get_board("stm32h743")
    lm = load_latency_model(board, public_db())
    if a.space == "mcunet":
        mcunet(seeds, a.cycles, lm, board, a.budgets, a.exact_cache)
        return
    space = get_space(a.space)
    tables = build_tables(space, lm, "xcube-ai")
    cols = []
    for lim in BUDGETS:
        ev = TableEvaluator(space, tables, lim)
        exact = get_strategy("exact")().run(ev).best
        assert exact is not None
        t = time.perf_counter()
        col = []
        for seed in seeds:
            r = Evolution(seed=seed, cycles=a.cycles).run(ev)
            assert r.evaluated <= a.cycles  # every evaluated architecture counts
            col.append((r.best.fitness if r.best else 0.0) / exact.fitness)
        cols.append((lim, exact.fitness, col, (time.perf_counter() - t) / len(col)))
    _print(f"evolution, {a.cycles:,} evaluations, {a.space} space: fraction of the exact optimum", seeds, cols,
           "exact")

if __name__ == "__main__":
    main()
