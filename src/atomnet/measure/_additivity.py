"""Kernel additivity (AtomNet §3): measure a whole model and each of its operators alone with the same
runner, and report how far the sum of the operators is from the whole.

The whole model is the real int8 export of the spec (:func:`atomnet.export.export_int8`); its operators are
the layers of the runtime's lowering, each measured as a single-op model (:mod:`atomnet.measure._singleop`).
Each layer's share of the sum is reported with it; runners that cannot time layers inside the whole model
(the TFLM Python interpreter has no per-op profiler) give the total deviation only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atomnet.measure._runners import Runner
from atomnet.measure._singleop import Variant, get_builder


@dataclass
class AdditivityReport:
    model: str
    runner: str
    whole_ms: float
    sum_ms: float
    layers: list[dict[str, Any]] = field(default_factory=list)
    whole_min_ms: float = 0.0
    sum_min_ms: float = 0.0

    @property
    def deviation(self) -> float:
        """(sum of operators − whole) / whole, medians over rounds."""
        return (self.sum_ms - self.whole_ms) / self.whole_ms

    @property
    def deviation_min(self) -> float:
        """The same on the per-item minima."""
        return (self.sum_min_ms - self.whole_min_ms) / self.whole_min_ms if self.whole_min_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "runner": self.runner, "whole_ms": self.whole_ms, "sum_ms": self.sum_ms,
                "deviation": self.deviation, "whole_min_ms": self.whole_min_ms, "sum_min_ms": self.sum_min_ms,
                "deviation_min": self.deviation_min, "layers": self.layers}


def whole_model_bytes(spec: Any, cache: str | Path | None = None, seed: int = 0) -> bytes:
    """The int8 export of ``spec`` (random weights from ``seed``, calibrated on uniform noise); cached by name."""
    if cache is not None:
        p = Path(cache) / f"{spec.name}.tflite"
        if p.is_file():
            return p.read_bytes()
    import numpy as np

    from atomnet.export import export_int8

    calib = np.random.default_rng(seed).uniform(-1, 1, (8, spec.in_channels, *spec.resolution)).astype(np.float32)
    out = Path(cache) if cache is not None else Path(".")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{spec.name}.tflite"
    export_int8(spec, calib, path, seed=seed)
    data = path.read_bytes()
    if cache is None:
        path.unlink()
    return data


def additivity(spec: Any, runner: Runner, *, repeats: int = 5, warmup: int = 2, runtime: str = "tflm",
               cache: str | Path | None = None, model: bytes | None = None) -> AdditivityReport:
    """Whole-model vs sum-of-operators latency of ``spec`` on ``runner`` (module doc).

    Measurements are interleaved: each of ``repeats`` rounds times the whole model once and then every distinct
    operator once, so that a slow period of a shared machine hits both sides alike; per item the median over
    rounds is used (``*_min_ms`` fields: the minimum, the least disturbed estimate)."""
    from atomnet.spec import lower

    whole_bytes = model if model is not None else whole_model_bytes(spec, cache)
    build = get_builder("direct")
    graph = lower(spec, runtime)
    keys: list[tuple[Any, Variant]] = []
    for layer in graph.layers:
        k = (layer.op, Variant(layer.tflite_op, layer.act if layer.act in ("relu", "relu6") else "none"))
        if k not in keys:
            keys.append(k)
    sessions = [runner.open(whole_bytes)] + [runner.open(build(op, v, 0), op, v) for op, v in keys]
    try:
        for s in sessions:
            s.warmup(warmup)
        times: list[list[float]] = [[] for _ in sessions]
        for _ in range(repeats):
            for s, t in zip(sessions, times, strict=True):
                t.append(s.repeat())
    finally:
        for s in sessions:
            s.close()
    med = [statistics.median(t) for t in times]
    mins = [min(t) for t in times]
    layers: list[dict[str, Any]] = []
    for layer in graph.layers:
        k = (layer.op, Variant(layer.tflite_op, layer.act if layer.act in ("relu", "relu6") else "none"))
        i = 1 + keys.index(k)
        layers.append({"name": layer.name, "op": layer.op.describe(), "tflite_op": layer.tflite_op,
                       "latency_ms": med[i], "latency_min_ms": mins[i]})
    total = sum(float(x["latency_ms"]) for x in layers)
    for x in layers:
        x["share"] = float(x["latency_ms"]) / total if total else 0.0
    rep = AdditivityReport(spec.name, runner.name, med[0], total, layers)
    rep.whole_min_ms = mins[0]
    rep.sum_min_ms = sum(float(x["latency_min_ms"]) for x in layers)
    return rep
