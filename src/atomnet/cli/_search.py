"""``atomnet search``: the best architecture of a space that fits a board's SRAM, Flash and latency."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="find the most-MACs architecture that meets SRAM, Flash and latency limits",
        description="Search a space under SRAM, Flash and latency limits (zero-cost: the feasible architecture "
                    "with the most MACs). Example: atomnet search --board stm32h743 --sram 256KB --flash 1MB "
                    "--latency 275ms --out best.json")
    p.add_argument("--board", default="stm32h743", help="board name or .toml/.json board file")
    p.add_argument("--runtime", choices=("xcube-ai", "tflm", "tinyengine"), help="default: the board's runtime")
    p.add_argument("--sram", help="peak SRAM limit, e.g. 256KB (default: the board's SRAM)")
    p.add_argument("--flash", help="Flash limit incl. runtime code, e.g. 1MB (default: the board's Flash)")
    p.add_argument("--latency", help="latency limit, e.g. 275ms (default: none)")
    p.add_argument("--min-macs", type=float, default=0.0, help="lower MACs bound (e.g. 50e6)")
    p.add_argument("--max-macs", type=float, default=float("inf"), help="upper MACs bound")
    p.add_argument("--space", default="hybrid", help="hybrid, sep, convnext, mbconv, or a .json/.yaml space file")
    p.add_argument("--strategy", choices=("exhaustive", "evolution", "random"), default="exhaustive")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cycles", type=int, default=20_000, help="evolution: evaluations")
    p.add_argument("--population", type=int, default=100, help="evolution: population size")
    p.add_argument("--samples", type=int, default=1_000_000, help="random: architectures sampled")
    p.add_argument("--journal", metavar="FILE.jsonl", help="evolution: append-only journal; re-run to resume")
    p.add_argument("--out", metavar="SPEC.json", help="write the winner's spec (accepted by 'atomnet cost')")
    p.add_argument("--json", action="store_true",
                   help="object with spec, cost (the cost JSON), evaluated, feasible, seconds, …")
    p.add_argument("--pareto", action="store_true", help="also compute the exact MACs-vs-latency front")
    p.add_argument("--plot", metavar="FILE.png", help="with --pareto: plot the front with the zoo models on it")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_search)


def _limits(args: argparse.Namespace, board: Any) -> Any:
    from atomnet.search import Limits
    from atomnet.units import parse_bytes, parse_ms

    return Limits(latency_ms=parse_ms(args.latency, field="--latency") if args.latency else float("inf"),
                  flash_bytes=parse_bytes(args.flash, field="--flash") if args.flash else board.flash_bytes,
                  peak_sram_bytes=parse_bytes(args.sram, field="--sram") if args.sram else board.sram_bytes,
                  min_macs=args.min_macs, max_macs=args.max_macs)


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
    from atomnet.search import Journal, build_tables, get_space, run_search

    board = get_board(args.board)
    space = get_space(args.space)
    limits = _limits(args, board)
    runtime = args.runtime or board.runtime
    lm = load_latency_model(board, existing_db(args))
    journal = None
    if args.journal:
        if args.strategy != "evolution":
            raise ValueError("--journal applies to --strategy evolution")
        journal = Journal(args.journal, {"strategy": "evolution", "seed": args.seed, "space": space.name,
                                         "board": board.name, "runtime": runtime, "cycles": args.cycles,
                                         "population": args.population, "limits": [str(v) for v in
                                                                                    limits.as_array()]})
    bars = _Bars(not args.no_progress)
    t0 = time.perf_counter()
    tables = build_tables(space, lm, runtime, progress=lambda d, t: bars("tables", d, t))
    table_seconds = time.perf_counter() - t0
    options: dict[str, Any] = {}
    if args.strategy == "evolution":
        options = {"cycles": args.cycles, "population": args.population}
    elif args.strategy == "random":
        options = {"samples": args.samples}
    out = run_search(space, board, lm, limits, runtime=runtime, strategy=args.strategy, seed=args.seed,
                     journal=journal, progress=bars, tables=tables, **options)
    bars.close()
    out.table_seconds = table_seconds
    out.seconds += table_seconds
    if journal is not None:
        journal.close()
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
        return 0 if out.found else 1
    print(f"space {space.name}: {space.size():,} architectures; strategy {args.strategy}; board {board.name} "
          f"({runtime}); limits: SRAM {_fmt_lim(limits.peak_sram_bytes, 'B')}, Flash "
          f"{_fmt_lim(limits.flash_bytes, 'B')}, latency {_fmt_lim(limits.latency_ms, 'ms')}")
    rate = out.evaluated / out.search_seconds if out.search_seconds > 0 else float("inf")
    print(f"evaluated {out.evaluated:,} architectures in {out.search_seconds:.2f} s ({rate:,.0f}/s; cost tables "
          f"{out.table_seconds:.1f} s); {out.feasible:,} met the table limits; winner confirmed with the full cost "
          f"model after {out.confirmed_after} candidate(s)")
    if not out.found:
        m = out.minima or {}
        print("no architecture of the space meets the limits. The smallest any architecture reaches: "
              f"latency {m.get('latency_ms', 0):.1f} ms, Flash {m.get('flash_bytes', 0) / 1024:.0f} KB, "
              f"peak SRAM {m.get('peak_sram_bytes', 0) / 1024:.0f} KB (each on its own).", file=sys.stderr)
        return 1
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
