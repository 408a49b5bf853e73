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
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from atomnet.errors import UnknownNameError
from atomnet.ops import Op

#: the published Flash of atomnet-256kb (int8, X-CUBE-AI 7.2), the point X-CUBE-AI's code bytes are derived from
XCUBE_AI_PUBLISHED_FLASH_BYTES = 981 * 1024
#: weights + biases of atomnet-256kb under the AtomDB Flash formula (Σ ``Op.flash_bytes`` of its xcube-ai lowering)
XCUBE_AI_CALIBRATION_PARAM_BYTES = 803_840


@dataclass(frozen=True)
class FlashModel:
    """How a runtime stores a model in Flash.

    Per weighted layer (``atomnet.ops.WEIGHTED_KINDS``): the int8 weights; the biases — ``"atomdb"``: the
    AtomDB Flash column minus the weights (X-CUBE-AI: ``4·c_out`` per conv/dense, ``4·(C+mid)+4`` per SE),
    ``"int32"``: 4 bytes per bias value; ``quant_bytes_per_channel`` bytes of requantization data per output
    channel, or once per layer for the kinds in ``per_tensor_kinds``. Plus ``code_bytes`` of runtime code
    and fixed data once per model, whose origin ``code_source`` states."""

    weights_layout: str
    bias: Literal["atomdb", "int32"]
    quant_bytes_per_channel: int
    code_bytes: int
    code_source: str
    per_tensor_kinds: frozenset[str] = frozenset()

    def layer(self, op: Op) -> tuple[int, int, int]:
        """``(weights, bias, quant)`` bytes of one operator (code excluded)."""
        k = op.kind_info
        if not k.weighted:
            return 0, 0, 0
        w = k.weight_params(op)
        b = k.flash_bytes(op) - w if self.bias == "atomdb" else 4 * k.bias_params(op)
        q = self.quant_bytes_per_channel * (1 if op.kind in self.per_tensor_kinds else op.c_out)
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
    """The record of runtime ``name`` (canonical name or alias); unknown names raise
    :class:`~atomnet.errors.UnknownNameError` (a ``ValueError`` and ``KeyError``)."""
    if isinstance(name, Runtime):
        return name
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


register_runtime(Runtime(
    "xcube-ai", "7.2", lowering="xcube-ai", planner="xcube-ai", aliases=("x-cube-ai",),
    flash=FlashModel(
        "int8 weights + int32 biases, exactly the AtomDB Flash formula (../shared/atomdb §4, §8)", "atomdb", 0,
        XCUBE_AI_PUBLISHED_FLASH_BYTES - XCUBE_AI_CALIBRATION_PARAM_BYTES,  # = 196 KB
        "derived from the single published point (atomnet-256kb, int8, X-CUBE-AI 7.2: 981 KB Flash, FACTS §2) "
        "minus its 785 KB of weights and biases; includes the X-CUBE-AI library and the paper's measurement "
        "application"),
    ram_overhead_source="0: the published 232 KB of atomnet-256kb is the activation buffer alone (FACTS §2)",
    description="STMicroelectronics X-CUBE-AI (STM32Cube.AI), as measured in the public AtomDB"))
register_runtime(Runtime(
    "tflm", "reference kernels (tflite-micro PyPI)", lowering="tflm", planner="tflm",
    flash=FlashModel(
        "the .tflite flatbuffer: int8 weights, int32 biases, per-channel float32 scale + int64 zero point "
        "(12 bytes per output channel of conv/depthwise/pointwise; per-tensor dense: 12 bytes)", "int32", 12,
        64 * 1024,
        "our estimate (interpreter, micro allocator and the ~8 reference kernels these models use, Cortex-M, "
        "-Os); not measured: replace with a board measurement when one exists",
        per_tensor_kinds=frozenset({"dense"})),
    ram_overhead_source="0 here: the persistent arena (tensor metadata, kernel state) is measured by "
                        "'atomnet verify' on the real interpreter, not estimated",
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
