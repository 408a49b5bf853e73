"""`verify(tflite_path, spec)`: hold a ``.tflite`` file and our estimates to the real TFLite Micro interpreter.

Computes (rendering is the CLI's job): whether the file parses and loads in TFLM, whether it is full-integer
int8, the arena TFLM really allocated (non-persistent *head*, persistent *tail*, *total*) against
:func:`~atomnet.export.plan_tflm_arena` on the file (head, tail and total, exact; the 32-bit Cortex-M tail
derived) and our ``tflm`` planner on ``lower(spec, "tflm")``, the first tensor where the file's and the
spec's graphs part (to say *why* an estimate is off), and MACs / weight bytes vs the spec. Any file TFLM
loads is compared (float, int16, several inputs and outputs, recurrent state); ``int8_problems`` says
separately whether it is a full-integer int8 model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.export._arena import TFLMArena, plan_tflm_arena
from atomnet.export._errors import TFLiteError
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
    """Everything :func:`verify` found. ``*_bytes`` are arena sizes; ``None`` where not computed.
    ``tflm_*``: what the interpreter allocated (64-bit host build); ``file_plan_bytes`` / ``file_tail_bytes``
    / ``file_total_bytes``: :func:`~atomnet.export.plan_tflm_arena` on the file (head, tail, total);
    ``file_tail_bytes_32`` / ``file_total_bytes_32``: the same rules for a 32-bit Cortex-M build (derived,
    not measured); ``arena_exact``: false when an operator is not in the TFLM kernel table
    (``unknown_ops``: its op data and scratch are not counted); ``arena_error``: why the file could not be
    planned (then the ``file_*`` fields are ``None``)."""

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
    tflm_tail_bytes: int | None = None
    file_tail_bytes: int | None = None
    file_total_bytes: int | None = None
    file_tail_bytes_32: int | None = None
    file_total_bytes_32: int | None = None
    arena_exact: bool = True
    unknown_ops: tuple[str, ...] = ()
    arena_error: str = ""
    tflm_version: str = ""

    @property
    def problems(self) -> list[str]:
        """Why the check fails (empty = pass): load error, float ops, arena (head, tail, total) or MAC/weight
        mismatches."""
        out = [] if self.loaded else [f"does not load in TFLite Micro: {self.error}"]
        out += list(self.int8_problems)
        if self.loaded and self.arena_error:
            out.append(f"the TFLM arena could not be planned: {self.arena_error}")
        elif self.loaded:
            why = "" if self.arena_exact else f" (operators not in the TFLM table: {', '.join(self.unknown_ops)})"
            for what, ours, real in (("head", self.file_plan_bytes, self.tflm_head_bytes),
                                     ("tail", self.file_tail_bytes, self.tflm_tail_bytes),
                                     ("total", self.file_total_bytes, self.tflm_total_bytes)):
                if real is not None and ours != real:
                    label = "tflm planner on the file" if what == "head" else f"TFLM arena {what} planned"
                    out.append(f"{label}: {ours} B, TFLM {what}: {real} B{why}")
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
        d["unknown_ops"] = list(self.unknown_ops)
        d["problems"] = self.problems
        d["ok"] = self.ok
        return d


#: the interpreter's arena when the caller gives none: at least 4 MiB, 8× the file, a multiple of 16 (an arena
#: whose end is 16-byte aligned, as :func:`~atomnet.export.plan_tflm_arena` assumes)
def _arena_size(file_bytes: int, arena_size: int | None) -> int:
    size = arena_size or max(4 << 20, 8 * file_bytes)
    return (size + 15) // 16 * 16


def _plan(m: TFLiteModel) -> tuple[TFLMArena | None, str]:
    try:
        return plan_tflm_arena(m), ""
    except TFLiteError as e:
        return None, "; ".join(e.problems)


def _arena_fields(a: TFLMArena | None, error: str) -> dict[str, Any]:
    if a is None:
        return {"file_plan_bytes": None, "arena_error": error, "arena_exact": False}
    return {"file_plan_bytes": a.head_bytes, "file_tail_bytes": a.tail_bytes, "file_total_bytes": a.total_bytes,
            "file_tail_bytes_32": a.tail_bytes_32, "file_total_bytes_32": a.total_bytes_32,
            "arena_exact": a.exact, "unknown_ops": a.unknown_ops, "tflm_version": a.tflm_version}


def _spec_fields(m: TFLiteModel, spec: ModelSpec) -> dict[str, Any]:
    from atomnet.cost import get_planner

    sgraph = lower(spec, "tflm")
    try:
        diff = graph_diff(m.to_graph(), sgraph)
    except TFLiteError as e:
        diff = f"the file's graph cannot be compared with the spec's ({e.problems[0]})"
    return {"spec_plan_bytes": get_planner("tflm").plan(sgraph).arena_bytes, "spec_name": spec.name,
            "graph_diff": diff, "spec_macs": spec_macs(spec), "spec_weight_bytes": spec_weight_params(spec)}


def verify(tflite_path: str | Path, spec: ModelSpec | None = None, *, images: np.ndarray | None = None,
           labels: np.ndarray | None = None, arena_size: int | None = None) -> VerifyReport:
    """Load ``tflite_path`` in TFLite Micro, run it, and compare the arena it really allocated (head, tail,
    total) with :func:`~atomnet.export.plan_tflm_arena` on the file and (with ``spec``) the head with our
    ``tflm`` planner on ``lower(spec, "tflm")``; with ``images`` (N×C×H×W float) and ``labels``, also its int8
    top-1. The interpreter gets ``arena_size`` bytes (default: max(4 MiB, 8× the file)) rounded up to a
    multiple of 16. A file that cannot be parsed or fails validation raises
    :class:`~atomnet.export.TFLiteError` (a ``ValueError``) naming it; one that parses but does not load gives
    ``loaded=False`` and the interpreter's reason in ``error``. The interpreter runs in a child process
    (:func:`~atomnet.export.run_tflm_isolated`): if it crashes, ``TFLiteError`` names the signal.

    >>> r = verify("atomnet-256kb.tflite", get_zoo("atomnet-256kb"))     # doctest: +SKIP
    >>> r.tflm_head_bytes == r.spec_plan_bytes, r.problems               # doctest: +SKIP
    (True, [])
    """
    from atomnet.export._isolate import run_tflm_isolated
    from atomnet.export._tflm import TFLMError

    path = Path(tflite_path)
    m = read_tflite(path)  # validates the file before anything else touches it (TFLiteError naming it)
    arena, arena_error = _plan(m)
    common = {"path": str(path), "int8_problems": tuple(int8_problems(m)), "op_counts": dict(m.op_counts()),
              "macs": m.macs, "weight_bytes": m.weight_bytes, **_arena_fields(arena, arena_error),
              **(_spec_fields(m, spec) if spec is not None else {})}
    run_images = images if images is not None and labels is not None else None
    try:  # in a child process: a crash inside TFLite Micro becomes a TFLiteError naming the signal
        res = run_tflm_isolated(path, _arena_size(m.file_bytes, arena_size), run_images, notes=m.notes)
    except TFLMError as e:
        return VerifyReport(loaded=False, error=str(e), tflm_head_bytes=None, tflm_total_bytes=None, **common)
    top1, n = None, 0
    if res.outputs is not None:
        pred = res.outputs.argmax(axis=1)
        n = len(pred)
        top1 = float((pred == np.asarray(labels)[:n]).mean()) if n else None
    usage = res.usage
    return VerifyReport(loaded=True, error="", tflm_head_bytes=usage.head_bytes, tflm_total_bytes=usage.total_bytes,
                        tflm_tail_bytes=usage.tail_bytes, int8_top1=top1, samples=n, sections=usage.sections,
                        **common)
