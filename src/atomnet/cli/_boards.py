"""``atomnet boards``: the built-in board profiles (and a user board file)."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("boards", help="list board profiles (SRAM, Flash, core, clock, runtime)",
                       description="List built-in boards; --file adds a user board from TOML/JSON.")
    p.add_argument("--file", action="append", default=[], metavar="BOARD.toml", help="a user board file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_boards)


def cmd_boards(args: argparse.Namespace) -> int:
    from atomnet.boards import list_boards, load_board_file

    boards = [*list_boards(), *(load_board_file(f) for f in args.file)]
    if args.json:
        print_json([b.to_dict() for b in boards])
        return 0
    rows = [(b.name, b.core, f"{b.clock_mhz:g} MHz" if b.clock_mhz else "-", f"{b.sram_bytes // 1024} KB",
             f"{b.flash_bytes // 1024} KB", b.runtime,
             f"scaled x{b.time_scale:.3f} from {b.reference}" if b.is_scaled else "measured")
            for b in boards]
    print(table(["board", "core", "clock", "SRAM", "Flash", "runtime", "latency"], rows, align="lllrrll"))
    return 0
