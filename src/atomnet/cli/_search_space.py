"""``atomnet search-space``: TinyNAS search-space optimisation (MCUNet §3.1): rank the (width multiplier,
resolution) sub-spaces by the MACs of their feasible members, sampled with the batch coster."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._render import print_json, table
from atomnet.runtimes import runtime_argument, runtime_metavar


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search-space", help="rank (width multiplier, resolution) sub-spaces by their feasible members' MACs",
        description="Sample every (width multiplier, resolution) sub-space of a space uniformly, cost the samples "
                    "with the stage tables and rank the sub-spaces by the mean MACs of the samples that meet "
                    "the limits (MCUNet's criterion; the CDF of those MACs with --plot). Seeded. Example: "
                    "atomnet search-space --board stm32h743 --max-sram 256KB --max-flash 1MB --space mcunet "
                    "--plot cdf.png")
    p.add_argument("--board", default="stm32h743", help="board name or .toml/.json board file")
    p.add_argument("--runtime", type=runtime_argument, metavar=runtime_metavar(), help="default: the board's runtime")
    p.add_argument("--max-sram", help="peak SRAM limit with a unit, e.g. 256KB (default: the board's SRAM)")
    p.add_argument("--max-flash", help="Flash limit with a unit, e.g. 1MB (default: the board's Flash)")
    p.add_argument("--latency", help="latency limit, e.g. 275ms (default: none)")
    p.add_argument("--space", default="hybrid", help="hybrid (sub-spaces: its resolutions) or mcunet")
    p.add_argument("--samples", default="10000", help="architectures sampled per sub-space (default 10000)")
    p.add_argument("--seed", default="0", help="seed of the sampling (default 0)")
    p.add_argument("--top", default="10", help="rows printed (default 10)")
    p.add_argument("--plot", metavar="FILE.png", help="plot the best sub-spaces' CDFs of feasible MACs")
    p.add_argument("--json", action="store_true", help="list of {subspace, samples, feasible, mean_feasible_macs}")
    p.set_defaults(func=cmd_search_space)


def _count(text: str, flag: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise CliError(f"{flag}: expected a positive integer, got {text!r}")
    return int(text)


def cmd_search_space(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cli._common import existing_db
    from atomnet.cost import load_latency_model
    from atomnet.search import Limits, get_block_space, get_space, rank_subspaces, subspace_table
    from atomnet.units import parse_bytes, parse_ms

    samples, top = _count(args.samples, "--samples"), _count(args.top, "--top")
    if not args.seed.isdigit():
        raise CliError(f"--seed: expected an integer >= 0, got {args.seed!r}")
    board = get_board(args.board)
    limits = Limits(latency_ms=parse_ms(args.latency) if args.latency else float("inf"),
                    flash_bytes=parse_bytes(args.max_flash) if args.max_flash else board.flash_bytes,
                    peak_sram_bytes=parse_bytes(args.max_sram) if args.max_sram else board.sram_bytes)
    space = get_block_space(args.space) or get_space(args.space)
    runtime = args.runtime or board.runtime
    stats = rank_subspaces(space, load_latency_model(board, existing_db(args)), runtime, limits,
                           samples=samples, seed=int(args.seed))
    rows = subspace_table(stats)
    if args.json:
        print_json([{"subspace": s.label, "width_multiplier": s.width_multiplier, "resolution": s.resolution,
                     "samples": s.samples, "feasible": s.feasible, "mean_feasible_macs": s.mean_feasible_macs}
                    for s in stats])
    else:
        print(f"{args.space} space on {board.name} ({runtime}), {samples:,} samples per sub-space, seed {args.seed}")
        print(table(list(rows[0]), [list(r.values()) for r in rows[:top]]))
        best = stats[0]
        if best.feasible:
            print(f"best sub-space {best.label}: mean feasible MACs {best.mean_feasible_macs / 1e6:.2f} M")
    if args.plot:
        from atomnet.report import plot_subspace_cdfs
        plot_subspace_cdfs(stats, args.plot, title=f"{args.space} on {board.name} ({runtime})")
    return 0 if stats and stats[0].feasible else 1
