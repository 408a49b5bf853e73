"""Figures without collisions: Pareto labels (deterministic label-repel, crowded points numbered in a key), the
cost plot's stage ticks, legends and the search's SRAM budget line. Checked on the drawn figure with matplotlib's
own text extents."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from atomnet.boards import get_board
from atomnet.cost import cost_model, load_latency_model
from atomnet.report import plot_cost, plot_pareto
from atomnet.report._plots import _cost_figure, _pareto_figure
from atomnet.zoo import get_zoo, list_zoo

BOARD = get_board("stm32h743")


@pytest.fixture(scope="module")
def zoo_points() -> list[tuple[str, float, float, bool]]:
    """The zoo models as the search's --plot places them (embedded predictors, xcube-ai)."""
    lm = load_latency_model(BOARD)
    pts = []
    for name in list_zoo():
        if "vww" in name:
            continue
        rep = cost_model(get_zoo(name), BOARD, latency_model=lm)
        pts.append((name, rep.latency_ms, float(rep.macs), rep.peak_sram_bytes <= 256 * 1024
                    and rep.flash_bytes <= 1024 * 1024))
    return pts


def _front() -> list[tuple[float, float]]:
    # the shape of the hybrid space's front on stm32h743 (7.6 → 541 ms, ~0.37 M MACs per ms): it runs right
    # through the cluster of small models in the lower-left corner
    return [(7.6 + 2.0 * k, (7.6 + 2.0 * k) * 0.37e6) for k in range(267)]


def _text_box(t: Any, r: Any) -> Any:
    from matplotlib.text import Text

    t.update_positions(r)
    return Text.get_window_extent(t, r)


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_pareto_labels_never_overlap(zoo_points: list[tuple[str, float, float, bool]], tmp_path: Path) -> None:
    fig, ax, texts = _pareto_figure(_front(), title="t", zoo=zoo_points, chosen=(275.0, 101.5e6), budget_ms=275.0)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [_text_box(t, r) for t in texts]
    assert len(texts) == len(zoo_points)
    for (a, ba), (b, bb) in combinations(zip((t.get_text() for t in texts), boxes, strict=True), 2):
        assert not ba.overlaps(bb), f"labels {a!r} and {b!r} overlap"
    frame = ax.get_window_extent(r)
    legends = [c for c in ax.get_children() if type(c).__name__ == "Legend"]
    assert legends
    to_px = ax.transData.transform
    for t, bb in zip(texts, boxes, strict=True):
        assert frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1, t.get_text()
        for leg in legends:
            assert not bb.overlaps(leg.get_window_extent(r)), t.get_text()
        for _, lat, macs, _ in zoo_points:  # no label on any marker (±4 px)
            px, py = to_px((lat, macs / 1e6))
            assert not (bb.x0 < px + 4 and bb.x1 > px - 4 and bb.y0 < py + 4 and bb.y1 > py - 4), t.get_text()
    # names where they fit, numbers (keyed in the "crowded points" legend) where they do not
    names = {z[0] for z in zoo_points}
    shown = [t.get_text() for t in texts]
    numbered = [s for s in shown if s.isdigit()]
    assert set(shown) - set(numbered) <= names and len(set(shown) - set(numbered)) >= len(names) - len(numbered)
    if numbered:
        key = [tx.get_text() for leg in legends for tx in leg.get_texts() if tx.get_text()[:1].isdigit()]
        assert len(key) == len(numbered) and all(k.split("  ")[1] in names for k in key)
    assert "atomnet-512kb-max" in shown and "atomnet-256kb" in shown  # the roomy ones keep their names
    # deterministic: the same inputs, the same placement
    _, _, again = _pareto_figure(_front(), title="t", zoo=zoo_points, chosen=(275.0, 101.5e6), budget_ms=275.0)
    assert [(t.get_text(), t.xyann) for t in again] == [(t.get_text(), t.xyann) for t in texts]
    assert plot_pareto(_front(), tmp_path / "p.png", title="t", zoo=zoo_points).stat().st_size > 10_000


def _overlap(a: Any, b: Any) -> bool:
    return bool(a.x0 < b.x1 and a.x1 > b.x0 and a.y0 < b.y1 and a.y1 > b.y0)


@pytest.mark.parametrize("model", ["atomnet-256kb", "mcunet-in2"])
def test_cost_plot_ticks_legends_and_sram_budget(model: str, tmp_path: Path) -> None:
    rep = cost_model(get_zoo(model), BOARD)
    fig = _cost_figure(rep, sram_budget_bytes=256 * 1024, flash_budget_bytes=1024 * 1024)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax1, ax2 = fig.axes[0], fig.axes[1]
    ticks = [t for t in ax2.get_xticklabels() if t.get_text()]
    assert [t.get_text().strip() for t in ticks][:2] == ["S1", "S2"] and ticks[-1].get_text().strip() == "head"
    for a, b in combinations([t.get_window_extent(r) for t in ticks], 2):
        assert not a.overlaps(b)
    # the budget line with its label; no legend on a bar or on a line
    labels = {ln.get_label(): ln for ln in ax1.get_lines()}
    assert labels["SRAM budget 256 KB"].get_ydata()[0] == 256
    assert "budget 1 MB" in ax2.get_title()
    leg1 = ax1.get_legend().get_window_extent(r)
    for ax, leg in ((ax1, leg1), (ax2, fig.legends[0].get_window_extent(r))):
        for bar in ax.patches:
            assert not _overlap(bar.get_window_extent(r), leg), (ax.get_title(), bar)
    for ln in ax1.get_lines():
        if ln.get_label().startswith("_"):
            continue
        y = ax1.transData.transform((0, ln.get_ydata()[0]))[1]
        assert not leg1.y0 <= y <= leg1.y1, ln.get_label()
    assert plot_cost(rep, tmp_path / "c.png", sram_budget_bytes=256 * 1024).stat().st_size > 10_000
