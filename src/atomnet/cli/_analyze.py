"""``atomnet analyze``: the AtomNet guidelines from a board's AtomDB, as a Markdown + HTML report."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._progress import Stages, add_progress_flag
from atomnet.runtimes import runtime_argument, runtime_metavar


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "analyze", help="operator, block, bottleneck and pattern analysis of a board's AtomDB (report)",
        description="Write a report (report.md, PNG figures, self-contained report.html) of the AtomDB of a board: "
                    "operator efficiency and the guidelines G1-G3 with this board's numbers, SEP/MBConv/ConvNext "
                    "block rankings, per-stage bottlenecks of --model, and the best model of each search space "
                    "under --sram/--flash/--latency. Example: atomnet --db atomdb.sqlite analyze --board stm32h743 "
                    "--model atomnet-256kb --out report/")
    p.add_argument("--board", default="stm32h743", help="board name or a .toml/.json board file")
    p.add_argument("--runtime", type=runtime_argument, metavar=runtime_metavar(),
                   help="runtime whose SRAM planner and Flash model apply (default: the board's)")
    p.add_argument("--model", action="append", default=[], metavar="NAME_OR_SPEC",
                   help="zoo name, spec file or .tflite file for the bottleneck analysis (repeatable)")
    p.add_argument("--sram", default="256KB", help="pattern comparison: peak SRAM limit (default 256KB)")
    p.add_argument("--flash", default="1MB", help="pattern comparison: Flash limit (default 1MB)")
    p.add_argument("--latency", default="275ms",
                   help="pattern comparison: latency limit; a plain number is ms (default 275ms)")
    p.add_argument("--spaces", default="sep,convnext,mbconv,hybrid",
                   help="pattern comparison: comma-separated spaces (default sep,convnext,mbconv,hybrid)")
    p.add_argument("--resolutions", help="pattern comparison: only these input resolutions, e.g. 160,128 (faster)")
    p.add_argument("--no-patterns", action="store_true", help="skip the pattern comparison (the slow part)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_progress_flag(p)
    p.set_defaults(func=cmd_analyze)


def _ints(text: str, field: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CliError(f"{field} {text!r}: expected comma-separated integers, e.g. 160,128") from None


def _read_model(name: str, load_spec: Any, catalog: Any) -> Any:
    """A spec (zoo name or spec file) or, for a ``.tflite`` path, the file read and validated."""
    if name.lower().endswith(".tflite"):
        from atomnet.export import read_tflite

        return read_tflite(name)
    return load_spec(name, catalog=catalog)


def cmd_analyze(args: argparse.Namespace) -> int:
    from atomnet.analyze import run_analysis
    from atomnet.boards import get_board
    from atomnet.cli._common import existing_db
    from atomnet.report import write_analysis_report
    from atomnet.spec import load_spec
    from atomnet.units import parse_bytes, parse_ms
    from atomnet.zoo import ZOO

    board = get_board(args.board)
    db = existing_db(args)
    if db is None or not db.has_board(board.measured_board):
        where = db.path if db is not None else "the default database"
        raise CliError(f"board {board.measured_board!r}: no measurements in {where}; the analysis reads measured "
                         f"rows, import them first: atomnet --db FILE db import atomdb.csv --se atomdb_se.csv "
                         f"--board {board.measured_board}")
    models = [_read_model(m, load_spec, ZOO) for m in args.model]  # every file validated before the analysis
    stages = Stages("analyze", 3 + bool(models) + (not args.no_patterns) + 1, enabled=not args.no_progress)
    res = run_analysis(db, board, models=models, sram_bytes=parse_bytes(args.sram, field="--sram"),
                       flash_bytes=parse_bytes(args.flash, field="--flash"),
                       latency_ms=parse_ms(args.latency, field="--latency"), patterns=not args.no_patterns,
                       spaces=[s.strip() for s in args.spaces.split(",") if s.strip()],
                       resolutions=_ints(args.resolutions, "--resolutions") if args.resolutions else None,
                       runtime=args.runtime, on_stage=stages)
    stages(f"writing the report to {args.out}", last=True)
    files = write_analysis_report(res, args.out)
    stages.done()
    for g in res.operators.guidelines:
        print(f"{g.id} ({g.title}, {g.verdict}): {g.data}")
    if res.blocks is not None:
        for c in res.blocks.rankings:
            if c.se:
                continue
            print(f"block ranking {c.metric} ({c.normalization}): paper {' > '.join(c.paper)} holds at "
                  f"{c.agree}/{c.total} grid points")
    for k, v in res.skipped.items():
        print(f"not computed: {k}: {v}")
    print(f"report written to {files['markdown']} and {files['html']} ({len(files) - 2} figures)")
    return 0
