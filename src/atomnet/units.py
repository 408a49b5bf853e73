"""Parsing and formatting of sizes and times.

Sizes follow the MCU convention of the field: ``KB`` and ``KiB`` both mean 1024 bytes
(a "256 KB" STM32 SRAM budget is 262,144 bytes); ``MB``/``MiB`` mean 1024². ``kB`` (lower-case k,
SI) means 1000 bytes. A size typed by a user needs a unit: ``"256"`` is refused (did you mean 256 KB or
256 bytes?), ``"262144B"`` is bytes. Library callers may pass an ``int``, which is a number of bytes.

A time without a unit is milliseconds (``"275"`` is 275 ms); ``s``, ``us``/``µs``, ``ns`` and ``min`` are
accepted too. Negative, NaN and infinite values are refused, and so is zero for a string (what a user types),
unless ``allow_zero=True``; a library caller's number may be zero.

>>> parse_bytes("256KB"), parse_bytes("1MB"), parse_bytes("512 kB"), parse_bytes("262144B"), parse_bytes(4096)
(262144, 1048576, 512000, 262144, 4096)
>>> parse_bytes("256", field="--sram")
Traceback (most recent call last):
...
atomnet.errors.InputError: --sram: '256' has no unit; write 256KB (262,144 B) or 256B
>>> parse_ms("275ms"), parse_ms("0.5s"), parse_ms("250us"), parse_ms("275"), parse_ms(3)
(275.0, 500.0, 0.25, 275.0, 3.0)
>>> parse_ms("-5ms", field="--latency")
Traceback (most recent call last):
...
atomnet.errors.InputError: --latency: expected a positive time, got '-5ms'
"""

from __future__ import annotations

import math
import re

from atomnet.errors import InputError

# a number (sign, decimals and exponent allowed, so that "-5ms" and "1e999ms" get a message naming what is wrong
# rather than "cannot parse"), then an optional unit
_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ]*)\s*$")
_NON_FINITE_RE = re.compile(r"^\s*[-+]?(?:nan|inf(?:inity)?)\s*[A-Za-zµ]*\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1024, "kib": 1024, "k": 1024,
    "mb": 1024**2, "mib": 1024**2, "m": 1024**2,
    "gb": 1024**3, "gib": 1024**3,
}
_TIME_UNITS = {"ms": 1.0, "": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6, "min": 60000.0}


def _split(value: str, field: str, what: str, example: str, allow_zero: bool) -> tuple[float, str]:
    """The number and the unit of ``value``; refuses what no unit can make a valid size or time."""
    kind = "non-negative" if allow_zero else "positive"
    m = _NUMBER_RE.match(value)
    if not m:
        if _NON_FINITE_RE.match(value):
            raise InputError(f"{field}: expected a {kind} {what}, got {value!r}")
        raise InputError(f"{field}: cannot parse {what} {value!r}; expected e.g. {example}")
    number = float(m.group(1))
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise InputError(f"{field}: expected a {kind} {what}, got {value!r}")
    return number, m.group(2)


def _check_number(value: float, field: str, what: str) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise InputError(f"{field}: expected a non-negative {what}, got {value!r}")
    return float(value)


def _no_unit_hint(text: str, number: float, field: str) -> str:
    kb = f"{text}KB ({round(number * 1024):,} B)"
    if not number.is_integer():
        return f"{field}: {text!r} has no unit; write {kb} or {text}MB ({round(number * 1024**2):,} B)"
    if number >= 64 * 1024:  # more likely a number of bytes than of kilobytes
        return f"{field}: {text!r} has no unit; write {text}B ({fmt_bytes(number)}) or {kb}"
    return f"{field}: {text!r} has no unit; write {kb} or {text}B"


def parse_bytes(value: str | int | float, *, field: str = "size", allow_zero: bool = False) -> int:
    """Bytes of ``"256KB"``, ``"1 MiB"``, ``"512kB"`` or ``"262144B"``; an ``int`` is a number of bytes.

    A string without a unit is an error that suggests the two readings (``--sram 256``: 256KB or 256B)."""
    if not isinstance(value, str):
        return round(_check_number(value, field, "size"))
    number, unit = _split(value, field, "size", "'256KB', '1MB' or '262144B'", allow_zero)
    if unit == "":
        raise InputError(_no_unit_hint(value.strip(), number, field))
    scale = 1000 if unit == "kB" else _SIZE_UNITS.get(unit.lower())  # kB: the SI kilobyte of TinyEngine/MCUNet
    if scale is None:
        raise InputError(f"{field}: unknown size unit {unit!r} in {value!r}; use B, KB, MB or GB")
    n = round(number * scale)
    if n == 0 and not allow_zero:
        raise InputError(f"{field}: expected a positive size, got {value!r} (0 bytes)")
    return n


def parse_ms(value: str | int | float, *, field: str = "latency", allow_zero: bool = False) -> float:
    """Milliseconds of ``"275ms"``, ``"0.3s"``, ``"250us"`` or ``"275"`` (no unit: milliseconds)."""
    if not isinstance(value, str):
        return _check_number(value, field, "time")
    number, unit = _split(value, field, "time", "'275ms', '0.3s' or '250us'", allow_zero)
    scale = _TIME_UNITS.get(unit.lower())
    if scale is None:
        raise InputError(f"{field}: unknown time unit {unit!r} in {value!r}; use ms, s, us or ns "
                         "(a number without a unit is ms)")
    return number * scale


def fmt_bytes(n: float) -> str:
    """Human-readable bytes with binary prefixes: ``fmt_bytes(237568) == '232.0 KB'``."""
    if abs(n) < 1024:
        return f"{int(n)} B"
    if abs(n) < 1024**2:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024**2:.2f} MB"


def fmt_macs(n: float) -> str:
    """``fmt_macs(78_750_000) == '78.75 M'``."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} G"
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return str(int(n))
