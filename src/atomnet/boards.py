"""Board profiles: core, clock, memory budgets, default runtime, optional external memory.

Built-in boards follow ``../shared/FACTS.md`` §4. User boards come from a TOML or JSON file::

    name = "my-f767"
    core = "cortex-m7"
    clock_mhz = 216
    sram = "512KB"
    flash = "2MB"
    runtime = "tflm"
    # optional: which measured board's AtomDB prices this one, and a calibrated time factor
    reference = "stm32h743"
    time_scale = 2.3

Latency on a board without its own measurements is *scaled* from a measured reference board:
``t_board = t_ref · time_scale``. For the built-in F746 and F412 the factor is calibrated on the one
published whole-model point (AtomNet-256KB, int8, X-CUBE-AI 7.2: 275 / 626 / 2124 ms on H743 / F746 /
F412, FACTS §2), i.e. ``626/275`` and ``2124/275``; it folds together the clock ratio and the core's
cycles per MAC (Cortex-M4 has no dual-issue, no cache). Such figures are marked "scaled".

A board may also carry **transfer models** (:class:`Transfer`, ``docs/transfer.md``): latency on the board with
a runtime = Σ over operator kinds of the reference board's (STM32H743, X-CUBE-AI AtomDB) latency × the factor of
the kind's group (compute-bound kinds, memory-bound kinds), fitted on whole-model measurements of that board and
runtime (:mod:`atomnet.calibrate`). The built-in boards ship fitted from ``../shared/published`` (the fit, its
rows and its leave-one-out error in ``atomnet/data/board_transfers.json``); ``atomnet boards calibrate B`` shows
or refits them. A transfer replaces ``time_scale`` when the board is costed with that runtime.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from atomnet.errors import InputError, UnknownNameError
from atomnet.runtimes import canonical_runtime
from atomnet.units import parse_bytes

#: whole-model latency of AtomNet-256KB per board (ms), the calibration point of the scaling model
CALIBRATION_MS: dict[str, float] = {"stm32h743": 275.0, "stm32f746": 626.0, "stm32f412": 2124.0}
#: the board and runtime whose AtomDB prices every transfer (factor 1 by definition)
REFERENCE_BOARD, REFERENCE_RUNTIME = "stm32h743", "xcube-ai"
#: operator-kind groups of a transfer model: k×k convolutions (im2col / direct loops with input reuse), GEMM-like
#: kinds (pointwise and dense: each weight read once per output pixel / once per inference), and kinds bound by
#: loads and stores rather than MACs (depthwise — 85 vs 385 MMAC/s for pointwise in the AtomDB, FACTS §4 —,
#: pad, element-wise, pooling, SE's global pool and channel scaling, affine). Chosen among four candidate
#: groupings by the leave-one-out errors on the public rows (docs/transfer.md).
DEFAULT_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv", ("conv",)),
    ("gemm", ("pointwise", "dense")),
    ("memory", ("depthwise", "pad", "eltwise", "pool", "se", "affine")),
)
#: runtimes a transfer may name that are not registered in :mod:`atomnet.runtimes` (no lowering or planner of
#: their own: only their latency is transferred)
TRANSFER_ONLY_RUNTIMES: dict[str, str] = {
    "cmsis-nn": "TFLite Micro with the CMSIS-NN optimized kernels (the TinyEngine README's CMSIS-NN column)",
}


@dataclass(frozen=True)
class LooSummary:
    """Leave-one-model-out error of a transfer fit: each row predicted by a fit (prior strength included) that
    saw no row of its model. ``median_abs``/``max_abs`` are |estimate / measured − 1|; ``within_5``/``within_10``
    the share of rows within ±5 % / ±10 %."""

    rows: int
    models: int
    median_abs: float
    max_abs: float
    within_5: float
    within_10: float


@dataclass(frozen=True)
class Transfer:
    """Latency of ``runtime`` on a board from the reference board's AtomDB (``docs/transfer.md``):
    ``t = Σ_kind t_ref(kind) · factor(group(kind))``.

    ``level`` is the single factor of the same rows (the prior's shape at its fitted level; with a flat prior,
    the pooled factor ``Σ``-fit of one number); ``prior_strength`` the ridge weight pulling each group factor
    toward ``level · prior shape`` (None: no group freedom, the prior exactly), chosen as ``prior_strength_how``
    says; ``prior`` is "" (flat: toward one factor) or the ``board/runtime[@version]`` transfer whose group
    ratios are the prior shape. ``rows`` are the ids of the whole-model rows fitted on (``family[index]`` of
    ``../shared/published/measurements.json``, or a user row's source), ``version`` the runtime version they
    were restricted to ("" = every version in the rows, listed in ``versions``)."""

    runtime: str
    factors: tuple[tuple[str, float], ...]
    level: float
    rows: tuple[str, ...]
    version: str = ""
    versions: tuple[str, ...] = ()
    groups: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_GROUPS
    prior: str = ""
    prior_strength: float | None = None
    prior_strength_how: str = ""
    loo: LooSummary | None = None
    reference: str = REFERENCE_BOARD
    reference_runtime: str = REFERENCE_RUNTIME
    source: str = ""

    @property
    def key(self) -> str:
        """``runtime`` or ``runtime@version``."""
        if not self.version:
            return self.runtime
        return self.runtime + (self.version if self.version.startswith("@") else f"@{self.version}")

    def factor(self, group: str) -> float:
        for g, f in self.factors:
            if g == group:
                return f
        raise KeyError(f"transfer {self.key}: no group {group!r}")

    def group_of(self, kind: str) -> str:
        for g, kinds in self.groups:
            if kind in kinds:
                return g
        raise KeyError(f"transfer {self.key}: operator kind {kind!r} is in no group")

    def kind_factor(self, kind: str) -> float:
        """The factor the reference latency of an operator of ``kind`` is multiplied by."""
        return self.factor(self.group_of(kind))

    def estimate_ms(self, ref_by_kind_ms: Mapping[str, float]) -> float:
        """This transfer's latency from the reference latency per operator kind (``CostReport.latency_by_kind_ms``)."""
        return float(sum(ms * self.kind_factor(k) for k, ms in ref_by_kind_ms.items()))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["factors"] = dict(self.factors)
        d["groups"] = {g: list(kinds) for g, kinds in self.groups}
        return d

    @classmethod
    def from_dict(cls, data: object, where: str = "transfer") -> Transfer:
        """A transfer from :meth:`to_dict`'s form; a missing, unknown or mistyped field is an
        :class:`~atomnet.errors.InputError` naming ``where`` and the field."""
        return _transfer_from_dict(data, where)


@dataclass(frozen=True)
class SramRegion:
    """One internal SRAM region: its size and whether it is tightly coupled (TCM: zero wait states, no DMA on
    some parts)."""

    name: str
    size_bytes: int
    tcm: bool = False


@dataclass(frozen=True)
class ExternalMemory:
    """Off-chip memory (TinyOps setting, ``docs/external.md``): SDRAM/PSRAM and QSPI/OSPI Flash with capacity,
    read bandwidth (``*_mb_per_s``: the *peak* of the bus, FACTS §4; the plan multiplies it by
    :data:`atomnet.cost.SUSTAINED_FRACTION` unless the write/sustained fields are given), write bandwidth (0 = the
    read figure), access latency, the internal SRAM regions and the DMA engines (streams, setup cost per
    transfer). Every field defaults so that old board files read as before."""

    sdram_bytes: int = 0
    sdram_mb_per_s: float = 0.0
    qspi_bytes: int = 0
    qspi_mb_per_s: float = 0.0
    sdram_write_mb_per_s: float = 0.0
    sdram_latency_ns: float = 0.0
    qspi_latency_ns: float = 0.0
    #: sustained / peak bandwidth (0 = the plan's default, ``atomnet.cost.SUSTAINED_FRACTION``)
    sustained_fraction: float = 0.0
    dma_streams: int = 2
    dma_setup_us: float = 0.0
    sram_regions: tuple[SramRegion, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    core: str
    clock_mhz: float
    sram_bytes: int
    flash_bytes: int
    runtime: str = "xcube-ai"
    #: board whose AtomDB measurements price this one ("" = measured itself)
    reference: str = ""
    #: latency multiplier relative to ``reference`` (1.0 when measured itself)
    time_scale: float = 1.0
    external: ExternalMemory | None = None
    description: str = ""
    #: latency transfer models per runtime (module doc), in order of preference for a runtime
    transfers: tuple[Transfer, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def measured_board(self) -> str:
        """The board whose AtomDB rows price this one."""
        return self.reference or self.name

    @property
    def is_scaled(self) -> bool:
        return bool(self.reference) and self.reference != self.name

    def transfer_for(self, runtime: str, version: str | None = None) -> Transfer | None:
        """The transfer model of ``runtime`` (``version``: that version's; None: the first listed, which is
        fitted on every version), or None when the board has none for it."""
        for t in self.transfers:
            if t.runtime == runtime and (version is None or t.version == version):
                return t
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["transfers"] = [t.to_dict() for t in self.transfers]
        return d


def _transfer_from_dict(data: object, where: str) -> Transfer:
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {f for f in Transfer.__dataclass_fields__}
    unknown = set(data) - fields
    if unknown:
        raise InputError(f"{where}: unknown transfer field(s) {sorted(unknown)}; expected some of {sorted(fields)}")
    for req in ("runtime", "factors", "level", "rows"):
        if req not in data:
            raise InputError(f"{where}: missing transfer field {req!r}")
    kw: dict[str, Any] = dict(data)
    try:
        runtime = str(kw["runtime"])
        if runtime not in TRANSFER_ONLY_RUNTIMES:
            runtime = canonical_runtime(runtime)
        kw["runtime"] = runtime
        kw["factors"] = tuple((str(g), _positive(f, f"{where}.factors.{g}")) for g, f in dict(kw["factors"]).items())
        kw["level"] = _positive(kw["level"], f"{where}.level")
        kw["rows"] = tuple(str(r) for r in kw["rows"])
        kw["versions"] = tuple(str(v) for v in kw.get("versions", ()))
        if "groups" in kw:
            kw["groups"] = tuple((str(g), tuple(str(k) for k in kinds)) for g, kinds in dict(kw["groups"]).items())
        ps = kw.get("prior_strength")
        kw["prior_strength"] = None if ps is None else float(ps)
        if kw.get("loo") is not None:
            loo = dict(kw["loo"])
            kw["loo"] = LooSummary(int(loo["rows"]), int(loo["models"]), *(float(loo[k]) for k in
                                   ("median_abs", "max_abs", "within_5", "within_10")))
    except (TypeError, ValueError, KeyError) as e:
        raise InputError(f"{where}: {e}") from e
    t = Transfer(**kw)
    groups = {g for g, _ in t.groups}
    if {g for g, _ in t.factors} != groups:
        raise InputError(f"{where}: factors name the groups {sorted(g for g, _ in t.factors)}, "
                         f"the groups are {sorted(groups)}")
    return t


def _positive(v: object, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise InputError(f"{where}: expected a positive number, got {v!r}")
    return float(v)


#: the factor of a board whose shipped transfer is missing: the clock ratio to the reference's 400 MHz (a
#: placeholder, replaced by the fitted single factor of the board's rows, ``Transfer.level``)
_UNFITTED_SCALE = {"stm32h747": 1.0, "stm32f769": 400 / 216, "stm32h7a3": 400 / 280, "stm32l4r5": 400 / 120,
                   "stm32u575": 400 / 160}
_DATASHEET = "SRAM/Flash: ST datasheet of the part the published rows name"
#: DMA setup cost per transfer (µs): an assumption (programming one DMA stream's registers and the interrupt, a few
#: hundred cycles at 200 MHz), not fitted; docs/external.md
_DMA_SETUP_US = 2.0
_EXT_SOURCE = ("FACTS §4/§7: SDRAM/QSPI sizes and peak bandwidths of the DISCO boards; latencies 60 ns SDRAM (CAS 2-3 "
               "+ row activate) and 100 ns QSPI (command + address phase) assumed from the datasheets, not measured")
#: boards that take another board's shipped latency transfers (the same MCU on a different board)
_TRANSFERS_OF = {"stm32f746g-disco": "stm32f746"}
_BOARDS: tuple[Board, ...] = (
    Board("stm32h743", "cortex-m7", 400, 512 * 1024, 2 * 1024 * 1024, "xcube-ai",
          description="STM32H743, Cortex-M7 @ 400 MHz as measured in the public AtomDB "
                      "(480 MHz on rev V silicon); 512 KB SRAM budget of the paper, 2 MB Flash"),
    Board("stm32f746", "cortex-m7", 216, 320 * 1024, 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=CALIBRATION_MS["stm32f746"] / CALIBRATION_MS["stm32h743"],
          description="STM32F746, Cortex-M7 @ 216 MHz, 320 KB SRAM, 1 MB Flash"),
    Board("stm32f412", "cortex-m4f", 100, 256 * 1024, 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=CALIBRATION_MS["stm32f412"] / CALIBRATION_MS["stm32h743"],
          description="STM32F412, Cortex-M4F @ 100 MHz, 256 KB SRAM, 1 MB Flash"),
    Board("stm32f469-disco", "cortex-m4f", 180, 320 * 1024, 2 * 1024 * 1024, "xcube-ai",
          reference="stm32h743",
          time_scale=CALIBRATION_MS["stm32f412"] / CALIBRATION_MS["stm32h743"] * 100 / 180,
          external=ExternalMemory(8 * 1024**2, 360.0, 8 * 1024**2, 45.0, sdram_latency_ns=60.0,
                                  qspi_latency_ns=100.0, dma_setup_us=_DMA_SETUP_US,
                                  sram_regions=(SramRegion("SRAM1", 160 * 1024), SramRegion("SRAM2", 32 * 1024),
                                                SramRegion("SRAM3", 128 * 1024), SramRegion("CCM", 64 * 1024,
                                                                                            tcm=True)),
                                  source=_EXT_SOURCE),
          description="STM32F469-DISCO (TinyOps): 320 KB usable SRAM, 8 MB SDRAM, 8 MB QSPI; "
                      "latency scaled from the F412 factor by clock"),
    Board("stm32f746g-disco", "cortex-m7", 216, 320 * 1024, 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=CALIBRATION_MS["stm32f746"] / CALIBRATION_MS["stm32h743"],
          external=ExternalMemory(8 * 1024**2, 216.0, 16 * 1024**2, 54.0, sdram_latency_ns=60.0,
                                  qspi_latency_ns=100.0, dma_setup_us=_DMA_SETUP_US,
                                  sram_regions=(SramRegion("DTCM", 64 * 1024, tcm=True), SramRegion("SRAM1",
                                                240 * 1024), SramRegion("SRAM2", 16 * 1024)),
                                  source=_EXT_SOURCE),
          description="STM32F746G-DISCO (TinyOps): the STM32F746 (its latency transfers) with 8 MB SDRAM "
                      "(16-bit, 108 MHz) and 16 MB QSPI"),
    Board("stm32h750b-dk", "cortex-m7", 400, 512 * 1024, 128 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=1.0,
          external=ExternalMemory(16 * 1024**2, 200.0, 128 * 1024**2, 100.0, sdram_latency_ns=60.0,
                                  qspi_latency_ns=100.0, dma_setup_us=_DMA_SETUP_US,
                                  sram_regions=(SramRegion("DTCM", 128 * 1024, tcm=True), SramRegion("AXI",
                                                512 * 1024), SramRegion("SRAM1-3", 288 * 1024)),
                                  source="ST UM2488 / STM32H750 datasheet: 16-bit SDRAM @ 100 MHz (200 MB/s peak), "
                                         "dual-QSPI 2x4-bit @ 100 MHz (100 MB/s peak); not measured"),
          description="STM32H750B-DK: the H743 die (priced as the H743 at 400 MHz) with 128 KB internal Flash, "
                      "512 KB AXI SRAM budget, 16 MB SDRAM, 128 MB dual-QSPI Flash"),
    # boards of the published whole-model rows (../shared/published: clock and core as the rows print them)
    Board("stm32h747", "cortex-m7", 400, 512 * 1024, 2 * 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=_UNFITTED_SCALE['stm32h747'],
          description="STM32H747 (STM32H747I-DISCO of the ST model zoo rows), Cortex-M7 @ 400 MHz as measured; "
                      "1 MB RAM, of it 512 KB contiguous AXI SRAM (the budget here), 2 MB Flash; " + _DATASHEET),
    Board("stm32f769", "cortex-m7", 216, 512 * 1024, 2 * 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=_UNFITTED_SCALE['stm32f769'],
          description="STM32F769 (STM32F769I-DISCO of the ST model zoo rows), Cortex-M7 @ 216 MHz, 512 KB SRAM, "
                      "2 MB Flash; " + _DATASHEET),
    Board("stm32h7a3", "cortex-m7", 280, 1024 * 1024, 2 * 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=_UNFITTED_SCALE['stm32h7a3'],
          description="STM32H7A3 (NUCLEO-H7A3ZI-Q of the MLPerf Tiny rows), Cortex-M7 @ 280 MHz; 1.4 MB RAM, "
                      "of it 1 MB contiguous AXI SRAM (the budget here), 2 MB Flash; " + _DATASHEET),
    Board("stm32l4r5", "cortex-m4f", 120, 640 * 1024, 2 * 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=_UNFITTED_SCALE['stm32l4r5'],
          description="STM32L4R5 (NUCLEO-L4R5ZI of the MLPerf Tiny rows), Cortex-M4F @ 120 MHz, 640 KB SRAM, "
                      "2 MB Flash; " + _DATASHEET),
    Board("stm32u575", "cortex-m33", 160, 768 * 1024, 2 * 1024 * 1024, "xcube-ai", reference="stm32h743",
          time_scale=_UNFITTED_SCALE['stm32u575'],
          description="STM32U575 (NUCLEO-U575ZI-Q of the MLPerf Tiny rows), Cortex-M33 @ 160 MHz, 768 KB SRAM, "
                      "2 MB Flash; " + _DATASHEET),
    Board("host", "x86-64", 0, 1024**3, 1024**3, "tflm",
          description="this computer running the TFLite Micro reference kernels (tflm-host runner)"),
    # QEMU's MPS2 boards running atomnet's generated C (qemu runner, docs/qemu.md): the nominal 1000 MHz clock
    # makes 1 instruction = 1 cycle = 1 ns (-icount shift=0), so latency_ms x 1e6 = instructions executed.
    # Instruction counts, not cycles: QEMU models no pipeline, caches or wait states.
    Board("qemu-m7", "cortex-m7", 1000, 4 * 1024**2, 4 * 1024**2, "tinyengine",
          description="QEMU mps2-an500 (Cortex-M7), generated C, -icount shift=0: latency = instruction count "
                      "at a nominal 1000 MHz (1 instruction = 1 ns), not real MCU timing; 4 MB SSRAM each"),
    Board("qemu-m4", "cortex-m4f", 1000, 4 * 1024**2, 4 * 1024**2, "tinyengine",
          description="QEMU mps2-an386 (Cortex-M4), generated C, -icount shift=0: latency = instruction count "
                      "at a nominal 1000 MHz (1 instruction = 1 ns), not real MCU timing; 4 MB SSRAM each"),
)


def _shipped_transfers() -> dict[str, tuple[Transfer, ...]]:
    """The transfers fitted on the public rows (``atomnet/data/board_transfers.json``, written by
    ``python -m atomnet.calibrate --write``); none when the file is absent."""
    try:
        text = resources.files("atomnet").joinpath("data/board_transfers.json").read_text()
    except (FileNotFoundError, OSError):
        return {}
    data = json.loads(text)
    return {b: tuple(Transfer.from_dict(t, f"board_transfers.json: {b}[{i}]") for i, t in enumerate(ts))
            for b, ts in data["boards"].items()}


def _with_transfers(board: Board, shipped: Mapping[str, tuple[Transfer, ...]]) -> Board:
    ts = shipped.get(_TRANSFERS_OF.get(board.name, board.name), ())
    if not ts:
        return board
    # a board without a published single-factor point takes the single factor of its own runtime's rows
    own = next((t for t in ts if t.runtime == board.runtime), None)
    scale = board.time_scale if board.name in CALIBRATION_MS or own is None or not board.is_scaled else own.level
    return replace(board, transfers=ts, time_scale=scale)


_SHIPPED = _shipped_transfers()
_BUILTIN: dict[str, Board] = {b.name: _with_transfers(b, _SHIPPED) for b in _BOARDS}

_USER: dict[str, Board] = {}

_BOARD_FIELDS = {"name", "core", "clock_mhz", "sram", "flash", "sram_bytes", "flash_bytes", "runtime",
                 "reference", "time_scale", "external", "description", "transfers"}


def list_boards() -> list[Board]:
    return [*_BUILTIN.values(), *_USER.values()]


def register_board(board: Board) -> Board:
    if board.name in _BUILTIN or board.name in _USER:
        raise ValueError(f"board {board.name!r} is already registered")
    _USER[board.name] = board
    return board


def get_board(name_or_path: str) -> Board:
    """A built-in or registered board by name, or a board file (``.toml`` / ``.json``)."""
    if name_or_path in _BUILTIN:
        return _BUILTIN[name_or_path]
    if name_or_path in _USER:
        return _USER[name_or_path]
    p = Path(name_or_path)
    if p.suffix.lower() in (".toml", ".json") and p.exists():
        return load_board_file(p)
    known = ", ".join(b.name for b in list_boards())
    raise UnknownNameError(f"unknown board {name_or_path!r}; known boards: {known} (or pass a .toml/.json board file)")


def measured_board_name(name_or_path: str, field: str = "board") -> str:
    """The board name measurements of ``name_or_path`` are stored under: a built-in board or a board file's
    name, measured itself. A scaled board (priced from another board's rows) is refused: rows stored under
    its name would never be used. ``field`` names the option or field in the messages.

    >>> measured_board_name("stm32h743")
    'stm32h743'
    """
    try:
        board = get_board(name_or_path)
    except KeyError as e:
        raise UnknownNameError(f"{field}: {e.args[0]}") from None
    if board.is_scaled:
        raise InputError(f"{field} {board.name}: this board is priced from the measurements of "
                         f"{board.reference!r} (scaled ×{board.time_scale:.3g}); rows stored under {board.name!r} "
                         f"would never be used. Store them under {board.reference!r}, or describe the board in a "
                         f".toml/.json file without 'reference' and pass {field} FILE")
    return board.name


def board_file_dict(board: Board) -> dict[str, Any]:
    """``board`` as a board file's fields (:func:`load_board_file` reads it back to an equal board)."""
    d: dict[str, Any] = {"name": board.name, "core": board.core, "clock_mhz": board.clock_mhz,
                         "sram_bytes": board.sram_bytes, "flash_bytes": board.flash_bytes, "runtime": board.runtime,
                         "reference": board.reference, "time_scale": board.time_scale,
                         "description": board.description, "transfers": [t.to_dict() for t in board.transfers]}
    if board.external is not None:
        e = board.external
        d["external"] = {"sdram": e.sdram_bytes, "sdram_mb_per_s": e.sdram_mb_per_s, "qspi": e.qspi_bytes,
                         "qspi_mb_per_s": e.qspi_mb_per_s}
        for k in ("sdram_write_mb_per_s", "sdram_latency_ns", "qspi_latency_ns", "sustained_fraction",
                  "dma_setup_us", "source"):
            if getattr(e, k):
                d["external"][k] = getattr(e, k)
        if e.dma_streams != 2:
            d["external"]["dma_streams"] = e.dma_streams
        if e.sram_regions:
            d["external"]["sram_regions"] = [{"name": r.name, "size": r.size_bytes, "tcm": r.tcm}
                                             for r in e.sram_regions]
    return d


def load_board_file(path: str | Path) -> Board:
    """Read a user board from TOML or JSON; unknown keys and missing fields are errors naming the file."""
    p = Path(path)
    try:
        raw = p.read_text()
        data: dict[str, Any] = tomllib.loads(raw) if p.suffix.lower() == ".toml" else json.loads(raw)
    except (OSError, ValueError) as e:
        raise InputError(f"{p}: cannot read board file: {e}") from e
    unknown = set(data) - _BOARD_FIELDS
    if unknown:
        raise InputError(f"{p}: unknown board field(s) {sorted(unknown)}; expected some of {sorted(_BOARD_FIELDS)}")
    for req in ("name", "core", "clock_mhz"):
        if req not in data:
            raise InputError(f"{p}: missing field {req!r}")
    try:
        sram = parse_bytes(data.get("sram_bytes", data.get("sram", 0)), field="sram")
        flash = parse_bytes(data.get("flash_bytes", data.get("flash", 0)), field="flash")
        ext = data.get("external")
        external = None if ext is None else _external_from_dict(ext, f"{p}: external")
        board = Board(str(data["name"]), str(data["core"]), float(data["clock_mhz"]), sram, flash,
                      canonical_runtime(str(data.get("runtime", "tflm"))), str(data.get("reference", "")),
                      float(data.get("time_scale", 1.0)), external, str(data.get("description", "")))
    except (TypeError, ValueError) as e:
        raise InputError(f"{p}: {e}") from e
    transfers = data.get("transfers", [])
    if not isinstance(transfers, list):
        raise InputError(f"{p}: 'transfers' must be a list of transfer objects")
    board = replace(board, transfers=tuple(Transfer.from_dict(t, f"{p}: transfers[{i}]")
                                           for i, t in enumerate(transfers)))
    if sram <= 0 or flash <= 0:
        raise InputError(f"{p}: 'sram' and 'flash' must be positive sizes such as '320KB' and '1MB'")
    return board


_EXTERNAL_FIELDS = {"sdram", "sdram_mb_per_s", "qspi", "qspi_mb_per_s", "sdram_write_mb_per_s", "sdram_latency_ns",
                    "qspi_latency_ns", "sustained_fraction", "dma_streams", "dma_setup_us", "sram_regions", "source"}


def _external_from_dict(ext: object, where: str) -> ExternalMemory:
    """An ``external`` block of a board file; unknown keys, negative numbers and bad sizes name the field."""
    if not isinstance(ext, Mapping):
        raise InputError(f"{where}: expected a table/object, got {type(ext).__name__}")
    unknown = set(ext) - _EXTERNAL_FIELDS
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}; expected some of {sorted(_EXTERNAL_FIELDS)}")

    def num(k: str, default: float = 0.0) -> float:
        v = ext.get(k, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InputError(f"{where}.{k}: expected a number >= 0, got {v!r}")
        return float(v)

    regions = []
    raw_regions = ext.get("sram_regions", [])
    if not isinstance(raw_regions, list):
        raise InputError(f"{where}.sram_regions: expected a list of {{name, size, tcm}} tables")
    for i, r in enumerate(raw_regions):
        if not isinstance(r, Mapping) or set(r) - {"name", "size", "tcm"} or "size" not in r:
            raise InputError(f"{where}.sram_regions[{i}]: expected {{name, size, tcm}} (size required), got {r!r}")
        regions.append(SramRegion(str(r.get("name", f"sram{i}")),
                                  parse_bytes(r["size"], field=f"{where}.sram_regions[{i}].size"),
                                  bool(r.get("tcm", False))))
    frac = num("sustained_fraction")
    if frac > 1:
        raise InputError(f"{where}.sustained_fraction: expected a fraction in (0, 1], got {frac}")
    streams = ext.get("dma_streams", 2)
    if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
        raise InputError(f"{where}.dma_streams: expected an integer >= 1, got {streams!r}")
    return ExternalMemory(parse_bytes(ext.get("sdram", 0), field=f"{where}.sdram"), num("sdram_mb_per_s"),
                          parse_bytes(ext.get("qspi", 0), field=f"{where}.qspi"), num("qspi_mb_per_s"),
                          num("sdram_write_mb_per_s"), num("sdram_latency_ns"), num("qspi_latency_ns"), frac,
                          streams, num("dma_setup_us"), tuple(regions), str(ext.get("source", "")))
