"""``atomnet db …``: import, stats, query, fit, export."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._common import open_db, stored_board
from atomnet.cli._render import print_json, table
from atomnet.runtimes import runtime_argument, runtime_metavar

_QUERY_KINDS = ("pointwise", "depthwise", "conv", "pad", "eltwise", "affine", "dense", "se", "pool")


def add_parser(sub: Any) -> Any:
    p = sub.add_parser("db", help="AtomDB: import measurements, statistics, lookups, predictors",
                       description="Manage the AtomDB of measured atom operators.")
    dsub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    dsub.required = True

    s = dsub.add_parser("import", help="import public AtomNet CSVs (atomdb.csv, atomdb_se.csv)",
                        description="Import AtomNet AtomDB CSV files, all of them in one transaction (an error "
                                    "in any file imports nothing); re-importing a file (same SHA-256) adds "
                                    "nothing. Values are checked: latency in ms with a '.' decimal point, "
                                    "0 < latency < 1e6; dimensions 1 … 65,536; counts 0 … 2^63-1; thousands "
                                    "separators only in integer columns. Creates the database if it does not "
                                    "exist (and says so). Example: atomnet db import atomdb.csv "
                                    "--se atomdb_se.csv --board stm32h743")
    s.add_argument("file", nargs="?", help="atomdb.csv (current or v0 header)")
    s.add_argument("--se", metavar="FILE", help="atomdb_se.csv (whole SE modules)")
    s.add_argument("--board", required=True,
                   help="board the rows were measured on: a built-in board (atomnet boards) or a .toml/.json "
                        "board file (rows are stored under the name inside it)")
    s.add_argument("--runtime", default="xcube-ai", type=runtime_argument, metavar=runtime_metavar(),
                   help="runtime the rows were measured with (aliases accepted, stored under the canonical "
                        "name; default xcube-ai)")
    s.add_argument("--runtime-version", default="7.2")
    s.add_argument("--clock-mhz", type=float, default=400.0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_import)

    s = dsub.add_parser("stats", help="rows and keys per operator kind, repeat spread")
    s.add_argument("--board")
    s.add_argument("--json", action="store_true",
                   help="object: {boards: {B: {kinds: {KIND: {rows, keys, repeated_keys, mean_spread}}, rows, "
                        "skipped_empty, sources}}}")
    s.set_defaults(func=cmd_stats)

    s = dsub.add_parser("query", help="latency of one operator: exact aggregate, else prediction",
                        description="Example: atomnet db query pointwise --c-in 80 --h-in 7 --c-out 480. "
                                    "Depthwise and k×k conv keys are valid convolutions on the padded input "
                                    "(--h-in is the padded size), as in AtomDB.")
    s.add_argument("kind", choices=_QUERY_KINDS)
    s.add_argument("--board", default="stm32h743")
    s.add_argument("--c-in", type=int, required=True, help="input channels (dense: in_features)")
    s.add_argument("--h-in", type=int, default=1)
    s.add_argument("--w-in", type=int, help="default: --h-in")
    s.add_argument("--c-out", type=int, help="output channels (pointwise, conv, dense)")
    s.add_argument("--h-out", type=int, help="pad: output size")
    s.add_argument("--kernel", type=int, default=3)
    s.add_argument("--stride", type=int, default=1)
    s.add_argument("--padding", type=int, default=0, help="conv only: implicit padding (RGB stem: 1)")
    s.add_argument("--aggregate", choices=("median", "min", "max"), default="median")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_query)

    s = dsub.add_parser("fit", help="fit latency predictors per kind; cross-validate",
                        description="Fit one predictor per operator kind from the per-key medians of a board "
                                    "and store them in the database. With --cv, print the cross-validated error "
                                    "per kind (5 folds holding out whole channel or resolution groups).")
    s.add_argument("--board", default="stm32h743")
    s.add_argument("--cv", choices=("channels", "resolution", "random"))
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", metavar="FILE.json", help="also write the predictors to this JSON file")
    s.add_argument("--json", action="store_true",
                   help="object: {board, kinds: {KIND: {mape, median_ape, max_ape, keys}}} (with --cv)")
    s.set_defaults(func=cmd_fit)

    s = dsub.add_parser("export", help="export raw rows (round-trips through 'db import')")
    s.add_argument("--board", default="stm32h743")
    s.add_argument("--format", choices=("csv",), default="csv")
    s.add_argument("--out", required=True, metavar="FILE.csv",
                   help="AtomNet-format CSV; SE modules go to FILE_se.csv beside it")
    s.set_defaults(func=cmd_export)

    s = dsub.add_parser("import-models", help="import whole-model measurements (published JSON, your CSV/JSON)",
                        description="Import whole-model measurements (latency, activation/runtime RAM, weights/code "
                                    "Flash, or RAM/Flash totals of a model on a board with a runtime), all files in "
                                    "one transaction (an error in any file imports nothing); re-importing a file "
                                    "(same SHA-256) adds nothing. FILE: ../shared/published/measurements.json, or "
                                    "your own CSV/JSON with the columns board, runtime, model and at least one of "
                                    "latency ('587 ms'), activation_ram, runtime_ram, weights_flash, code_flash, "
                                    "total_ram, total_flash ('163 KiB', '166912 B'; or latency_ms, *_bytes as "
                                    "bare numbers), oom; optional: runtime_version, model_kind, dataset, "
                                    "num_classes, resolution, quantization, plan, io_in_activation_ram, clock_mhz, "
                                    "approx, caveat, source_repo, source_path, source_commit, source_section. "
                                    "Example: atomnet db import-models ../shared/published/measurements.json")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--json", action="store_true", help="object: {db, imports: [{path, added, rows_by_family, "
                                                       "skipped, skipped_by_reason, already_imported}]}")
    s.set_defaults(func=cmd_import_models)

    s = dsub.add_parser("list-models", help="list the stored whole-model measurements",
                        description="Whole-model measurements stored by 'db import-models'. --board: an atomnet "
                                    "board, an MCU (stm32h747) or the printed board; --runtime: an atomnet "
                                    "runtime, else part of a printed runtime name (plumerai). Sizes in KiB "
                                    "(1024 B); --json gives bytes. Example: atomnet db list-models --board "
                                    "stm32h743 --runtime tinyengine")
    s.add_argument("--board")
    s.add_argument("--runtime")
    s.add_argument("--family", help="one source family, e.g. stm32ai_modelzoo, mlperf_tiny, user")
    s.add_argument("--counts", action="store_true", help="rows per family, board and runtime instead of the rows")
    s.add_argument("--json", action="store_true", help="list of rows (every field; sizes in bytes)")
    s.set_defaults(func=cmd_list_models)

    return dsub  # the measurement subcommands (cli/_db_measure.py: sweep, models, measure, additivity) join here


def cmd_import(args: argparse.Namespace) -> int:
    from atomnet.db import is_se_csv, parse_atomnet_csv, parse_atomnet_se_csv

    if not args.file and not args.se:
        raise CliError("db import: give an atomdb.csv file and/or --se atomdb_se.csv")
    board = stored_board(args.board)
    if not (math.isfinite(args.clock_mhz) and 0 < args.clock_mhz < 1e6):
        raise CliError(f"--clock-mhz: expected a positive clock in MHz, e.g. 400, got {args.clock_mhz:g}")
    parsed = []  # every file is parsed before anything is written: an error in any imports nothing
    for path, se in ((args.file, False), (args.se, True)):
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path}: no such file")
            se = se or is_se_csv(path)  # an SE table given as FILE: recognised by its header
            parsed.append(parse_atomnet_se_csv(path) if se else parse_atomnet_csv(path))
    db = open_db(args, write=True, create=True)
    results = db.import_files(parsed, board=board, runtime=args.runtime, runtime_version=args.runtime_version,
                              clock_mhz=args.clock_mhz)
    if args.json:
        print_json({"db": db.path, "imports": [r.to_dict() for r in results]})
        return 0
    for r in results:
        if r.already_imported:
            why = f"the same measurements as {r.same_as}" if r.same_as else "same SHA-256"
            print(f"{r.path}: already imported for board {r.board} ({why}); nothing added")
            continue
        kinds = ", ".join(f"{k} {v:,}" for k, v in r.rows_by_kind.items())
        print(f"{r.path}: {r.added:,} rows imported for {r.board} ({kinds})")
        if r.skipped_empty:
            detail = ", ".join(f"{k} {v:,}" for k, v in r.skipped_by_type.items())
            print(f"  skipped {r.skipped_empty:,} empty rows ({detail})")
    print(f"database: {db.path}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from atomnet.db import SCHEMA_VERSION, default_db_path

    db = open_db(args, missing_ok=True)
    if db is None:
        path = default_db_path(args.db)
        if args.json:
            print_json({"schema_version": SCHEMA_VERSION, "path": str(path), "exists": False, "boards": {}})
        else:
            print(f"{path}: no AtomDB yet. Import measurements with 'atomnet db import'.")
        return 0
    st = db.stats(args.board)
    if args.json:
        print_json(st)
        return 0
    if not st["boards"]:
        print(f"{db.path}: empty database. Import measurements with 'atomnet db import'.")
        return 0
    for b, info in st["boards"].items():
        print(f"board {b}: {info['rows']:,} rows ({info['skipped_empty']:,} empty rows skipped at import)")
        rows = [(k, v["rows"], v["keys"], v["repeated_keys"],
                 None if v["mean_spread"] is None else 100 * v["mean_spread"]) for k, v in info["kinds"].items()]
        print(table(["kind", "rows", "keys", "repeated keys", "mean (max-min)/median %"], rows))
        for s in info["sources"]:
            print(f"  source: {s['path']} ({s['format']}, {s['runtime']} {s['runtime_version']}, "
                  f"{s['clock_mhz']} MHz, sha256 {s['sha256'][:12]}…, {s['imported_at']})")
        print()
    return 0


def _query_op(args: argparse.Namespace) -> Any:
    from atomnet.ops import Op

    w_in = args.w_in or args.h_in
    k = args.kind
    need_cout = k in ("pointwise", "conv", "dense")
    if need_cout and not args.c_out:
        raise CliError(f"db query {k}: --c-out is required")
    if k == "pointwise":
        return Op.pointwise(args.c_in, args.h_in, w_in, args.c_out)
    if k == "depthwise":
        return Op.depthwise(args.c_in, args.h_in, w_in, args.kernel, args.stride)
    if k == "conv":
        return Op.conv(args.c_in, args.h_in, w_in, args.c_out, args.kernel, args.stride, args.padding)
    if k == "pad":
        if not args.h_out:
            raise CliError("db query pad: --h-out (the padded size) is required")
        return Op.pad(args.c_in, args.h_in, w_in, args.h_out, args.h_out)
    if k == "dense":
        return Op.dense(args.c_in, args.c_out)
    return getattr(Op, k)(args.c_in, args.h_in, w_in)


def cmd_query(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cost import load_latency_model
    from atomnet.db import query_op

    op = _query_op(args)
    board = get_board(args.board)
    db = open_db(args, missing_ok=True)  # no database yet: the embedded predictors answer
    q = query_op(db, board, op, aggregate=args.aggregate, predictor=lambda: load_latency_model(board, db))
    if args.json:
        print_json(q.to_dict())
        return 0
    print(op.describe(), f"on {board.name}: MACC {op.macc:,}, Flash {op.flash_bytes:,} B")
    stat = q.stat
    if stat is not None:
        print(f"  {args.aggregate} latency {q.latency_ms:.3f} ms ({q.source}: {stat.n} measurement"
              f"{'s' if stat.n != 1 else ''}, {stat.min_ms:.3f}–{stat.max_ms:.3f} ms, "
              f"spread (max-min)/median {100 * stat.spread:.1f} %)")
    else:
        print(f"  latency {q.latency_ms:.3f} ms ({q.source}, no measurement of this key; "
              f"predictor: {q.predictor})")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from atomnet.db import fit_board

    db = open_db(args, write=True)
    fit = fit_board(db, args.board, cv=args.cv, folds=args.folds, seed=args.seed)
    result: dict[str, Any] = {"board": args.board, "db": db.path}
    if args.cv:
        result.update(scheme=fit.scheme, folds=fit.folds, kinds=fit.cv)
    if args.out:
        Path(args.out).write_text(fit.predictors_json + "\n")
        result["out"] = args.out
    if args.json:
        print_json(result)
        return 0
    print(f"fitted predictors for {args.board} from {fit.keys:,} keys ({', '.join(fit.keys_by_kind)}); stored in "
          f"{db.path}" + (f" and {args.out}" if args.out else ""))
    if args.cv:
        print(f"\ncross-validation, {args.folds} folds holding out whole {args.cv} groups "
              "(absolute percentage error on held-out keys):")
        rows = [(k, v["keys"], v["mape"], v["median_ape"], v["max_ape"]) for k, v in fit.cv.items()]
        print(table(["kind", "keys", "MAPE %", "median APE %", "max APE %"], rows))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from atomnet.db import export_atomnet_csv

    db = open_db(args)
    paths = export_atomnet_csv(db, args.board, Path(args.out))
    for p, n in paths:
        print(f"wrote {n:,} rows to {p}")
    return 0


def cmd_import_models(args: argparse.Namespace) -> int:
    from atomnet.db import parse_model_file

    parsed = [parse_model_file(f) for f in args.files]  # all parsed before anything is written
    db = open_db(args, write=True, create=True)
    results = db.import_model_files(parsed)
    if args.json:
        print_json({"db": db.path, "imports": [r.to_dict() for r in results]})
        return 0
    for r in results:
        if r.already_imported:
            first = f", as {r.imported_as}" if r.imported_as != r.path else ""
            print(f"{r.path}: already imported (same SHA-256{first}); nothing added")
            continue
        fams = ", ".join(f"{k} {v:,}" for k, v in r.rows_by_family.items())
        print(f"{r.path}: {r.added:,} whole-model measurements imported ({fams})")
        for fam, reasons in r.skipped_by_reason.items():
            for why, n in reasons.items():
                print(f"  skipped {n:,} {fam} rows: {why}")
    print(f"database: {db.path}")
    return 0


def _kib(v: int | None) -> str:
    return "-" if v is None else f"{v / 1024:,.2f}"


def _flags(m: Any) -> str:
    out = ["oom"] if m.oom else []
    out += [f"~{a.removesuffix('_bytes')}" for a in m.approx]
    out += [f"{f.removesuffix('_bytes')}: not stored" for f in m.not_stored]
    if m.plan:
        out.append(m.plan)
    return ", ".join(out)


def cmd_list_models(args: argparse.Namespace) -> int:
    from atomnet.db import model_counts

    db = open_db(args, missing_ok=True)
    rows = [] if db is None else db.model_measurements(args.board, args.runtime, family=args.family)
    if args.json:
        print_json([m.to_dict() for m in rows])
        return 0
    if not rows:
        print("no whole-model measurements" + (" match" if db is not None else "") +
              ". Import some with 'atomnet db import-models FILE'.")
        return 0
    if args.counts:
        body_counts = [(f, b, r if len(r) <= 60 else r[:57] + "...", n) for (f, b, r), n in model_counts(rows).items()]
        print(table(["family", "board", "runtime", "rows"], body_counts))
        print(f"{len(rows):,} rows")
        return 0
    body = [(m.id, m.family, m.board or m.mcu or m.board_as_printed,
             m.runtime or (m.runtime_as_printed or "-")[:28], m.runtime_version, m.model[:40], m.latency_ms,
             _kib(m.activation_ram_bytes), _kib(m.total_ram_bytes), _kib(m.weights_flash_bytes),
             _kib(m.total_flash_bytes), _flags(m)) for m in rows]
    print(table(["id", "family", "board", "runtime", "version", "model", "latency ms", "act RAM KiB",
                 "total RAM KiB", "weights KiB", "total Flash KiB", "flags"], body, align="rlllllrrrrrl"))
    print(f"{len(rows):,} rows")
    return 0
