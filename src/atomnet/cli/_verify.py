"""``atomnet verify model.tflite [--spec SPEC] [--data DATA] [--run RUN]``: load the file in the real TFLite
Micro interpreter and hold our estimates (arena, MACs, weights) and the int8 accuracy to it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify", help="load a .tflite in TFLite Micro: real arena vs our estimate, MACs, int8 top-1",
        description="Load MODEL in the TFLite Micro interpreter (tflite-micro), run it, and report the arena it "
                    "really allocated (non-persistent head, persistent tail, total) against atomnet's exact TFLM "
                    "arena of the file (plan_tflm_arena; any tensor types, several inputs/outputs, recurrent "
                    "state) and, with --spec (or --run), the head against our tflm planner on the spec; MACs and "
                    "int8 weights against the spec; int8 "
                    "top-1 on --data, and float top-1 of the run's model with --run. Exit status 1 when the file "
                    "does not load in TFLM, is not full-integer int8, or an estimate is off (arena head, tail or "
                    "total; the tail is also shown for a 32-bit Cortex-M build, derived from the same rules, not "
                    "measured); 2 when it cannot be "
                    "read, fails validation (buffer sizes, shapes, strides, tensor and operator indices, "
                    "quantization arrays: every problem is named), or crashes TFLite Micro (the interpreter "
                    "runs in a child process; the message names the signal). "
                    "Example: atomnet verify demo.tflite --run runs/demo")
    p.add_argument("model", metavar="MODEL", help=".tflite file")
    p.add_argument("--spec", help="zoo name, spec file or 'demo' to compare with (default: the run's spec)")
    p.add_argument("--data", help="'fashion-mnist' or an image-folder root: int8 top-1 on its validation split "
                                  "(default: the run's data)")
    p.add_argument("--run", metavar="RUN", help="training run folder: float (PyTorch) vs int8 (TFLM) top-1")
    p.add_argument("--samples", type=int, default=1000, metavar="N",
                   help="validation images for top-1 (default 1000; 0 = all)")
    p.add_argument("--max-drop", type=float, metavar="POINTS",
                   help="also fail when int8 top-1 is more than POINTS below float top-1 (needs --run)")
    p.add_argument("--json", action="store_true",
                   help="the report as an object: loaded, tflm_head_bytes, tflm_tail_bytes, tflm_total_bytes, "
                        "file_plan_bytes (our head), file_tail_bytes, file_total_bytes, file_tail_bytes_32, "
                        "arena_exact, spec_plan_bytes, macs, spec_macs, weight_bytes, spec_weight_bytes, int8_top1, "
                        "float_top1, problems[], ok …")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    result = verify_model(args.model, spec_name=args.spec, data=args.data, run=args.run, samples=args.samples,
                          max_drop=args.max_drop)
    if args.json:
        print_json(result)
    else:
        print(render_verify(result))
    return 0 if result["ok"] else 1


def verify_model(model: str, *, spec_name: str | None = None, data: str | None = None, run: str | None = None,
                 samples: int = 1000, max_drop: float | None = None) -> dict[str, Any]:
    """The options checked, the run folder read once, then :func:`atomnet.export.check_model` as plain data."""
    from atomnet.cli import CliError
    from atomnet.cli._common import resolve_spec, set_threads
    from atomnet.export import check_model

    if samples < 0:
        raise CliError(f"--samples: expected a non-negative number, got {samples}")
    if max_drop is not None and not (math.isfinite(max_drop) and max_drop >= 0):
        raise CliError(f"--max-drop: expected a finite number of points >= 0, got {max_drop!r}")
    if max_drop is not None and run is None:
        raise CliError("--max-drop compares int8 with float top-1: give the training run with --run")
    spec = resolve_spec(spec_name) if spec_name else None
    if run is not None or data is not None:  # top-1 runs torch (data pipeline, float model): one thread
        set_threads(None)
    try:
        check = check_model(model, spec, run=run, data=data, samples=samples or None, max_drop=max_drop)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError):
            raise
        raise CliError(str(e)) from None
    return check.to_dict()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def _arena_rows(d: dict[str, Any]) -> list[tuple[Any, ...]]:
    """TFLM's arena (measured, 64-bit host build) against plan_tflm_arena on the file, part by part."""
    exact = d.get("arena_exact", True)

    def vs(real: int | None, ours: int | None) -> str:
        if real is None or ours is None:
            return "-"
        if real == ours:
            return "= TFLM"
        return f"{ours - real:+,} B vs TFLM  ** OFF **" + ("" if exact else " (unknown operators)")

    rows: list[tuple[Any, ...]] = []
    for label, real, ours in (("arena head (non-persistent)", d["tflm_head_bytes"], d["file_plan_bytes"]),
                              ("arena tail (persistent)", d.get("tflm_tail_bytes"), d.get("file_tail_bytes")),
                              ("arena total (the size to give TFLM)", d["tflm_total_bytes"],
                               d.get("file_total_bytes"))):
        rows.append((label, "-" if real is None else real, "-" if ours is None else ours, vs(real, ours)))
    if d.get("file_tail_bytes_32") is not None:
        rows.append(("tail, 32-bit Cortex-M build (derived)", "-", d["file_tail_bytes_32"], "not measured"))
        rows.append(("total, 32-bit Cortex-M build (derived)", "-", d["file_total_bytes_32"], "not measured"))
    return rows


def render_verify(d: dict[str, Any]) -> str:
    from atomnet.units import fmt_bytes

    out = [f"{d['path']}: {d['ops']} operators, {fmt_bytes(d['file_bytes'])}; "
           + ("loads in TFLite Micro" if d["loaded"] else f"DOES NOT LOAD in TFLite Micro: {d['error']}")]
    spec = d["spec_name"] or None
    off = "differs from the file  ** OFF **"
    out += ["", table(["TFLite Micro arena", "TFLM (measured)", "atomnet (plan_tflm_arena)", "check"],
                      _arena_rows(d), align="lrrl")]
    if d.get("arena_error"):
        out.append(f"the arena could not be planned: {d['arena_error']}")
    elif not d.get("arena_exact", True):
        out.append(f"operators not in the TFLM kernel table ({', '.join(d['unknown_ops'])}): their op data and "
                   "scratch are not counted, atomnet's tail is a lower bound")
    rows: list[tuple[Any, ...]] = []
    if spec:
        vs = "= TFLM head" if d["spec_plan_bytes"] == d["tflm_head_bytes"] else \
            f"{(d['spec_plan_bytes'] or 0) - (d['tflm_head_bytes'] or 0):+,} B vs TFLM head  ** OFF **"
        rows.append((f"tflm planner on the spec ({spec}), head", d["spec_plan_bytes"],
                     vs if d["tflm_head_bytes"] is not None else "-"))
    rows.append(("MACs (file)", d["macs"], ""))
    if spec:
        rows.append(("MACs (spec)", d["spec_macs"], "= file" if d["spec_macs"] == d["macs"] else off))
    rows.append(("int8 weights B (file)", d["weight_bytes"], ""))
    if spec:
        rows.append(("int8 weights B (spec)", d["spec_weight_bytes"],
                     "= file" if d["spec_weight_bytes"] == d["weight_bytes"] else off))
    out += ["", table(["", "value", "check"], rows, align="lrl")]
    if d["int8_top1"] is not None:
        line = f"top-1 on {d['samples']:,} {d['data']} validation images: int8 (TFLM) {_pct(d['int8_top1'])}"
        if d["float_top1"] is not None:
            line += (f", float (PyTorch) {_pct(d['float_top1'])}, "
                     f"{100 * (d['int8_top1'] - d['float_top1']):+.2f} points")
        out += ["", line]
    if d["graph_diff"]:
        out.append(f"graphs part at {d['graph_diff']}")
    out.append("")
    out.append("OK: every check passed" if d["ok"] else "FAILED:\n" + "\n".join(f"  - {p}" for p in d["problems"]))
    return "\n".join(out)
