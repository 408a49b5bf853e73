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
    scaled = _transfer_note(rep) or scaled
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
    parts = f"activations {fmt_bytes(sb['activations'])} + scratch {fmt_bytes(sb['scratch'])}"
    if "persistent" in sb:  # tflm: the head and the persistent tail of the exported file
        tail32 = rep.persistent_32bit_derived_bytes
        parts = (f"head (activations) {fmt_bytes(sb['activations'])} + tail (persistent) "
                 f"{fmt_bytes(sb['persistent'])}"
                 + (f" (32-bit Cortex-M tail {tail32:,} B, derived)" if tail32 is not None else ""))
    out.append(f"  peak SRAM       {fmt_bytes(rep.peak_sram_bytes)} ({rep.peak_sram_bytes:,} B) = {parts} + runtime "
               f"{fmt_bytes(sb['runtime'])}{flag_s}   (MCUNet 'Act' metric: {rep.act_bytes:,} B)")
    why = ", ".join(f"{_LABELS[o['what']]} over by {o['bytes'] - o['limit_bytes']:,} B" for o in over_limits(rep))
    out.append(f"  fits {rep.board}: {'yes' if rep.feasible else 'NO (' + why + ')'}")
    return "\n".join(out)


def render_cost_tflite(c: Any, layers: bool = True) -> str:
    """The text report of :func:`atomnet.export.cost_tflite`: one row per operator of the file, then the totals
    (an unpriced operator makes the latency a lower bound, said with ≥ and the operators listed)."""
    from atomnet.units import fmt_bytes

    out = []
    if layers:
        rows = [(ly.name, ly.atom_op or "-", "x".join(map(str, ly.out_shape)) + f" {ly.dtype.lower()}", ly.macs,
                 ly.weights_bytes, ly.live_sram_bytes, ly.latency_ms, ly.source) for ly in c.layers]
        out += [table(["operator", f"atom operator ({c.latency_runtime})", "output", "MACs", "weights B",
                       "live SRAM B", "latency ms", "source"], rows, align="lllrrrrl"), ""]
    scaled = _transfer_note(c) or (f" (scaled estimate from {c.predictor})" if c.scaled else "")
    out.append(f"model {c.model} on {c.board} ({c.runtime}; {c.ops} operators read from the file; latency from "
               f"{c.latency_runtime} measurements{scaled})")
    out.append(f"  MACs            {c.macs / 1e6:.2f} M   weights {c.weights_bytes:,} B   constant data "
               f"{c.const_bytes:,} B")
    out.append(_latency_line(c))
    out += _unpriced_lines(c)
    fb = c.flash_breakdown
    flag_f = "" if c.fits_flash else f"   ** OVER the board's {fmt_bytes(c.board_flash_bytes)} **"
    if c.runtime == "tflm" or fb.get("flatbuffer"):
        flash = f"file {fmt_bytes(c.file_bytes)}"
    else:
        flash = (f"weights {fmt_bytes(fb['weights'])} + bias {fmt_bytes(fb['bias'])} + other constants "
                 f"{fmt_bytes(fb['constants'])} + quant {fmt_bytes(fb['quant'])}")
    out.append(f"  Flash           {fmt_bytes(c.flash_bytes)} = {flash} + runtime code {fmt_bytes(fb['code'])}"
               f"{flag_f}")
    out.append(_sram_line(c))
    others = [f"{k} {v:,} B" if v is not None else f"{k} -" for k, v in c.peak_sram_by_runtime_bytes.items()]
    out.append(f"  peak per runtime {' · '.join(others)}")
    out += [f"  note: {n}" for n in c.notes]
    why = ", ".join(f"{_LABELS[o['what']]} over by {o['bytes'] - o['limit_bytes']:,} B" for o in over_limits(c))
    out.append(f"  fits {c.board}: {'yes' if c.feasible else 'NO (' + why + ')'}")
    return "\n".join(out)


def _latency_line(c: Any) -> str:
    counts = f"{c.ops_exact} ops exact, {c.ops_predicted} predicted, {c.ops_unpriced} not priced; predictor: " \
             f"{c.predictor}"
    if not c.latency_is_lower_bound:
        return f"  latency         {c.latency_ms:.1f} ms   ({counts})"
    n = c.ops_unpriced
    return (f"  latency         ≥ {c.latency_ms:.1f} ms (lower bound: {n} operator{'s' if n > 1 else ''} not "
            f"priced, listed below)   ({counts})")


def _unpriced_lines(c: Any, shown: int = 4) -> list[str]:
    """The unpriced operators grouped by reason, a few names each."""
    by: dict[str, list[str]] = {}
    for name, _op, reason in c.unpriced:
        by.setdefault(reason, []).append(name)
    out = []
    for reason, names in by.items():
        more = f" … {len(names)} in all" if len(names) > shown else ""
        out.append(f"    not priced: {', '.join(names[:shown])}{more}: {reason}")
    return out


def _sram_line(c: Any) -> str:
    from atomnet.units import fmt_bytes

    sb = c.sram_breakdown
    flag = "" if c.fits_sram else f"   ** OVER the board's {fmt_bytes(c.board_sram_bytes)} **"
    head = f"  peak SRAM       {fmt_bytes(c.peak_sram_bytes)} ({c.peak_sram_bytes:,} B) = "
    if c.runtime == "tflm" or sb.get("persistent"):
        tail32 = c.persistent_32bit_derived_bytes
        derived = (f"; a 32-bit Cortex-M build: tail {tail32:,} B, arena "
                   f"{sb['activations'] + tail32 + sb['runtime']:,} B, derived" if tail32 is not None else "")
        return (f"{head}head (activations) {sb['activations']:,} B + tail (persistent) {sb['persistent']:,} B + "
                f"runtime {sb['runtime']:,} B: the arena to give TFLite Micro (64-bit interpreter{derived}){flag}")
    return (f"{head}activations {fmt_bytes(sb['activations'])} + scratch {fmt_bytes(sb['scratch'])} + runtime "
            f"{fmt_bytes(sb['runtime'])} ({c.runtime} planner on the file graph){flag}")


def render_patch(pc: Any, layers: bool = True) -> str:
    """Layer-based and patch-based figures of :func:`atomnet.cost.patch_cost` side by side (``cost --patch``)."""
    out = []
    if layers:
        rows = [(n, f"{a[0]}x{a[1]}", f"{b[0]}x{b[1]}") for n, a, b in pc.patch_layers]
        out += [table(["patch-stage layer (largest patch)", "input", "output"], rows, align="lll"), ""]
    whole = "held whole in SRAM" if pc.input_in_sram else "streamed per patch"
    out.append(f"patch plan {pc.plan} ({pc.grid}x{pc.grid} patches over the first {pc.blocks} blocks, split after "
               f"{pc.split_layer}; input patch {pc.input_patch_hw[0]}x{pc.input_patch_hw[1]}; assembly buffer "
               f"{pc.assembly_bytes:,} B; input image {pc.input_image_bytes:,} B {whole})")
    st = pc.stage_macs
    rows2: list[tuple[Any, ...]] = [
        ("MACs", pc.macs_layer, pc.macs_patch, f"{pc.macs_patch / pc.macs_layer - 1:+.1%}"),
        ("MACs, patch stage", st, pc.stage_macs_patched, f"{pc.stage_macs_patched / st - 1:+.1%} "
         f"(uniform patches: {pc.stage_macs_uniform / st - 1:+.1%})"),
        ("latency ms", pc.latency_ms_layer, pc.latency_ms_patch,
         f"{pc.latency_ms_patch / pc.latency_ms_layer - 1:+.1%}"),
        ("peak SRAM B (input streamed)", pc.peak_sram_layer_bytes, pc.peak_sram_patch_input_streamed_bytes, ""),
        ("peak SRAM B (input whole in SRAM)", pc.peak_sram_layer_bytes, pc.peak_sram_patch_input_whole_bytes, ""),
        ("analytic peak B (MCUNetV2 rule)", pc.analytic_peak_layer_bytes, pc.analytic_peak_patch_bytes, ""),
    ]
    out.append(table(["", "layer-based", "patch-based", "change"], rows2, align="lrrl"))
    return "\n".join(out)


def _transfer_note(rep: Any) -> str:
    """`` × the board's transfer …`` when the layers were priced through a transfer (docs/transfer.md), else ""."""
    if any("+transfer" in ly.source for ly in rep.layers):
        return f" × {rep.board}'s transfer for {rep.runtime}, fitted on whole-model rows: atomnet boards calibrate"
    return ""
