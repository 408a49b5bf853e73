"""Which atomnet board and runtime a printed whole-model measurement names, without guessing.

A board is read from its part number: ``STM32H747I-DISCO``, ``NUCLEO-H7A3ZI-Q``, ``B_U585I_IOT02A`` and
``H743 (SRAM<512kB)`` name the MCUs ``stm32h747``, ``stm32h7a3``, ``stm32u585`` and ``stm32h743`` (the ``mcu``
column). The atomnet board is the registered board of that name (``stm32h743``, ``stm32f746``, ``stm32f412`` …),
or ``<mcu>-disco`` for a printed DISCO board (``STM32F469I-DISCO`` → ``stm32f469-disco``); else none, and the
row keeps its printed board and MCU (a board registered later is found when the rows are read).

A runtime maps to an atomnet runtime when the printed name is a registered name or alias (``xcube-ai``,
``x-cube-ai``, ``tflm``), or names **exactly one** of the runtime families below; the family's atomnet name is
used only while it is registered (``cmsis-nn`` is not, today: those rows keep ``runtime`` empty until it is).
``"TFLite Micro + CMSIS-NN kernels"`` names two families and maps to none; ``STEdgeAI Core``, Plumerai,
microTVM, ONNC and HALE map to none.

>>> mcu_of("NUCLEO-H7A3ZI-Q"), mcu_of("STM32F769I-DISCO (printed as STM32H769I-DISCO)"), mcu_of("host")
('stm32h7a3', 'stm32f769', None)
>>> board_of("STM32F746G-DISCO"), board_of("STM32F469I-DISCO"), board_of("host PC")
('stm32f746', 'stm32f469-disco', None)
>>> runtime_of("X-CUBE-AI v7.3.0"), runtime_of("TF-Lite Micro @ 713b6ed"), runtime_of("STEdgeAI Core")
('xcube-ai', 'tflm', None)
>>> version_of("TensorFlow Lite for Microcontrollers v2.3.1"), version_of("CMSIS-NN @ 011bf32")
('2.3.1', '@011bf32')
"""

from __future__ import annotations

import re

from atomnet.boards import list_boards
from atomnet.runtimes import canonical_runtime, list_runtimes

#: (pattern in the printed runtime name, atomnet runtime name of that family)
RUNTIME_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"X-CUBE-AI|STM32Cube\.AI", re.IGNORECASE), "xcube-ai"),
    (re.compile(r"TF-?Lite[ -]Micro|TensorFlow Lite for Microcontrollers|\bTFLM\b", re.IGNORECASE), "tflm"),
    (re.compile(r"CMSIS-NN", re.IGNORECASE), "cmsis-nn"),
    (re.compile(r"TinyEngine", re.IGNORECASE), "tinyengine"),
)

_PART = re.compile(r"(?:STM32|(?<![A-Z0-9]))([FGHLUCW][0-9][0-9A-Z][0-9])")
_PAREN = re.compile(r"\([^)]*\)")
_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)(?![\w.])")
_HASH = re.compile(r"@\s*([0-9a-f]{7,40})\b")


def mcu_of(printed: str) -> str | None:
    """The MCU a printed board names (``stm32`` + part number, lower case), or None when it names none."""
    m = _PART.search(_PAREN.sub(" ", printed).upper())
    return f"stm32{m.group(1).lower()}" if m else None


def board_of(printed: str) -> str | None:
    """The registered atomnet board a printed board is (module doc), or None."""
    names = {b.name for b in list_boards()}
    if printed in names:
        return printed
    mcu = mcu_of(printed)
    if mcu is None:
        return None
    if mcu in names:
        return mcu
    if "DISCO" in printed.upper() and f"{mcu}-disco" in names:
        return f"{mcu}-disco"
    return None


def runtime_family(printed: str) -> str | None:
    """The atomnet name of the one runtime family ``printed`` names (registered or not), else None."""
    try:
        return canonical_runtime(printed.strip())
    except ValueError:
        pass
    hits = {name for pattern, name in RUNTIME_FAMILIES if pattern.search(printed)}
    return hits.pop() if len(hits) == 1 else None


def runtime_of(printed: str | None) -> str | None:
    """The registered atomnet runtime a printed runtime name is (module doc), or None."""
    if not printed:
        return None
    family = runtime_family(printed)
    return family if family in list_runtimes() else None


def version_of(printed: str) -> str | None:
    """The version printed in a runtime name: ``v7.3.0`` → ``7.3.0``, ``@ 713b6ed`` → ``@713b6ed``; else None."""
    m = _VERSION.search(printed)
    if m:
        return m.group(1)
    h = _HASH.search(printed)
    return f"@{h.group(1)}" if h else None
