"""``atomnet search-front``: the exact optimum over a grid of (peak SRAM, Flash, latency) budgets, the 3-D front it
traces, and its plots (issue 16, scope 3)."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._render import print_json, table
from atomnet.runtimes import runtime_argument, runtime_metavar

DEFAULT_SRAM = "128KB,192KB,256KB,320KB,512KB"
DEFAULT_FLASH = "512KB,1MB,2MB"
DEFAULT_LATENCY = "50ms,100ms,150ms,200ms,275ms,350ms,500ms,750ms"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search-front", help="exact optimum per (SRAM, Flash, latency) budget of a grid: the 3-D front, plots",
        description="For every budget of the grid --sram x --flash x --latency, search the space exactly "
                    "(the --strategy exact programme, winners confirmed with the full cost model) and report the "
                    "best MACs; winners no other winner beats in latency, peak SRAM and Flash together form the "
                    "3-D front. Example: atomnet search-front --board stm32h743 --sram 256KB,512KB --flash 1MB "
                    "--latency 100ms,275ms --plot front.png --plot-latency fronts.png")
    p.add_argument("--board", default="stm32h743", help="board name or .toml/.json board file")
    p.add_argument("--runtime", type=runtime_argument, metavar=runtime_metavar(), help="default: the board's runtime")
    p.add_argument("--space", default="hybrid", help="a stage space (name or .json/.yaml file; default hybrid)")
    p.add_argument("--sram", default=DEFAULT_SRAM, help=f"peak-SRAM limits, comma-separated (default {DEFAULT_SRAM})")
    p.add_argument("--flash", default=DEFAULT_FLASH, help=f"Flash limits, comma-separated (default {DEFAULT_FLASH})")
    p.add_argument("--latency", default=DEFAULT_LATENCY,
                   help=f"latency limits, comma-separated (default {DEFAULT_LATENCY})")
    p.add_argument("--plot", metavar="FILE.png", help="best MACs per budget, one panel per Flash limit")
    p.add_argument("--plot-latency", metavar="FILE.png",
                   help="MACs vs latency limit, one curve per SRAM limit (at the largest Flash limit)")
    p.add_argument("--json", action="store_true", help="the sweep as JSON (every budget, its winner)")
    p.set_defaults(func=cmd_search_front)


def _values(text: str, flag: str, parse: Any) -> list[float]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise CliError(f"{flag}: expected a comma-separated list, got {text!r}")
    vals = [float(parse(t, field=flag)) for t in items]
    if len(set(vals)) != len(vals):
        raise CliError(f"{flag}: a limit is listed twice in {text!r}")
    return sorted(vals)


def cmd_search_front(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cli._common import existing_db
    from atomnet.cost import load_latency_model
    from atomnet.search import budget_sweep, build_tables, get_block_space, get_space
    from atomnet.units import parse_bytes, parse_ms

    srams = _values(args.sram, "--sram", parse_bytes)
    flashes = _values(args.flash, "--flash", parse_bytes)
    lats = _values(args.latency, "--latency", parse_ms)
    if get_block_space(args.space) is not None:
        raise CliError(f"--space {args.space}: search-front sweeps stage spaces (e.g. hybrid); per-block spaces "
                       "are not supported here")
    board = get_board(args.board)
    space = get_space(args.space)
    rt = args.runtime or board.runtime
    lm = load_latency_model(board, existing_db(args))
    front = budget_sweep(space, build_tables(space, lm, rt), board, lm, rt, srams, flashes, lats)
    if args.json:
        print_json(front.to_dict())
    else:
        print(f"{space.name} on {board.name} ({rt}): exact optimum at {len(front.points)} budgets "
              f"({front.seconds:.1f} s)")
        rows = [[f"{p.sram_limit_bytes / 1024:g}", f"{p.flash_limit_bytes / 1024:g}", f"{p.latency_limit_ms:g}",
                 "-" if p.macs is None else f"{p.macs / 1e6:.2f}",
                 "-" if p.latency_ms is None else f"{p.latency_ms:.1f}",
                 "-" if p.peak_sram_bytes is None else f"{p.peak_sram_bytes / 1024:.1f}",
                 "-" if p.flash_bytes is None else f"{p.flash_bytes / 1024:.1f}", "*" if p.on_front else ""]
                for p in front.points]
        print(table(["SRAM lim KB", "Flash lim KB", "lat lim ms", "M MACs", "lat ms", "SRAM KB", "Flash KB",
                     "3-D front"], rows))
        print(f"{len(front.front())} distinct winners on the 3-D front (latency, peak SRAM, Flash vs MACs)")
    if args.plot or args.plot_latency:
        from atomnet.report import plot_budget_front, plot_latency_fronts

        if args.plot:
            plot_budget_front(front, args.plot)
        if args.plot_latency:
            plot_latency_fronts(front, args.plot_latency)
    return 0 if any(p.macs is not None for p in front.points) else 1
