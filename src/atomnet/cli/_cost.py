"""``atomnet cost MODEL``: per-layer and total latency, Flash and peak SRAM of a model on a board."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cost", help="latency, Flash and peak SRAM of a model on a board",
                       description="Price a model by its atom operators (exact AtomDB medians, else predictors). "
                                   "MODEL is a zoo name (atomnet zoo list) or a spec file (atomnet spec JSON, "
                                   "AtomNet stage config, or once-for-all/MCUNet JSON). "
                                   "Example: atomnet cost atomnet-256kb --board stm32h743 --plot cost.png")
    p.add_argument("model")
    p.add_argument("--board", default="stm32h743", help="board name or a .toml/.json board file")
    p.add_argument("--runtime", choices=("xcube-ai", "tflm", "tinyengine"),
                   help="runtime whose SRAM planner and Flash model apply (default: the board's)")
    p.add_argument("--json", action="store_true",
                   help="object with macs, params, weights_bytes, flash_bytes, peak_sram_bytes, latency_ms, "
                        "ops_exact, ops_predicted, board, runtime, layers[] …")
    p.add_argument("--plot", metavar="FILE.png", help="per-layer SRAM and weights, latency by operator kind")
    p.add_argument("--no-layers", action="store_true", help="print only the totals")
    p.set_defaults(func=cmd_cost)


def existing_db(args: argparse.Namespace) -> Any:
    """The user's AtomDB if it exists (never created by a read-only command), else None."""
    from atomnet.db import AtomDB, default_db_path

    path = default_db_path(args.db)
    if args.db and not Path(path).exists():
        raise FileNotFoundError(f"--db {path}: no such database; create it with 'atomnet --db {path} db import …'")
    return AtomDB(path) if Path(path).exists() and os.path.getsize(path) > 0 else None


def cmd_cost(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cost import cost_model
    from atomnet.spec import load_spec

    spec = load_spec(args.model)
    board = get_board(args.board)
    rep = cost_model(spec, board, runtime=args.runtime, db=existing_db(args))
    if args.plot:
        from atomnet.report import plot_cost

        plot_cost(rep, args.plot)
    if args.json:
        print_json(rep.to_dict())
        return 0
    print(render_cost(rep, layers=not args.no_layers))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def render_cost(rep: Any, layers: bool = True) -> str:
    from atomnet.units import fmt_bytes

    out = []
    if layers:
        rows = [(ly.name, ly.op, ly.macs, ly.weights_bytes, ly.live_sram_bytes, ly.latency_ms, ly.source)
                for ly in rep.layers]
        out.append(table(["layer", "operator", "MACs", "weights B", "live SRAM B", "latency ms", "source"], rows,
                         align="llrrrrl"))
        out.append("")
    scaled = " (scaled estimate from " + rep.predictor + ")" if rep.scaled else ""
    out.append(f"model {rep.model} on {rep.board} ({rep.runtime}; latency from {rep.latency_runtime} "
               f"measurements{scaled})")
    out.append(f"  MACs            {rep.macs / 1e6:.2f} M   params {rep.params:,}")
    out.append(f"  latency         {rep.latency_ms:.1f} ms   ({rep.ops_exact} ops exact, {rep.ops_predicted} predicted;"
               f" predictor: {rep.predictor})")
    fb = rep.flash_breakdown
    flag_f = "" if rep.fits_flash else f"   ** OVER the board's {fmt_bytes(rep.board_flash_bytes)} **"
    out.append(f"  Flash           {fmt_bytes(rep.flash_bytes)} = weights {fmt_bytes(fb['weights'])} + bias "
               f"{fmt_bytes(fb['bias'])} + quant {fmt_bytes(fb['quant'])} + runtime code {fmt_bytes(fb['code'])}"
               f"{flag_f}")
    sb = rep.sram_breakdown
    flag_s = "" if rep.fits_sram else f"   ** OVER the board's {fmt_bytes(rep.board_sram_bytes)} **"
    out.append(f"  peak SRAM       {fmt_bytes(rep.peak_sram_bytes)} ({rep.peak_sram_bytes:,} B) = activations "
               f"{fmt_bytes(sb['activations'])} + scratch {fmt_bytes(sb['scratch'])} + runtime "
               f"{fmt_bytes(sb['runtime'])}{flag_s}   (MCUNet 'Act' metric: {rep.act_bytes:,} B)")
    out.append(f"  fits {rep.board}: {'yes' if rep.feasible else 'NO'}")
    return "\n".join(out)
