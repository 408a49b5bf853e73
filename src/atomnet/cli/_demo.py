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


def cmd_demo(args: argparse.Namespace) -> int:
    import json

    from atomnet.boards import get_board
    from atomnet.cli._cost import existing_db, render_cost
    from atomnet.cli._search import _Bars
    from atomnet.cost import cost_model, load_latency_model
    from atomnet.report import plot_cost
    from atomnet.search import Limits, get_space, run_search
    from atomnet.zoo import get_zoo

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    board = get_board("stm32h743")
    lm = load_latency_model(board, existing_db(args))
    print(f"== 1. cost of the published atomnet-256kb on {board.name} (latency: {lm.predictor_origin}"
          f"{', exact rows from your AtomDB' if lm.table is not None else ''})")
    ref = cost_model(get_zoo("atomnet-256kb"), board, latency_model=lm)
    print(render_cost(ref, layers=False))
    plot_cost(ref, out / "atomnet-256kb.png")
    limits = Limits(latency_ms=275.0, flash_bytes=1024 * 1024, peak_sram_bytes=256 * 1024)
    print("\n== 2. exhaustive search of the hybrid space: most MACs under SRAM 256 KB, Flash 1 MB, latency 275 ms")
    bars = _Bars(True)
    res = run_search(get_space("hybrid"), board, lm, limits, progress=bars)
    bars.close()
    print(f"evaluated {res.evaluated:,} architectures in {res.search_seconds:.1f} s "
          f"(+{res.table_seconds:.1f} s building cost tables)")
    if res.spec is None or res.cost is None:
        print("no architecture meets the limits")
        return 1
    (out / "best.json").write_text(json.dumps(res.spec.to_dict(), indent=1) + "\n")
    plot_cost(res.cost, out / "best.png")
    print(render_cost(res.cost, layers=False))
    gain = 100 * (res.cost.macs / ref.macs - 1)
    print(f"\nfound {res.cost.macs / 1e6:.1f} M MACs vs atomnet-256kb {ref.macs / 1e6:.1f} M ({gain:+.0f} %) under "
          f"the same limits. Spec: {out / 'best.json'}; plots: {out / 'atomnet-256kb.png'}, {out / 'best.png'}")
    return 0
