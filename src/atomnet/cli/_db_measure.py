"""``atomnet db sweep | models | measure | additivity``: build an AtomDB for any board (issue 6)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._common import open_db, stored_board
from atomnet.cli._render import print_json, table


def add_subparsers(dsub: Any) -> None:
    s = dsub.add_parser("sweep", help="list the distinct operators a search space needs (ops file)",
                        description="Distinct atom operators of the runtime's lowering used by LIMIT seeded random "
                                    "architectures of SPACE, with counts, most-needed first. Example: atomnet db "
                                    "sweep --space hybrid --limit 200 --board host --missing-only --out ops.jsonl")
    s.add_argument("--space", default="hybrid", help="search space name or file")
    s.add_argument("--limit", type=int, default=1000, help="architectures to sample (0: enumerate all)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--resolutions", type=int, nargs="+", metavar="R", help="only these input resolutions")
    s.add_argument("--runtime", default="tflm", help="lowering whose operators are listed")
    s.add_argument("--board", help="mark (with --missing-only: drop) operators this board already has")
    s.add_argument("--missing-only", action="store_true")
    s.add_argument("--out", required=True, metavar="OPS.jsonl")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sweep)

    s = dsub.add_parser("models", help="write single-op int8 .tflite models of an ops file, with a manifest")
    s.add_argument("ops", metavar="OPS.jsonl")
    s.add_argument("--out", required=True, metavar="FOLDER")
    s.add_argument("--limit", type=int, help="first N operators only")
    s.add_argument("--builder", default="direct", choices=("direct", "export"))
    s.set_defaults(func=cmd_models)

    s = dsub.add_parser("measure", help="measure an ops file on a board; resumable, one commit per repeat",
                        description="Build each operator as a single-op int8 model, run it with RUNNER and store "
                                    "every repeat at once; re-running after an interruption continues. Example: "
                                    "atomnet db measure ops.jsonl --runner tflm-host --board host --limit 300")
    s.add_argument("ops", metavar="OPS.jsonl")
    s.add_argument("--runner", default="tflm-host", help="tflm-host, serial, import or qemu")
    s.add_argument("--board", required=True,
                   help="board measured: built in (atomnet boards) or a .toml/.json board file")
    s.add_argument("--limit", type=int, help="first N operators only")
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--warmup", type=int, default=3)
    s.add_argument("--min-repeat-ms", type=float, default=2.0, help="tflm-host: back-to-back invokes per repeat")
    s.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="tflm-host: thread CPU time (default; robust on a shared machine) or wall time")
    s.add_argument("--port", help="serial: device path, e.g. /dev/ttyACM0")
    s.add_argument("--baud", type=int, default=115200)
    s.add_argument("--timeout", type=float, default=1.0, help="serial: seconds per try")
    s.add_argument("--retries", type=int, default=5)
    s.add_argument("--runtime", help="runtime on the board (serial/import; default: the board's)")
    s.add_argument("--runtime-version", default="unknown")
    s.add_argument("--from", dest="from_file", metavar="FILE", help="import: AtomNet CSV or JSON lines results")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (shown only on a terminal)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_measure)

    s = dsub.add_parser("additivity", help="whole model vs the sum of its operators, measured with one runner")
    s.add_argument("model", help="zoo name or spec file")
    s.add_argument("--runner", default="tflm-host")
    s.add_argument("--board", default="host")
    s.add_argument("--repeats", type=int, default=15, help="interleaved rounds")
    s.add_argument("--cache", metavar="FOLDER", help="keep/reuse the whole-model export here")
    s.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="tflm-host: thread CPU time (default; robust on a shared machine) or wall time")
    s.add_argument("--tflite", metavar="FILE", help="use this export of the model instead of exporting")
    s.add_argument("--port")
    s.add_argument("--baud", type=int, default=115200)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_additivity)


#: numeric options of the db subcommands: attribute → (flag, smallest allowed value, whether it may equal it)
_NUMBER_OPTIONS = {
    "limit": ("--limit", 0, True), "repeats": ("--repeats", 1, True), "warmup": ("--warmup", 0, True),
    "min_repeat_ms": ("--min-repeat-ms", 0, True), "baud": ("--baud", 1, True), "timeout": ("--timeout", 0, False),
    "retries": ("--retries", 0, True),
}


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse negative, zero-where-meaningless, NaN and infinite option values by name (argparse only checks
    the type)."""
    import math

    for attr, (flag, low, inclusive) in _NUMBER_OPTIONS.items():
        v = getattr(args, attr, None)
        if v is None:
            continue
        ok = math.isfinite(v) and (v >= low if inclusive else v > low)
        if not ok:
            rel = ">=" if inclusive else ">"
            raise CliError(f"{flag}: expected a finite number {rel} {low}, got {v!r}")


def _runner(args: argparse.Namespace) -> Any:
    from atomnet.boards import get_board
    from atomnet.measure import get_runner

    name = args.runner
    if name == "tflm-host":
        return get_runner(name, min_repeat_ms=getattr(args, "min_repeat_ms", 2.0), clock=args.clock)
    runtime = getattr(args, "runtime", None) or get_board(args.board).runtime
    if name == "serial":
        return get_runner(name, port=args.port, baud=args.baud, timeout_s=getattr(args, "timeout", 1.0),
                          retries=getattr(args, "retries", 5), runtime=runtime,
                          runtime_version=getattr(args, "runtime_version", "unknown"))
    if name == "import":
        return get_runner(name, path=getattr(args, "from_file", None), runtime=runtime,
                          runtime_version=getattr(args, "runtime_version", "unknown"))
    if name == "qemu":
        return get_runner(name, target="cortex-m4" if get_board(args.board).core.startswith("cortex-m4")
                          else "cortex-m7")
    return get_runner(name)


def cmd_sweep(args: argparse.Namespace) -> int:
    _check_numbers(args)
    from atomnet.measure import sweep, write_sweep
    from atomnet.search import get_space

    db, board = None, None
    if args.board:
        board = stored_board(args.board)
        db = open_db(args, missing_ok=True)  # read-only; no database yet: nothing is measured
    if args.missing_only and not args.board:
        raise CliError("db sweep: --missing-only needs --board (the board whose database is checked)")
    entries = sweep(get_space(args.space), limit=args.limit or None, seed=args.seed, resolutions=args.resolutions,
                    runtime=args.runtime, db=db, board=board, missing_only=args.missing_only)
    n = write_sweep(entries, args.out)
    by_kind: dict[str, int] = {}
    for e in entries:
        by_kind[e.op.kind] = by_kind.get(e.op.kind, 0) + 1
    if args.json:
        print_json({"out": args.out, "ops": n, "by_kind": by_kind, "in_db": sum(e.in_db for e in entries)})
        return 0
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items()))
    print(f"{n} distinct operators ({kinds}) → {args.out}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    _check_numbers(args)
    from atomnet.measure import read_sweep, write_models

    entries = read_sweep(args.ops)[: args.limit]
    man = write_models(((e.op, e.variant) for e in entries), args.out, builder=args.builder)
    print(f"{len(entries)} single-op models in {args.out} (manifest {man.name})")
    return 0


def cmd_measure(args: argparse.Namespace) -> int:
    _check_numbers(args)
    from atomnet.measure import read_sweep, run_campaign

    entries = read_sweep(args.ops)
    board = stored_board(args.board)
    runner = _runner(args)
    db = open_db(args, write=True, create=True)
    info = getattr(getattr(runner, "client", None), "info", None)
    if info is not None:  # the serial link works: say what answered
        print(f"board firmware {info.name!r}: protocol {info.proto_version}, clock {info.clock_hz / 1e6:g} MHz, "
              f"arena capacity {info.arena_capacity:,} bytes", file=sys.stderr)
    res = run_campaign(entries, runner, db, board, repeats=args.repeats, warmup=args.warmup,
                       label=str(Path(args.ops).resolve()), progress=not args.no_progress and sys.stderr.isatty(),
                       limit=args.limit)
    if args.json:
        print_json(res.to_dict())
        return 0 if not res.failed else 1
    print(f"{res.ops_measured} operators measured ({res.rows_added} rows, {res.outliers} outliers flagged), "
          f"{res.ops_skipped} already complete, in {res.seconds:.1f} s ({res.ops_per_s:.2f} ops/s); "
          f"board {res.board}, database {db.path}")
    for f in res.failed[:10]:
        print(f"  failed: {f['op']}: {f['error']}")
    return 0 if not res.failed else 1


def cmd_additivity(args: argparse.Namespace) -> int:
    _check_numbers(args)
    from atomnet.measure import additivity
    from atomnet.spec import load_spec
    from atomnet.zoo import ZOO

    spec = load_spec(args.model, catalog=ZOO)
    model = Path(args.tflite).read_bytes() if args.tflite else None
    rep = additivity(spec, _runner(args), repeats=args.repeats, cache=args.cache, model=model)
    if args.json:
        print_json(rep.to_dict())
        return 0
    rows = [[x["name"], x["tflite_op"], x["op"], f"{x['latency_ms']:.4f}", f"{100 * x['share']:.1f}"]
            for x in rep.layers]
    print(table(["layer", "tflite op", "operator", "alone ms", "share %"], rows))
    print(f"{rep.model} on {args.board} ({rep.runner}): whole model {rep.whole_ms:.3f} ms, sum of "
          f"{len(rep.layers)} operators {rep.sum_ms:.3f} ms, deviation {100 * rep.deviation:+.2f} % "
          f"(minima: {rep.whole_min_ms:.3f} vs {rep.sum_min_ms:.3f} ms, {100 * rep.deviation_min:+.2f} %)")
    return 0
