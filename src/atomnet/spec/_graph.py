"""`Graph`: a spec lowered into the operators one runtime executes (DESIGN principle 3).

Tensors are int8 activations of shape ``(c, h, w)`` (batch 1); layers read tensors and write one. A layer
marked ``inplace`` writes its output into the buffer of ``inputs[0]`` (TinyEngine's depthwise, an SE module
computed in place); the output still has its own tensor id and shape so that consumers are explicit.
Layer names are ``s{stage}.b{block}.{part}`` with 0-based indices into ``spec.stages[stage].blocks[block]``
(``s0.b0.conv`` is the stem), e.g. ``s3.b1.dw``, ``s3.b1.dw.pad``, ``s4.b0.se``; head layers are
``head.mix``, ``head.pool``, ``head.fc`` with ``stage = len(spec.stages)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from atomnet.errors import UnknownNameError
from atomnet.ops import Op


@dataclass(frozen=True, slots=True)
class Tensor:
    """An int8 activation tensor."""

    id: int
    shape: tuple[int, int, int]  # (c, h, w)

    @property
    def nbytes(self) -> int:
        c, h, w = self.shape
        return c * h * w


@dataclass(frozen=True, slots=True)
class Layer:
    """One operator of the lowered graph.

    ``op`` is the atom operator (its key prices the layer); ``act`` the activation applied to the output
    (fused unless the runtime runs it as its own layer, then this layer *is* the activation);
    ``tflite_op`` the TFLite builtin operator name (``tflm`` lowering only, else empty).
    """

    name: str
    op: Op
    inputs: tuple[int, ...]
    output: int
    stage: int
    block: int
    act: str = "none"
    inplace: bool = False
    tflite_op: str = ""


@dataclass(frozen=True)
class Graph:
    """A lowered model: tensors (index = id), layers in execution order, graph input/output tensor ids."""

    name: str
    runtime: str
    tensors: tuple[Tensor, ...]
    layers: tuple[Layer, ...]
    input: int
    output: int

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(layer.op for layer in self.layers)

    def kind_counts(self) -> Counter[str]:
        """How many layers of each :data:`atomnet.ops.KINDS` kind."""
        return Counter(layer.op.kind for layer in self.layers)

    def consumers(self) -> dict[int, list[int]]:
        """Tensor id → indices of the layers that read it (in order)."""
        out: dict[int, list[int]] = {t.id: [] for t in self.tensors}
        for i, layer in enumerate(self.layers):
            for t in layer.inputs:
                out[t].append(i)
        return out

    def producers(self) -> dict[int, int]:
        """Tensor id → index of the layer that writes it (the graph input has none)."""
        return {layer.output: i for i, layer in enumerate(self.layers)}

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownNameError(f"graph {self.name} ({self.runtime}) has no layer {name!r}")


class GraphBuilder:
    """Accumulates tensors and layers for a lowering."""

    def __init__(self, name: str, runtime: str, input_shape: tuple[int, int, int]) -> None:
        self.name = name
        self.runtime = runtime
        self.tensors: list[Tensor] = []
        self.layers: list[Layer] = []
        self.input = self.tensor(input_shape)

    def tensor(self, shape: tuple[int, int, int]) -> int:
        self.tensors.append(Tensor(len(self.tensors), shape))
        return len(self.tensors) - 1

    def shape(self, t: int) -> tuple[int, int, int]:
        return self.tensors[t].shape

    def add(self, name: str, op: Op, inputs: tuple[int, ...], stage: int, block: int, *, act: str = "none",
            inplace: bool = False, tflite_op: str = "", out_shape: tuple[int, int, int] | None = None) -> int:
        """Append a layer writing a new tensor (of ``op``'s output shape unless given); returns its id."""
        out = self.tensor(out_shape or (op.c_out, op.h_out, op.w_out))
        self.layers.append(Layer(name, op, inputs, out, stage, block, act, inplace, tflite_op))
        return out

    def build(self, output: int) -> Graph:
        return Graph(self.name, self.runtime, tuple(self.tensors), legal_inplace(self.layers, output), self.input,
                     output)


def legal_inplace(layers: list[Layer] | tuple[Layer, ...], output: int) -> tuple[Layer, ...]:
    """``layers`` with ``inplace`` cleared where writing into ``inputs[0]``'s buffer would destroy a tensor that is
    still needed: a later layer reads it (the residual ADD of a block whose depthwise reads the block input) or it
    is the graph output. A runtime runs such a layer out of place (its own output buffer).

    >>> from atomnet.ops import Op
    >>> dw = Layer("dw", Op.depthwise(8, 4, 4, 3, 1), (0,), 1, 0, 0, inplace=True)
    >>> add = Layer("add", Op.eltwise(8, 4, 4, fn="add"), (0, 1), 2, 0, 0)
    >>> legal_inplace([dw, add], 2)[0].inplace
    False
    """
    last: dict[int, int] = {}
    for i, ly in enumerate(layers):
        for t in ly.inputs:
            last[t] = i
    out = []
    for i, ly in enumerate(layers):
        if ly.inplace and ly.inputs and (last.get(ly.inputs[0], i) > i or ly.inputs[0] == output):
            ly = Layer(ly.name, ly.op, ly.inputs, ly.output, ly.stage, ly.block, ly.act, False, ly.tflite_op)
        out.append(ly)
    return tuple(out)
