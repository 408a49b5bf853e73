"""``atomnet verify model.tflite [--spec SPEC] [--data DATA] [--run RUN]``: load the file in the real TFLite
Micro interpreter and hold our estimates (arena, MACs, weights) and the int8 accuracy to it."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify", help="load a .tflite in TFLite Micro: real arena vs our estimate, MACs, int8 top-1",
        description="Load MODEL in the TFLite Micro interpreter (tflite-micro), run it, and report the arena it "
                    "really allocated (non-persistent head and total) against our tflm planner on the file's own "
                    "graph and, with --spec (or --run), on the spec; MACs and int8 weights against the spec; int8 "
                    "top-1 on --data, and float top-1 of the run's model with --run. Exit status 1 when the file "
                    "does not load in TFLM, is not full-integer int8, or an estimate is off; 2 when it cannot be "
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
                   help="the report as an object: loaded, tflm_head_bytes, tflm_total_bytes, file_plan_bytes, "
                        "spec_plan_bytes, macs, spec_macs, weight_bytes, spec_weight_bytes, int8_top1, "
                        "float_top1, problems[], ok …")
    p.set_defaults(func=cmd_verify)


def _run_spec(run: Path) -> Any:
    from atomnet.spec import ModelSpec, SpecError

    path = run / "spec.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; is {run} a training run folder (atomnet train --out RUN)?")
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except SpecError as e:
        raise e.in_file(str(path)) from None
    except ValueError as e:
        raise ValueError(f"{path}: cannot read the spec ({e})") from None


def _run_data(run: Path) -> str:
    path = run / "config.json"
    try:
        return str(json.loads(path.read_text())["data"]["name"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: cannot read the run's data name ({type(e).__name__}: {e})") from None


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
    """Compute the verification result as plain data (``VerifyReport.to_dict()`` + top-1 and the verdict)."""
    from atomnet.cli._train import resolve_spec
    from atomnet.export import read_tflite, verify

    if samples < 0:
        raise ValueError(f"--samples: expected a non-negative number, got {samples}")
    if max_drop is not None and not (math.isfinite(max_drop) and max_drop >= 0):
        raise ValueError(f"--max-drop: expected a finite number of points >= 0, got {max_drop!r}")
    if max_drop is not None and run is None:
        raise ValueError("--max-drop compares int8 with float top-1: give the training run with --run")
    m = read_tflite(model)  # missing, truncated, corrupt or inconsistent: TFLiteError naming it (exit 2)
    run_path = Path(run) if run else None
    spec = resolve_spec(spec_name) if spec_name else (_run_spec(run_path) if run_path else None)
    if data is None and run_path is not None:
        data = _run_data(run_path)
    images = labels = None
    n = samples or None
    if data is not None:  # top-1 runs torch (data pipeline, float model): one thread, as for training
        from atomnet.cli._train import set_threads

        set_threads(None)
    if data is not None and run_path is None:
        images, labels = _val_images(data, m, spec, n)
    try:
        rep = verify(model, spec, images=images, labels=labels)
    except ImportError as e:
        raise ValueError(str(e)) from None
    d = rep.to_dict()
    d["data"] = data
    d["float_top1"] = None
    if run_path is not None and rep.loaded:
        from atomnet.export import compare_top1

        t = compare_top1(run_path, model, n)
        d.update(float_top1=t.float_top1, int8_top1=t.int8_top1, samples=t.samples, run=str(run_path))
        if max_drop is not None and 100 * (t.float_top1 - t.int8_top1) > max_drop:
            d["problems"].append(f"int8 top-1 {100 * t.int8_top1:.2f} % is more than {max_drop:g} points below "
                                 f"float {100 * t.float_top1:.2f} %")
    d["ok"] = not d["problems"]
    d["ops"] = len(m.ops)
    d["file_bytes"] = m.file_bytes
    return d


def _val_images(data: str, m: Any, spec: Any, n: int | None) -> tuple[Any, Any]:
    """The first ``n`` validation images of ``data`` at the model's input size, normalized as training does."""
    import numpy as np

    from atomnet.train._data import load_data

    shape = m.tensors[m.inputs[0]].shape  # NHWC
    if len(shape) != 4:
        raise ValueError(f"{m.path}: input tensor shape {shape}, expected N×H×W×C")
    res, ch = (spec.resolution, spec.in_channels) if spec is not None else ((shape[1], shape[2]), shape[3])
    _, _, va = load_data(data, tuple(res), ch)
    k = len(va) if n is None else min(n, len(va))
    xs, ys = zip(*(va[i] for i in range(k)))
    import torch

    return torch.stack(list(xs)).numpy(), np.asarray(ys, np.int64)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def render_verify(d: dict[str, Any]) -> str:
    from atomnet.units import fmt_bytes

    out = [f"{d['path']}: {d['ops']} operators, {fmt_bytes(d['file_bytes'])}; "
           + ("loads in TFLite Micro" if d["loaded"] else f"DOES NOT LOAD in TFLite Micro: {d['error']}")]
    spec = d["spec_name"] or None

    off = "differs from the file  ** OFF **"

    def vs(a: int | None, b: int | None) -> str:
        if a is None or b is None:
            return "-"
        return "= TFLM head" if a == b else f"{b - a:+,} B vs TFLM head  ** OFF **"

    rows: list[tuple[Any, ...]] = [
        ("TFLM arena head (non-persistent)", d["tflm_head_bytes"], ""),
        ("TFLM arena total", d["tflm_total_bytes"], ""),
        ("tflm planner on the file", d["file_plan_bytes"], vs(d["tflm_head_bytes"], d["file_plan_bytes"])),
    ]
    if spec:
        rows.append((f"tflm planner on the spec ({spec})", d["spec_plan_bytes"],
                     vs(d["tflm_head_bytes"], d["spec_plan_bytes"])))
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


def cost_tflite(args: argparse.Namespace) -> int:
    """``atomnet cost FILE.tflite``: what a validated full-integer int8 file gives without measurements — MACs,
    weights, Flash (the file + runtime code) and the TFLite Micro arena of our ``tflm`` planner (which equals
    TFLM's non-persistent head, see ``atomnet verify``); latency is not priced for ``.tflite`` files yet.
    Exit status 1 when the model does not fit the board."""
    from atomnet.boards import get_board
    from atomnet.cost import flash_breakdown, get_planner
    from atomnet.export import int8_problems, read_tflite

    m = read_tflite(args.model)  # validates the file first (TFLiteError naming it and what is wrong: exit 2)
    if args.runtime not in (None, "tflm"):
        raise ValueError(f"--runtime {args.runtime}: a .tflite file is costed for TFLite Micro only (--runtime tflm)")
    if args.plot:
        raise ValueError(f"--plot: not supported for a .tflite file yet ({m.path}); cost a spec to plot it")
    probs = int8_problems(m)
    if probs:
        more = f" and {len(probs) - 1} more" if len(probs) > 1 else ""
        first = probs[0] if len(probs[0]) <= 160 else probs[0][:159] + "…"
        raise ValueError(f"{m.path}: not a full-integer int8 model ({first}{more}); costing a "
                         f".tflite is supported for int8 models only; use 'atomnet verify {m.path}'")
    board = get_board(args.board)
    graph = m.to_graph()
    plan = get_planner("tflm").plan(graph)
    code = flash_breakdown(graph, "tflm")["code"]
    flash = m.file_bytes + code
    fits_sram, fits_flash = plan.peak_bytes <= board.sram_bytes, flash <= board.flash_bytes
    layers = [{"name": ly.name, "op": ly.tflite_op, "macs": m.op_macs(m.ops[i]),
               "weights_bytes": _weights(m, i), "live_sram_bytes": int(plan.live_bytes[i])}
              for i, ly in enumerate(graph.layers)]
    d = {"model": m.path, "board": board.name, "runtime": "tflm", "ops": len(m.ops), "macs": m.macs,
         "weights_bytes": m.weight_bytes, "const_bytes": m.const_bytes, "file_bytes": m.file_bytes,
         "code_bytes": code, "flash_bytes": flash, "peak_sram_bytes": int(plan.peak_bytes), "latency_ms": None,
         "board_sram_bytes": board.sram_bytes, "board_flash_bytes": board.flash_bytes, "fits_sram": fits_sram,
         "fits_flash": fits_flash, "feasible": fits_sram and fits_flash, "layers": layers}
    if args.json:
        print_json(d)
    else:
        print(_render_cost_tflite(d, not args.no_layers))
    return 0 if d["feasible"] else 1


def _weights(m: Any, i: int) -> int:
    op = m.ops[i]
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return int(m.tensors[op.inputs[1]].const_bytes)
    return 0


def _render_cost_tflite(d: dict[str, Any], layers: bool) -> str:
    from atomnet.units import fmt_bytes

    out = []
    if layers:
        rows = [(ly["name"], ly["op"], ly["macs"], ly["weights_bytes"], ly["live_sram_bytes"]) for ly in d["layers"]]
        out += [table(["layer", "operator", "MACs", "weights B", "live SRAM B"], rows, align="llrrr"), ""]
    over_f = "" if d["fits_flash"] else f"   ** OVER the board's {fmt_bytes(d['board_flash_bytes'])} **"
    over_s = "" if d["fits_sram"] else f"   ** OVER the board's {fmt_bytes(d['board_sram_bytes'])} **"
    out += [f"model {d['model']} on {d['board']} (tflm; {d['ops']} operators read from the file)",
            f"  MACs            {d['macs'] / 1e6:.2f} M   weights {d['weights_bytes']:,} B   "
            f"constant data {d['const_bytes']:,} B",
            "  latency         not priced for a .tflite file yet (cost its spec for latency)",
            f"  Flash           {fmt_bytes(d['flash_bytes'])} = file {fmt_bytes(d['file_bytes'])} + runtime code "
            f"{fmt_bytes(d['code_bytes'])}{over_f}",
            f"  peak SRAM       {fmt_bytes(d['peak_sram_bytes'])} ({d['peak_sram_bytes']:,} B): TFLite Micro "
            f"non-persistent arena, tflm planner (persistent allocations: atomnet verify){over_s}",
            f"  fits {d['board']}: {'yes' if d['feasible'] else 'NO'}"]
    return "\n".join(out)
