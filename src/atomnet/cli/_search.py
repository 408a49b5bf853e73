"""``atomnet search``: the best architecture of a space that fits a board's SRAM, Flash and latency."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from atomnet.cli._render import print_json, table

#: the CLI options of each strategy (library names), with their defaults when not given
_STRATEGY_FLAGS: dict[str, dict[str, int]] = {
    "exhaustive": {},
    "evolution": {"cycles": 20_000, "population": 100},
    "random": {"samples": 1_000_000},
}
_EXIT = "exit status: 0 found, 1 nothing fits the limits, 2 usage/input error"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="find the most-MACs architecture that meets SRAM, Flash and latency limits",
        description="Search a space under SRAM, Flash and latency limits (zero-cost: the feasible architecture "
                    "with the most MACs). Example: atomnet search --board stm32h743 --sram 256KB --flash 1MB "
                    "--latency 275ms --out best.json",
        epilog=_EXIT + ". Sizes need a unit (256KB, 1MB); a time without a unit is in ms.")
    p.add_argument("--board", default="stm32h743", help="board name or .toml/.json board file")
    p.add_argument("--runtime", choices=("xcube-ai", "tflm", "tinyengine"), help="default: the board's runtime")
    p.add_argument("--sram", help="peak SRAM limit with a unit, e.g. 256KB (default: the board's SRAM)")
    p.add_argument("--flash", help="Flash limit incl. runtime code, with a unit, e.g. 1MB (default: the board's "
                                   "Flash)")
    p.add_argument("--latency", help="latency limit, e.g. 275ms or 0.3s; a plain number is ms (default: none)")
    p.add_argument("--min-macs", metavar="MACS", help="lower MACs bound, e.g. 50e6 or 50M (default: 0)")
    p.add_argument("--max-macs", metavar="MACS", help="upper MACs bound, e.g. 300M (default: none)")
    p.add_argument("--space", default="hybrid", help="hybrid, sep, convnext, mbconv, or a .json/.yaml space file")
    p.add_argument("--num-classes", metavar="N",
                   help="classifier outputs; its Flash and latency count (default: the space's, 1000 for the "
                        "built-in spaces). The --out spec carries it, e.g. 10 for 'atomnet train --data "
                        "fashion-mnist'")
    p.add_argument("--strategy", choices=tuple(_STRATEGY_FLAGS), default="exhaustive",
                   help="exhaustive (exact, default), evolution or random")
    p.add_argument("--seed", help="evolution, random: seed of the random generator (default 0)")
    p.add_argument("--cycles", help="evolution: evaluations, the initial population included (default 20000)")
    p.add_argument("--population", help="evolution: population size (default 100)")
    p.add_argument("--samples", help="random: architectures sampled (default 1000000)")
    p.add_argument("--journal", metavar="FILE.jsonl",
                   help="evolution: append-only journal; re-run the same command to resume (a journal written "
                        "with other options or another database is refused)")
    p.add_argument("--out", metavar="SPEC.json", help="write the winner's spec (accepted by 'atomnet cost')")
    p.add_argument("--json", action="store_true",
                   help="object with spec, cost (the cost JSON), evaluated, feasible, seconds, …")
    p.add_argument("--pareto", action="store_true", help="also compute the exact MACs-vs-latency front")
    p.add_argument("--plot", metavar="FILE.png", help="with --pareto: plot the front with the zoo models on it")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_search)


_MACS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([kKmMgG]?)\s*$")
_MACS_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_macs(value: str, flag: str) -> float:
    """``"50e6"``, ``"50M"``, ``"1.5G"``, ``"200k"`` or ``"50000000"`` → MACs (finite, >= 0)."""
    m = _MACS_RE.match(value)
    if not m:
        raise ValueError(f"{flag}: expected a number of MACs >= 0 such as 50e6 or 50M, got {value!r}")
    v = float(m.group(1) + (f"e{m.group(2)}" if m.group(2) else "")) * _MACS_UNITS[m.group(3).lower()]
    if not math.isfinite(v):
        raise ValueError(f"{flag}: expected a finite number of MACs, got {value!r}")
    return v


def parse_count(value: str, flag: str, *, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` written ``20000``, ``20_000`` or ``2e4``."""
    text = value.strip().replace("_", "")
    v: float | int | None = None
    if re.fullmatch(r"[+-]?[0-9]+", text):
        v = int(text)
    elif re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+", text):
        f = float(text)
        v = int(f) if math.isfinite(f) and f.is_integer() else None
    if v is None or v < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{flag}: expected {what}, got {value!r}")
    return int(v)


def _limits(args: argparse.Namespace, board: Any) -> Any:
    from atomnet.search import Limits
    from atomnet.units import parse_bytes, parse_ms

    lat = parse_ms(args.latency, field="--latency") if args.latency is not None else float("inf")
    if not lat > 0:
        raise ValueError(f"--latency: expected a time > 0 such as 275ms, got {args.latency!r}")
    lo = parse_macs(args.min_macs, "--min-macs") if args.min_macs is not None else 0.0
    hi = parse_macs(args.max_macs, "--max-macs") if args.max_macs is not None else float("inf")
    if hi <= lo:
        raise ValueError(f"--max-macs {args.max_macs}: must be greater than --min-macs {args.min_macs or 0}")
    return Limits(latency_ms=lat,
                  flash_bytes=parse_bytes(args.flash, field="--flash") if args.flash is not None else board.flash_bytes,
                  peak_sram_bytes=parse_bytes(args.sram, field="--sram") if args.sram is not None
                  else board.sram_bytes,
                  min_macs=lo, max_macs=hi)


def _strategy_options(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Seed and options of the chosen strategy; an option the strategy does not take is an error."""
    from atomnet.search import strategy_info

    mine = _STRATEGY_FLAGS[args.strategy]
    for name in ("cycles", "population", "samples"):
        if getattr(args, name) is not None and name not in mine:
            takes = [s for s, f in _STRATEGY_FLAGS.items() if name in f]
            raise ValueError(f"--{name} applies to --strategy {' or '.join(takes)}, not {args.strategy}")
    info = strategy_info(args.strategy)
    if args.seed is not None and not info.seeded:
        raise ValueError(f"--seed does not apply to --strategy {args.strategy} (it is exact and uses no randomness)")
    if args.journal is not None and not info.journal:
        raise ValueError(f"--journal applies to --strategy evolution, not {args.strategy}")
    seed = parse_count(args.seed, "--seed", minimum=0) if args.seed is not None else 0
    given = {n: parse_count(getattr(args, n), f"--{n}") for n in mine if getattr(args, n) is not None}
    info.options({**mine, **given}, lambda n: "--" + n.replace("_", "-"))  # cross-checks (population <= cycles)
    return seed, {**mine, **given}


class _Bars:
    """tqdm progress bars on stderr, one per phase (silent when stderr is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bars: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            desc = {"tables": "cost tables", "search": "search"}.get(phase, phase)
            bar = self.bars[phase] = tqdm(total=total, desc=desc, unit="", leave=False, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for b in self.bars.values():
            b.close()


def cmd_search(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cli._cost import existing_db, render_cost
    from atomnet.cost import load_latency_model
    from atomnet.search import build_tables, get_space, run_search

    if args.plot and not args.pareto:
        raise ValueError("--plot draws the Pareto front: add --pareto")
    board = get_board(args.board)
    space = get_space(args.space)
    if args.num_classes is not None:
        n = parse_count(args.num_classes, "--num-classes")
        if n > 65_536:
            raise ValueError(f"--num-classes: expected an integer from 1 to 65536, got {args.num_classes!r}")
        space = dataclasses.replace(space, num_classes=n)
    limits = _limits(args, board)
    seed, options = _strategy_options(args)
    runtime = args.runtime or board.runtime
    db = existing_db(args)
    lm = load_latency_model(board, db)
    bars = _Bars(not args.no_progress)
    t0 = time.perf_counter()
    tables = build_tables(space, lm, runtime, progress=lambda d, t: bars("tables", d, t))
    table_seconds = time.perf_counter() - t0
    try:
        out = run_search(space, board, lm, limits, runtime=runtime, strategy=args.strategy, seed=seed,
                         journal=args.journal, progress=bars, tables=tables,
                         db_path=os.path.abspath(db.path) if db is not None else None, **options)
    finally:
        bars.close()
    out.table_seconds = table_seconds
    out.seconds += table_seconds
    front = None
    if args.pareto:
        front = _pareto(space, tables, limits, board, runtime, lm, out, args.plot)
    if args.out and out.spec is not None:
        Path(args.out).write_text(json.dumps(out.spec.to_dict(), indent=1) + "\n")
    if args.json:
        d = out.to_dict()
        if front is not None:
            d["pareto"] = front
        print_json(d)
        return 0 if out.found else _nothing_fits(out, args.out)
    print(f"space {space.name} ({space.num_classes} classes): {space.size():,} architectures; strategy "
          f"{args.strategy}; board {board.name} "
          f"({runtime}); limits: SRAM {_fmt_lim(limits.peak_sram_bytes, 'B')}, Flash "
          f"{_fmt_lim(limits.flash_bytes, 'B')}, latency {_fmt_lim(limits.latency_ms, 'ms')}")
    rate = out.evaluated / out.search_seconds if out.search_seconds > 0 else float("inf")
    confirmed = (f"; winner confirmed with the full cost model after {out.confirmed_after} candidate(s)"
                 if out.found else "")
    print(f"evaluated {out.evaluated:,} architectures in {out.search_seconds:.2f} s ({rate:,.0f}/s; cost tables "
          f"{out.table_seconds:.1f} s); {out.feasible:,} met the table limits{confirmed}")
    if not out.found:
        return _nothing_fits(out, args.out)
    assert out.stage_config is not None and out.cost is not None
    print()
    print(f"winner: input {out.stage_config['input_resolution']}x{out.stage_config['input_resolution']}")
    rows = [(i + 1, s["block"] + ("+SE" if s["se"] else ""), s["out_channels"], s["depth"], s["expand_ratio"],
             s["stride"], s["act"]) for i, s in enumerate(out.stage_config["stages"])]
    print(table(["stage", "block", "width", "depth", "expand", "stride", "act"], rows))
    print()
    print(render_cost(out.cost, layers=False))
    if args.out:
        print(f"\nspec written to {args.out} (check it with: atomnet cost {args.out} --board {board.name})")
    if front is not None:
        print(f"\nPareto front: {len(front)} points from {front[0]['latency_ms']:.1f} ms to "
              f"{front[-1]['latency_ms']:.1f} ms" + (f"; plot written to {args.plot}" if args.plot else ""))
    return 0


def _nothing_fits(out: Any, path: str | None) -> int:
    """Say why nothing was found (which limit binds) on stderr; exit status 1 (documented in --help)."""
    sys.stdout.flush()
    print(f"atomnet: nothing fits: {out.reason}" + (f" No spec written to {path}." if path else ""),
          file=sys.stderr)
    return 1


def _fmt_lim(v: float, unit: str) -> str:
    import math

    if math.isinf(v):
        return "none"
    if unit == "B":
        return f"{v / 1024:g} KB"
    return f"{v:g} ms"


def _pareto(space: Any, tables: Any, limits: Any, board: Any, runtime: str, lm: Any, out: Any,
            plot: str | None) -> list[dict[str, Any]]:
    from atomnet.cost import cost_model
    from atomnet.search import pareto_front
    from atomnet.zoo import get_zoo, list_zoo

    front = pareto_front(space, tables, limits)
    res = [{"latency_ms": p.latency_ms, "macs": p.macs, "stage_config": space.stage_config(p.res_index, p.choices)}
           for p in front]
    if plot:
        from atomnet.report import plot_pareto

        zoo = []
        for name in list_zoo():
            if "vww" in name:
                continue
            rep = cost_model(get_zoo(name), board, runtime=runtime, latency_model=lm)
            fits = rep.peak_sram_bytes <= limits.peak_sram_bytes and rep.flash_bytes <= limits.flash_bytes
            zoo.append((name, rep.latency_ms, float(rep.macs), fits))
        chosen = (out.cost.latency_ms, float(out.cost.macs)) if out.cost else None
        lat = limits.latency_ms if limits.latency_ms != float("inf") else None
        plot_pareto([(p.latency_ms, p.macs) for p in front], plot, zoo=zoo, chosen=chosen, budget_ms=lat,
                    title=f"{space.name} space on {board.name} ({runtime}): max MACs per latency under SRAM "
                          f"{limits.peak_sram_bytes / 1024:g} KB, Flash {limits.flash_bytes / 1024:g} KB "
                          "(o fits, x does not)")
    return res
