"""``atomnet demo``: the main job on built-in defaults — cost a published model, then search for a better one.

Works on a fresh install without any database: latency then comes from the predictors shipped with atomnet
(fitted on the public STM32H743 AtomDB); with an imported AtomDB, exact measurements take precedence.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="cost atomnet-256kb on STM32H743, then search the hybrid space for a better model",
                       description="Cost the published AtomNet-256KB on STM32H743 and search the hybrid space "
                                   "(57 M architectures) for the most MACs under the same budgets: 256 KB SRAM, "
                                   "1 MB Flash, 275 ms. Writes spec and plots to --out.")
    p.add_argument("--out", default="atomnet-demo", help="folder for the found spec and the plots")
    p.set_defaults(func=cmd_demo)


def latency_source(rep: Any, lm: Any, db: Any) -> str:
    """Where a report's latency comes from, in one line: how many operators are exact medians of which
    database and how many were predicted by which predictors (the demo prints this instead of the runtime
    and predictor notes of ``render_cost``, so the two can never disagree)."""
    n = rep.ops_exact + rep.ops_predicted
    origin = str(lm.predictor_origin)
    if origin.startswith("embedded default for "):
        board = origin.removeprefix("embedded default for ")
        by = f"the embedded {board.upper()} predictors (fitted on the public AtomDB"
    else:
        by = f"the predictors {origin} ({lm.runtime} measurements"
    if lm.table is None:
        why = "no database given" if db is None else f"{db.path} has no {lm.board.measured_board} measurements"
        return f"{rep.ops_predicted} of {n} operators predicted by {by}; {why})"
    exact = f"{rep.ops_exact} of {n} operators exact medians from {db.path}"
    return exact + (f", {rep.ops_predicted} predicted by {by})" if rep.ops_predicted else "")


def _render(rep: Any, lm: Any, db: Any) -> str:
    from atomnet.cli._render import render_cost

    out = []
    for line in render_cost(rep, layers=False).splitlines():
        if line.startswith("model "):
            line = f"model {rep.model} on {rep.board} ({rep.runtime})"
        elif line.lstrip().startswith("latency "):
            line = f"  latency         {rep.latency_ms:.1f} ms: {latency_source(rep, lm, db)}"
        out.append(line)
    return "\n".join(out)


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from atomnet.boards import get_board
    from atomnet.cli._common import existing_db
    from atomnet.cli._progress import Bars
    from atomnet.cost import cost_model, load_latency_model
    from atomnet.report import plot_cost
    from atomnet.search import Limits, get_space, run_search
    from atomnet.zoo import get_zoo

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    board = get_board("stm32h743")
    db = existing_db(args)
    lm = load_latency_model(board, db)
    print(f"== 1. cost of the published atomnet-256kb on {board.name}")
    ref = cost_model(get_zoo("atomnet-256kb"), board, latency_model=lm)
    print(_render(ref, lm, db))
    limits = Limits(latency_ms=275.0, flash_bytes=1024 * 1024, peak_sram_bytes=256 * 1024)
    sram, flash = int(limits.peak_sram_bytes), int(limits.flash_bytes)  # drawn on the plots: the search's budget
    plot_cost(ref, out / "atomnet-256kb.png", sram_budget_bytes=sram, flash_budget_bytes=flash)
    print("\n== 2. exhaustive search of the hybrid space: most MACs under SRAM 256 KB, Flash 1 MB, latency 275 ms")
    bars = Bars(True)
    res = run_search(get_space("hybrid"), board, lm, limits, progress=bars)
    bars.close()
    print(f"evaluated {res.evaluated:,} architectures in {res.search_seconds:.1f} s "
          f"(+{res.table_seconds:.1f} s building cost tables)")
    if res.spec is None or res.cost is None:
        print("no architecture meets the limits")
        return 1
    (out / "best.json").write_text(json.dumps(res.spec.to_dict(), indent=1) + "\n")
    plot_cost(res.cost, out / "best.png", sram_budget_bytes=sram, flash_budget_bytes=flash)
    print(_render(res.cost, lm, db))
    gain = 100 * (res.cost.macs / ref.macs - 1)
    print(f"\nfound {res.cost.macs / 1e6:.1f} M MACs vs atomnet-256kb {ref.macs / 1e6:.1f} M ({gain:+.0f} %) under "
          f"the same limits. Spec: {out / 'best.json'}; plots: {out / 'atomnet-256kb.png'}, {out / 'best.png'}")
    return 0
