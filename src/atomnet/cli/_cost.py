"""``atomnet cost MODEL``: per-layer and total latency, Flash and peak SRAM of a model on a board."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cost", help="latency, Flash and peak SRAM of a model on a board",
                       description="Price a model by its atom operators (exact AtomDB medians, else predictors). "
                                   "MODEL is a zoo name (atomnet zoo list) or a spec file (atomnet spec JSON, "
                                   "AtomNet stage config, or once-for-all/MCUNet JSON) or an int8 .tflite file "
                                   "(validated; MACs, Flash and the TFLM arena, latency not priced yet). "
                                   "Example: atomnet cost atomnet-256kb --board stm32h743 --plot cost.png",
                       epilog="Exit status: 0 the model fits the board; 1 it does not fit (peak SRAM or Flash over "
                              "the board's; the report is printed first, and --json says fits: false with the "
                              "over_limits); 2 an error in the input.")
    p.add_argument("model")
    p.add_argument("--board", default="stm32h743", help="board name or a .toml/.json board file")
    p.add_argument("--runtime", choices=("xcube-ai", "tflm", "tinyengine"),
                   help="runtime whose SRAM planner and Flash model apply (default: the board's)")
    p.add_argument("--json", action="store_true",
                   help="object with macs, params, weights_bytes, flash_bytes, peak_sram_bytes, latency_ms, "
                        "ops_exact, ops_predicted, board, runtime, fits, over_limits[], layers[] …")
    p.add_argument("--plot", metavar="FILE.png", help="per-layer SRAM and weights, latency by operator kind")
    p.add_argument("--no-layers", action="store_true", help="print only the totals")
    p.set_defaults(func=cmd_cost)


def existing_db(args: argparse.Namespace) -> Any:
    """The user's AtomDB opened read-only (never created, never write-locked), or None on a fresh install (no
    --db, no $ATOMNET_DB and no default file: the embedded predictors price). A --db or $ATOMNET_DB path that
    does not exist is an error (``atomnet.db.open_user_db``)."""
    from atomnet.db import open_user_db

    return open_user_db(args.db, readonly=True, missing_ok=True)


def cmd_cost(args: argparse.Namespace) -> int:
    if str(args.model).lower().endswith(".tflite"):  # validated, then what the file gives (cli/_verify.py)
        from atomnet.cli._verify import cost_tflite

        return cost_tflite(args)
    from atomnet.boards import get_board
    from atomnet.cost import cost_model
    from atomnet.spec import load_spec

    spec = load_spec(args.model)
    board = get_board(args.board)
    rep = cost_model(spec, board, runtime=args.runtime, db=existing_db(args))
    return show_cost(rep, args)


def show_cost(rep: Any, args: argparse.Namespace) -> int:
    """Plot, print (table or JSON) a cost report; the exit status: 0 when it fits the board, 1 when not."""
    if args.plot:
        from atomnet.report import plot_cost

        plot_cost(rep, args.plot)
    if args.json:
        print_json({**rep.to_dict(), "fits": rep.feasible, "over_limits": over_limits(rep)})
    else:
        print(render_cost(rep, layers=not args.no_layers))
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0 if rep.feasible else 1


_LABELS = {"peak_sram": "peak SRAM", "flash": "Flash"}


def over_limits(rep: Any) -> list[dict[str, Any]]:
    """What of the report exceeds the board: ``[{"what": "peak_sram", "bytes", "limit_bytes", "message"}, …]``."""
    from atomnet.units import fmt_bytes

    out = []
    for what, used, limit in (("peak_sram", rep.peak_sram_bytes, rep.board_sram_bytes),
                              ("flash", rep.flash_bytes, rep.board_flash_bytes)):
        label = _LABELS[what]
        if used > limit:
            out.append({"what": what, "bytes": used, "limit_bytes": limit,
                        "message": f"{label} {fmt_bytes(used)} ({used:,} B) is over the board's {fmt_bytes(limit)} "
                                   f"({limit:,} B) by {used - limit:,} B"})
    return out


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
    why = ", ".join(f"{_LABELS[o['what']]} over by {o['bytes'] - o['limit_bytes']:,} B" for o in over_limits(rep))
    out.append(f"  fits {rep.board}: {'yes' if rep.feasible else 'NO (' + why + ')'}")
    return "\n".join(out)
