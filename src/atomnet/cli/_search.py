"""``atomnet search``: the best architecture of a space that fits a board's SRAM, Flash and latency.

The command parses its options, calls :func:`atomnet.search.run_search` once, and renders the outcome (text,
JSON, the winner's spec file, the Pareto plot). The strategies and their flags come from the registry."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from atomnet.cli import CliError
from atomnet.cli._render import print_json, render_cost, table
from atomnet.runtimes import runtime_argument, runtime_metavar

_EXIT = "exit status: 0 found, 1 nothing fits the limits, 2 usage/input error"


def _strategies() -> dict[str, Any]:
    from atomnet.search import get_strategy, list_strategies

    return {n: get_strategy(n) for n in list_strategies()}


def _cli_options() -> dict[str, list[tuple[str, Any]]]:
    """Option name → the (strategy, Option) pairs that give it a flag."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for name, cls in _strategies().items():
        for opt_name, opt in cls.options_spec.items():
            if opt.cli:
                out.setdefault(opt_name, []).append((name, opt))
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="find the most-MACs architecture that meets SRAM, Flash and latency limits",
        description="Search a space under SRAM, Flash and latency limits (zero-cost: the feasible architecture "
                    "with the most MACs). Example: atomnet search --board stm32h743 --sram 256KB --flash 1MB "
                    "--latency 275ms --out best.json",
        epilog=_EXIT + ". Sizes need a unit (256KB, 1MB); a time without a unit is in ms.")
    p.add_argument("--board", default="stm32h743", help="board name or .toml/.json board file")
    p.add_argument("--runtime", type=runtime_argument, metavar=runtime_metavar(), help="default: the board's runtime")
    p.add_argument("--sram", help="peak SRAM limit with a unit, e.g. 256KB (default: the board's SRAM)")
    p.add_argument("--flash", help="Flash limit incl. runtime code, with a unit, e.g. 1MB (default: the board's "
                                   "Flash)")
    p.add_argument("--latency", help="latency limit, e.g. 275ms or 0.3s; a plain number is ms (default: none)")
    p.add_argument("--min-macs", metavar="MACS", help="lower MACs bound, e.g. 50e6 or 50M (default: 0)")
    p.add_argument("--max-macs", metavar="MACS", help="upper MACs bound, e.g. 300M (default: none)")
    p.add_argument("--space", default="hybrid",
                   help="hybrid, sep, convnext, mbconv, mcunet (per-block: --strategy exact), or a .json/.yaml space "
                        "file (a per-block one has \"kind\": \"blocks\", docs/search-exact.md)")
    p.add_argument("--subspace", metavar="wW-rR",
                   help="search one (width multiplier, resolution) sub-space, e.g. w0.5-r160 (the labels "
                        "'atomnet search-space' ranks; a macro space has only w1)")
    p.add_argument("--num-classes", metavar="N",
                   help="classifier outputs; its Flash and latency count (default: the space's, 1000 for the "
                        "built-in spaces). The --out spec carries it, e.g. 10 for 'atomnet train --data "
                        "fashion-mnist'")
    strategies = _strategies()
    p.add_argument("--strategy", choices=tuple(strategies), default="exhaustive",
                   help=f"{', '.join(strategies)} (default exhaustive: exact)")
    seeded = [n for n, c in strategies.items() if c.seeded]
    p.add_argument("--seed", help=f"{', '.join(seeded)}: seed of the random generator (default 0)")
    for name, owners in _cli_options().items():
        p.add_argument(_flag(name), dest=name,
                       help="; ".join(f"{s}: {o.help} (default {o.default})" for s, o in owners))
    resumable = " or ".join(n for n, c in strategies.items() if c.resumable)
    p.add_argument("--journal", metavar="FILE.jsonl",
                   help=f"{resumable}: append-only journal; re-run the same command to resume (a journal written "
                        "with other options or another database is refused)")
    p.add_argument("--out", metavar="SPEC.json", help="write the winner's spec (accepted by 'atomnet cost')")
    p.add_argument("--json", action="store_true",
                   help="object with spec, cost (the cost JSON), evaluated, feasible, seconds, …")
    p.add_argument("--pareto", action="store_true", help="also compute the exact MACs-vs-latency front")
    p.add_argument("--plot", metavar="FILE.png", help="with --pareto: plot the front with the zoo models on it")
    p.add_argument("--patch", choices=("auto",),
                   help="auto: search architecture × execution plan (MCUNetV2 patches, input streamed): a candidate "
                        "over the SRAM limit layer-based may win under the patch plan (grid 2-8 over the first N "
                        "blocks) with the lowest latency that meets the limits; the result names the plan "
                        "(re-cost it with 'atomnet cost SPEC --patch PxP@N'; tinyengine, xcube-ai)")
    p.add_argument("--max-confirm", metavar="N",
                   help="with --patch: candidates confirmed with the full cost model at most (default 2000); when "
                        "the cap stops the walk no optimum is claimed")
    p.add_argument("--memory", choices=("internal", "external"), default="internal",
                   help="external: also accept models that run with the board's SDRAM/QSPI (TinyOps plan, "
                        "docs/external.md); --sram then limits the internal scratch")
    p.add_argument("--max-ext-ram", metavar="SIZE", help="with --memory external: external RAM limit, e.g. 8MB "
                                                         "(default: the board's SDRAM)")
    p.add_argument("--max-ext-flash", metavar="SIZE", help="with --memory external: external Flash limit, e.g. "
                                                           "16MB (default: the board's QSPI)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_search)


_MACS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([kKmMgG]?)\s*$")
_MACS_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_macs(value: str, flag: str) -> float:
    """``"50e6"``, ``"50M"``, ``"1.5G"``, ``"200k"`` or ``"50000000"`` → MACs (finite, >= 0)."""
    m = _MACS_RE.match(value)
    if not m:
        raise CliError(f"{flag}: expected a number of MACs >= 0 such as 50e6 or 50M, got {value!r}")
    v = float(m.group(1) + (f"e{m.group(2)}" if m.group(2) else "")) * _MACS_UNITS[m.group(3).lower()]
    if not math.isfinite(v):
        raise CliError(f"{flag}: expected a finite number of MACs, got {value!r}")
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
        raise CliError(f"{flag}: expected {what}, got {value!r}")
    return int(v)


def _parse_number(value: str, flag: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CliError(f"{flag}: expected a number, got {value!r}") from None


def _limits(args: argparse.Namespace, board: Any) -> Any:
    from atomnet.search import Limits
    from atomnet.units import parse_bytes, parse_ms

    lat = parse_ms(args.latency, field="--latency") if args.latency is not None else float("inf")
    if not lat > 0:
        raise CliError(f"--latency: expected a time > 0 such as 275ms, got {args.latency!r}")
    lo = parse_macs(args.min_macs, "--min-macs") if args.min_macs is not None else 0.0
    hi = parse_macs(args.max_macs, "--max-macs") if args.max_macs is not None else float("inf")
    if hi <= lo:
        raise CliError(f"--max-macs {args.max_macs}: must be greater than --min-macs {args.min_macs or 0}")
    return Limits(latency_ms=lat,
                  flash_bytes=parse_bytes(args.flash, field="--flash") if args.flash is not None else board.flash_bytes,
                  peak_sram_bytes=parse_bytes(args.sram, field="--sram") if args.sram is not None
                  else board.sram_bytes,
                  min_macs=lo, max_macs=hi)


def _strategy_options(args: argparse.Namespace) -> tuple[int | None, dict[str, Any]]:
    """Seed and options of the chosen strategy, checked with their flags' names; a flag the strategy does not
    take is an error."""

    cls = _strategies()[args.strategy]
    given: dict[str, Any] = {}
    for name, owners in _cli_options().items():
        text = getattr(args, name)
        if text is None:
            continue
        if name not in cls.options_spec or not cls.options_spec[name].cli:
            raise CliError(f"{_flag(name)} applies to --strategy {' or '.join(s for s, _ in owners)}, "
                           f"not {args.strategy}")
        opt = cls.options_spec[name]
        given[name] = parse_count(text, _flag(name)) if opt.kind == "count" else _parse_number(text, _flag(name))
    if args.seed is not None and not cls.seeded:
        raise CliError(f"--seed does not apply to --strategy {args.strategy} (it is exact and uses no randomness)")
    if args.journal is not None and not cls.resumable:
        resumable = " or ".join(n for n, c in _strategies().items() if c.resumable)
        raise CliError(f"--journal applies to --strategy {resumable}, not {args.strategy}")
    seed = parse_count(args.seed, "--seed", minimum=0) if args.seed is not None else None
    cls.check_options(given, _flag)  # cross-checks in the flags' words (--population <= --cycles)
    return seed, given


def _space(args: argparse.Namespace) -> Any:
    import dataclasses

    from atomnet.search import get_any_space, restrict_to_subspace

    space = get_any_space(args.space)
    if getattr(args, "subspace", None):
        space = restrict_to_subspace(space, args.subspace)
    if args.num_classes is not None:
        n = parse_count(args.num_classes, "--num-classes")
        if n > 65_536:
            raise CliError(f"--num-classes: expected an integer from 1 to 65536, got {args.num_classes!r}")
        space = dataclasses.replace(space, num_classes=n)
    return space


def cmd_search(args: argparse.Namespace) -> int:
    from atomnet.boards import get_board
    from atomnet.cli._common import existing_db
    from atomnet.cli._progress import Bars
    from atomnet.cost import load_latency_model
    from atomnet.search import run_search

    if args.plot and not args.pareto:
        raise CliError("--plot draws the Pareto front: add --pareto")
    from atomnet.search import BlockSpace

    board = get_board(args.board)
    space = _space(args)
    limits = _limits(args, board)
    if isinstance(space, BlockSpace):
        return _search_blocks(args, space, board, limits)
    seed, options = _strategy_options(args)
    if args.max_confirm is not None and args.patch is None:
        raise CliError("--max-confirm applies with --patch auto")
    max_confirm = parse_count(args.max_confirm, "--max-confirm") if args.max_confirm is not None else 2000
    db = existing_db(args)
    if getattr(args, "memory", "internal") == "external" or args.max_ext_ram or args.max_ext_flash:
        return _search_external(args, space, board, limits, seed, options, db)
    bars = Bars(not args.no_progress)
    try:
        out = run_search(space, board, load_latency_model(board, db), limits, runtime=args.runtime,
                         strategy=args.strategy, seed=seed, journal=args.journal, progress=bars,
                         db_path=os.path.abspath(db.path) if db is not None else None, pareto=args.pareto,
                         patch=args.patch, max_confirm=max_confirm, **options)
    finally:
        bars.close()
    if args.out and out.spec is not None:
        Path(args.out).write_text(json.dumps(out.spec.to_dict(), indent=1) + "\n")
    if args.plot and out.pareto is not None:
        _plot(out, args.plot)
    if args.json:
        print_json(out.to_dict())
    else:
        _print(out, space, args)
    return 0 if out.found else _nothing_fits(out, args.out)


def _search_blocks(args: argparse.Namespace, space: Any, board: Any, limits: Any) -> int:
    """A per-block space (``mcunet`` or a ``"kind": "blocks"`` file): the exact programme or the per-block
    evolution searches it."""
    from atomnet.cli._common import existing_db
    from atomnet.cost import load_latency_model
    from atomnet.search import run_block_evolution, run_block_search

    if args.strategy not in ("exact", "evolution"):
        what = "too many to enumerate" if args.strategy == "exhaustive" else "not searched by that strategy yet"
        raise CliError(f"space {space.name} has {space.size():,} architectures ({what}): use --strategy exact "
                       "(the exact optimum without enumeration) or --strategy evolution")
    for flag, given in (("--pareto", args.pareto), ("--patch", args.patch), ("--journal", args.journal),
                        ("--max-confirm", args.max_confirm),
                        ("--memory external", getattr(args, "memory", "internal") == "external"
                         or args.max_ext_ram or args.max_ext_flash)):
        if given:
            raise CliError(f"{flag} does not apply to the per-block space {space.name} (--strategy "
                           f"{args.strategy}) yet")
    seed, given = _strategy_options(args)  # flags the strategy does not take (--seed for exact) are errors
    db = existing_db(args)
    lm = load_latency_model(board, db)
    if args.strategy == "evolution":
        try:
            out = run_block_evolution(space, board, lm, limits, runtime=args.runtime, seed=seed or 0,
                                      evaluations=int(given.get("cycles", 20_000)),
                                      population=int(given["population"]) if "population" in given else None)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    else:
        out = run_block_search(space, board, lm, limits, runtime=args.runtime)
    if args.out and out.spec is not None:
        Path(args.out).write_text(json.dumps(out.spec.to_dict(), indent=1) + "\n")
    if args.json:
        print_json(out.to_dict())
    else:
        _print_blocks(out, space, args)
    return 0 if out.found else _nothing_fits(out, args.out)


def _print_blocks(out: Any, space: Any, args: argparse.Namespace) -> None:
    lim = out.limits
    print(f"space {space.name} ({space.num_classes} classes, per-block): {space.size():,} architectures in "
          f"{len(space.width_multipliers) * len(space.resolutions)} sub-space(s); strategy {out.strategy}"
          + (f" (seed {out.seed})" if out.seed is not None else "") + f"; board {out.board} "
          f"({out.runtime}); limits: SRAM {_fmt_lim(lim.peak_sram_bytes, 'B')}, Flash "
          f"{_fmt_lim(lim.flash_bytes, 'B')}, latency {_fmt_lim(lim.latency_ms, 'ms')}")
    if out.strategy == "evolution":
        print(f"evolved {out.evaluated:,} distinct architectures ({out.feasible:,} within the limits) in "
              f"{out.search_seconds:.1f} s, block tables included; {out.confirmed_after} full cost-model "
              "confirmation(s)" + ("" if out.found else "; none met the limits"))
    else:
        print(f"decided all {out.evaluated:,} architectures exactly in {out.search_seconds:.2f} s (block tables "
              f"{out.table_seconds:.1f} s)" + (f"; winner confirmed with the full cost model after "
                                               f"{out.confirmed_after} candidate(s)" if out.found else ""))
    if not out.found:
        return
    spec = out.spec
    print()
    print(f"winner {spec.name}: input {spec.resolution[0]}x{spec.resolution[1]}")
    rows = [(b.stage, b.index, b.block.type + ("+SE" if b.block.se else ""), b.block.out_channels, b.block.stride,
             b.block.kernel, f"{b.block.expand_ratio:g}") for b in spec.iter_blocks()]
    print(table(["stage", "block", "type", "width", "stride", "kernel", "expand"], rows))
    print()
    print(render_cost(out.cost, layers=False))
    if args.out:
        print(f"\nspec written to {args.out} (check it with: atomnet cost {args.out} --board {out.board})")


def _search_external(args: argparse.Namespace, space: Any, board: Any, limits: Any, seed: Any, options: Any,
                     db: Any) -> int:
    """``search --memory external`` (atomnet.search.run_external_search): the ordinary print, then the plan."""
    from atomnet.cost import load_latency_model
    from atomnet.search import run_external_search
    from atomnet.units import parse_bytes

    if args.memory != "external":
        raise CliError("--max-ext-ram/--max-ext-flash apply with --memory external")
    if args.patch is not None or args.pareto or args.journal:
        raise CliError("--memory external does not combine with --patch, --pareto or --journal yet")
    ram = parse_bytes(args.max_ext_ram, field="--max-ext-ram") if args.max_ext_ram else None
    fl = parse_bytes(args.max_ext_flash, field="--max-ext-flash") if args.max_ext_flash else None
    eo = run_external_search(space, board, load_latency_model(board, db), limits, max_ext_ram_bytes=ram,
                             max_ext_flash_bytes=fl, runtime=args.runtime, strategy=args.strategy, seed=seed,
                             **options)
    out = eo.outcome
    if args.out and out.spec is not None:
        Path(args.out).write_text(json.dumps(out.spec.to_dict(), indent=1) + "\n")
    plan = eo.external.plan if eo.external is not None else None
    if args.json:
        print_json({**out.to_dict(), "memory": "external", "max_ext_ram_bytes": eo.max_ext_ram_bytes,
                    "max_ext_flash_bytes": eo.max_ext_flash_bytes,
                    "external": plan.to_dict() if plan is not None else None})
    else:
        _print(out, space, args)
        if out.found:
            print("execution plan: internal (fits without external memory)" if plan is None else
                  f"execution plan: external — activations in {plan.activations_in}, weights in {plan.weights_in}; "
                  f"latency {plan.latency_ms:.1f} ms (transfers not hidden {plan.exposed_ms:.1f} ms); external RAM "
                  f"{plan.ext_ram_bytes:,} B, external Flash {plan.ext_flash_bytes:,} B (limits "
                  f"{eo.max_ext_ram_bytes:,.0f} / {eo.max_ext_flash_bytes:,.0f} B)")
    return 0 if out.found else _nothing_fits(out, args.out)


def _print(out: Any, space: Any, args: argparse.Namespace) -> None:
    lim = out.limits
    print(f"space {space.name} ({space.num_classes} classes): {space.size():,} architectures; strategy "
          f"{out.strategy}; board {out.board} ({out.runtime}); limits: SRAM {_fmt_lim(lim.peak_sram_bytes, 'B')}, "
          f"Flash {_fmt_lim(lim.flash_bytes, 'B')}, latency {_fmt_lim(lim.latency_ms, 'ms')}")
    rate = out.evaluated / out.search_seconds if out.search_seconds > 0 else float("inf")
    confirmed = (f"; winner confirmed with the full cost model after {out.confirmed_after} candidate(s)"
                 if out.found else "")
    print(f"evaluated {out.evaluated:,} architectures in {out.search_seconds:.2f} s ({rate:,.0f}/s; cost tables "
          f"{out.table_seconds:.1f} s); {out.feasible:,} "
          + ("best candidates kept (the exact programme enumerates none)" if out.strategy == "exact"
             else "met the table limits") + confirmed)
    if not out.found:
        return
    cfg = out.stage_config
    print()
    print(f"winner: input {cfg['input_resolution']}x{cfg['input_resolution']}")
    rows = [(i + 1, s["block"] + ("+SE" if s["se"] else ""), s["out_channels"], s["depth"], s["expand_ratio"],
             s["stride"], s["act"]) for i, s in enumerate(cfg["stages"])]
    print(table(["stage", "block", "width", "depth", "expand", "stride", "act"], rows))
    print()
    if out.patch is not None:  # the fits line below is the layer-based one: say that the patch plan is what fits
        print(f"layer-based figures (without patches; it fits under the patch plan {out.plan} below):")
    print(render_cost(out.cost, layers=False))
    if out.patch_option is not None:
        _print_plan(out)
    if args.out:
        again = f" --patch {out.plan}" if out.patch is not None else ""
        print(f"\nspec written to {args.out} (check it with: atomnet cost {args.out} --board {out.board}{again})")
    if out.pareto is not None:
        front = out.pareto.front
        print(f"\nPareto front: {len(front)} points from {front[0].latency_ms:.1f} ms to "
              f"{front[-1].latency_ms:.1f} ms" + (f"; plot written to {args.plot}" if args.plot else ""))


def _print_plan(out: Any) -> None:
    """With --patch: which execution plan won, and its patched figures when a patch plan did."""
    pc = out.patch
    print()
    if pc is None:
        print(f"execution plan: layer-based (fits without patches; --patch {out.patch_option} checked)")
    else:
        print(f"execution plan: patch {pc.plan} (split after {pc.split_layer}, input streamed): peak SRAM "
              f"{pc.peak_sram_patch_bytes / 1024:.1f} KB (layer-based {pc.peak_sram_layer_bytes / 1024:.1f} KB), "
              f"latency {pc.latency_ms_patch:.2f} ms (layer-based {pc.latency_ms_layer:.2f} ms), MACs "
              f"{pc.macs_patch / 1e6:.2f} M executed ({pc.extra_macs / 1e6:+.2f} M recomputed)")
    print("optimum of architecture × plan over the candidates walked" if not out.capped else
          "the --max-confirm cap stopped the walk: no optimum claimed")


def _nothing_fits(out: Any, path: str | None) -> int:
    """Say why nothing was found (which limit binds) on stderr; exit status 1 (documented in --help)."""
    sys.stdout.flush()
    print(f"atomnet: nothing fits: {out.reason}" + (f" No spec written to {path}." if path else ""),
          file=sys.stderr)
    return 1


def _fmt_lim(v: float, unit: str) -> str:
    if math.isinf(v):
        return "none"
    if unit == "B":
        return f"{v / 1024:g} KB"
    return f"{v:g} ms"


def _plot(out: Any, path: str) -> None:
    """The front with the zoo's ImageNet models on it (o fits the SRAM and Flash limits, x does not)."""
    from atomnet.report import plot_pareto

    lim = out.limits
    plot_pareto([(p.latency_ms, p.macs) for p in out.pareto.front], path,
                zoo=[(r.name, r.latency_ms, r.macs, r.fits) for r in out.pareto.references],
                chosen=(out.cost.latency_ms, float(out.cost.macs)) if out.cost else None,
                budget_ms=lim.latency_ms if math.isfinite(lim.latency_ms) else None,
                title=f"{out.space} space on {out.board} ({out.runtime}): max MACs per latency under SRAM "
                      f"{lim.peak_sram_bytes / 1024:g} KB, Flash {lim.flash_bytes / 1024:g} KB (o fits, x does not)")
