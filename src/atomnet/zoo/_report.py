"""The ST model zoo rows against the zoo specs: MACC and weights Flash, printed vs computed.

    python -m atomnet.zoo._report [--published ../shared/published/measurements.json] [--json]

For every row of ``stm32ai_modelzoo`` and ``stm32ai_modelzoo_summary_tables``: the zoo name (or why none),
the spec's MACC (the sum of :attr:`atomnet.ops.Op.macc` over the ``xcube-ai`` lowering: conv MACs + one bias
add per output channel, pool and element-wise ops one per element) vs the printed ``maccs_m``, with the
difference per input element, and the spec's weight bytes (int8 weights + 4 bytes per int32 bias,
:attr:`atomnet.ops.Op.flash_bytes`) vs the printed ``weights_flash_kib``. Nothing here is fitted.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from atomnet.errors import InputError
from atomnet.spec import ModelSpec, lower
from atomnet.zoo._families import family_spec
from atomnet.zoo._rows import match_row

REPO = Path(__file__).resolve().parents[3]
SOURCES = ("stm32ai_modelzoo", "stm32ai_modelzoo_summary_tables")


@dataclass(frozen=True)
class RowCheck:
    """One published row beside its spec (``zoo`` None: ``reason`` says why no spec)."""

    source: str
    index: int
    model_name: str
    dataset: str
    resolution: str
    tool_version: str
    zoo: str | None
    reason: str
    maccs_printed: float | None
    maccs_spec: int | None
    weights_printed_bytes: float | None
    weights_spec_bytes: int | None
    input_elems: int | None

    @property
    def maccs_error(self) -> float | None:
        """(spec − printed) / printed MACC."""
        if self.maccs_printed is None or self.maccs_spec is None:
            return None
        return self.maccs_spec / self.maccs_printed - 1

    @property
    def maccs_gap_per_input(self) -> float | None:
        """(printed − spec) MACC per input element (X-CUBE-AI's uint8 → int8 input conversion, we read)."""
        if self.maccs_printed is None or self.maccs_spec is None or not self.input_elems:
            return None
        return (self.maccs_printed - self.maccs_spec) / self.input_elems

    @property
    def weights_error(self) -> float | None:
        if self.weights_printed_bytes is None or self.weights_spec_bytes is None:
            return None
        return self.weights_spec_bytes / self.weights_printed_bytes - 1


def spec_maccs(spec: ModelSpec) -> int:
    """X-CUBE-AI-style MACC of ``spec``: :attr:`~atomnet.ops.Op.macc` summed over its ``xcube-ai`` lowering."""
    return sum(layer.op.macc for layer in lower(spec, "xcube-ai").layers)


def spec_weight_bytes(spec: ModelSpec) -> int:
    """int8 weights + int32 biases of ``spec`` (:attr:`~atomnet.ops.Op.flash_bytes` over the ``xcube-ai`` lowering)."""
    return sum(layer.op.flash_bytes for layer in lower(spec, "xcube-ai").layers)


def printed_number(v: object, field: str) -> float | None:
    """A number as the tables print it: ``19.1``, ``"7.550"``, ``"19,09"`` (decimal comma); None when absent."""
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.replace(",", ".").strip())
        except ValueError:
            pass
    raise InputError(f"measurement row field {field!r}: expected a number, got {v!r}")


def check_row(source: str, index: int, row: Mapping[str, object]) -> RowCheck:
    m = match_row(row)
    spec = family_spec(m.name) if m.name else None
    macc_m = printed_number(row.get("maccs_m"), "maccs_m")
    w_kib = printed_number(row.get("weights_flash_kib"), "weights_flash_kib")
    return RowCheck(
        source, index, str(row.get("model_name", "")), str(row.get("dataset", "")),
        str(row.get("input_resolution", "")), str(row.get("tool_version", "")), m.name, m.reason,
        None if macc_m is None else macc_m * 1e6, None if spec is None else spec_maccs(spec),
        None if w_kib is None else w_kib * 1024, None if spec is None else spec_weight_bytes(spec),
        None if spec is None else spec.in_channels * spec.input_h * spec.input_w)


def check_published(path: Path) -> list[RowCheck]:
    """Every ST model zoo row of ``measurements.json`` beside its spec."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the published measurements ({e})") from None
    out = []
    for source in SOURCES:
        rows = doc.get(source) if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise InputError(f"{path}: expected a list under {source!r}")
        for i, row in enumerate(rows):
            try:
                out.append(check_row(source, i, row))
            except InputError as e:
                raise InputError(f"{path}: {source}[{i}]: {e}") from None
    return out


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:+.2f}"


def render(checks: list[RowCheck]) -> str:
    """A Markdown table, one line per row."""
    lines = ["| source | # | model | dataset | res | tool | zoo name (or why none) | MACC printed M | MACC spec M | "
             "MACC % | gap/input elem | weights printed KiB | weights spec KiB | weights % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in checks:
        src = "zoo" if c.source == "stm32ai_modelzoo" else "summary"
        gap = c.maccs_gap_per_input
        lines.append("| " + " | ".join([
            src, str(c.index), c.model_name, c.dataset, c.resolution, c.tool_version,
            c.zoo if c.zoo else f"none: {c.reason}",
            "" if c.maccs_printed is None else f"{c.maccs_printed / 1e6:.3f}",
            "" if c.maccs_spec is None else f"{c.maccs_spec / 1e6:.3f}", _pct(c.maccs_error),
            "" if gap is None else f"{gap:.2f}",
            "" if c.weights_printed_bytes is None else f"{c.weights_printed_bytes / 1024:.2f}",
            "" if c.weights_spec_bytes is None else f"{c.weights_spec_bytes / 1024:.2f}", _pct(c.weights_error),
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m atomnet.zoo._report", description=__doc__.splitlines()[0])
    ap.add_argument("--published", type=Path, default=REPO.parent / "shared" / "published" / "measurements.json")
    ap.add_argument("--json", action="store_true", help="one JSON object per row instead of the table")
    args = ap.parse_args(argv)
    checks = check_published(args.published)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=1))
    else:
        print(render(checks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
