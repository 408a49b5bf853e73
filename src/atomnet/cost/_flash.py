"""Flash of a lowered graph per runtime: int8 weights, per-channel extras, runtime code.

``flash_breakdown(graph, runtime)`` returns disjoint parts in bytes (their sum is the Flash estimate):

``weights`` — int8 weights of every conv, depthwise, pointwise, SE 1×1 and dense layer (biases excluded).
``bias``    — int32 biases: 4 bytes per output channel (X-CUBE-AI: exactly the AtomDB Flash column minus the
              weights, i.e. ``4·c_out`` per conv/dense and ``4·(C+mid)+4`` per SE, ``../shared/atomdb`` §4, §8).
``quant``   — requantization data. TFLM: per-channel scale (float32) + zero point (int64) per output
              channel of conv/depthwise/pointwise layers in the flatbuffer, 12 bytes per (per-tensor) dense
              layer; TinyEngine: 4 bytes per output channel (with ``bias`` the ``8·Σ C_out`` of FACTS §3);
              X-CUBE-AI: none beyond the AtomDB formula.
``code``    — runtime code, constants documented in :data:`CODE_BYTES`.
"""

from __future__ import annotations

from atomnet.ops import Op
from atomnet.spec import Graph

#: runtime code and fixed data (bytes), outside the model's parameters:
#: - tinyengine: ~63 KB (FACTS §3, TinyEngine's generated code + kernels);
#: - xcube-ai: 196 KB, *calibrated* on the single published point (atomnet-256kb, int8, X-CUBE-AI 7.2:
#:   981 KB Flash, FACTS §2) minus this module's 785 KB of weights and biases; it therefore includes the
#:   X-CUBE-AI runtime library and the measurement application of the paper;
#: - tflm: 64 KB, our estimate (interpreter, micro allocator and the ~8 reference kernels these models use,
#:   Cortex-M, -Os); not measured — replace with a board measurement when one exists.
CODE_BYTES: dict[str, int] = {"tinyengine": 63 * 1024, "xcube-ai": 196 * 1024, "tflm": 64 * 1024}

_WEIGHTED = ("conv", "pointwise", "depthwise", "dense", "se", "affine")


def layer_flash(op: Op, runtime: str) -> tuple[int, int, int]:
    """``(weights, bias, quant)`` bytes of one operator on ``runtime`` (code excluded)."""
    if op.kind not in _WEIGHTED:
        return 0, 0, 0
    if runtime == "xcube-ai":
        return op.weight_params, op.flash_bytes - op.weight_params, 0
    if runtime == "tflm":
        return op.weight_params, 4 * op.bias_params, 12 if op.kind == "dense" else 12 * op.c_out
    return op.weight_params, 4 * op.bias_params, 4 * op.c_out


def flash_breakdown(graph: Graph, runtime: str | None = None) -> dict[str, int]:
    """``{"weights", "bias", "quant", "code"}`` bytes of ``graph`` on ``runtime`` (default: the graph's).

    >>> from atomnet.spec import lower
    >>> from atomnet.zoo import get_zoo
    >>> f = flash_breakdown(lower(get_zoo("atomnet-256kb"), "xcube-ai"))
    >>> f["weights"] + f["bias"], sum(f.values()) // 1024
    (803840, 981)
    """
    rt = runtime or graph.runtime
    if rt not in CODE_BYTES:
        raise ValueError(f"runtime: no Flash model for {rt!r}; known: {', '.join(sorted(CODE_BYTES))}")
    weights = bias = quant = 0
    for layer in graph.layers:
        w, b, q = layer_flash(layer.op, rt)
        weights, bias, quant = weights + w, bias + b, quant + q
    return {"weights": weights, "bias": bias, "quant": quant, "code": CODE_BYTES[rt]}


def flash_bytes(graph: Graph, runtime: str | None = None) -> int:
    """Total Flash estimate: the sum of :func:`flash_breakdown`."""
    return sum(flash_breakdown(graph, runtime).values())
