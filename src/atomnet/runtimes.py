"""MCU inference runtimes: one registered :class:`Runtime` record each (DESIGN: "a runtime is one record").

A record names everything that differs between runtimes: the lowering (``atomnet.spec.lower``: the kernels
it executes), the SRAM planner (``atomnet.cost.get_planner``), the Flash model (weights layout, per-output
channel data, runtime code with the source of that number), the SRAM the runtime needs beyond the planned
arena, the runtime version the model describes, and its aliases. Latency is priced from AtomDB rows whose
provenance runtime is this runtime's name or one of its aliases, on this runtime's lowering.

This module is plain data (it imports only :mod:`atomnet.ops`), so the database, board files and the CLI
resolve names without importing the cost model. Names are canonical everywhere results are written;
aliases are accepted wherever a name is read (CLI options, board files, imported or stored provenance).

>>> get_runtime("x-cube-ai").name, canonical_runtime("xcube-ai")
('xcube-ai', 'xcube-ai')
>>> list_runtimes()
['tflm', 'tinyengine', 'xcube-ai']

X-CUBE-AI's memory differs between version families (7.x, 8.x, 10.x: :mod:`atomnet.cost._xcube`): ``xcube-ai`` is
the family the AtomDB was measured with (7.2 → 7.x); ``xcube-ai@8.x`` (or ``xcube-ai@8.1.0``, any alias) is the
same runtime with another family's memory constants — a variant record, not registered (``list_runtimes`` is
unchanged), accepted wherever a runtime name is read:

>>> get_runtime("x-cube-ai@10.0.0").name, get_runtime("xcube-ai@8.x").planner
('xcube-ai@10.x', 'xcube-ai@8.x')
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Literal

from atomnet.errors import InputError, UnknownNameError
from atomnet.ops import Op

#: X-CUBE-AI's version families with fitted memory constants (``atomnet/data/xcube_memory.json``)
XCUBE_AI_FAMILIES: tuple[str, ...] = ("7.x", "8.x", "10.x")
#: the family of runtime ``xcube-ai``: the AtomDB was measured with X-CUBE-AI 7.2
XCUBE_AI_DEFAULT_FAMILY = "7.x"


@dataclass(frozen=True)
class FlashModel:
    """How a runtime stores a model in Flash.

    Per weighted layer (``atomnet.ops.WEIGHTED_KINDS``): the int8 weights; the biases — ``"atomdb"``: the
    AtomDB Flash column minus the weights (X-CUBE-AI: ``4·c_out`` per conv/dense, ``4·(C+mid)+4`` per SE),
    ``"int32"``: 4 bytes per bias value; ``quant_bytes_per_channel`` bytes of requantization data per output
    channel, or once per layer for the kinds in ``per_tensor_kinds``, plus (in the same ``quant`` part) the code
    Flash that grows with the model: ``code_bytes_per_layer`` per weighted layer (layer descriptors) and
    ``code_bytes_per_channel`` per output channel of one (X-CUBE-AI's per-channel requantization data, which it
    counts as code). Plus ``code_bytes`` of runtime code and fixed data once per model, whose origin
    ``code_source`` states."""

    weights_layout: str
    bias: Literal["atomdb", "int32"]
    quant_bytes_per_channel: int
    code_bytes: int
    code_source: str
    per_tensor_kinds: frozenset[str] = frozenset()
    code_bytes_per_layer: float = 0.0
    code_bytes_per_channel: float = 0.0

    def layer(self, op: Op) -> tuple[int, int, int]:
        """``(weights, bias, quant)`` bytes of one operator (the per-model ``code_bytes`` excluded)."""
        k = op.kind_info
        if not k.weighted:
            return 0, 0, 0
        w = k.weight_params(op)
        b = k.flash_bytes(op) - w if self.bias == "atomdb" else 4 * k.bias_params(op)
        q = self.quant_bytes_per_channel * (1 if op.kind in self.per_tensor_kinds else op.c_out)
        if self.code_bytes_per_layer or self.code_bytes_per_channel:
            q += round(self.code_bytes_per_layer + self.code_bytes_per_channel * op.c_out)
        return w, b, q


@dataclass(frozen=True)
class Runtime:
    """One MCU inference runtime. ``lowering`` and ``planner`` name registered components (they may be
    shared with other runtimes); ``ram_overhead_bytes`` is SRAM beyond the planner's peak, shown apart in a
    cost report, with ``ram_overhead_source`` saying where the number comes from."""

    name: str
    version: str
    lowering: str
    planner: str
    flash: FlashModel
    ram_overhead_bytes: int = 0
    ram_overhead_source: str = ""
    aliases: tuple[str, ...] = ()
    description: str = field(default="", compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name and the aliases: AtomDB rows recorded under any of them price this runtime."""
        return (self.name, *self.aliases)


_RUNTIMES: dict[str, Runtime] = {}
_NAMES: dict[str, str] = {}  # name or alias → canonical name


def register_runtime(runtime: Runtime) -> Runtime:
    """Add ``runtime`` to the registry; a name or alias already taken raises (loud on duplicates)."""
    for n in runtime.names:
        if not n or n != n.strip():
            raise ValueError(f"runtime {runtime.name!r}: names must be non-empty without surrounding spaces, got {n!r}")
        if n in _NAMES:
            raise ValueError(f"runtime name {n!r} is already registered (by runtime {_NAMES[n]!r})")
    if len(set(runtime.names)) != len(runtime.names):
        raise ValueError(f"runtime {runtime.name!r}: an alias repeats a name: {runtime.names}")
    _RUNTIMES[runtime.name] = runtime
    for n in runtime.names:
        _NAMES[n] = runtime.name
    return runtime


def unregister_runtime(name: str) -> None:
    """Remove a runtime (by canonical name or alias) and its aliases from the registry."""
    rt = get_runtime(name)
    del _RUNTIMES[rt.name]
    for n in rt.names:
        del _NAMES[n]


def list_runtimes() -> list[str]:
    """Canonical names of the registered runtimes, sorted."""
    return sorted(_RUNTIMES)


def runtime_names() -> list[str]:
    """Every accepted spelling (canonical names and aliases), sorted: the CLI's ``choices``."""
    return sorted(_NAMES)


def get_runtime(name: str | Runtime) -> Runtime:
    """The record of runtime ``name`` (canonical name or alias, or ``name@version`` for a runtime with version
    variants); unknown names raise :class:`~atomnet.errors.UnknownNameError` (a ``ValueError`` and ``KeyError``)."""
    if isinstance(name, Runtime):
        return name
    base, at, version = name.partition("@")
    if at and base in _NAMES:
        return _variant(_NAMES[base], version)
    try:
        return _RUNTIMES[_NAMES[name]]
    except KeyError:
        aliases = [f"{a} = {c}" for a, c in sorted(_NAMES.items()) if a != c]
        raise UnknownNameError(f"runtime: unknown runtime {name!r}; known: {', '.join(list_runtimes())}"
                         + (f" (aliases: {', '.join(aliases)})" if aliases else "")) from None


def canonical_runtime(name: str) -> str:
    """The canonical name of runtime ``name`` (which may be an alias); unknown names raise ``ValueError``."""
    return get_runtime(name).name


@contextmanager
def runtime_registered(runtime: Runtime) -> Iterator[Runtime]:
    """Register ``runtime`` for the duration of a ``with`` block (tests, experiments), then remove it."""
    register_runtime(runtime)
    try:
        yield runtime
    finally:
        unregister_runtime(runtime.name)


@cache
def _xcube_code(family: str) -> tuple[float, float, float, int]:
    """``(base, per weighted layer, per output channel, rows)`` of X-CUBE-AI's fitted code Flash for ``family``,
    from ``atomnet/data/xcube_memory.json`` (zeros where the file has none)."""
    where = "atomnet/data/xcube_memory.json"
    try:
        d = json.loads(files("atomnet").joinpath("data", "xcube_memory.json").read_text())
    except FileNotFoundError:
        return 0.0, 0.0, 0.0, 0
    fam = d.get("families", {}).get(family) if isinstance(d, dict) else None
    if not isinstance(fam, dict):
        return 0.0, 0.0, 0.0, 0
    vals = [fam.get(k, 0.0) for k in ("code_base_bytes", "code_per_layer_bytes", "code_per_channel_bytes")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        raise InputError(f"{where}: families.{family}: code_* fields must be numbers, got {vals}")
    return float(vals[0]), float(vals[1]), float(vals[2]), len(fam.get("fitted_on_code_flash", []))


def xcube_ai_flash(family: str) -> FlashModel:
    """X-CUBE-AI's Flash model for a version family: the AtomDB weights formula, and code fitted on the public
    ST model zoo rows of that family (:mod:`atomnet.cost._xcube_fit`)."""
    base, per_layer, per_channel, n = _xcube_code(family)
    return FlashModel(
        "int8 weights + int32 biases, exactly the AtomDB Flash formula (../shared/atomdb §4, §8)", "atomdb", 0,
        round(base),
        f"X-CUBE-AI {family} code Flash fitted on {n} public ST model zoo rows (atomnet/data/xcube_memory.json, "
        "docs/xcube-memory.md): a base plus, in the quant part, per weighted layer and per output channel "
        "(requantization data); the application around the network is not included",
        code_bytes_per_layer=per_layer, code_bytes_per_channel=per_channel)


def _xcube_family_of(version: str) -> str:
    fam = version if version in XCUBE_AI_FAMILIES else None
    if fam is None:
        m = re.match(r"\s*v?(\d+)(?:\.\d+)*\s*$", version)
        fam = f"{int(m[1])}.x" if m else None
    if fam not in XCUBE_AI_FAMILIES:
        raise UnknownNameError(f"runtime: xcube-ai has no version family {version!r}; known: "
                               f"{', '.join(XCUBE_AI_FAMILIES)} (or a version such as 8.1.0)")
    return fam


def _xcube_ai(family: str) -> Runtime:
    name = "xcube-ai" if family == XCUBE_AI_DEFAULT_FAMILY else f"xcube-ai@{family}"
    return Runtime(
        name, family, lowering="xcube-ai", planner=name, aliases=("x-cube-ai",) if name == "xcube-ai" else (),
        flash=xcube_ai_flash(family),
        ram_overhead_source="0 here: the runtime's own RAM (fitted per family, grows with the layers) is in the "
                            "planner's extra bytes, the activation pool (I/O allocated) in its arena",
        description=f"STMicroelectronics X-CUBE-AI (STM32Cube.AI) {family}"
                    + (", the family of the public AtomDB (7.2)" if name == "xcube-ai" else ""))


#: canonical runtime → (version → variant record)
_VARIANTS: dict[str, Callable[[str], Runtime]] = {}


def _variant(runtime: str, version: str) -> Runtime:
    make = _VARIANTS.get(runtime)
    if make is None:
        raise UnknownNameError(f"runtime: {runtime!r} has no version variants (asked for {runtime}@{version})")
    return make(version)


@cache
def _xcube_variant(version: str) -> Runtime:
    fam = _xcube_family_of(version)
    rt = _RUNTIMES["xcube-ai"]
    return rt if fam == XCUBE_AI_DEFAULT_FAMILY else _xcube_ai(fam)


register_runtime(_xcube_ai(XCUBE_AI_DEFAULT_FAMILY))
_VARIANTS["xcube-ai"] = _xcube_variant
register_runtime(Runtime(
    "tflm", "reference kernels (tflite-micro PyPI)", lowering="tflm", planner="tflm",
    flash=FlashModel(
        "the .tflite flatbuffer: int8 weights, int32 biases, per-channel float32 scale + int64 zero point "
        "(12 bytes per output channel of conv/depthwise/pointwise; per-tensor dense: 12 bytes)", "int32", 12,
        64 * 1024,
        "our estimate (interpreter, micro allocator and the ~8 reference kernels these models use, Cortex-M, "
        "-Os); not measured: replace with a board measurement when one exists",
        per_tensor_kinds=frozenset({"dense"})),
    ram_overhead_source="0 here: the persistent tail of the arena (tensor structs, quantization data, kernel op "
                        "data; atomnet.tflm, exact for our int8 exports) is in the planner's peak beside the head; "
                        "the application's own RAM and stack are not modelled",
    description="TensorFlow Lite for Microcontrollers"))
register_runtime(Runtime(
    "tinyengine", "MCUNet release", lowering="tinyengine", planner="tinyengine",
    flash=FlashModel(
        "int8 weights + 8 bytes per output channel (int32 bias + per-channel scale, FACTS §3)", "int32", 4,
        63 * 1024, "~63 KB of generated code and kernels (FACTS §3)"),
    ram_overhead_source="0: the published TinyEngine peaks are arena + im2col + kernel buffers (FACTS §3), "
                        "all inside the planner",
    description="MIT TinyEngine (MCUNet's code generator)"))


def runtime_argument(value: str) -> str:
    """``argparse`` ``type=`` for a runtime option: the canonical name of ``value`` (aliases accepted); an
    unknown name is a usage error naming the registered runtimes."""
    import argparse

    try:
        return canonical_runtime(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("runtime: ")) from None


def runtime_metavar() -> str:
    """``{tflm,tinyengine,xcube-ai}``: the registered runtimes, for an option's usage line."""
    return "{" + ",".join(list_runtimes()) + "}"
