"""``atomnet boards``: the built-in board profiles (and a user board file); ``atomnet boards calibrate B``: the
board's latency transfer models (shipped, or refitted from the database's whole-model rows)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._common import existing_db
from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("boards", help="list board profiles (SRAM, Flash, core, clock, runtime); calibrate transfers",
                       description="List built-in boards; --file adds a user board from TOML/JSON. "
                                   "'atomnet boards calibrate B' shows or refits a board's latency transfers.")
    p.add_argument("--file", action="append", default=[], metavar="BOARD.toml", help="a user board file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_boards)
    bsub = p.add_subparsers(dest="boards_command", metavar="SUBCOMMAND")
    c = bsub.add_parser(
        "calibrate", help="a board's latency transfer models: factors, rows, leave-one-out error",
        description="Latency on board B with runtime R = Σ over operator kinds of the reference board's "
                    "(stm32h743, X-CUBE-AI AtomDB) latency × the factor of the kind's group (docs/transfer.md). "
                    "Without --from-db: the transfers shipped with atomnet, fitted on ../shared/published. "
                    "With --from-db: refit them on the whole-model rows of the database (atomnet db "
                    "import-models FILE) and print each row's leave-one-model-out error; --out writes a board "
                    "file with the refitted transfers (use it as --board FILE). Example: atomnet --db my.sqlite "
                    "boards calibrate stm32f746 --from-db --runtime tinyengine --out f746.json")
    c.add_argument("board", help="a built-in board or a .toml/.json board file")
    c.add_argument("--runtime", help="only this runtime's transfers (default: every runtime the board has)")
    c.add_argument("--version", default=None, metavar="V",
                   help="with --from-db: fit only the rows of this runtime version family (7.3, @713b6ed)")
    c.add_argument("--from-db", action="store_true", help="refit on the database's whole-model rows")
    c.add_argument("--prior", metavar="BOARD/RUNTIME|shape:BOARD/RUNTIME@V|flat",
                   help="with --from-db: the prior shape: a board's shipped transfer, the shape of a board's rows "
                        "of version V ({v}: each fitted version), or flat (default: the shipped calibration's)")
    c.add_argument("--no-facts", action="store_true",
                   help="with --from-db: leave out the FACTS §2 points shipped for F746/F412 X-CUBE-AI")
    c.add_argument("--tflite-dir", type=Path, metavar="DIR",
                   help="where the MLPerf Tiny reference .tflite files are (default ../shared/models/tflite)")
    c.add_argument("--rows", action="store_true", help="print every row's leave-one-out error")
    c.add_argument("--out", type=Path, metavar="BOARD.json", help="with --from-db: write the refitted board file")
    c.add_argument("--json", action="store_true",
                   help="object: {board, transfers: [{transfer, loo: [{row, model, version, measured_ms, "
                        "estimate_ms, error}], skipped: [{row, model, reason}], duplicates}]}")
    c.set_defaults(func=cmd_calibrate)


def cmd_boards(args: argparse.Namespace) -> int:
    from atomnet.boards import list_boards, load_board_file

    boards = [*list_boards(), *(load_board_file(f) for f in args.file)]
    if args.json:
        print_json([b.to_dict() for b in boards])
        return 0
    rows = [(b.name, b.core, f"{b.clock_mhz:g} MHz" if b.clock_mhz else "-", f"{b.sram_bytes // 1024} KB",
             f"{b.flash_bytes // 1024} KB", b.runtime, _latency_text(b)) for b in boards]
    print(table(["board", "core", "clock", "SRAM", "Flash", "runtime", "latency"], rows, align="lllrrll"))
    return 0


def _latency_text(b: Any) -> str:
    t = b.transfer_for(b.runtime)
    if t is not None:
        others = [x.key for x in b.transfers if x is not t]
        return f"transfer from {t.reference}" + (f" (+ {', '.join(others)})" if others else "")
    if b.transfers:
        return f"measured (+ transfers {', '.join(x.key for x in b.transfers)})"
    return f"scaled x{b.time_scale:.3f} from {b.reference}" if b.is_scaled else "measured"


def cmd_calibrate(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board

    board = get_board(args.board)
    if not args.from_db:
        for opt in ("version", "prior", "out"):
            if getattr(args, opt) is not None:
                raise CliError(f"--{opt} needs --from-db (it refits)")
        entries = _shipped(board, args.runtime)
    else:
        entries = _refit(args, board)
    if args.json:
        print_json({"board": board.name, "transfers": entries})
        return 0
    _print(board.name, entries, args.rows)
    return 0


def _shipped(board: Any, runtime: str | None) -> list[dict[str, Any]]:
    from atomnet.calibrate import shipped_details

    ts = [t for t in board.transfers if runtime is None or t.runtime == runtime]
    if not ts:
        raise CliError(f"board {board.name} has no shipped transfer" + (f" for runtime {runtime}" if runtime else "")
                       + "; refit from your rows with --from-db (atomnet db import-models FILE first)")
    return [{"transfer": t.to_dict(), **(shipped_details(board.name, t.key) or {"loo": [], "skipped": []})}
            for t in ts]


def _prior_text(args: argparse.Namespace, board: Any, runtime: str) -> str:
    """--prior, else the shipped plan's prior of the board and runtime, else the shipped transfer's."""
    from atomnet.calibrate import plan_prior

    if args.prior is not None:
        return str(args.prior)
    planned = plan_prior(board.name, runtime)
    if planned:
        return planned
    shipped = board.transfer_for(runtime)
    return shipped.prior if shipped is not None else ""


def _refit(args: argparse.Namespace, board: Any) -> list[dict[str, Any]]:
    from atomnet.calibrate import (
        PriorResolver,
        ReferencePricer,
        calibrate,
        calibrate_runtime,
        facts_rows,
        row_on_board,
        row_runtime,
    )

    db = existing_db(args)
    if db is None:
        raise CliError("--from-db: no AtomDB (pass --db FILE or set $ATOMNET_DB); import rows with "
                       "'atomnet db import-models FILE'")
    with db:
        every = db.model_measurements()
        rows = [r for r in every if row_on_board(r, board.name)]
        found = {rt for r in rows if (rt := row_runtime(r))}
        if not args.no_facts:
            found |= {t.runtime for t in board.transfers if facts_rows(board.name, t.runtime)}
        runtimes = [args.runtime] if args.runtime else sorted(found)
        if not runtimes:
            raise CliError(f"the database has no whole-model rows of board {board.name}; import them with "
                           "'atomnet db import-models FILE'")
        pricer = ReferencePricer(db)
        resolve = PriorResolver(every, pricer, args.tflite_dir)
        out: list[dict[str, Any]] = []
        for rt in runtimes:
            text = _prior_text(args, board, rt)
            src = f"refit on {db.path}"
            if args.version is not None:
                prior, name = resolve(text, args.version)
                cals = [calibrate(rows, board, rt, pricer, version=args.version, prior=prior, prior_name=name,
                                  facts=not args.no_facts, tflite_dir=args.tflite_dir, source=src)]
            else:
                shipped = board.transfer_for(rt)
                cals = calibrate_runtime(rows, board, rt, pricer, prior=text, resolve=resolve,
                                         preferred=shipped.version if shipped else "", facts=not args.no_facts,
                                         tflite_dir=args.tflite_dir, source=src)
            out.extend(c.to_dict() for c in cals)
    if args.out is not None:
        _write_board(args.out, board, [e["transfer"] for e in out])
    return out


def _write_board(path: Path, board: Any, transfers: list[dict[str, Any]]) -> None:
    """A board file of ``board`` whose transfers of the refitted keys are replaced by ``transfers``."""
    from atomnet.boards import Transfer, board_file_dict

    new = [Transfer.from_dict(t, "refit") for t in transfers]
    keys = {t.key for t in new}
    kept = [t for t in board.transfers if t.key not in keys]
    d = board_file_dict(board)
    d["transfers"] = [t.to_dict() for t in (*new, *kept)]
    path.write_text(json.dumps(d, indent=1) + "\n")


def _print(board: str, entries: list[dict[str, Any]], rows: bool) -> None:
    out = []
    for e in entries:
        t, loo = e["transfer"], e["transfer"]["loo"]
        key = t["runtime"] + ((t["version"] if t["version"].startswith("@") else "@" + t["version"])
                              if t["version"] else "")
        lam = t["prior_strength"]
        out.append((key, len(t["rows"]), ", ".join(f"{g} {f:.4g}" for g, f in t["factors"].items()),
                    "inf" if lam is None else f"{lam:g}", t["prior"] or "flat",
                    f"{loo['median_abs']:.1%}" if loo else "-", f"{loo['max_abs']:.1%}" if loo else "-",
                    f"{loo['within_5']:.0%}" if loo else "-", f"{loo['within_10']:.0%}" if loo else "-"))
    print(f"board {board}: latency = Σ kinds t_ref(stm32h743, xcube-ai) × factor(group); leave-one-model-out error")
    print(table(["transfer", "rows", "factors", "λ", "prior", "LOO median", "LOO max", "±5%", "±10%"], out,
                align="lrllrrrrr"))
    if not rows:
        return
    for e in entries:
        t = e["transfer"]
        head = f"\n{t['runtime']} {t['version']}".rstrip()
        if not e["loo"]:
            print(f"{head}: fitted on {', '.join(t['rows'])} (one model: no leave-one-out)")
            continue
        print(f"{head}: rows fitted on (leave-one-model-out estimate)")
        print(table(["row", "model", "version", "measured ms", "estimate ms", "error"],
                    [(r["row"], r["model"], r["version"] or "-", r["measured_ms"], r["estimate_ms"],
                      f"{r['error']:+.1%}") for r in e["loo"]], align="lllrrr"))
        for s in e.get("skipped", []):
            print(f"  not fitted: {s['row']} {s['model']}: {s['reason']}")
