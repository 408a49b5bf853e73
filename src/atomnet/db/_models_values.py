"""Reading one printed cell of a whole-model measurement: sizes, times, plain numbers, resolutions.

Forms accepted in a user's file (a ``.`` decimal point; no thousands separator, no decimal comma):

=========================  ========================================================  =====================
quantity                   form                                                      stored
=========================  ========================================================  =====================
time (``latency``)         ``587 ms``, ``0.587 s``, ``587000 us``                    ms, 0 < t < 10^6
size (``*_ram``,           ``163 KiB``, ``166912 B``, ``1.5 MiB``; ``KB``/``MB`` are  integer bytes
``*_flash``)               1024/1024² as everywhere in atomnet (:mod:`atomnet.units`)  (rounded), 0 … 2^40
bare number (``*_ms``,     ``587``, ``1.5e3``                                         as the unit in the
``*_bytes``, ``clock_mhz``)                                                          column name
=========================  ========================================================  =====================

``kB`` (lower-case k) is refused in a user's file: the TinyEngine and MCUNet tables print ``kB`` for 1024 bytes
(:mod:`atomnet.db._models_published`), :mod:`atomnet.units` reads it as 1000; write ``KiB`` or bytes.
"""

from __future__ import annotations

import re

#: bytes per unit of a size in a user's file (case-sensitive; "kB" is refused, see the module doc)
SIZE_UNITS = {"B": 1, "KiB": 1024, "KB": 1024, "MiB": 1024**2, "MB": 1024**2}
TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(rf"\+?{_NUMBER}")
_WITH_UNIT_RE = re.compile(rf"(\+?{_NUMBER})\s*([A-Za-zµ]+)")
_RES_RE = re.compile(r"(\d+)\s*[xX×]\s*(\d+)(?:\s*[xX×]\s*(\d+))?")


class CellError(ValueError):
    """A cell that is not a valid value; the caller adds the file, row and field."""


def _shape_hint(text: str) -> str:
    if text.lstrip().startswith("-"):
        return " (negative)"
    if "," in text:
        return " (a decimal comma or a thousands separator? write 1.5, 1500)"
    return ""


def number(text: str, what: str) -> float:
    """A bare non-negative decimal number with a '.' point."""
    t = text.strip()
    if not _NUMBER_RE.fullmatch(t):
        raise CellError(f"expected {what} as a plain number with a '.' decimal point (e.g. 587 or 0.25), "
                        f"got {text!r}{_shape_hint(t)}")
    v = float(t)
    if v != v or v in (float("inf"), float("-inf")):
        raise CellError(f"expected a finite {what}, got {text!r}")
    return v


def with_unit(text: str, units: dict[str, float] | dict[str, int], what: str, example: str) -> tuple[float, str]:
    t = text.strip()
    m = _WITH_UNIT_RE.fullmatch(t)
    if not m:
        if _NUMBER_RE.fullmatch(t):
            raise CellError(f"{what} {text!r} has no unit; write e.g. {example}")
        raise CellError(f"expected {what} with a unit, e.g. {example}, got {text!r}{_shape_hint(t)}")
    unit = m.group(2)
    if unit not in units:
        if unit == "kB":
            raise CellError(f"size unit 'kB' in {text!r} is ambiguous (TinyEngine/MCUNet print kB for 1024 B, "
                            f"atomnet.units reads kB as 1000 B); write KiB or B")
        raise CellError(f"unknown unit {unit!r} in {text!r}; expected one of {', '.join(units)}")
    return float(m.group(1)), unit


def time_ms(text: str) -> float:
    v, unit = with_unit(text, TIME_UNITS, "a time", "587 ms or 0.587 s")
    return v * TIME_UNITS[unit]


def size_bytes(text: str) -> int:
    v, unit = with_unit(text, SIZE_UNITS, "a size", "163 KiB or 166912 B")
    n = v * SIZE_UNITS[unit]
    if unit == "B" and not n.is_integer():
        raise CellError(f"a size in bytes must be a whole number, got {text!r}")
    return round(n)


def bare_bytes(text: str) -> int:
    v = number(text, "a number of bytes")
    if not v.is_integer():
        raise CellError(f"a size in bytes must be a whole number, got {text!r}")
    return int(v)


def kib_bytes(kib: float) -> int:
    """Bytes of a size printed in KiB (1024 B), to the nearest byte."""
    return round(kib * 1024)


def resolution(text: str) -> tuple[int | None, int | None, int | None]:
    """``"224x224x3"`` → (224, 224, 3); ``"96x96"`` → (96, 96, None); ``"144"`` → (144, 144, None)."""
    t = text.strip()
    m = _RES_RE.fullmatch(t)
    if m:
        return int(m.group(1)), int(m.group(2)), (int(m.group(3)) if m.group(3) else None)
    if t.isdigit():
        return int(t), int(t), None
    raise CellError(f"expected a resolution like 224x224x3, 96x96 or 144, got {text!r}")


BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False, "": False}


def boolean(text: str) -> bool:
    t = text.strip().lower()
    if t not in BOOL_WORDS:
        raise CellError(f"expected true or false, got {text!r}")
    return BOOL_WORDS[t]
