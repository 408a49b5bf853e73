"""Exporting and checking a training run (``atomnet export RUN``, ``atomnet verify --run``): calibration images
from the run's own training data, and float vs int8 top-1 on its validation data. Every function takes a
:class:`~atomnet.train.Run` (the folder read once; a path is read here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from atomnet.errors import InputError
from atomnet.export._convert import ExportResult, export_int8, export_onnx
from atomnet.export._top1 import Top1
from atomnet.train import Run, load_data


def as_run(run: Run | str | Path) -> Run:
    """``run`` itself, or the run folder at that path read once."""
    return run if isinstance(run, Run) else Run.load(run)


def run_images(run: Run | str | Path, n: int, split: str = "train", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (N×C×H×W float, the run's normalization, no augmentation) and labels from the run's data;
    ``split="train"`` draws a seeded random sample (calibration), ``"val"`` takes the first ``n``."""
    r = as_run(run)
    return dataset_images(r.data_name, r.spec.resolution, r.spec.in_channels, n, split, seed)


def dataset_images(data: str, resolution: tuple[int, int], in_channels: int, n: int | None, split: str = "val",
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (all when None) of ``data`` at ``resolution`` with the evaluation transform, and their
    labels: the first ``n`` of the validation split, or a seeded random sample of the training split."""
    if split not in ("train", "val"):
        raise InputError(f"split: expected 'train' or 'val', got {split!r}")
    _, tr, va = load_data(data, tuple(resolution), in_channels)  # type: ignore[arg-type]
    if split == "train":
        tr.train = False  # calibration sees the evaluation transform
        k = len(tr) if n is None else min(n, len(tr))
        idx = np.random.default_rng(seed).choice(len(tr), size=k, replace=False).tolist()
        ds = tr
    else:
        idx, ds = list(range(len(va) if n is None else min(n, len(va)))), va
    xs, ys = zip(*(ds[i] for i in idx), strict=True)
    return torch.stack(list(xs)).numpy(), np.asarray(ys, np.int64)


def export_run(run: Run | str | Path, out_path: str | Path, *, calib: int = 200, fmt: str = "tflite",
               on_stage: Callable[[str], None] | None = None) -> ExportResult | Path:
    """Export a run's model: ``fmt="tflite"`` → full-integer int8 (calibrated on ``calib`` training images),
    ``fmt="onnx"`` → float ONNX. ``on_stage(text)`` is called as each step starts (tflite: 5, onnx: 2)."""
    stage = on_stage if on_stage is not None else (lambda text: None)
    if fmt not in ("tflite", "onnx"):
        raise InputError(f"format: expected 'tflite' or 'onnx', got {fmt!r}")
    if not isinstance(run, Run):
        stage(f"loading the run {run}")
    r = as_run(run)
    model = r.build_model()
    if fmt == "onnx":
        stage("torch → ONNX")
        return export_onnx(model, torch.zeros(1, r.spec.in_channels, *r.spec.resolution), out_path)
    stage(f"reading {calib} calibration images from the run's training data")
    x, _ = run_images(r, calib, "train")
    return export_int8(model, x, out_path, on_stage=on_stage)


def compare_top1(run: Run | str | Path, tflite_path: str | Path, n: int | None = None) -> Top1:
    """Float top-1 of the run's model and int8 top-1 of ``tflite_path`` in TFLite Micro, on the first ``n``
    validation images of the run's data (all when ``None``)."""
    from atomnet.export._isolate import run_tflm_isolated

    r = as_run(run)
    model = r.build_model()
    x, y = run_images(r, n if n is not None else 10**9, "val")
    with torch.no_grad():
        fpred = torch.cat([model(torch.from_numpy(c)).argmax(1) for c in np.array_split(x, max(1, len(x) // 256))])
    out = run_tflm_isolated(tflite_path, images=x).outputs  # a crash inside TFLM stays in the child
    assert out is not None  # asked for with images
    ipred = out.argmax(1)
    return Top1(float((fpred.numpy() == y).mean()), float((ipred == y).mean()), len(y))
