"""``atomnet validate``: every stored whole-model measurement against atomnet's estimate (docs/validate.md)."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._progress import Bars, add_progress_flag
from atomnet.cli._render import print_json, table

_IMPORT_HINT = "atomnet db import-models ../shared/published/measurements.json"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate", help="every stored whole-model measurement against atomnet's estimate (accuracy table)",
        description="Compare every whole-model measurement in the AtomDB (atomnet db import-models) with "
                    "atomnet's estimate: latency, activation / runtime / total RAM, weights / code / total Flash. "
                    "Per board and runtime: n, median and max |error|, the share within +-5 % and +-10 %. "
                    "Components fitted on these rows (board/runtime latency transfers, X-CUBE-AI memory) "
                    "are refitted without the row's model for that row; every estimate says what it rests on "
                    "(basis). Latency is priced from the database's STM32H743 operator rows (atomnet db "
                    "import ... --board stm32h743), else the embedded predictors. "
                    f"Example: {_IMPORT_HINT}; atomnet validate --board stm32h743 --plot v.png")
    p.add_argument("--board", help="only rows of this board (atomnet name, MCU such as stm32h747, or as printed)")
    p.add_argument("--runtime", help="only rows of this runtime (xcube-ai, tflm, tinyengine, or part of a printed "
                                     "name such as cmsis-nn)")
    p.add_argument("--rows", type=int, metavar="N", help="only the first N matching rows (a quick look)")
    p.add_argument("--tflite-dir", metavar="DIR",
                   help="folder of the MLPerf Tiny reference .tflite files (default ../shared/models/tflite)")
    p.add_argument("--details", action="store_true", help="also print every row's estimates and errors")
    p.add_argument("--json", action="store_true", help="everything as JSON (rows, groups, unpriced, timing)")
    p.add_argument("--markdown", action="store_true",
                   help="the accuracy as Markdown: a board/runtime x quantity matrix (median / max |error|, n), "
                        "then the full table (docs/validate.md, the README)")
    p.add_argument("--plot", metavar="FILE.png", help="write the estimate-vs-measured scatter plot")
    add_progress_flag(p)
    p.set_defaults(func=cmd_validate)


def _pct(v: float) -> str:
    return f"{v * 100:+.1f}"


def _share(v: float) -> str:
    return f"{v * 100:.0f} %"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def render_groups(v: Any) -> str:
    from atomnet.validate import SHORT

    body = [(g.board, _short(g.runtime, 24), SHORT[g.quantity], g.stats.n, f"{g.stats.median_abs * 100:.1f} %",
             f"{g.stats.max_abs * 100:.1f} %", _share(g.stats.within_5), _share(g.stats.within_10),
             _pct(g.stats.median), ",".join(g.bases)) for g in v.groups]
    return table(["board", "runtime", "quantity", "n", "median |err|", "max |err|", "<=5 %", "<=10 %",
                  "median err %", "basis"], body, align="lllrrrrrrl")


def render_unpriced(v: Any) -> str:
    from atomnet.validate import CATEGORIES, SHORT

    body = []
    for u in v.unpriced:
        what = CATEGORIES.get(u.category, u.category) + (f" ({SHORT[u.quantity]})" if u.quantity else "")
        first = u.reasons[0][0]
        more = f" (+{len(u.reasons) - 1} other reasons)" if len(u.reasons) > 1 else ""
        body.append((u.board, _short(u.runtime, 24), what, u.rows, _short(first, 70) + more))
    return table(["board", "runtime", "not priced", "rows", "why (first reason; --json has all)"], body,
                 align="lllrl")


def render_details(v: Any) -> str:
    from atomnet.validate import SHORT

    body = []
    for r in v.rows:
        for e in r.estimates:
            err = "-" if e.error is None else _pct(e.error)
            est = "-" if e.estimate is None else f"{e.estimate:,.6g}"
            body.append((r.row_id, _short(r.resolution.model or "", 34).rsplit("/", 1)[-1], r.board,
                         _short(r.runtime, 14), SHORT[e.quantity], f"{e.measured:,.6g}", est, err, e.basis))
    return table(["row", "model", "board", "runtime", "quantity", "measured", "estimate", "error %", "basis"], body,
                 align="lllllrrrl")


def _cell(g: Any) -> str:
    return f"{g.stats.median_abs * 100:.1f} / {g.stats.max_abs * 100:.1f} ({g.stats.n})"


def render_markdown(v: Any) -> str:
    """The board/runtime x quantity matrix (median / max |error| in %, n rows), then the long table."""
    from atomnet.validate import QUANTITIES, SHORT

    cells: dict[tuple[str, str], dict[str, str]] = {}
    for g in v.groups:
        cells.setdefault((g.board, g.runtime), {})[g.quantity] = _cell(g) + (" *" if "loo" in g.bases else "")
    qs = [q for q in QUANTITIES if any(q in c for c in cells.values())]
    lines = ["| board | runtime | " + " | ".join(SHORT[q] for q in qs) + " |",
             "|---|---|" + "---:|" * len(qs)]
    lines += [f"| {b} | {rt} | " + " | ".join(c.get(q, "") for q in qs) + " |" for (b, rt), c in cells.items()]
    lines += ["", "median / max |estimate / measured - 1| in % (rows); * = leave-one-model-out fit", "",
              "| board | runtime | quantity | n | median abs | max abs | within 5 % | within 10 % | median | basis |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {g.board} | {g.runtime} | {SHORT[g.quantity]} | {g.stats.n} | {g.stats.median_abs * 100:.1f} % | "
              f"{g.stats.max_abs * 100:.1f} % | {_share(g.stats.within_5)} | {_share(g.stats.within_10)} | "
              f"{_pct(g.stats.median)} % | {', '.join(g.bases)} |" for g in v.groups]
    return "\n".join(lines)


def _summary(v: Any, db_path: str) -> list[str]:
    n = len(v.rows)
    priced = sum(r.priced for r in v.rows)
    oom = [r for r in v.rows if r.oom]
    dups = sum(r.duplicate_of is not None for r in v.rows)
    lines = [f"{n:,} whole-model measurements in {db_path}: {priced:,} priced, {n - priced:,} not "
             f"(latency: {v.latency_model})"]
    if dups:
        lines.append(f"{dups} priced rows repeat an earlier row (same board, runtime, version, model and values): "
                     "counted once in the statistics")
    if oom:
        said = sum(r.oom_predicted is True for r in oom)
        known = sum(r.oom_predicted is not None for r in oom)
        lines.append(f"{len(oom)} rows printed as out of memory: atomnet's estimate exceeds the board's SRAM or "
                     f"Flash for {said} of the {known} it prices")
    lines += [f"note: {t}" for t in v.notes]
    return lines


def cmd_validate(args: argparse.Namespace) -> int:
    from atomnet.cli._common import existing_db
    from atomnet.validate import validate

    if args.rows is not None and args.rows < 1:
        raise CliError(f"--rows: expected a positive number of rows, got {args.rows}")
    db = existing_db(args)
    if db is None:
        raise CliError(f"no AtomDB (no --db, no $ATOMNET_DB, no default file): import the whole-model measurements "
                       f"first: {_IMPORT_HINT}")
    if not db.model_measurements():
        raise CliError(f"{db.path}: no whole-model measurements; import them first: atomnet --db {db.path} "
                       f"{_IMPORT_HINT.removeprefix('atomnet ')}")
    if (args.board or args.runtime) and not db.model_measurements(args.board, args.runtime):
        from atomnet.db import model_counts

        seen = sorted({(b, r) for (_, b, r) in model_counts(db.model_measurements())})
        raise CliError(f"no whole-model measurement matches --board {args.board or '(any)'} --runtime "
                       f"{args.runtime or '(any)'}; stored: {', '.join(f'{b}/{_short(r, 30)}' for b, r in seen)}")
    bars = Bars(not args.no_progress)
    try:
        res = validate(db, board=args.board, runtime=args.runtime, rows=args.rows, tflite_dir=args.tflite_dir,
                       progress=lambda done, total: bars("rows", done, total))
    finally:
        bars.close()
    plot = None
    if args.plot:
        from atomnet.report import plot_validation

        plot = plot_validation(res, args.plot)
    if args.json:
        d = res.to_dict()
        d["database"] = str(db.path)
        if plot is not None:
            d["plot"] = str(plot)
        print_json(d)
        return 0
    if args.markdown:
        print(render_markdown(res))
        return 0
    print("\n".join(_summary(res, str(db.path))))
    print("\naccuracy (error = estimate / measured - 1; basis: loo = a fit that saw no row of the model, rules = "
          "counted/planned, atomdb = operator measurements, elsewhere = a constant calibrated on a point not among "
          "these rows, assumed = a stated assumption)")
    print(render_groups(res))
    if res.unpriced:
        print("\nnot priced")
        print(render_unpriced(res))
    if args.details:
        print("\nper row")
        print(render_details(res))
    print(f"\n{res.seconds['total']:.2f} s" + (f"; plot: {plot}" if plot is not None else ""))
    return 0
