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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from atomnet.errors import InputError, UnknownNameError
from atomnet.runtimes import canonical_runtime
from atomnet.units import parse_bytes

#: whole-model latency of AtomNet-256KB per board (ms), the calibration point of the scaling model
CALIBRATION_MS: dict[str, float] = {"stm32h743": 275.0, "stm32f746": 626.0, "stm32f412": 2124.0}


@dataclass(frozen=True)
class ExternalMemory:
    """Off-chip memory (TinyOps setting): capacity and sustained bandwidth."""

    sdram_bytes: int = 0
    sdram_mb_per_s: float = 0.0
    qspi_bytes: int = 0
    qspi_mb_per_s: float = 0.0


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
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def measured_board(self) -> str:
        """The board whose AtomDB rows price this one."""
        return self.reference or self.name

    @property
    def is_scaled(self) -> bool:
        return bool(self.reference) and self.reference != self.name

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return d


_BUILTIN: dict[str, Board] = {
    b.name: b
    for b in (
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
              external=ExternalMemory(8 * 1024**2, 360.0, 8 * 1024**2, 45.0),
              description="STM32F469-DISCO (TinyOps): 320 KB usable SRAM, 8 MB SDRAM, 8 MB QSPI; "
                          "latency scaled from the F412 factor by clock"),
        Board("host", "x86-64", 0, 1024**3, 1024**3, "tflm",
              description="this computer running the TFLite Micro reference kernels (tflm-host runner)"),
    )
}

_USER: dict[str, Board] = {}

_BOARD_FIELDS = {"name", "core", "clock_mhz", "sram", "flash", "sram_bytes", "flash_bytes", "runtime",
                 "reference", "time_scale", "external", "description"}


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
        external = None
        if ext is not None:
            external = ExternalMemory(
                parse_bytes(ext.get("sdram", 0), field="external.sdram"), float(ext.get("sdram_mb_per_s", 0)),
                parse_bytes(ext.get("qspi", 0), field="external.qspi"), float(ext.get("qspi_mb_per_s", 0)))
        board = Board(str(data["name"]), str(data["core"]), float(data["clock_mhz"]), sram, flash,
                      canonical_runtime(str(data.get("runtime", "tflm"))), str(data.get("reference", "")),
                      float(data.get("time_scale", 1.0)), external, str(data.get("description", "")))
    except (TypeError, ValueError) as e:
        raise InputError(f"{p}: {e}") from e
    if sram <= 0 or flash <= 0:
        raise InputError(f"{p}: 'sram' and 'flash' must be positive sizes such as '320KB' and '1MB'")
    return board
