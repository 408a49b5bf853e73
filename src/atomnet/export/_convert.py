"""Full-integer int8 TFLite export: torch → ONNX (dynamo exporter) → onnx2tf (TensorFlow's converter with
post-training quantization on our calibration images) → ``*_full_integer_quant.tflite``.

Why onnx2tf and not litert-torch: measured in ``docs/export.md`` (fewer operators, no PAD for stride-2
convs, smaller TFLM arena, every operator int8 out of the box). The converter runs in a child process so
TensorFlow never loads into the caller (and its logging stays out of it). Everything is offline: onnx2tf's
sample-image file is written from the calibration data.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from atomnet.errors import InputError
from atomnet.export._errors import ExportError
from atomnet.export._tflite import TFLiteModel, read_tflite
from atomnet.export._verify import int8_problems
from atomnet.spec import ModelSpec

_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


@dataclass(frozen=True)
class ExportResult:
    """Where the model went, what it contains, and how long the steps took."""

    path: Path
    model: TFLiteModel
    onnx_seconds: float
    convert_seconds: float


def _as_calib(calib_data: object, shape: tuple[int, ...]) -> np.ndarray:
    x = calib_data.detach().cpu().numpy() if isinstance(calib_data, torch.Tensor) else np.asarray(calib_data)
    if x.ndim != 4 or tuple(x.shape[1:]) != shape or x.shape[0] < 1:
        want = "×".join(str(d) for d in shape)
        raise InputError(f"calib_data: expected an array of N×{want} (NCHW) float images, got shape "
                         f"{tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise InputError("calib_data: contains NaN or infinite values")
    return x.astype(np.float32)


def export_onnx(model: nn.Module, example: torch.Tensor, out_path: str | Path) -> Path:
    """Write ``model`` (eval mode, batch 1) as ONNX with the dynamo exporter (its graph lets onnx2tf fold
    the TF-style ``ZeroPad2d`` of stride-2 convs into ``SAME`` convs; the TorchScript exporter's does not)."""
    out = Path(out_path)
    model.eval()
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping torchvision::nms"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example[:1],), str(out), input_names=["input"], output_names=["logits"],
                              opset_version=18, dynamo=True, external_data=False, verbose=False)
    finally:
        log.setLevel(level)
    return out


def export_int8(model_or_spec: nn.Module | ModelSpec, calib_data: object, out_path: str | Path, *,
                seed: int = 0, keep_dir: str | Path | None = None, timeout_s: float = 900,
                on_stage: Callable[[str], None] | None = None) -> ExportResult:
    """Export a model (or a spec, built with random weights from ``seed``) as a full-integer int8 TFLite
    file: int8 input and output, per-channel int8 conv weights, int32 biases, calibrated on ``calib_data``
    (N×C×H×W float, the model's own input normalization). Raises :class:`ExportError` naming any operator
    left in float, or with the converter's last output lines if it fails. ``on_stage(text)`` is called as each
    of the three steps starts (torch → ONNX, onnx2tf conversion and calibration, the int8 check).

    >>> from atomnet.zoo import get_zoo
    >>> spec = get_zoo("atomnet-256kb")
    >>> r = export_int8(spec, torch.rand(8, 3, 160, 160) * 2 - 1, "256kb.tflite")   # doctest: +SKIP
    >>> r.model.op_counts()["CONV_2D"]                                              # doctest: +SKIP
    """
    if isinstance(model_or_spec, ModelSpec):
        from atomnet.nn import build_model

        model: nn.Module = build_model(model_or_spec, seed=seed)
    elif isinstance(model_or_spec, nn.Module):
        model = model_or_spec
    else:
        raise TypeError(f"model_or_spec: expected a torch module or a ModelSpec, got {type(model_or_spec).__name__}")
    spec = getattr(model, "spec", None)
    shape: tuple[int, ...]
    if isinstance(spec, ModelSpec):
        shape = (spec.in_channels, *spec.resolution)
    else:  # a plain module: trust the calibration images' shape
        arr = np.asarray(calib_data.detach().cpu() if isinstance(calib_data, torch.Tensor) else calib_data)
        shape = tuple(arr.shape[1:]) if arr.ndim == 4 else (0, 0, 0)
    x = _as_calib(calib_data, shape)
    stage = on_stage if on_stage is not None else (lambda text: None)
    out = Path(out_path)
    work = Path(keep_dir) if keep_dir is not None else Path(tempfile.mkdtemp(prefix="atomnet-export-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        stage("torch → ONNX")
        was_training = model.training
        try:
            export_onnx(model, torch.from_numpy(x[:1]), work / "model.onnx")
        finally:
            model.train(was_training)
        t1 = time.perf_counter()
        stage(f"onnx2tf: TensorFlow conversion with int8 calibration on {len(x)} images (the slow part)")
        _write_calibration(work, x)
        _run_onnx2tf(work, timeout_s)
        produced = work / "tf" / "model_full_integer_quant.tflite"
        if not produced.is_file():
            raise ExportError(f"onnx2tf wrote no {produced.name} in {work / 'tf'}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(produced, out)
        t2 = time.perf_counter()
    finally:
        if keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    stage(f"checking {out.name}: every operator int8")
    m = read_tflite(out)
    problems = int8_problems(m)
    if problems:
        raise ExportError(f"{out}: not a full-integer int8 model: " + "; ".join(problems))
    return ExportResult(out, m, t1 - t0, t2 - t1)


def _write_calibration(work: Path, x: np.ndarray) -> None:
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.save(work / "calib.npy", nhwc)
    # onnx2tf runs one sample image through ONNX Runtime to check its layout decisions; it otherwise
    # downloads it. Give it ours (20 RGB images of 128×128), so the conversion is offline and data-driven.
    t = torch.from_numpy(x[:, :3] if x.shape[1] >= 3 else np.repeat(x[:, :1], 3, axis=1))
    t = torch.nn.functional.interpolate(t, size=(128, 128), mode="bilinear", align_corners=False)
    idx = np.arange(20) % t.shape[0]
    np.save(work / _SAMPLE_FILE, np.ascontiguousarray(t.numpy()[idx].transpose(0, 2, 3, 1)).astype(np.float32))


def _run_onnx2tf(work: Path, timeout_s: float) -> None:
    c = np.load(work / "calib.npy", mmap_mode="r").shape[-1]
    zeros, ones = "[[[[" + ",".join(["0.0"] * c) + "]]]]", "[[[[" + ",".join(["1.0"] * c) + "]]]]"
    cmd = [sys.executable, "-m", "onnx2tf", "-i", "model.onnx", "-o", "tf", "-oiqt", "-qt", "per-channel",
           "-iqd", "int8", "-oqd", "int8", "-b", "1", "-v", "error",
           "-cind", "input", "calib.npy", zeros, ones]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
    try:
        r = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ExportError(f"onnx2tf did not finish in {timeout_s:.0f} s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise ExportError(f"onnx2tf failed (exit {r.returncode}); last lines:\n{tail}")
