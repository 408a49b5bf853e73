"""``atomnet cost MODEL``: per-layer and total latency, Flash and peak SRAM of a model on a board."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli._common import existing_db
from atomnet.cli._render import over_limits, print_json, render_cost, render_cost_tflite, render_patch
from atomnet.runtimes import runtime_argument, runtime_metavar

# existing_db and render_cost are imported from here by cli/_search.py (another module's owner moves that import
# to cli/_common and cli/_render); over_limits: the JSON field of show_cost
__all__ = ["add_parser", "cmd_cost", "existing_db", "over_limits", "render_cost", "show_cost"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cost", help="latency, Flash and peak SRAM of a model on a board",
                       description="Price a model by its atom operators (exact AtomDB medians, else predictors). "
                                   "MODEL is a zoo name (atomnet zoo list) or a spec file (atomnet spec JSON, "
                                   "AtomNet stage config, or once-for-all/MCUNet JSON) or a .tflite file (validated; "
                                   "every operator costed, the whole TFLM arena: head + tail; operators the AtomDB "
                                   "cannot price are listed and the latency is then a lower bound). "
                                   "Example: atomnet cost atomnet-256kb --board stm32h743 --plot cost.png",
                       epilog="Exit status: 0 the model fits the board; 1 it does not fit (peak SRAM or Flash over "
                              "the board's; the report is printed first, and --json says fits: false with the "
                              "over_limits); 2 an error in the input.")
    p.add_argument("model")
    p.add_argument("--board", default="stm32h743", help="board name or a .toml/.json board file")
    p.add_argument("--runtime", type=runtime_argument, metavar=runtime_metavar(),
                   help="runtime whose SRAM planner and Flash model apply (default: the board's; tflm for a "
                        ".tflite file)")
    p.add_argument("--json", action="store_true",
                   help="object with macs, params, weights_bytes, flash_bytes, peak_sram_bytes, latency_ms, "
                        "ops_exact, ops_predicted, board, runtime, fits, over_limits[], layers[] …; for a .tflite "
                        "also sram_breakdown.persistent, latency_is_lower_bound, unpriced[]")
    p.add_argument("--plot", metavar="FILE.png", help="per-layer SRAM and weights, latency by operator kind; with "
                                                      "--patch also FILE_patch.png: per-layer live SRAM layer-based "
                                                      "vs patch-based (both input policies, the split, the board's "
                                                      "SRAM)")
    p.add_argument("--no-layers", action="store_true", help="print only the totals")
    p.add_argument("--patch", metavar="auto|PxP@N",
                   help="also cost patch-based inference (MCUNetV2): PxP patches over the first N blocks (the stem "
                        "counted; e.g. 4x4@5), or auto (the lowest peak SRAM, ties: fewest extra MACs); shown beside "
                        "the layer-based figures, JSON adds a 'patch' object (specs only; tinyengine, xcube-ai)")
    p.add_argument("--input-in-sram", choices=("yes", "no"), default="no",
                   help="with --patch: the input image held whole in SRAM (yes) or streamed per patch from a "
                        "camera/Flash buffer (no, MCUNetV2's figure); both are reported, this one picks auto's plan")
    p.add_argument("--memory", choices=("internal", "external"), default="internal",
                   help="external: when the model does not fit internal SRAM/Flash, plan it with the board's external "
                        "SDRAM/QSPI (TinyOps: operators split into parts, DMA fetches hidden behind compute; "
                        "docs/external.md); a model that fits keeps the internal plan")
    p.add_argument("--external-plan", choices=("atomnet", "tinyops"), default="atomnet",
                   help="with --memory external: atomnet's plan (weights in Flash/QSPI, channel splits for "
                        "weight-heavy operators) or TinyOps' own (everything in SDRAM, row splits only, large "
                        "filters read in place; stm32f469-disco, stm32f746g-disco)")
    p.add_argument("--latency-runtime", metavar="RUNTIME",
                   help="with --memory external: price compute with this runtime's transfer of the board (e.g. "
                        "cmsis-nn, TinyOps' TFLite Micro + CMSIS-NN) instead of the board's AtomDB latency")
    p.set_defaults(func=cmd_cost)


def cmd_cost(args: argparse.Namespace) -> int:
    if str(args.model).lower().endswith(".tflite"):  # validated, then what the file gives
        if getattr(args, "patch", None):
            from atomnet.errors import InputError

            raise InputError(f"{args.model}: --patch is not supported for .tflite files yet (cost a spec)")
        return cmd_cost_tflite(args)
    from atomnet.boards import get_board
    from atomnet.cost import cost_model
    from atomnet.spec import load_spec
    from atomnet.zoo import ZOO

    spec = load_spec(args.model, catalog=ZOO)
    board = get_board(args.board)
    if getattr(args, "patch", None):
        return show_patch(spec, board, args)
    if getattr(args, "memory", "internal") == "external":
        return show_external(spec, board, args)
    rep = cost_model(spec, board, runtime=args.runtime, db=existing_db(args))
    return show_cost(rep, args)


def show_patch(spec: Any, board: Any, args: argparse.Namespace) -> int:
    """``cost --patch``: the layer-based report, then the patch plan's figures beside it; exit 0 when the
    patch-based peak (under --input-in-sram) and the Flash fit the board."""
    from atomnet.cost import patch_cost

    rep, pc = patch_cost(spec, board, args.patch, runtime=args.runtime, input_in_sram=args.input_in_sram == "yes",
                         db=existing_db(args))
    fits = pc.peak_sram_patch_bytes <= rep.board_sram_bytes and rep.fits_flash
    plots = []
    if args.plot:  # the layer-based cost figure, and the MCUNetV2 figure next to it (F_patch.png)
        from atomnet.cost import plan_patches
        from atomnet.report import patch_plot_path, patch_sram_series, plot_cost, plot_patch_sram

        series = patch_sram_series(plan_patches(spec, pc.runtime, pc.grid, pc.blocks), pc.runtime)
        plots = [plot_cost(rep, args.plot),
                 plot_patch_sram(series, patch_plot_path(args.plot), board=rep.board,
                                 board_sram_bytes=rep.board_sram_bytes)]
    if args.json:
        print_json({**rep.to_dict(), "fits": rep.feasible, "over_limits": over_limits(rep),
                    "patch": {**pc.to_dict(), "fits": fits}})
    else:
        print(render_cost(rep, layers=not args.no_layers))
        print()
        print(render_patch(pc, layers=not args.no_layers))
        print(f"  fits {rep.board} with patches: {'yes' if fits else 'NO'}")
        if plots:
            print(f"plots written to {plots[0]} and {plots[1]}")
    return 0 if fits else 1


def show_external(spec: Any, board: Any, args: argparse.Namespace) -> int:
    """``cost --memory external``: the external-memory plan's report and per-layer placement table; exit 0 when
    the plan (or the internal one, for a model that fits) is feasible."""
    from atomnet.cli._render import table
    from atomnet.cost import TINYOPS_PROFILES, external_cost
    from atomnet.errors import InputError

    if board.external is None:
        raise InputError(f"--memory external: board {board.name} has no external memory (boards with one: "
                         f"stm32f469-disco, stm32f746g-disco, stm32h750b-dk, or a board file with [external])")
    prof = None
    if getattr(args, "external_plan", "atomnet") == "tinyops":
        prof = TINYOPS_PROFILES.get(board.name)
        if prof is None:
            raise InputError(f"--external-plan tinyops: no TinyOps buffer profile for board {board.name} (profiles: "
                             f"{', '.join(sorted(TINYOPS_PROFILES))})")
    e = external_cost(spec, board, runtime=args.runtime, latency_runtime=args.latency_runtime, db=existing_db(args),
                      tinyops=prof)
    if args.plot:
        from atomnet.report import plot_cost

        plot_cost(e.report, args.plot)
    if args.json:
        print_json({**e.report.to_dict(), "fits": e.feasible, "over_limits": [] if e.feasible else
                    over_limits(e.internal), "external": None if e.plan is None else e.plan.to_dict()})
        return 0 if e.feasible else 1
    if e.plan is None:
        print(render_cost(e.report, layers=not args.no_layers))
        print("  memory: internal (the model fits; no external memory used)")
        return 0 if e.feasible else 1
    p = e.plan
    if not args.no_layers:
        rows = [(ly.name, ly.input_in, ly.weights_in, ly.parts, ly.working_set_bytes, ly.bytes_moved,
                 round(ly.compute_ms, 3), round(ly.transfer_ms, 3), round(ly.exposed_ms, 3)) for ly in p.layers]
        print(table(["layer", "acts in", "weights in", "parts", "scratch B", "moved B", "compute ms", "transfer ms",
                     "not hidden ms"], rows, align="lllrrrrrr"))
        print()
    print(render_cost(e.report, layers=False))
    print(f"  memory: external — activations in {p.activations_in}, weights in {p.weights_in}; latency "
          f"{p.latency_ms:.1f} ms = compute {p.compute_ms:.1f} + transfer not hidden {p.exposed_ms:.1f}; "
          f"scratch peak {p.peak_scratch_bytes:,} B of {p.scratch_bytes:,}; external RAM {p.ext_ram_bytes:,} B, "
          f"external Flash {p.ext_flash_bytes:,} B")
    print(f"  fits {board.name} with external memory: {'yes' if p.feasible else 'NO (' + ', '.join(p.unplaced) + ')'}")
    return 0 if p.feasible else 1


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




def cmd_cost_tflite(args: argparse.Namespace) -> int:
    """``atomnet cost FILE.tflite``: :func:`atomnet.export.cost_tflite` for ``--runtime`` (default tflm), latency
    from the board's AtomDB as for a spec. Exit status 1 when the model does not fit the board."""
    from atomnet.boards import get_board
    from atomnet.export import cost_tflite, read_tflite

    m = read_tflite(args.model)  # validates the file first (TFLiteError naming it and what is wrong: exit 2)
    c = cost_tflite(m, get_board(args.board), runtime=args.runtime, db=existing_db(args))
    if args.plot:
        from atomnet.report import plot_cost

        plot_cost(c, args.plot)
    if args.json:
        print_json({**c.to_dict(), "fits": c.feasible, "over_limits": over_limits(c)})
    else:
        print(render_cost_tflite(c, layers=not args.no_layers))
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0 if c.feasible else 1
