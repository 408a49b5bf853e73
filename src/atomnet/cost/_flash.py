"""Flash of a lowered graph per runtime: int8 weights, per-channel extras, runtime code.

``flash_breakdown(graph, runtime)`` returns disjoint parts in bytes (their sum is the Flash estimate), each
from the runtime's :class:`~atomnet.runtimes.FlashModel` (its record says where each number comes from):

``weights`` — int8 weights of every weighted layer (``atomnet.ops.WEIGHTED_KINDS``), biases excluded.
``bias``    — int32 biases (X-CUBE-AI: exactly the AtomDB Flash column minus the weights, i.e. ``4·c_out``
              per conv/dense and ``4·(C+mid)+4`` per SE, ``../shared/atomdb`` §4, §8).
``quant``   — requantization data. TFLM: per-channel scale (float32) + zero point (int64) per output
              channel of conv/depthwise/pointwise layers in the flatbuffer, 12 bytes per (per-tensor) dense
              layer; TinyEngine: 4 bytes per output channel (with ``bias`` the ``8·Σ C_out`` of FACTS §3);
              X-CUBE-AI: the per-layer and per-channel part of its fitted code Flash (layer descriptors,
              requantization data; ``atomnet.cost._xcube``, docs/xcube-memory.md).
``code``    — runtime code and fixed data, ``FlashModel.code_bytes`` (source in ``FlashModel.code_source``).
"""

from __future__ import annotations

from atomnet.runtimes import Runtime, get_runtime
from atomnet.spec import Graph


def flash_breakdown(graph: Graph, runtime: Runtime | str | None = None) -> dict[str, int]:
    """``{"weights", "bias", "quant", "code"}`` bytes of ``graph`` on ``runtime`` (default: the runtime
    named like the graph's lowering).

    >>> from atomnet.spec import lower
    >>> from atomnet.zoo import get_zoo
    >>> f = flash_breakdown(lower(get_zoo("atomnet-256kb"), "xcube-ai"))
    >>> f["weights"] + f["bias"], sum(f.values()) // 1024
    (803840, 902)
    """
    fm = get_runtime(runtime or graph.runtime).flash
    weights = bias = quant = 0
    for layer in graph.layers:
        w, b, q = fm.layer(layer.op)
        weights, bias, quant = weights + w, bias + b, quant + q
    return {"weights": weights, "bias": bias, "quant": quant, "code": fm.code_bytes}


def flash_bytes(graph: Graph, runtime: Runtime | str | None = None) -> int:
    """Total Flash estimate: the sum of :func:`flash_breakdown`."""
    return sum(flash_breakdown(graph, runtime).values())
