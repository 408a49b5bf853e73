"""X-CUBE-AI's memory per version family: the activation pool, the runtime's own RAM and its code Flash.

A documented *model*, not a clone of ST's allocator. Its **structure is derived** (rules read from X-CUBE-AI's
generated ``network.c`` files and from which published rows share a figure); a few **constants are fitted** per
version family (7.x, 8.x, 10.x) on the public ST model zoo rows (:mod:`atomnet.cost._xcube_fit`, the data file
``atomnet/data/xcube_memory.json`` names every row each constant was fitted on; ``docs/xcube-memory.md``).

Rules (derived), on a graph lowered for ``xcube-ai``:

* **Lifetime-based reuse**: every activation is a buffer from its producer to its last consumer; the pool is
  the largest sum of buffers live at one layer (X-CUBE-AI places them with reuse; :meth:`XCubeMemoryModel.plan`
  places them first-fit, which reaches that sum on every zoo model).
* **I/O allocated** (the ST model zoo's default, ``io_allocated=True``): the uint8 input image lives in the pool
  from the start (its QUANTIZE to int8 runs in place: the generated code gives the conversion the input's
  offset) and the float32 output (4 bytes per class, after DEQUANTIZE) at the end; ``io_allocated=False``
  leaves both out (the application owns them).
* **Pads** are folded into the next convolution (X-CUBE-AI's convolutions carry their padding): a padded
  tensor shares its input's buffer, sized by the unpadded input.
* **Depthwise → pointwise** pairs (a depthwise whose only consumer is a 1×1 conv) run as one fused
  separable kernel (class ``sep``): the depthwise output is never stored, and the pair's output overlaps its
  dying input, ahead of it by ``lead_rows_sep`` output rows (fitted): the pair needs ``max(in, out) +
  lead_rows_sep · (output row bytes)`` instead of ``in + out``. The published MobileNet v1 rows need this: no
  allocator fits them with a separate depthwise output (7.3: 202.14 KiB for 0.25/224 where the pointwise input
  and output alone take 294 KiB).
* **Strided k×k convolutions** (the stem, class ``conv``) overlap their output with their dying input the same
  way, ``lead_rows_conv`` rows ahead (fitted): the FD-MobileNet rows (input image + a few KiB) need it.
* **A strided depthwise that is not fused** overlaps its input one output row and one pixel ahead (the
  offsets of X-CUBE-AI 7.2's generated code for a stride-2 depthwise; derived, not fitted).
* **Element-wise adds** write into a dying input (in place); **SE modules** run in place with a scratch of
  ``11·C + 5·mid`` bytes (the AtomDB SE table: SRAM = CHW + 11C + 5·mid); everything else — a pointwise conv
  that is not fused (MobileNet v2's expansion), a stride-1 k×k conv, pooling, the classifier — keeps input and
  output apart: the 7.3 MobileNet v2 rows are the expansion's input + output + 512 B exactly.
* ``scratch_bytes`` (fitted): kernel scratch and alignment, one constant per model.

Runtime RAM (the runtime's contexts and stack; the ST rows print it apart) is ``runtime_ram_base_bytes +
runtime_ram_per_layer_bytes · layers`` and code Flash is ``code_base_bytes + code_per_layer_bytes · weighted
layers + code_per_channel_bytes · Σ C_out of weighted layers`` (kernels, layer descriptors and per-channel
requantization data), both fitted by least squares.

>>> from atomnet.spec import lower
>>> from atomnet.zoo import get_zoo
>>> m = get_xcube_model("7.x")
>>> g = lower(get_zoo("keras-mobilenet-v1-0.25-224-c5"), "xcube-ai")
>>> round(m.activation_bytes(g) / 1024)  # published (7.3.0): 202.14 KiB
202
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from functools import cache
from importlib.resources import files
from typing import ClassVar

import numpy as np

from atomnet.cost._arrays import FloatArray
from atomnet.cost._sram import Buffer, Planner, SramPlan, register_planner
from atomnet.errors import InputError, UnknownNameError
from atomnet.jsontypes import JSONDict
from atomnet.ops import Op, se_mid
from atomnet.spec import Graph

#: the version families the memory model has constants for
XCUBE_FAMILIES: tuple[str, ...] = ("7.x", "8.x", "10.x")
#: the family of the AtomDB's measurements (X-CUBE-AI 7.2): the family of runtime ``xcube-ai``
DEFAULT_XCUBE_FAMILY = "7.x"
#: the embedded constants, written by ``python -m atomnet.cost._xcube_fit``
DATA_FILE = "xcube_memory.json"
#: lead of an unfused strided depthwise, in output rows (the pixel is added apart): derived, not fitted
UNFUSED_DW_LEAD_ROWS = 1
#: the rule switches a family may set (``XCubeMemoryModel.rules``; none: the 7.x rules of the module doc)
RULES: dict[str, str] = {
    "no-sep-fusion": "a depthwise and its 1x1 conv run apart: the depthwise output is stored",
    "no-conv-overlap": "a strided conv keeps input and output apart",
    "no-dw-overlap": "an unfused strided depthwise keeps input and output apart",
    "input-kept": "the input buffer is never reused: it is live for the whole inference",
    "separate-quantize": "the uint8 input and its int8 copy are two buffers (the uint8 one dies after the stem)",
}

_VERSION = re.compile(r"\s*v?(\d+)(?:\.\d+)*")


def xcube_family(version: str) -> str | None:
    """The version family of an X-CUBE-AI version (``"7.3.0"`` → ``"7.x"``), None for a version outside
    :data:`XCUBE_FAMILIES` (9.x, 6.x …).

    >>> xcube_family("7.3.0 (inferred)"), xcube_family("10.0.0"), xcube_family("9.0"), xcube_family("8.x")
    ('7.x', '10.x', None, '8.x')
    """
    m = _VERSION.match(version.replace(".x", ".0"))
    if m is None:
        return None
    fam = f"{int(m[1])}.x"
    return fam if fam in XCUBE_FAMILIES else None


def check_family(family: str) -> str:
    """``family`` itself, or the family of a version string; an unknown one is an :class:`UnknownNameError`."""
    fam = family if family in XCUBE_FAMILIES else xcube_family(family)
    if fam is None:
        raise UnknownNameError(f"X-CUBE-AI version family {family!r}: known families {', '.join(XCUBE_FAMILIES)} "
                               "(or a version such as 7.3.0)")
    return fam


@dataclass(frozen=True)
class XCubeMemoryModel:
    """The memory model of one X-CUBE-AI version family (module doc): the fitted constants and the rows each
    group was fitted on (``fitted_on_*``: row ids ``family[index]`` of ``../shared/published/measurements.json``).
    Units are in the names; ``lead_rows_*`` are in output rows."""

    family: str
    lead_rows_conv: float = 0.0
    lead_rows_sep: float = 0.0
    scratch_bytes: float = 0.0
    runtime_ram_base_bytes: float = 0.0
    runtime_ram_per_layer_bytes: float = 0.0
    code_base_bytes: float = 0.0
    code_per_layer_bytes: float = 0.0
    code_per_channel_bytes: float = 0.0
    rules: tuple[str, ...] = ()
    tool_versions: tuple[str, ...] = ()
    fitted_on_activation: tuple[str, ...] = ()
    fitted_on_runtime_ram: tuple[str, ...] = ()
    fitted_on_code_flash: tuple[str, ...] = ()
    provenance: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def fitted_on(self) -> tuple[str, ...]:
        """Every row any constant was fitted on, sorted."""
        return tuple(sorted({*self.fitted_on_activation, *self.fitted_on_runtime_ram, *self.fitted_on_code_flash}))

    # ---- the three quantities ---------------------------------------------------------------
    def activation_terms(self, graph: Graph, *, io_allocated: bool = True) -> ActivationTerms:
        """The pool as a function of the fitted constants (what the fit evaluates): see :class:`ActivationTerms`."""
        return activation_terms(graph, io_allocated=io_allocated, rules=self.rules)

    def activation_bytes(self, graph: Graph, *, io_allocated: bool = True) -> int:
        """The activation pool of ``graph`` (lowered for ``xcube-ai``) in bytes: the arena of :meth:`plan`."""
        return self.plan(graph, io_allocated=io_allocated).arena_bytes

    def runtime_ram_bytes(self, graph: Graph) -> int:
        """The runtime's own RAM (contexts, stack), apart from the activation pool (bytes rounded as the planner's
        extra bytes)."""
        return round(self.runtime_ram_base_bytes) + round(self.runtime_ram_per_layer_bytes) * runtime_layers(graph)

    def code_flash_bytes(self, graph: Graph) -> int:
        """Code Flash (kernels, layer descriptors, per-channel requantization data), apart from the weights
        (rounded per layer as :class:`~atomnet.runtimes.FlashModel` does: ``code`` + ``quant``)."""
        ops = [layer.op for layer in graph.layers if layer.op.kind_info.weighted]
        per_layer = sum(round(self.code_per_layer_bytes + self.code_per_channel_bytes * op.c_out) for op in ops)
        return round(self.code_base_bytes) + per_layer

    def plan(self, graph: Graph, *, io_allocated: bool = True) -> SramPlan:
        """The buffers of ``graph`` with these constants, placed first-fit (:class:`XCubeAIPlanner`'s plan)."""
        return _XCubePlanner(self, io_allocated).plan(graph)

    # ---- data file ------------------------------------------------------------------------------
    def to_dict(self) -> JSONDict:
        d: JSONDict = {}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else (dict(v) if isinstance(v, dict) else v)
        return d

    @classmethod
    def from_dict(cls, d: object, where: str = "xcube memory model") -> XCubeMemoryModel:
        if not isinstance(d, dict):
            raise InputError(f"{where}: expected an object, got {type(d).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise InputError(f"{where}: unknown fields {', '.join(unknown)}")
        kw: dict[str, object] = {}
        for name, v in d.items():
            kind = str(known[name].type)
            if name == "family":
                if not isinstance(v, str):
                    raise InputError(f"{where}: field 'family': expected text, got {v!r}")
                kw[name] = check_family(v)
            elif kind.startswith("tuple"):
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise InputError(f"{where}: field {name!r}: expected a list of strings")
                kw[name] = tuple(v)
            elif kind.startswith("dict"):
                if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                    raise InputError(f"{where}: field {name!r}: expected an object of strings")
                kw[name] = {str(k): str(x) for k, x in v.items()}
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise InputError(f"{where}: field {name!r}: expected a number, got {v!r}")
                kw[name] = float(v)
        if "family" not in kw:
            raise InputError(f"{where}: missing field 'family'")
        _check_rules(kw.get("rules", ()), where)  # type: ignore[arg-type]
        return cls(**kw)  # type: ignore[arg-type]


def _check_rules(rules: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(rules) - set(RULES))
    if unknown:
        raise InputError(f"{where}: field 'rules': unknown {', '.join(unknown)}; known: {', '.join(RULES)}")


@dataclass(frozen=True)
class ActivationTerms:
    """The pool as ``max_i(base[i] + lead_rows_conv·conv_rows[i] + lead_rows_sep·sep_rows[i]) + scratch`` over
    the layers ``i``: ``base`` the bytes of the buffers live at layer ``i``, ``conv_rows`` / ``sep_rows`` the
    output row bytes of a ``conv`` / ``sep`` overlap running there (0 elsewhere)."""

    base: FloatArray
    conv_rows: FloatArray
    sep_rows: FloatArray

    def evaluate(self, model: XCubeMemoryModel) -> int:
        return self.evaluate_params(model.lead_rows_conv, model.lead_rows_sep, model.scratch_bytes)

    def evaluate_params(self, lead_conv: float, lead_sep: float, scratch: float) -> int:
        live = self.base + lead_conv * self.conv_rows + lead_sep * self.sep_rows
        return round(float(live.max(initial=0.0)) + scratch)


# ---- the rules ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SymBuffer:
    """A buffer whose size is ``const + conv_rows·lead_rows_conv + sep_rows·lead_rows_sep`` bytes."""

    const: int
    first: int
    last: int
    tensors: tuple[int, ...] = ()
    label: str = ""
    conv_rows: int = 0
    sep_rows: int = 0

    def size(self, lead_conv: float, lead_sep: float) -> int:
        return round(self.const + lead_conv * self.conv_rows + lead_sep * self.sep_rows)


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def _row_bytes(graph: Graph, t: int) -> int:
    c, _, w = graph.tensors[t].shape
    return c * w


def _groups(graph: Graph) -> tuple[list[int], dict[int, int], dict[int, int]]:
    """Root buffer of every tensor (pads and in-place layers share their input's buffer), and each root's
    first and last layer."""
    root = list(range(len(graph.tensors)))
    for layer in graph.layers:
        if layer.inplace or layer.op.kind == "pad":
            root[layer.output] = root[layer.inputs[0]]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, layer in enumerate(graph.layers):
        for t in (*layer.inputs, layer.output):
            r = root[t]
            first.setdefault(r, i)
            last[r] = i
    last[root[graph.output]] = len(graph.layers) - 1
    return root, first, last


def _fused_pointwise(graph: Graph, i: int, root: list[int], consumers: dict[int, list[int]]) -> int | None:
    """The index of the pointwise layer fused with depthwise layer ``i`` (its only consumer, the next
    non-pad layer), else None."""
    dw = graph.layers[i]
    users = consumers.get(root[dw.output], [])
    if dw.op.kind != "depthwise" or len(users) != 1:
        return None
    j = users[0]
    nxt = graph.layers[j]
    between = graph.layers[i + 1: j]
    if nxt.op.kind != "pointwise" or any(ly.op.kind != "pad" for ly in between) or len(nxt.inputs) != 1:
        return None
    return j


def _consumers(graph: Graph, root: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, layer in enumerate(graph.layers):
        if layer.op.kind == "pad" or layer.inplace:
            continue
        for r in dict.fromkeys(root[t] for t in layer.inputs):
            out.setdefault(r, []).append(i)
    return out


class _Lifetimes:
    """Buffer roots with their first/last layer and size, edited by the overlap rules."""

    def __init__(self, graph: Graph, rules: frozenset[str] = frozenset()) -> None:
        self.graph = graph
        self.rules = rules
        self.root, self.first, self.last = _groups(graph)
        nbytes = [t.nbytes for t in graph.tensors]
        self.size = {r: nbytes[r] for r in self.first}
        self.consumers = _consumers(graph, self.root)
        self.leads: list[_SymBuffer] = []
        self.fused_mid: set[int] = set()
        self.absorbed: dict[int, int] = {}  # a dying input wholly inside its output's buffer → that output

    def step(self, i: int) -> int:
        """Apply the rule of the step starting at layer ``i``; returns the step's last layer."""
        g = self.graph
        layer = g.layers[i]
        op = layer.op
        x, y = self.root[layer.inputs[0]], self.root[layer.output]
        j = None if "no-sep-fusion" in self.rules else _fused_pointwise(g, i, self.root, self.consumers)
        if j is not None:  # depthwise → pointwise run as one separable kernel: its middle tensor is never stored
            self.fused_mid.add(y)
            out = g.layers[j].output
            self.overlap(i, j, x, self.root[out],
                         _SymBuffer(0, i, j, label=f"{layer.name}+pw.lead", sep_rows=_row_bytes(g, out)))
            return j
        if op.kind == "conv" and op.stride > 1 and "no-conv-overlap" not in self.rules:
            self.overlap(i, i, x, y, _SymBuffer(0, i, i, label=f"{layer.name}.lead",
                                                conv_rows=_row_bytes(g, layer.output)))
        elif op.kind == "depthwise" and op.stride > 1 and "no-dw-overlap" not in self.rules:
            lead = UNFUSED_DW_LEAD_ROWS * _row_bytes(g, layer.output) + g.tensors[layer.output].shape[0]
            self.overlap(i, i, x, y, _SymBuffer(lead, i, i, label=f"{layer.name}.lead"))
        elif op.kind == "se":
            self.leads.append(_SymBuffer(11 * op.c_in + 5 * se_mid(op.c_in), i, i, label=f"{layer.name}.scratch"))
        elif op.kind == "eltwise" and self._dies_into(i, x, y):
            self.first[y] = i + 1  # written into the dying input
        return i

    def _dies_into(self, i: int, x: int, y: int) -> bool:
        return x != y and self.last[x] == i and self.first[y] == i and self.size[x] >= self.size[y]

    def overlap(self, i: int, end: int, x: int, y: int, lead: _SymBuffer) -> None:
        """Output ``y`` of the step ``i..end`` overlaps its dying input ``x``, ``lead`` ahead of it."""
        if x == y or self.last[x] != i or self.first[y] not in (i, end):
            return
        self.leads.append(lead)
        if self.size[x] >= self.size[y] and self.last.get(y, end) > end:
            self.last[x], self.first[y] = end, end + 1
        else:
            self.last[x], self.first[y] = i - 1, i
            if self.first[x] > self.last[x]:
                self.absorbed[x] = y

    def buffers(self, io_allocated: bool) -> list[_SymBuffer]:
        home = {r: r for r in self.first}
        for x, y in self.absorbed.items():
            while y in self.absorbed:
                y = self.absorbed[y]
            home[x] = y
        members: dict[int, list[int]] = {}
        for t, r in enumerate(self.root):
            if r in home:
                members.setdefault(home[r], []).append(t)
        out = []
        for r, first in self.first.items():
            keep = r not in self.fused_mid and (io_allocated or r != self.root[self.graph.input])
            if keep and first <= self.last[r]:
                out.append(_SymBuffer(_align4(self.size[r]), first, self.last[r], tuple(members.get(r, ()))))
        return out


def memory_buffers(graph: Graph, *, io_allocated: bool = True, rules: tuple[str, ...] = ()) -> list[_SymBuffer]:
    """The buffers of the module doc's rules, with the switches ``rules`` (:data:`RULES`); sizes symbolic in the
    fitted leads, ``scratch_bytes`` apart."""
    if graph.runtime != "xcube-ai":
        raise ValueError(f"the xcube-ai memory model needs a graph lowered for 'xcube-ai', got {graph.runtime!r}")
    life = _Lifetimes(graph, frozenset(rules))
    i, n = 0, len(graph.layers)
    inp = life.root[graph.input]
    if "input-kept" in rules:
        life.last[inp] = n - 1
    while i < n:
        i = life.step(i) + 1
    if "input-kept" in rules:
        life.last[inp] = n - 1
        life.absorbed.pop(inp, None)
    bufs = life.buffers(io_allocated)
    if io_allocated:
        out = _align4(4 * graph.tensors[graph.output].nbytes)
        bufs.append(_SymBuffer(out, n - 1, n - 1, label="output.float32"))
        if "separate-quantize" in rules:
            bufs.append(_SymBuffer(_align4(graph.tensors[graph.input].nbytes), 0, 0, label="input.uint8"))
    return bufs + life.leads


def activation_terms(graph: Graph, *, io_allocated: bool = True, rules: tuple[str, ...] = ()) -> ActivationTerms:
    """:class:`ActivationTerms` of ``graph`` under the module doc's rules (and the switches ``rules``)."""
    n = len(graph.layers)
    base, conv, sep = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    for b in memory_buffers(graph, io_allocated=io_allocated, rules=rules):
        for arr, v in ((base, b.const), (conv, b.conv_rows), (sep, b.sep_rows)):
            arr[b.first] += v
            arr[b.last + 1] -= v
    return ActivationTerms(np.cumsum(base)[:n], np.cumsum(conv)[:n], np.cumsum(sep)[:n])


def runtime_layers(graph: Graph) -> int:
    """Layers the runtime keeps a context for: every layer but the pads folded into convolutions."""
    return sum(layer.op.kind != "pad" for layer in graph.layers)


def code_features(graph: Graph) -> tuple[int, int]:
    """``(weighted layers, Σ C_out of weighted layers)`` of ``graph``: what code Flash grows with."""
    ops = [layer.op for layer in graph.layers if layer.op.kind_info.weighted]
    return len(ops), sum(op.c_out for op in ops)


# ---- embedded constants -----------------------------------------------------------------------
@cache
def embedded_models() -> dict[str, XCubeMemoryModel]:
    """The fitted models of the data file, by family."""
    path = files("atomnet").joinpath("data", DATA_FILE)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        return {f: XCubeMemoryModel(f) for f in XCUBE_FAMILIES}
    if not isinstance(d, dict) or not isinstance(d.get("families"), dict):
        raise InputError(f"atomnet/data/{DATA_FILE}: expected an object with 'families'")
    return {check_family(k): XCubeMemoryModel.from_dict(v, f"atomnet/data/{DATA_FILE}: families.{k}")
            for k, v in d["families"].items()}


def get_xcube_model(family: str = DEFAULT_XCUBE_FAMILY) -> XCubeMemoryModel:
    """The embedded (fitted) model of ``family`` (a family or a version such as ``"8.1.0"``)."""
    fam = check_family(family)
    try:
        return embedded_models()[fam]
    except KeyError:
        raise UnknownNameError(f"atomnet/data/{DATA_FILE} has no constants for X-CUBE-AI {fam}") from None


# ---- the planner ------------------------------------------------------------------------------
class _XCubePlanner(Planner):
    """The model's buffers placed by the shared first-fit rule (which reaches the largest live sum, what the fit
    evaluates, on every zoo model to within the per-buffer rounding); the runtime RAM is the extra bytes outside
    the arena."""

    runtime = "xcube-ai"
    lowering = "xcube-ai"
    extra_label = "runtime"
    alignment = 4

    def __init__(self, model: XCubeMemoryModel, io_allocated: bool = True) -> None:
        self.model = model
        self.io_allocated = io_allocated

    def buffers(self, graph: Graph) -> list[Buffer]:
        m = self.model
        out = []
        for b in memory_buffers(graph, io_allocated=self.io_allocated, rules=m.rules):
            out.append(Buffer(b.size(m.lead_rows_conv, m.lead_rows_sep), b.first, b.last, -1, b.tensors, b.label))
        if m.scratch_bytes > 0:
            s = round(m.scratch_bytes)
            out += [Buffer(s, i, i, -1, (), f"{ly.name}.kernel-scratch") for i, ly in enumerate(graph.layers)
                    if ly.op.kind != "pad"]
        return out

    def layer_extra(self, op: Op, inplace: bool) -> tuple[int, ...]:
        """The runtime RAM each layer adds (its context), outside the activation pool."""
        return () if op.kind == "pad" else (round(self.model.runtime_ram_per_layer_bytes),)

    def extra_bytes(self, extras: list[tuple[int, ...]]) -> int:
        return round(self.model.runtime_ram_base_bytes) + sum(sum(e) for e in extras)


@register_planner("xcube-ai")
class XCubeAIPlanner(_XCubePlanner):
    """X-CUBE-AI's memory (module doc), family :data:`DEFAULT_XCUBE_FAMILY`; ``xcube-ai@8.x`` plans with the
    8.x constants (:meth:`variant`). ``peak_bytes`` = activation pool (I/O allocated) + runtime RAM."""

    family: ClassVar[str] = DEFAULT_XCUBE_FAMILY

    def __init__(self, family: str | None = None) -> None:
        super().__init__(get_xcube_model(family or self.family), True)

    def variant(self, version: str) -> Planner:
        fam = check_family(version)
        return _variant(fam)


@cache
def _variant(family: str) -> XCubeAIPlanner:
    cls = type(f"XCubeAIPlanner_{family.replace('.', '_')}", (XCubeAIPlanner,),
               {"runtime": f"xcube-ai@{family}", "family": family, "__doc__": f"X-CUBE-AI {family} memory."})
    p: XCubeAIPlanner = cls()
    return p
