"""Price each (model, runtime) once on the reference board: the raw numbers every estimate is built from.

Latency is priced on the *reference* board of the row's board (the board whose AtomDB prices it, STM32H743 for
the public data), unscaled: the board / runtime transfer is applied per row afterwards (:mod:`._latency`), so a
fitted factor can be left out for the row it is evaluated on. Memory and Flash do not depend on the board.
A model's pricing is cached per (model, runtime): hundreds of rows measure a few dozen models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from atomnet.boards import Board, get_board
from atomnet.calibrate import NEGLIGIBLE_OPS
from atomnet.cost import LatencyModel, cost_model, load_latency_model
from atomnet.db import AtomDB
from atomnet.errors import InputError
from atomnet.runtimes import get_runtime
from atomnet.spec import ModelSpec, load_spec
from atomnet.zoo import ZOO


@dataclass(frozen=True)
class Priced:
    """One model under one runtime, on the reference board. ``latency_ms`` None when some operator is not
    priced (``latency_reason`` says which); sizes in bytes (``activation`` = the planned arena + scratch,
    ``runtime_ram`` = the runtime's RAM beyond it, ``peak_sram`` = their sum; ``weights_flash`` = weights,
    biases and quantization data, ``code_flash`` = the runtime's code). ``error``: why nothing was priced."""

    model: str
    runtime: str
    reference: str
    latency_ms: float | None = None
    latency_by_kind_ms: dict[str, float] = field(default_factory=dict)
    latency_reason: str = ""
    ops_exact: int = 0
    ops_predicted: int = 0
    activation_bytes: int | None = None
    runtime_ram_bytes: int | None = None
    peak_sram_bytes: int | None = None
    weights_flash_bytes: int | None = None
    code_flash_bytes: int | None = None
    flash_bytes: int | None = None
    macs: int = 0
    error: str = ""


class PriceCache:
    """Pricing of (model, kind, runtime) on a reference board, computed once; one latency model per reference
    board. ``db`` prices latency (its rows of the reference board, else the embedded predictors)."""

    def __init__(self, db: AtomDB | None) -> None:
        self.db = db
        self._lm: dict[str, LatencyModel | InputError] = {}
        self._specs: dict[str, ModelSpec | InputError] = {}
        self._priced: dict[tuple[str, str, str, str], Priced] = {}

    def latency_model(self, reference: str) -> LatencyModel | InputError:
        if reference not in self._lm:
            try:
                self._lm[reference] = load_latency_model(get_board(reference), self.db)
            except InputError as e:
                self._lm[reference] = e
        return self._lm[reference]

    def spec(self, name: str) -> ModelSpec | InputError:
        if name not in self._specs:
            try:
                self._specs[name] = load_spec(name, catalog=ZOO)
            except InputError as e:
                self._specs[name] = e
        return self._specs[name]

    def price(self, model: str, kind: str, runtime: str, board: Board) -> Priced:
        """The :class:`Priced` of ``model`` (``kind`` "spec" | "tflite") under ``runtime``, latency on the
        reference board of ``board``."""
        ref = board.measured_board
        key = (model, kind, runtime, ref)
        if key not in self._priced:
            self._priced[key] = self._compute(model, kind, runtime, ref)
        return self._priced[key]

    def _compute(self, model: str, kind: str, runtime: str, ref: str) -> Priced:
        lm = self.latency_model(ref)
        if isinstance(lm, InputError):
            return Priced(model, runtime, ref, error=f"no latency model for {ref}: {lm}")
        try:
            if kind == "tflite":
                return _price_tflite(Path(model), runtime, ref, lm)
            spec = self.spec(model)
            if isinstance(spec, InputError):
                return Priced(model, runtime, ref, error=str(spec))
            return _price_spec(spec, model, runtime, ref, lm)
        except InputError as e:  # an operator nothing prices, a runtime that cannot plan the graph …
            return Priced(model, runtime, ref, error=str(e))
        except ImportError as e:  # a .tflite costing component missing from this build
            return Priced(model, runtime, ref, error=f"{Path(model).name}: cannot cost the file ({e})")


def split_memory(runtime: str, arena: int, extra: int, overhead: int) -> tuple[int, int]:
    """(activation RAM, runtime RAM) as the runtime's measurements split them: X-CUBE-AI prints its activation
    pool apart from the runtime's own RAM, which its planner keeps outside the arena (the extra bytes); the
    other runtimes' buffers outside the arena (im2col, kernel scratch) are activation memory."""
    if get_runtime(runtime).planner.startswith("xcube-ai"):
        return arena, extra + overhead
    return arena + extra, overhead


def split_flash(runtime: str, weights: int, bias: int, quant: int, code: int) -> tuple[int, int]:
    """(weights Flash, code Flash) as the runtime's measurements split them: a Flash model whose per-layer part
    is code that grows with the layers (X-CUBE-AI counts its requantization data and layer descriptors as code)
    puts it in the code; otherwise per-channel data is weights data."""
    f = get_runtime(runtime).flash
    if f.quant_bytes_per_channel == 0 and (f.code_bytes_per_layer or f.code_bytes_per_channel):
        return weights + bias, quant + code
    return weights + bias + quant, code


def _price_spec(spec: ModelSpec, model: str, runtime: str, ref: str, lm: LatencyModel) -> Priced:
    r = cost_model(spec, get_board(ref), runtime=runtime, latency_model=lm)
    fb, sb = r.flash_breakdown, r.sram_breakdown
    # TFLM's persistent tail is in the arena the application gives the interpreter (as for a file)
    act, rt_ram = split_memory(runtime, sb["activations"] + sb.get("persistent", 0), sb["scratch"], sb["runtime"])
    weights, code = split_flash(runtime, fb["weights"], fb["bias"], fb["quant"], fb["code"])
    return Priced(model, runtime, ref, r.latency_ms, dict(r.latency_by_kind_ms), "", r.ops_exact, r.ops_predicted,
                  act, rt_ram, r.peak_sram_bytes, weights, code, r.flash_bytes, r.macs)


def _price_tflite(path: Path, runtime: str, ref: str, lm: LatencyModel) -> Priced:
    from atomnet.export import cost_tflite  # (reads the file: no torch)

    c = cost_tflite(path, get_board(ref), runtime=get_runtime(runtime), latency_model=lm)
    sb = c.sram_breakdown
    act = sb.get("activations", 0) + sb.get("scratch", 0) + sb.get("persistent", 0)
    lat: float | None = c.latency_ms
    why = ""
    shapes = {ly.name: ly.out_shape for ly in c.layers}
    # as the transfer fits (atomnet.calibrate): a softmax over a few classes is negligible, anything else blocks
    blocking = [(n, op, r) for n, op, r in c.unpriced
                if op not in NEGLIGIBLE_OPS or math.prod(shapes.get(n, ())) > NEGLIGIBLE_OPS[op]]
    if blocking:
        lat = None
        ops = sorted({op for _, op, _ in blocking})
        why = f"{len(blocking)} operator(s) not priced ({', '.join(ops)}: {blocking[0][2]})"
    return Priced(str(path), runtime, ref, lat, dict(c.latency_by_kind_ms), why, c.ops_exact, c.ops_predicted,
                  act, sb.get("runtime", 0), c.peak_sram_bytes, c.flash_bytes - c.code_bytes, c.code_bytes,
                  c.flash_bytes, c.macs)
