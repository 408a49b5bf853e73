"""Render an :class:`~atomnet.analyze.AnalysisResult`: PNG figures, ``report.md`` and one self-contained
``report.html`` (figures embedded), all from the same document elements."""

from __future__ import annotations

import re
from pathlib import Path

from atomnet.analyze import (
    BLOCKS,
    AnalysisResult,
    BlockAnalysis,
    ModelAnalysis,
    OperatorAnalysis,
    PatternComparison,
    RankingCheck,
)
from atomnet.report import _analysis_figs as figs
from atomnet.report._html import UL, Element, Fig, H, P, Table, to_html, to_markdown

_METRIC_NAMES = {"flash": "Flash", "sram": "SRAM", "latency": "latency"}
_NORM_NAMES = {"raw": "one block at the matched shape", "per_mac": "per MAC"}


def _k(v: float) -> str:
    return f"{v / 1000:,.1f} k"


def _kb(v: float) -> str:
    return f"{v / 1024:,.1f} KB"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _trend_text(a: OperatorAnalysis) -> str:
    parts = []
    for t in a.trends:
        if t.variable == "channels":
            i_max = max(range(len(t.x)), key=lambda i: t.median[i])
            parts.append(f"{t.kind} {_k(t.median[0])} at {t.x[0]:.0f} channels, peak {_k(t.median[i_max])} at "
                         f"{t.x[i_max]:.0f}, {_k(t.median[-1])} at {t.x[-1]:.0f}")
        elif t.variable == "stride":
            parts.append(f"{t.kind} " + " vs ".join(f"stride {x:g} {_k(m)}" for x, m in zip(t.x, t.median, strict=True))
                         + (" (stride-2 convs here are the RGB stems)" if t.kind == "conv" else ""))
    return "; ".join(parts) or "too few rows per bin"


def _operators(res: AnalysisResult, out: Path) -> list[Element]:
    a = res.operators
    doc: list[Element] = [H(2, "1. Operators: computation efficiency and the guidelines")]
    figs.fig_efficiency(a, out / "efficiency_by_kind.png")
    rows = tuple((k.kind, f"{k.rows:,}", f"{k.keys:,}", _k(k.median), f"{_k(k.q25)} – {_k(k.q75)}",
                  f"{_k(k.minimum)} – {_k(k.maximum)}", "elements/ms" if k.per_element else "MACs/ms")
                 for k in sorted(a.kinds, key=lambda k: (k.per_element, -k.median)))
    doc += [P("Computation efficiency = MACC / latency of every measured row (repeats included), the AtomDB "
              "convention. Medians with the interquartile range (IQR) as spread."),
            Table(("kind", "rows", "keys", "median", "IQR", "min – max", "unit"), rows, "lrrrrrl"),
            Fig("efficiency_by_kind.png", "Figure 1. Computation efficiency per operator kind (median, IQR, range)."),
            ]
    if any(t.variable in ("channels", "stride") for t in a.trends):
        figs.fig_trends(a, out / "efficiency_trends.png")
        doc.append(P("Efficiency vs shape (medians per bin, from the data): " + _trend_text(a) + "."))
        doc.append(Fig("efficiency_trends.png", "Figure 2. Efficiency vs channels and vs stride (median and "
                                                "25–75 % band per bin)."))
    figs.fig_g1(a, out / "g1_flash.png")
    figs.fig_g2(a, out / "g2_sram.png")
    figs.fig_g3(a, out / "g3_efficiency.png")
    captions = {"g1_flash.png": "Figure 3. G1: Flash of one layer vs channels (formula lines, measured points).",
                "g2_sram.png": "Figure 4. G2: SRAM of SE modules vs feature-map size; latency of SE and eltwise ops.",
                "g3_efficiency.png": "Figure 5. G3: pointwise and depthwise efficiency vs output resolution and "
                                     "their ratio."}
    for g in a.guidelines:
        doc += [H(3, f"{g.id} ({g.title}): {g.verdict}"),
                UL((f"**Paper:** {g.paper}.", f"**This board ({a.board}):** {g.data}.")),
                Fig(g.figure, captions[g.figure])]
    if a.missing:
        doc.append(P("Missing from this AtomDB (parts of the analysis that need them are left out): "
                     + "; ".join(a.missing) + "."))
    return doc


def _blocks(b: BlockAnalysis, out: Path) -> list[Element]:
    figs.fig_blocks(b, out / "blocks.png")
    doc: list[Element] = [
        H(2, "2. Blocks: SEP vs MBConv vs ConvNext at matched shapes"),
        P(f"Each block maps c → c channels at stride 1 on an r × r input (widths {', '.join(map(str, b.widths))}; "
          f"resolutions {', '.join(map(str, b.resolutions))}; expand {b.expand:g} for MBConv and ConvNext, 1 for "
          f"SEP; with and without SE), priced by the cost model: Flash = the block's weights + bias, SRAM = peak "
          f"of the one-block model, latency = sum of its operators. At each of the {len(b.widths) * len(b.resolutions)}"
          f" grid points the three blocks are ordered (lower cost = better) and compared with the paper's "
          f"ranking. Two views: the raw cost of one block, and the cost per MAC (the blocks do very different "
          f"work at the same shape)."),
    ]
    rows = []
    for c in b.rankings:
        rows.append((_METRIC_NAMES[c.metric], _NORM_NAMES[c.normalization], "yes" if c.se else "no",
                     " > ".join(c.paper), f"{c.agree} / {c.total}", f"{c.pairs_agree} / {3 * c.total}",
                     f"{c.most_common} ({c.orders.get(c.most_common, 0)})"))
    doc += [Table(("metric", "view", "SE", "paper (best first)", "grid points agreeing", "pairs agreeing",
                   "most common observed order (points)"), tuple(rows), "lllllll"),
            Fig("blocks.png", "Figure 6. Block cost vs width at one resolution: one block (top) and per MAC "
                              "(bottom); dashed = with SE.")]
    best: dict[tuple[str, bool], list[RankingCheck]] = {}
    for c in b.rankings:
        best.setdefault((c.metric, c.se), []).append(c)
    notes = []
    for (metric, se), cs in best.items():
        if se:
            continue
        top = max(cs, key=lambda c: c.agree)
        notes.append(f"{_METRIC_NAMES[metric]}: the paper's order holds at {top.agree}/{top.total} points "
                     f"{'per MAC' if top.normalization == 'per_mac' else 'for one block'} (without SE); "
                     + "; ".join(f"{_NORM_NAMES[c.normalization]}: {c.most_common}" for c in cs))
    doc.append(UL(tuple(notes)))
    se_rows = []
    for blk in BLOCKS:
        up, n, sr, fr, lr = b.se_effect(blk)
        se_rows.append((blk, f"{up} / {n}", f"{sr:.2f}×", f"{fr:.2f}×", f"{lr:.2f}×"))
    doc += [P("What SE adds to each block over the grid (with SE / without SE, medians). SE sits on c_in in "
              "SEP and ConvNext and on the expanded mid channels in MBConv (FACTS §2):"),
            Table(("block", "points where peak SRAM rises", "SRAM", "Flash", "latency"), tuple(se_rows))]
    if all(r[1].startswith("0 /") for r in se_rows):
        doc.append(P("On this board's planner SE never raises a block's peak SRAM on this grid: its cost is Flash "
                     "and latency, and its SRAM matters where the SE's own feature map is the largest live buffer "
                     "(G2)."))
    return doc


def _unpriced(m: ModelAnalysis) -> str:
    """", N not priced: a lower bound" for a file with operators nothing prices ("" otherwise)."""
    n = getattr(m.cost, "ops_unpriced", 0)
    return f", {n} not priced: a lower bound" if m.latency_is_lower_bound else ""


def _model(m: ModelAnalysis, out: Path) -> list[Element]:
    from atomnet.report._plots import plot_cost

    slug = _slug(m.name)
    plot_cost(m.cost, out / f"model_{slug}_layers.png")
    figs.fig_stages(m, out / f"model_{slug}_stages.png")
    c = m.cost
    rows = tuple((s.label, f"{s.out_shape[0]}×{s.out_shape[1]}×{s.out_shape[2]}", f"{s.macs / 1e6:.2f}",
                  _kb(s.flash_bytes), f"{100 * s.flash_share:.1f} %",
                  _kb(s.peak_live_sram_bytes) if s.peak_live_sram_bytes is not None else "–",
                  f"{100 * s.sram_share:.0f} %" if s.sram_share is not None else "–",
                  f"{s.latency_ms:.1f}", f"{100 * s.latency_share:.1f} %") for s in m.stages)
    kinds = ", ".join(f"{k} {100 * v:.1f} %" for k, v in m.latency_share_by_kind.items())
    tops = [f"top {key} layers: " + ", ".join(f"{n} ({op}) {100 * v:.0f} %" for n, op, v in items)
            for key, items in m.top_layers.items()]
    return [H(3, m.name),
            P(f"{c.macs / 1e6:.2f} M MACs; latency {'≥ ' if m.latency_is_lower_bound else ''}{c.latency_ms:.1f} ms "
              f"({c.ops_exact} operators exact, {c.ops_predicted} predicted"
              f"{_unpriced(m)}); peak SRAM {_kb(c.peak_sram_bytes)} ({c.runtime} planner); Flash "
              f"{_kb(c.flash_bytes)} incl. runtime code. **Binding stage:** "
              + ", ".join(f"{k} → {v}" for k, v in m.binding.items()) + "."),
            Table(("stage", "output", "MACs (M)", "Flash", "Flash share", "peak live SRAM", "of peak",
                   "latency (ms)", "latency share"), rows),
            UL((f"latency share per operator kind: {kinds}", *tops)),
            Fig(f"model_{slug}_stages.png", f"Per-stage shares of {m.name} (paper Fig. 2 style)."),
            Fig(f"model_{slug}_layers.png", f"Per-layer live SRAM and weights of {m.name} (paper Fig. 4 style), "
                                            "latency by operator kind."),
            *_patch(m, out, slug)]


def _patch(m: ModelAnalysis, out: Path, slug: str) -> list[Element]:
    """The MCUNetV2 comparison of one model, when a patch plan lowers its peak (issue 14)."""
    pc, plan = m.patch, m.patch_plan
    if pc is None or plan is None:
        return []
    from atomnet.report._patch_plot import patch_sram_series, plot_patch_sram

    plot_patch_sram(patch_sram_series(plan, pc.runtime), out / f"model_{slug}_patch.png", board=m.cost.board,
                    board_sram_bytes=m.cost.board_sram_bytes)
    return [P(f"**Patch-based inference (MCUNetV2):** `atomnet cost {m.name} --patch auto` picks {pc.plan} "
              f"({pc.grid}×{pc.grid} patches over the first {pc.blocks} blocks, split after {pc.split_layer}): peak "
              f"SRAM {_kb(pc.peak_sram_layer_bytes)} → {_kb(pc.peak_sram_patch_input_streamed_bytes)} with the "
              f"input image streamed per patch, {_kb(pc.peak_sram_patch_input_whole_bytes)} with it held whole in "
              f"SRAM; MACs {100 * (pc.macs_patch / pc.macs_layer - 1):+.1f} %, latency "
              f"{100 * (pc.latency_ms_patch / pc.latency_ms_layer - 1):+.1f} %."),
            Fig(f"model_{slug}_patch.png", f"Per-layer live SRAM of {m.name}, layer-based vs patch-based "
                                           f"({pc.plan}, both input policies; the split and the board's SRAM "
                                           "marked).")]


def _patterns(p: PatternComparison, out: Path) -> list[Element]:
    doc: list[Element] = [
        H(2, "4. Patterns: single-pattern spaces vs the hybrid space"),
        P(f"Exhaustive zero-cost search (the architecture with the most MACs) in each space under SRAM "
          f"{p.sram_bytes / 1024:g} KB, Flash {p.flash_bytes / 1024:g} KB, latency {p.latency_ms:g} ms"
          + (f", input resolutions restricted to {', '.join(map(str, p.resolutions))}" if p.resolutions else "")
          + " (the cost part of the paper's Table 5; accuracy needs training).")]
    rows = tuple((r.space, f"{r.macs / 1e6:.1f}" if r.found else "none fits", _kb(r.peak_sram_bytes) if r.found
                  else "–", _kb(r.flash_bytes) if r.found else "–", f"{r.latency_ms:.1f}" if r.found else "–",
                  str(r.resolution) if r.found else "–", r.blocks or "–", f"{r.evaluated:,}", f"{r.seconds:.1f}")
                 for r in p.rows)
    doc.append(Table(("space", "MACs (M)", "peak SRAM", "Flash", "latency (ms)", "input", "stages (block width×depth)",
                      "evaluated", "s"), rows, "lrrrrrlrr"))
    found = [r for r in p.rows if r.found]
    if found:
        figs.fig_patterns(p, out / "patterns.png")
        best = max(found, key=lambda r: r.macs)
        hy = p.row("hybrid")
        line = f"Most MACs under these limits: **{best.space}** ({best.macs / 1e6:.1f} M)."
        if hy is not None and hy.found and best.space != "hybrid":
            line += (f" The hybrid space reaches {hy.macs / 1e6:.1f} M ({100 * (hy.macs / best.macs - 1):+.1f} %): "
                     "measured in MACs under these limits the hybrid pattern has no advantage on this cost model "
                     "(the paper compares accuracy after training, which this zero-cost proxy does not measure).")
        doc += [P(line), Fig("patterns.png", "Figure 7. Best model per space under the same limits.")]
    return doc


def build_document(res: AnalysisResult, out: Path) -> list[Element]:
    """Write every figure under ``out`` and return the document that references them."""
    a = res.operators
    src = "; ".join(f"{Path(s['path']).name} ({s['runtime']} {s['runtime_version']}, {s['rows']:,} rows)"
                    for s in res.sources)
    doc: list[Element] = [
        H(1, f"AtomNet guidelines from data: {res.board}"),
        P(f"Generated by `atomnet analyze --board {res.board}` from the AtomDB `{Path(res.db_path).name}` "
          f"(board {res.measured_board}: {a.rows:,} measured rows). Sources: {src or 'none recorded'}."),
    ]
    gl = [f"**{g.id} ({g.title}) — {g.verdict}:** {g.data}." for g in a.guidelines]
    doc += [H(2, "Summary"), UL(tuple(gl))]
    doc += _operators(res, out)
    if res.blocks is not None:
        doc += _blocks(res.blocks, out)
    else:
        doc += [H(2, "2. Blocks"), P(f"Not computed: {res.skipped.get('blocks', 'unknown reason')}.")]
    doc.append(H(2, "3. Bottlenecks of models"))
    if res.models:
        for m in res.models:
            doc += _model(m, out)
    else:
        doc.append(P("No model given (use `--model NAME_OR_SPEC`, repeatable)."))
    doc += [P(f"{k}: not computed ({v}).") for k, v in res.skipped.items() if k.startswith("model ")]
    if res.patterns is not None:
        doc += _patterns(res.patterns, out)
    else:
        doc += [H(2, "4. Patterns"), P(f"Not computed: {res.skipped.get('patterns', 'unknown reason')}.")]
    if res.latency_model:
        lm = res.latency_model
        doc += [H(2, "Provenance"),
                P(f"Latency: {lm['exact_keys']:,} exact operator keys, predictors: {lm['predictors']}, measurements "
                  f"taken with {lm['runtime']}. Timing of this analysis: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in res.seconds.items()) + ".")]
    return doc


def write_analysis_report(res: AnalysisResult, out_dir: str | Path) -> dict[str, Path]:
    """Figures, ``report.md`` and self-contained ``report.html`` under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc = build_document(res, out)
    md = out / "report.md"
    md.write_text(to_markdown(doc), encoding="utf-8")
    page = out / "report.html"
    page.write_text(to_html(doc, f"atomnet analysis: {res.board}", out), encoding="utf-8")
    return {"markdown": md, "html": page, **{p.stem: p for p in sorted(out.glob("*.png"))}}
