"""One measured row as every importer hands it to the store (CSV import, measurement campaigns)."""

from __future__ import annotations

from dataclasses import dataclass

from atomnet.ops import Op


@dataclass(frozen=True)
class ParsedRow:
    """A measurement of ``op``: ``line`` is the source line (CSV) or the repeat index (campaign); counts that
    the source does not give are None."""

    line: int
    op: Op
    macc: int | None
    flash_bytes: int | None
    sram_bytes: int | None
    latency_ms: float
