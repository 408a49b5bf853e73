"""``atomnet export RUN --int8 --out model.tflite``: a training run's model as a full-integer int8 TFLite file
(post-training quantization on calibration images from the run's training data), or as float ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from atomnet.cli._progress import Stages, add_progress_flag
from atomnet.cli._render import print_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="export a training run as a full-integer int8 .tflite (or float ONNX)",
        description="Export the model of a training run folder (atomnet train --out RUN): torch → ONNX → onnx2tf "
                    "with post-training int8 quantization calibrated on --calib images of the run's training data "
                    "(evaluation transform). The file has int8 input and output, per-channel int8 weights and "
                    "int32 biases; the command fails naming any operator left in float. --format onnx writes the "
                    "float ONNX graph instead. "
                    "Example: atomnet export runs/demo --int8 --calib 200 --out demo.tflite")
    p.add_argument("run", metavar="RUN", help="training run folder (spec.json, config.json, checkpoint.pt)")
    p.add_argument("--int8", action="store_true", help="full-integer int8 TFLite (the default format)")
    p.add_argument("--format", choices=("tflite", "onnx"), default="tflite", help="default tflite (int8)")
    p.add_argument("--calib", type=int, default=200, metavar="N", help="calibration images (default 200)")
    p.add_argument("--qat-epochs", type=float, default=0.0, metavar="N",
                   help="quantization-aware fine-tuning epochs before the export (fake-quantized weights and "
                        "activations; fractions allowed; default 0: post-training quantization only)")
    p.add_argument("--qat-lr", type=float, default=None, metavar="LR",
                   help="QAT learning rate (default: 1/100 of the run's peak learning rate)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads for QAT and the ONNX export (default: $OMP_NUM_THREADS if set, else 1)")
    p.add_argument("--out", metavar="FILE", help="output file (default RUN/model.tflite or RUN/model.onnx)")
    p.add_argument("--json", action="store_true",
                   help="object with path, format, file_bytes, ops, op_counts, macs, weight_bytes, seconds …")
    add_progress_flag(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from atomnet.cli import CliError
    from atomnet.cli._common import need_ml_stack, set_threads

    if args.int8 and args.format == "onnx":
        raise CliError("--int8 and --format onnx contradict each other: the ONNX export is float")
    if args.calib < 1:
        raise CliError(f"--calib: expected a positive number of images, got {args.calib}")
    if args.qat_epochs < 0:
        raise CliError(f"--qat-epochs: expected a non-negative number, got {args.qat_epochs}")
    if args.qat_epochs and args.format == "onnx":
        raise CliError("--qat-epochs applies to the int8 export, not to --format onnx")
    run = Path(args.run)
    if not (run / "spec.json").is_file():
        raise FileNotFoundError(f"{run}: not a training run folder (no spec.json); create one with "
                                "'atomnet train SPEC --data DATA --out RUN'")
    out = Path(args.out) if args.out else run / ("model.onnx" if args.format == "onnx" else "model.tflite")
    need_ml_stack("exporting")
    set_threads(args.threads)
    total = 2 if args.format == "onnx" else 4 if args.qat_epochs else 5
    stages = Stages("export", total, enabled=not args.no_progress)
    result = export(run, out, args.format, args.calib, args.qat_epochs, args.qat_lr, stages)
    stages.done()
    if args.json:
        print_json(result)
    else:
        print(render_export(result))
    return 0


def export(run: Path, out: Path, fmt: str, calib: int, qat_epochs: float, qat_lr: float | None,
           stages: Stages | None = None) -> dict[str, Any]:
    """Read the run once, export it (``atomnet.export.export_run`` or ``export_run_qat``) and summarize it as
    plain data for rendering; ``stages`` shows the steps on a terminal."""
    import time

    from atomnet.cli import CliError
    from atomnet.export import ExportError, export_run, export_run_qat
    from atomnet.train import Run

    t0 = time.perf_counter()
    qat: dict[str, Any] | None = None
    if stages is not None and (fmt == "onnx" or not qat_epochs):
        stages(f"loading the run {run}")
    r = Run.load(run)
    try:
        if fmt == "onnx":
            path = export_run(r, out, fmt="onnx", on_stage=stages)
            return {"path": str(path), "format": "onnx", "file_bytes": Path(str(path)).stat().st_size,
                    "seconds": round(time.perf_counter() - t0, 1)}
        if qat_epochs > 0:
            if stages is not None:
                stages(f"quantization-aware fine-tuning, {qat_epochs:g} epoch(s)")
            res, qat = export_run_qat(r, out, epochs=qat_epochs, lr=qat_lr, calib=calib,
                                      log=stages.note if stages is not None else None, on_stage=stages)
        else:
            res = export_run(r, out, calib=calib, on_stage=stages)
    except ExportError as e:
        raise CliError(f"export of {run} failed: {e}") from None
    assert not isinstance(res, Path)  # tflite
    m = res.model
    d: dict[str, Any] = {
        "path": str(res.path), "format": "tflite-int8", "file_bytes": m.file_bytes, "ops": len(m.ops),
        "op_counts": dict(m.op_counts()), "float_ops": [op.name for op in m.float_ops()], "macs": m.macs,
        "weight_bytes": m.weight_bytes, "input": _tensor(m, m.inputs[0]), "output": _tensor(m, m.outputs[0]),
        "calib": calib, "run": str(run), "seconds": round(time.perf_counter() - t0, 1)}
    if qat is not None:
        d["qat"] = qat
    return d


def _tensor(m: Any, i: int) -> dict[str, Any]:
    t = m.tensors[i]
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}


def render_export(r: dict[str, Any]) -> str:
    from atomnet.units import fmt_bytes

    if r["format"] == "onnx":
        return f"wrote {r['path']} (float ONNX, {fmt_bytes(r['file_bytes'])}) in {r['seconds']:.1f} s"
    ops = ", ".join(f"{k} {v}" for k, v in sorted(r["op_counts"].items(), key=lambda kv: -kv[1]))
    out = [f"wrote {r['path']}: full-integer int8 TFLite, {fmt_bytes(r['file_bytes'])}, calibrated on "
           f"{r['calib']} training images, {r['seconds']:.1f} s"]
    if "qat" in r:
        q = r["qat"]
        out.append(f"  QAT             {q['epochs']:g} epoch(s) at lr {q['lr']:.3g}: fake-quant val top-1 "
                   f"{100 * q['val_top1_before']:.2f} % → {100 * q['val_top1_after']:.2f} % "
                   f"({q['val_samples']} images)")
    out += [f"  operators       {r['ops']} ({ops}); none in float",
            f"  input / output  {r['input']['dtype']} {'×'.join(map(str, r['input']['shape']))} / "
            f"{r['output']['dtype']} {'×'.join(map(str, r['output']['shape']))}",
            f"  MACs            {r['macs'] / 1e6:.2f} M   int8 weights {r['weight_bytes']:,} B",
            f"next: atomnet verify {r['path']} --run {r['run']}"]
    return "\n".join(out)
