"""Exporting and checking a training run folder (``atomnet export RUN``, ``atomnet verify --run``):
calibration images from the run's own training data, and float vs int8 top-1 on its validation data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from atomnet.export._convert import ExportResult, export_int8, export_onnx


def run_images(run: str | Path, n: int, split: str = "train", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (N×C×H×W float, the run's normalization, no augmentation) and labels from the run's data;
    ``split="train"`` draws a seeded random sample (calibration), ``"val"`` takes the first ``n``."""
    from atomnet.train import load_run
    from atomnet.train._data import load_data

    r = load_run(run)
    _, tr, va = load_data(r.config["data"]["name"], r.spec.resolution, r.spec.in_channels)
    if split == "train":
        tr.train = False  # calibration sees the evaluation transform
        idx = np.random.default_rng(seed).choice(len(tr), size=min(n, len(tr)), replace=False).tolist()
        ds = tr
    elif split == "val":
        idx, ds = list(range(min(n, len(va)))), va
    else:
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    xs, ys = zip(*(ds[i] for i in idx))
    return torch.stack(list(xs)).numpy(), np.asarray(ys, np.int64)


def export_run(run: str | Path, out_path: str | Path, *, calib: int = 200, fmt: str = "tflite",
               on_stage: Callable[[str], None] | None = None) -> ExportResult | Path:
    """Export a run's model: ``fmt="tflite"`` → full-integer int8 (calibrated on ``calib`` training images),
    ``fmt="onnx"`` → float ONNX. ``on_stage(text)`` is called as each step starts (tflite: 5, onnx: 2)."""
    from atomnet.train import load_run

    stage = on_stage if on_stage is not None else (lambda text: None)
    if fmt not in ("tflite", "onnx"):
        raise ValueError(f"format: expected 'tflite' or 'onnx', got {fmt!r}")
    stage(f"loading the run {run}")
    r = load_run(run)
    if fmt == "onnx":
        stage("torch → ONNX")
        return export_onnx(r.model, torch.zeros(1, r.spec.in_channels, *r.spec.resolution), out_path)
    stage(f"reading {calib} calibration images from the run's training data")
    x, _ = run_images(run, calib, "train")
    return export_int8(r.model, x, out_path, on_stage=on_stage)


@dataclass(frozen=True)
class Top1:
    float_top1: float
    int8_top1: float
    samples: int

    @property
    def drop_points(self) -> float:
        return 100.0 * (self.float_top1 - self.int8_top1)


def compare_top1(run: str | Path, tflite_path: str | Path, n: int | None = None) -> Top1:
    """Float top-1 of the run's model and int8 top-1 of ``tflite_path`` in TFLite Micro, on the first ``n``
    validation images of the run's data (all when ``None``)."""
    from atomnet.export._isolate import run_tflm_isolated
    from atomnet.train import load_run

    r = load_run(run)
    x, y = run_images(run, n if n is not None else 10**9, "val")
    with torch.no_grad():
        fpred = torch.cat([r.model(torch.from_numpy(c)).argmax(1) for c in np.array_split(x, max(1, len(x) // 256))])
    out = run_tflm_isolated(tflite_path, images=x).outputs  # a crash inside TFLM stays in the child
    assert out is not None  # asked for with images
    ipred = out.argmax(1)
    return Top1(float((fpred.numpy() == y).mean()), float((ipred == y).mean()), len(y))
