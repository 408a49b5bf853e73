"""Search speed on the full hybrid space (57,153,600 architectures) with the public AtomDB.

Run: .venv/bin/python benchmarks/bench_search.py   (target: full space exhaustive <= 60 s)
Also times the exact segment programme (--strategy exact) against the exhaustive strategy on the same tables
(target: exact <= 5 s, equal candidates) and prints the ratio, and prints evolution's reach (fraction of the
exact optimum in 20,000 evaluations) over seeds and budgets.
"""

from __future__ import annotations

import time

from _common import public_db
from atomnet.boards import get_board
from atomnet.cost import load_latency_model
from atomnet.search import Evolution, Exact, Exhaustive, Limits, TableEvaluator, build_tables, get_space, run_search


def main() -> None:
    db = public_db()
    board = get_board("stm32h743")
    lm = load_latency_model(board, db)
    space = get_space("hybrid")
    limits = Limits(latency_ms=275.0, flash_bytes=1024 * 1024, peak_sram_bytes=256 * 1024)
    t = time.perf_counter()
    out = run_search(space, board, lm, limits)
    total = time.perf_counter() - t
    print(f"exhaustive, hybrid space, {out.evaluated:,} architectures: tables {out.table_seconds:.1f} s + search "
          f"{out.search_seconds:.1f} s ({out.evaluated / out.search_seconds:,.0f} architectures/s) = {total:.1f} s "
          f"wall (target <= 60 s); {out.feasible:,} feasible by the tables; confirmed after "
          f"{out.confirmed_after} candidate(s)")
    assert out.cost is not None
    print(f"  winner: {out.cost.macs / 1e6:.2f} M MACs, {out.cost.latency_ms:.1f} ms, "
          f"SRAM {out.cost.peak_sram_bytes / 1024:.0f} KB, Flash {out.cost.flash_bytes / 1024:.0f} KB")
    tables = build_tables(space, lm, "xcube-ai")
    ev = TableEvaluator(space, tables, limits)
    t = time.perf_counter()
    exh = Exhaustive().run(ev)
    t_exh = time.perf_counter() - t
    t = time.perf_counter()
    ex = Exact().run(ev)
    t_ex = time.perf_counter() - t
    print(f"exact programme vs exhaustive on the same tables: {t_ex:.2f} s vs {t_exh:.2f} s ({t_exh / t_ex:.1f}x "
          f"faster; target <= 5 s), same {len(ex.candidates)} candidates: {ex.candidates == exh.candidates}")
    t = time.perf_counter()
    out_exact = run_search(space, board, lm, limits, strategy="exact")
    print(f"  search --strategy exact end to end (tables, programme, confirmation): {time.perf_counter() - t:.1f} s, "
          f"winner {out_exact.cost.macs / 1e6 if out_exact.cost else 0:.2f} M MACs")
    for lim in (limits, Limits(150.0, 1024 * 1024, 320 * 1024), Limits(500.0, 2 * 1024 * 1024, 512 * 1024)):
        ev = TableEvaluator(space, tables, lim)
        exact = Exhaustive().run(ev).best
        assert exact is not None
        best = exact.fitness
        reach = []
        t = time.perf_counter()
        for seed in range(5):
            r = Evolution(seed=seed, cycles=20_000).run(ev).best
            reach.append((r.fitness if r else 0) / best)
        dt = (time.perf_counter() - t) / 5
        print(f"evolution, 20,000 evaluations, limits {lim.latency_ms:g} ms / {lim.peak_sram_bytes // 1024} KB / "
              f"{lim.flash_bytes // 1024} KB: reach of the exact optimum per seed 0-4 = "
              f"{', '.join(f'{100 * x:.2f} %' for x in reach)} ({dt:.1f} s per run)")


if __name__ == "__main__":
    main()
