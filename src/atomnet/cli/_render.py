"""Plain-text rendering helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, align: str | None = None) -> str:
    """Left-align text columns and right-align numbers (``align`` overrides: a string of 'l'/'r')."""
    cells = [[_fmt(v) for v in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if align is None:
        align = "".join("r" if rows and isinstance(rows[0][i], (int, float)) else "l" for i in range(len(headers)))
    def line(vals: Sequence[str]) -> str:  # every row, the headers and the alignment have one entry per column
        cols = zip(vals, widths, align, strict=True)
        return "  ".join(v.rjust(w) if a == "r" else v.ljust(w) for v, w, a in cols).rstrip()
    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v != v:
            return "-"
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=_json_default)
    sys.stdout.write("\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


_LABELS = {"peak_sram": "peak SRAM", "flash": "Flash"}


def over_limits(rep: Any) -> list[dict[str, Any]]:
    """What of the report exceeds the board: ``[{"what": "peak_sram", "bytes", "limit_bytes", "message"}, …]``."""
    from atomnet.units import fmt_bytes

    out = []
    for what, used, limit in (("peak_sram", rep.peak_sram_bytes, rep.board_sram_bytes),
                              ("flash", rep.flash_bytes, rep.board_flash_bytes)):
        label = _LABELS[what]
        if used > limit:
            out.append({"what": what, "bytes": used, "limit_bytes": limit,
                        "message": f"{label} {fmt_bytes(used)} ({used:,} B) is over the board's {fmt_bytes(limit)} "
                                   f"({limit:,} B) by {used - limit:,} B"})
    return out


def render_cost(rep: Any, layers: bool = True) -> str:
    from atomnet.units import fmt_bytes

    out = []
    if layers:
        rows = [(ly.name, ly.op, ly.macs, ly.weights_bytes, ly.live_sram_bytes, ly.latency_ms, ly.source)
                for ly in rep.layers]
        out.append(table(["layer", "operator", "MACs", "weights B", "live SRAM B", "latency ms", "source"], rows,
                         align="llrrrrl"))
        out.append("")
    scaled = " (scaled estimate from " + rep.predictor + ")" if rep.scaled else ""
    out.append(f"model {rep.model} on {rep.board} ({rep.runtime}; latency from {rep.latency_runtime} "
               f"measurements{scaled})")
    out.append(f"  MACs            {rep.macs / 1e6:.2f} M   params {rep.params:,}")
    out.append(f"  latency         {rep.latency_ms:.1f} ms   ({rep.ops_exact} ops exact, {rep.ops_predicted} predicted;"
               f" predictor: {rep.predictor})")
    fb = rep.flash_breakdown
    flag_f = "" if rep.fits_flash else f"   ** OVER the board's {fmt_bytes(rep.board_flash_bytes)} **"
    out.append(f"  Flash           {fmt_bytes(rep.flash_bytes)} = weights {fmt_bytes(fb['weights'])} + bias "
               f"{fmt_bytes(fb['bias'])} + quant {fmt_bytes(fb['quant'])} + runtime code {fmt_bytes(fb['code'])}"
               f"{flag_f}")
    sb = rep.sram_breakdown
    flag_s = "" if rep.fits_sram else f"   ** OVER the board's {fmt_bytes(rep.board_sram_bytes)} **"
    out.append(f"  peak SRAM       {fmt_bytes(rep.peak_sram_bytes)} ({rep.peak_sram_bytes:,} B) = activations "
               f"{fmt_bytes(sb['activations'])} + scratch {fmt_bytes(sb['scratch'])} + runtime "
               f"{fmt_bytes(sb['runtime'])}{flag_s}   (MCUNet 'Act' metric: {rep.act_bytes:,} B)")
    why = ", ".join(f"{_LABELS[o['what']]} over by {o['bytes'] - o['limit_bytes']:,} B" for o in over_limits(rep))
    out.append(f"  fits {rep.board}: {'yes' if rep.feasible else 'NO (' + why + ')'}")
    return "\n".join(out)
