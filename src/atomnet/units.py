"""Parsing and formatting of sizes and times.

Sizes follow the MCU convention of the field: ``KB`` and ``KiB`` both mean 1024 bytes
(a "256 KB" STM32 SRAM budget is 262,144 bytes); ``MB``/``MiB`` mean 1024². ``kB`` (lower-case k,
SI) means 1000 bytes.

>>> parse_bytes("256KB"), parse_bytes("1MB"), parse_bytes("512 kB"), parse_bytes(4096)
(262144, 1048576, 512000, 4096)
>>> parse_ms("275ms"), parse_ms("0.5s"), parse_ms("250us"), parse_ms(3)
(275.0, 500.0, 0.25, 3.0)
"""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1024, "kib": 1024, "k": 1024,
    "mb": 1024**2, "mib": 1024**2, "m": 1024**2,
    "gb": 1024**3, "gib": 1024**3,
}
_TIME_UNITS = {"ms": 1.0, "": 1.0, "s": 1000.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6, "min": 60000.0}


def parse_bytes(value: str | int | float, *, field: str = "size") -> int:
    """Parse ``"256KB"``, ``"1 MiB"``, ``"512kB"`` or a plain number of bytes into bytes."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{field}: expected a non-negative size, got {value!r}")
        return int(value)
    m = _SIZE_RE.match(value)
    if not m:
        raise ValueError(f"{field}: cannot parse size {value!r}; expected e.g. '256KB', '1MB' or '262144'")
    number, unit = float(m.group(1)), m.group(2)
    if unit == "kB":  # SI kilobyte, as TinyEngine/MCUNet papers write it
        return round(number * 1000)
    try:
        return round(number * _SIZE_UNITS[unit.lower()])
    except KeyError:
        raise ValueError(f"{field}: unknown size unit {unit!r} in {value!r}; use B, KB, MB or GB") from None


def parse_ms(value: str | int | float, *, field: str = "latency") -> float:
    """Parse ``"275ms"``, ``"0.3s"``, ``"250us"`` or a plain number of milliseconds."""
    if isinstance(value, (int, float)):
        return float(value)
    m = re.match(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-zµ]*)\s*$", value)
    if not m or m.group(2).lower() not in _TIME_UNITS:
        raise ValueError(f"{field}: cannot parse time {value!r}; expected e.g. '275ms', '0.3s' or '250us'")
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


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
