"""Measurement runners (registered by name, :func:`register_runner` / :func:`get_runner`).

A runner opens one single-op (or whole) model as a :class:`Session`: ``warmup(n)`` runs it untimed,
``repeat()`` returns one timed latency in milliseconds; ``sram_bytes`` and ``flash_bytes`` say what the
target allocated and stores. Campaigns commit every ``repeat()`` at once.

``tflm-host``: the TFLite Micro interpreter on this machine. A repeat is the time of ``invoke()`` averaged
    over enough back-to-back invokes to last ``min_repeat_ms``, so that the clock's resolution and Python's
    call overhead (about 1 µs) stay small against the op. ``clock="cpu"`` (default) reads the thread's CPU time
    (``time.thread_time_ns``), ``clock="wall"`` the wall time (``time.perf_counter_ns``). On a shared machine
    wall time charges other processes' time slices to whatever runs longer than a slice: measured here,
    mcunet-in0 took 12.9 ms wall (median of 30) but 8.8 ms CPU, while its short operators were barely
    affected — a bias against additivity that CPU time does not have. SRAM is the
    arena the interpreter really allocated (``RecordingMicroAllocator`` total: planned activations, scratch,
    persistent structures), Flash the model's constant bytes (weights + biases + other constants).
``serial``: a board speaking ``docs/serial-protocol.md`` (:mod:`atomnet.measure._serial`).
``import``: results measured elsewhere (:mod:`atomnet.measure._import`).
``qemu``: generated C in QEMU, instruction counts (:mod:`atomnet.measure._qemu`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from atomnet.errors import InputError
from atomnet.measure._singleop import Variant
from atomnet.ops import Op


class Session(Protocol):
    sram_bytes: int | None
    flash_bytes: int | None

    def warmup(self, n: int) -> None: ...

    def repeat(self) -> float: ...

    def close(self) -> None: ...


class Runner(Protocol):
    name: str
    runtime: str
    runtime_version: str
    clock_mhz: float | None

    def open(self, model: bytes, op: Op | None = None, variant: Variant | None = None) -> Session: ...


_RUNNERS: dict[str, Callable[..., Runner]] = {}


def register_runner(name: str) -> Callable[[Callable[..., Runner]], Callable[..., Runner]]:
    """Decorator registering a runner factory (``factory(**options) -> Runner``); duplicates raise."""

    def deco(factory: Callable[..., Runner]) -> Callable[..., Runner]:
        if name in _RUNNERS:
            raise ValueError(f"a measurement runner {name!r} is already registered")
        _RUNNERS[name] = factory
        return factory

    return deco


def list_runners() -> list[str]:
    _load_builtin()
    return sorted(_RUNNERS)


def get_runner(name: str, **options: Any) -> Runner:
    """A runner by name, e.g. ``get_runner("tflm-host", min_repeat_ms=2)``."""
    _load_builtin()
    try:
        factory = _RUNNERS[name]
    except KeyError:
        raise InputError(f"runner: unknown {name!r}; known: {', '.join(sorted(_RUNNERS))}") from None
    return factory(**options)


def _load_builtin() -> None:
    import importlib

    for mod in ("_import", "_serial", "_qemu"):  # their import registers 'import', 'serial' and 'qemu'
        importlib.import_module(f"atomnet.measure.{mod}")


class _HostSession:
    def __init__(self, model: bytes, min_repeat_ms: float, seed: int, clock: str = "cpu") -> None:
        import os
        import tempfile

        from atomnet.export import TFLMModel, parse_tflite

        with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as f:
            f.write(model)
        try:
            self.tm = TFLMModel(f.name)
            arena = self.tm.arena()  # runs once on zeros, then reads the allocator's report
        finally:
            os.unlink(f.name)
        self.sram_bytes: int | None = arena.total_bytes
        parsed = parse_tflite(model)
        self.flash_bytes: int | None = parsed.const_bytes
        self._it = self.tm.interpreter
        rng = np.random.default_rng(seed)
        for i in range(len(parsed.inputs)):  # every graph input gets random int8 data (ADD/MUL have two)
            d = self._it.get_input_details(i)
            shape = tuple(int(v) for v in d["shape"])
            self._it.set_input(rng.integers(-128, 128, size=shape).astype(d["dtype"]), i)
        self.min_repeat_ns = min_repeat_ms * 1e6
        self.inner = 1
        self.clock = time.thread_time_ns if clock == "cpu" else time.perf_counter_ns

    def warmup(self, n: int) -> None:
        """``n`` untimed invokes, continued for at least two repeat lengths (caches, CPU clock)."""
        inv = self._it.invoke
        t0 = time.perf_counter_ns()
        k = 0
        while k < max(1, n) or time.perf_counter_ns() - t0 < 2 * self.min_repeat_ns:
            inv()
            k += 1
        per = (time.perf_counter_ns() - t0) / k
        self.inner = max(1, math.ceil(self.min_repeat_ns / max(per, 1.0)))

    def repeat(self) -> float:
        inv = self._it.invoke
        k, clock = self.inner, self.clock
        t0 = clock()
        for _ in range(k):
            inv()
        return (clock() - t0) / k / 1e6

    def close(self) -> None:
        self._it = None
        self.tm = None  # type: ignore[assignment]


class TFLMHostRunner:
    """Real TFLite Micro (reference kernels) on this machine; the results form the ``host`` board's AtomDB."""

    name = "tflm-host"
    runtime = "tflm"
    clock_mhz: float | None = None

    def __init__(self, min_repeat_ms: float = 2.0, seed: int = 0, clock: str = "cpu") -> None:
        if clock not in ("cpu", "wall"):
            raise InputError(f"clock: expected 'cpu' or 'wall', got {clock!r}")
        self.clock = clock
        from importlib import metadata

        try:
            self.runtime_version = metadata.version("tflite-micro")
        except metadata.PackageNotFoundError:  # pragma: no cover
            self.runtime_version = "unknown"
        self.min_repeat_ms, self.seed = min_repeat_ms, seed

    def open(self, model: bytes, op: Op | None = None, variant: Variant | None = None) -> Session:
        return _HostSession(model, self.min_repeat_ms, self.seed, self.clock)


register_runner("tflm-host")(TFLMHostRunner)


def flag_outliers(values: list[float], k: float = 5.0, floor: float = 0.05) -> list[bool]:
    """Repeats far from their median: ``|x − median| > max(k · 1.4826 · MAD, floor · median)``. Flagged,
    never dropped (the per-key median is robust to them anyway)."""
    if len(values) < 3:
        return [False] * len(values)
    a = np.asarray(values, np.float64)
    med = float(np.median(a))
    mad = float(np.median(np.abs(a - med))) * 1.4826
    lim = max(k * mad, floor * med)
    return [bool(abs(v - med) > lim) for v in a]
