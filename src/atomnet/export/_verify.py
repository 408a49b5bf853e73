"""`verify(tflite_path, spec)`: hold a ``.tflite`` file and our estimates to the real TFLite Micro interpreter.

Computes (rendering is the CLI's job): whether the file parses and loads in TFLM, whether it is full-integer
int8, the arena TFLM really allocated (non-persistent *head* and *total*), our ``tflm`` planner's arena for
the graph read from the file and for ``lower(spec, "tflm")``, the first tensor where the two graphs part
(to say *why* an estimate is off), and MACs / weight bytes vs the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.export._tflite import TFLiteModel, read_tflite
from atomnet.spec import Graph, ModelSpec, lower, spec_macs


def int8_problems(m: TFLiteModel) -> list[str]:
    """Why ``m`` is not a full-integer int8 model (empty when it is): float operators, non-int8 model input
    or output, conv/FC weights that are not int8 (per-channel for convs), biases that are not int32."""
    out = [f"operator {op.index} {op.name} has float tensors "
           f"({', '.join(sorted({m.tensors[i].dtype for i in (*m.activation_inputs(op), *op.outputs)}))})"
           for op in m.float_ops()]
    for i in (*m.inputs, *m.outputs):
        if m.tensors[i].dtype != "INT8":
            out.append(f"model {'input' if i in m.inputs else 'output'} {m.tensors[i].name!r} is "
                       f"{m.tensors[i].dtype}, expected INT8")
    for op in m.ops:
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        w = m.tensors[op.inputs[1]]
        c_out = w.shape[3] if op.name == "DEPTHWISE_CONV_2D" else w.shape[0]
        if w.dtype != "INT8":
            out.append(f"operator {op.index} {op.name}: weights are {w.dtype}, expected INT8")
        elif op.name != "FULLY_CONNECTED" and w.scales != c_out:
            out.append(f"operator {op.index} {op.name}: {w.scales} weight scales for {c_out} channels "
                       "(expected per-channel)")
        if len(op.inputs) > 2 and op.inputs[2] >= 0 and m.tensors[op.inputs[2]].dtype != "INT32":
            out.append(f"operator {op.index} {op.name}: bias is {m.tensors[op.inputs[2]].dtype}, expected INT32")
    return out


def spec_weight_params(spec: ModelSpec) -> int:
    """int8 weights of the deployed spec (conv, depthwise, pointwise incl. SE, classifier; no biases)."""
    return sum(layer.op.weight_params for layer in lower(spec, "tflm").layers if layer.op.kind_info.weighted)


def graph_diff(a: Graph, b: Graph, names: tuple[str, str] = ("file", "spec")) -> str:
    """The first difference between two graphs' operator sequences (TFLite op, output shape, fused
    activation), or ``""`` when they agree."""
    ra = [(layer.tflite_op, a.tensors[layer.output].shape, _fused(layer.act)) for layer in a.layers]
    rb = [(layer.tflite_op, b.tensors[layer.output].shape, _fused(layer.act)) for layer in b.layers]
    for i, (x, y) in enumerate(zip(ra, rb, strict=False)):  # lengths may differ: reported after
        if x != y:
            return (f"operator {i}: {names[0]} has {x[0]} {x[1]} act {x[2]}, {names[1]} has {y[0]} {y[1]} "
                    f"act {y[2]} ({b.layers[i].name})")
    if len(ra) != len(rb):
        return f"{names[0]} has {len(ra)} operators, {names[1]} has {len(rb)}"
    return ""


def _fused(act: str) -> str:
    """The activation as TFLite fuses it (h-swish is its own HARD_SWISH operator, not a fused one)."""
    return act if act in ("relu", "relu6") else "none"


@dataclass(frozen=True)
class VerifyReport:
    """Everything :func:`verify` found. ``*_bytes`` are arena sizes; ``None`` where not computed."""

    path: str
    loaded: bool
    error: str
    int8_problems: tuple[str, ...]
    op_counts: dict[str, int]
    tflm_head_bytes: int | None
    tflm_total_bytes: int | None
    file_plan_bytes: int | None
    spec_plan_bytes: int | None = None
    spec_name: str = ""
    graph_diff: str = ""
    macs: int = 0
    spec_macs: int | None = None
    weight_bytes: int = 0
    spec_weight_bytes: int | None = None
    int8_top1: float | None = None
    samples: int = 0
    sections: tuple[tuple[str, int, int, int], ...] = field(default=())

    @property
    def problems(self) -> list[str]:
        """Why the check fails (empty = pass): load error, float ops, arena or MAC/weight mismatches."""
        out = [] if self.loaded else [f"does not load in TFLite Micro: {self.error}"]
        out += list(self.int8_problems)
        if self.loaded and self.file_plan_bytes != self.tflm_head_bytes:
            out.append(f"tflm planner on the file: {self.file_plan_bytes} B, TFLM head: {self.tflm_head_bytes} B")
        if self.loaded and self.spec_plan_bytes is not None and self.spec_plan_bytes != self.tflm_head_bytes:
            out.append(f"tflm planner on the spec: {self.spec_plan_bytes} B, TFLM head: {self.tflm_head_bytes} B")
        if self.spec_macs is not None and self.spec_macs != self.macs:
            out.append(f"MACs: file {self.macs}, spec {self.spec_macs}")
        if self.spec_weight_bytes is not None and self.spec_weight_bytes != self.weight_bytes:
            out.append(f"weights: file {self.weight_bytes} B, spec {self.spec_weight_bytes} B")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["sections"] = [list(s) for s in self.sections]
        d["problems"] = self.problems
        d["ok"] = self.ok
        return d


def verify(tflite_path: str | Path, spec: ModelSpec | None = None, *, images: np.ndarray | None = None,
           labels: np.ndarray | None = None, arena_size: int | None = None) -> VerifyReport:
    """Load ``tflite_path`` in TFLite Micro, run it, and compare its real arena with our ``tflm`` planner on
    the file's own graph and (with ``spec``) on ``lower(spec, "tflm")``; with ``images`` (N×C×H×W float)
    and ``labels``, also its int8 top-1. A file that cannot be parsed or fails validation raises
    :class:`~atomnet.export.TFLiteError` (a ``ValueError``) naming it; one that parses but does not load gives
    ``loaded=False`` and the interpreter's reason in ``error``. The interpreter runs in a child process
    (:func:`~atomnet.export.run_tflm_isolated`): if it crashes, ``TFLiteError`` names the signal.

    >>> r = verify("atomnet-256kb.tflite", get_zoo("atomnet-256kb"))     # doctest: +SKIP
    >>> r.tflm_head_bytes == r.spec_plan_bytes, r.problems               # doctest: +SKIP
    (True, [])
    """
    from atomnet.cost import get_planner
    from atomnet.export._isolate import run_tflm_isolated
    from atomnet.export._tflm import TFLMError

    path = Path(tflite_path)
    m = read_tflite(path)  # validates the file before anything else touches it (TFLiteError naming it)
    planner = get_planner("tflm")
    fgraph = m.to_graph()
    file_plan = planner.plan(fgraph).arena_bytes
    spec_kw: dict[str, Any] = {}
    if spec is not None:
        sgraph = lower(spec, "tflm")
        spec_kw = {"spec_plan_bytes": planner.plan(sgraph).arena_bytes, "spec_name": spec.name,
                   "graph_diff": graph_diff(fgraph, sgraph), "spec_macs": spec_macs(spec),
                   "spec_weight_bytes": spec_weight_params(spec)}
    common = {"path": str(path), "int8_problems": tuple(int8_problems(m)), "op_counts": dict(m.op_counts()),
              "file_plan_bytes": file_plan, "macs": m.macs, "weight_bytes": m.weight_bytes, **spec_kw}
    run_images = images if images is not None and labels is not None else None
    try:  # in a child process: a crash inside TFLite Micro becomes a TFLiteError naming the signal
        res = run_tflm_isolated(path, arena_size, run_images, notes=m.notes)
    except TFLMError as e:
        return VerifyReport(loaded=False, error=str(e), tflm_head_bytes=None, tflm_total_bytes=None, **common)
    top1, n = None, 0
    if res.outputs is not None:
        pred = res.outputs.argmax(axis=1)
        n = len(pred)
        top1 = float((pred == np.asarray(labels)[:n]).mean()) if n else None
    usage = res.usage
    return VerifyReport(loaded=True, error="", tflm_head_bytes=usage.head_bytes, tflm_total_bytes=usage.total_bytes,
                        int8_top1=top1, samples=n, sections=usage.sections, **common)
