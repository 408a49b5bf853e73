"""Operator analysis of one board's AtomDB: computation efficiency (MACs per ms) per operator kind and its
trends, Flash growth with channels (guideline G1), SRAM of SE / elementwise operators (G2) and the
pointwise / depthwise efficiency ratio (G3) — AtomNet §3, computed from whatever rows the database holds.

Efficiency is X-CUBE-AI "MACC" over latency per raw row (every repeat counts), the convention of the
public file's ``MACs/latency`` column; for elementwise kinds MACC is the element count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from atomnet.db import AtomDB
from atomnet.errors import InputError
from atomnet.ops import KINDS, Op

#: figures the paper states (AtomNet, AAAI 2025) that the data can be checked against
PAPER_EFFICIENCY = {"pointwise": 256_000.0}
#: kinds whose MACC is an element count, not multiply-accumulates
ELEMENT_KINDS = ("eltwise", "affine", "pool")
#: channels at which G1 states the Flash of one layer (c_in = c_out)
G1_CHANNELS = 128


@dataclass(frozen=True)
class KindEfficiency:
    """MACs per ms of one operator kind over its raw rows (quartiles: spread)."""

    kind: str
    rows: int
    keys: int
    median: float
    q25: float
    q75: float
    minimum: float
    maximum: float
    per_element: bool  # True: "MACs" are elements (elementwise kinds)


@dataclass(frozen=True)
class Trend:
    """Efficiency of ``kind`` against ``variable`` (channels, resolution, stride): per bin, median and
    quartiles of MACs/ms over raw rows. ``x`` is the bin centre (geometric for channels and resolution)."""

    kind: str
    variable: str
    x: tuple[float, ...]
    median: tuple[float, ...]
    q25: tuple[float, ...]
    q75: tuple[float, ...]
    n: tuple[int, ...]


@dataclass(frozen=True)
class FlashGrowth:
    """G1: Flash (weights + int32 bias) of one layer with c_in = c_out = c. ``model_*``: the exact AtomDB
    formula per channel count; ``measured``: (kind, c, Flash bytes) of rows with c_in = c_out; ``slope``:
    least-squares exponent of Flash ~ c^slope over the measured points of each kind."""

    channels: tuple[int, ...]
    model: dict[str, tuple[int, ...]]
    measured: tuple[tuple[str, int, int], ...]
    slope: dict[str, float]


@dataclass(frozen=True)
class SramPoints:
    """G2: measured SRAM of whole SE modules against their feature map (C·H·W elements, int8 bytes), and the
    elementwise throughput (elements per ms) that residual adds and SE multiplies run at."""

    se_elems: tuple[int, ...]
    se_sram: tuple[int, ...]
    se_latency_ms: tuple[float, ...]
    se_ratio_median: float | None  # SRAM / (C·H·W)
    elt_elems: tuple[int, ...]
    elt_latency_ms: tuple[float, ...]


@dataclass(frozen=True)
class Guideline:
    """One guideline as the paper states it and as this board's data says it."""

    id: str
    title: str
    paper: str
    data: str
    verdict: str  # "agrees", "disagrees", "partly agrees", "not measurable"
    figure: str


@dataclass(frozen=True)
class OperatorAnalysis:
    board: str
    rows: int
    kinds: tuple[KindEfficiency, ...]
    trends: tuple[Trend, ...]
    flash: FlashGrowth | None
    sram: SramPoints | None
    g3_ratio: float | None
    g3_by_resolution: tuple[tuple[float, float], ...]  # (output resolution bin, pointwise/depthwise medians)
    guidelines: tuple[Guideline, ...]
    missing: tuple[str, ...] = field(default=())

    def kind(self, name: str) -> KindEfficiency | None:
        return next((k for k in self.kinds if k.kind == name), None)


@dataclass
class _Rows:
    """Raw rows of one kind as columns."""

    key: np.ndarray  # (n, 9) key fields
    macc: np.ndarray
    flash: np.ndarray
    sram: np.ndarray
    lat: np.ndarray


def _load(db: AtomDB, board: str) -> dict[str, _Rows]:
    raw = db.export_rows(board)
    if not raw:
        raise InputError(f"board {board!r}: the database {db.path} has no measurements for it; import them with "
                         f"'atomnet --db {db.path} db import FILE.csv --board {board}' (boards there: "
                         f"{', '.join(db.boards()) or 'none'})")
    arr = np.array([[np.nan if v is None else v for v in r] for r in raw], dtype=np.float64)
    out: dict[str, _Rows] = {}
    for kid in np.unique(arr[:, 0]).astype(int):
        a = arr[arr[:, 0] == kid]
        kind = KINDS[kid]
        key = a[:, 1:10].astype(np.int64)
        macc = a[:, 10].copy()
        miss = np.isnan(macc)
        if miss.any():  # rows measured without a MACC column (e.g. a campaign): the exact formula
            macc[miss] = [Op(kind, *(int(v) for v in k)).macc for k in key[miss]]
        out[kind] = _Rows(key, macc, a[:, 11], a[:, 12], a[:, 13])
    return out


def _quart(v: np.ndarray) -> tuple[float, float, float]:
    q = np.percentile(v, [25, 50, 75])
    return float(q[1]), float(q[0]), float(q[2])


def _trend(kind: str, variable: str, x: np.ndarray, eff: np.ndarray, geometric: bool, min_n: int = 3) -> Trend | None:
    if len(x) == 0:
        return None
    if geometric:  # half-octave bins: channel counts and resolutions spread over two decades
        b = np.round(np.log2(np.maximum(x, 1)) * 2) / 2
        centres = 2.0 ** b
    else:
        centres = x.astype(np.float64)
    xs, med, lo, hi, ns = [], [], [], [], []
    for c in np.unique(centres):
        m = centres == c
        if m.sum() < min_n:
            continue
        md, q1, q3 = _quart(eff[m])
        xs.append(float(c))
        med.append(md)
        lo.append(q1)
        hi.append(q3)
        ns.append(int(m.sum()))
    if len(xs) < 2:
        return None
    return Trend(kind, variable, tuple(xs), tuple(med), tuple(lo), tuple(hi), tuple(ns))


def _flash_growth(rows: dict[str, _Rows]) -> FlashGrowth | None:
    kinds = [k for k in ("conv", "pointwise", "depthwise") if k in rows]
    if not kinds:
        return None
    chans = (8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256)
    model = {
        "conv": tuple(Op.conv(c, 9, 9, c, 3).flash_bytes for c in chans),
        "pointwise": tuple(Op.pointwise(c, 8, 8, c).flash_bytes for c in chans),
        "depthwise": tuple(Op.depthwise(c, 9, 9, 3).flash_bytes for c in chans),
    }
    measured: list[tuple[str, int, int]] = []
    slope: dict[str, float] = {}
    for k in kinds:
        r = rows[k]
        m = (r.key[:, 0] == r.key[:, 3]) & ~np.isnan(r.flash) & (r.flash > 0)
        if k == "conv":
            m &= r.key[:, 6] == 3
        pts = sorted({(int(c), int(f)) for c, f in zip(r.key[m, 0], r.flash[m], strict=True)})
        measured += [(k, c, f) for c, f in pts]
        cs = np.array([p[0] for p in pts], dtype=float)
        if len(set(cs.tolist())) >= 2:
            slope[k] = float(np.polyfit(np.log(cs), np.log([p[1] for p in pts]), 1)[0])
    return FlashGrowth(chans, model, tuple(measured), slope)


def _sram_points(rows: dict[str, _Rows]) -> SramPoints | None:
    se, elt = rows.get("se"), rows.get("eltwise")
    if se is None and elt is None:
        return None
    se_e: list[int] = []
    se_s: list[int] = []
    se_l: list[float] = []
    ratio = None
    if se is not None:
        m = ~np.isnan(se.sram)
        elems = se.key[:, 0] * se.key[:, 1] * se.key[:, 2]
        se_e, se_s, se_l = elems[m].tolist(), se.sram[m].astype(int).tolist(), se.lat.tolist()
        if m.any():
            ratio = float(np.median(se.sram[m] / elems[m]))
        else:
            se_l = []
    ee: list[int] = []
    el: list[float] = []
    if elt is not None:
        ee = (elt.key[:, 3] * elt.key[:, 4] * elt.key[:, 5]).tolist()
        el = elt.lat.tolist()
    return SramPoints(tuple(se_e), tuple(se_s), tuple(se_l), ratio, tuple(ee), tuple(el))


def analyze_operators(db: AtomDB, board: str) -> OperatorAnalysis:
    """Operator analysis of ``board`` from ``db`` (every kind present; absent kinds are listed in ``missing``).

    >>> res = analyze_operators(AtomDB("atomdb.sqlite"), "stm32h743")  # doctest: +SKIP
    >>> round(res.kind("pointwise").median, -3)  # doctest: +SKIP
    385000.0
    """
    rows = _load(db, board)
    kinds: list[KindEfficiency] = []
    effs: dict[str, np.ndarray] = {}
    for k in KINDS:
        r = rows.get(k)
        if r is None:
            continue
        ok = (r.lat > 0) & (r.macc > 0)
        if not ok.any():
            continue
        e = r.macc[ok] / r.lat[ok]
        effs[k] = e
        md, q1, q3 = _quart(e)
        nkeys = len({tuple(v) for v in r.key.tolist()})
        kinds.append(KindEfficiency(k, len(r.lat), nkeys, md, q1, q3, float(e.min()), float(e.max()),
                                    k in ELEMENT_KINDS))
    trends: list[Trend] = []
    g3_res: list[tuple[float, float]] = []
    for k in ("pointwise", "depthwise", "conv"):
        r = rows.get(k)
        if r is None:
            continue
        ok = (r.lat > 0) & (r.macc > 0)
        e = r.macc[ok] / r.lat[ok]
        key = r.key[ok]
        for var, x, geo in (("channels", key[:, 0] if k != "pointwise" else np.sqrt(key[:, 0] * key[:, 3]), True),
                            ("resolution", key[:, 4], True), ("stride", key[:, 7], False)):
            if var == "stride" and len(np.unique(x)) < 2:
                continue
            t = _trend(k, var, np.asarray(x, dtype=np.float64), e, geo)
            if t is not None:
                trends.append(t)
    tp = next((t for t in trends if t.kind == "pointwise" and t.variable == "resolution"), None)
    td = next((t for t in trends if t.kind == "depthwise" and t.variable == "resolution"), None)
    if tp is not None and td is not None:
        dmap = dict(zip(td.x, td.median, strict=True))
        g3_res = [(x, m / dmap[x]) for x, m in zip(tp.x, tp.median, strict=True) if x in dmap]
    pw, dw = next((k for k in kinds if k.kind == "pointwise"), None), next((k for k in kinds if k.kind == "depthwise"),
                                                                           None)
    g3 = pw.median / dw.median if pw and dw else None
    flash = _flash_growth(rows)
    sram = _sram_points(rows)
    missing = [f"{k}: no rows" for k in ("pointwise", "depthwise", "conv", "eltwise", "se") if k not in rows]
    if "se" in rows and (sram is None or not sram.se_sram):
        missing.append("se: rows without an SRAM column")
    res = OperatorAnalysis(board, sum(len(r.lat) for r in rows.values()), tuple(kinds), tuple(trends), flash, sram,
                           g3, tuple(g3_res), (), tuple(missing))
    return OperatorAnalysis(**{**res.__dict__, "guidelines": _guidelines(res)})


def _fmt_k(v: float) -> str:
    return f"{v / 1000:,.0f} k" if v >= 10_000 else f"{v / 1000:,.1f} k"


def _guidelines(a: OperatorAnalysis) -> tuple[Guideline, ...]:
    out: list[Guideline] = []
    # G1 -- Flash
    f = a.flash
    paper1 = ("prefer depthwise over pointwise convolutions and avoid ordinary (dense k×k) convolutions, whose Flash "
              "grows with c²")
    if f is None:
        out.append(Guideline("G1", "Flash", paper1, "no convolution rows in this AtomDB", "not measurable",
                             "g1_flash.png"))
    else:
        i = f.channels.index(G1_CHANNELS)
        conv, pw, dw = (f.model[k][i] for k in ("conv", "pointwise", "depthwise"))
        slopes = ", ".join(f"{k} c^{s:.2f}" for k, s in f.slope.items())
        data = (f"at c_in = c_out = {G1_CHANNELS} one 3×3 ordinary conv stores {conv:,} B, a pointwise conv "
                f"{pw:,} B ({conv / pw:.1f}× less) and a 3×3 depthwise conv {dw:,} B ({pw / dw:.1f}× less than "
                f"pointwise); measured growth over the rows with c_in = c_out: {slopes or 'too few points'}")
        if "depthwise" in f.slope and "pointwise" in f.slope:
            lin = f.slope["depthwise"] < 1.5 < f.slope["pointwise"]
            verdict = "agrees" if lin else "partly agrees"
        else:  # the exact Flash formula holds, but this AtomDB has too few c_in = c_out shapes to show it
            verdict = "agrees by the exact Flash formula (too few measured shapes to fit both growths)"
        out.append(Guideline("G1", "Flash", paper1, data, verdict, "g1_flash.png"))
    # G2 -- SRAM
    s = a.sram
    paper2 = ("avoid Mul/Add (SE modules, residual adds) on large-resolution features: they need buffers of twice "
              "the input")
    if s is None or (not s.se_sram and not s.elt_elems):
        out.append(Guideline("G2", "SRAM", paper2, "no SE or elementwise rows in this AtomDB", "not measurable",
                             "g2_sram.png"))
    else:
        parts = []
        verdict = "not measurable"
        if s.se_sram and s.se_ratio_median is not None:
            j = int(np.argmax(s.se_elems))
            parts.append(f"a whole SE module needs {s.se_ratio_median:.2f}× its input C·H·W in SRAM (median over "
                         f"{len(s.se_sram)} modules; largest: {s.se_elems[j]:,} elements → {s.se_sram[j]:,} B), so "
                         "its memory grows linearly with the feature map; with the block input kept live for a "
                         "residual add the block holds two such maps (2×)")
            verdict = "agrees" if s.se_ratio_median >= 1.8 else "partly agrees"
        if s.elt_elems:
            ee = np.asarray(s.elt_elems, dtype=float) / np.asarray(s.elt_latency_ms)
            parts.append(f"elementwise ops run at only {_fmt_k(float(np.median(ee)))} elements/ms (median), "
                         "their SRAM is not measured in AtomDB (the paper's 2× input is used by the planners)")
        out.append(Guideline("G2", "SRAM", paper2, "; ".join(parts), verdict, "g2_sram.png"))
    # G3 -- latency
    pw_k, dw_k = a.kind("pointwise"), a.kind("depthwise")
    paper3 = ("give more MACs to the operators with better computation efficiency (pointwise ≫ depthwise; "
              f"pointwise ≈ {_fmt_k(PAPER_EFFICIENCY['pointwise'])} MACs/ms)")
    if pw_k is None or dw_k is None or a.g3_ratio is None:
        have = ", ".join(f"{k.kind} {_fmt_k(k.median)}" for k in a.kinds if not k.per_element)
        out.append(Guideline("G3", "latency", paper3, f"needs pointwise and depthwise rows; this AtomDB has: "
                             f"{have or 'none'} MACs/ms", "not measurable", "g3_efficiency.png"))
    else:
        rng = ""
        if a.g3_by_resolution:
            rs = [r for _, r in a.g3_by_resolution]
            rng = f" (between {min(rs):.1f}× and {max(rs):.1f}× across output resolutions)"
        paper_pw = PAPER_EFFICIENCY["pointwise"]
        diff = pw_k.median / paper_pw
        data = (f"pointwise runs at {_fmt_k(pw_k.median)} MACs/ms (median, IQR {_fmt_k(pw_k.q25)}–"
                f"{_fmt_k(pw_k.q75)}), depthwise at {_fmt_k(dw_k.median)} MACs/ms (IQR {_fmt_k(dw_k.q25)}–"
                f"{_fmt_k(dw_k.q75)}): pointwise is {a.g3_ratio:.1f}× more efficient{rng}. The paper's "
                f"pointwise {_fmt_k(paper_pw)} MACs/ms is {abs(1 - paper_pw / pw_k.median) * 100:.0f} % "
                f"{'below' if diff > 1 else 'above'} this board's median (the data is {diff:.2f}× the paper; "
                f"the paper's figure is for STM32H743 with X-CUBE-AI)")
        dense = a.kind("dense")
        if dense is not None and abs(dense.median / paper_pw - 1) < 0.05:
            data += (f"; it is within {abs(dense.median / paper_pw - 1) * 100:.1f} % of this data's dense (fully "
                     f"connected) median, {_fmt_k(dense.median)} MACs/ms")
        verdict = "agrees" if a.g3_ratio > 1.5 else "disagrees"
        if abs(diff - 1) > 0.15 and verdict == "agrees":
            verdict = "agrees (direction); the paper's absolute efficiency differs"
        out.append(Guideline("G3", "latency", paper3, data, verdict, "g3_efficiency.png"))
    return tuple(out)


def efficiency_table(a: OperatorAnalysis) -> Sequence[KindEfficiency]:
    """Kinds sorted by median efficiency, MAC kinds first."""
    return sorted(a.kinds, key=lambda k: (k.per_element, -k.median))
