"""The MCUNetV2 figure (issue 14 item 5): per-layer live SRAM layer-based vs patch-based — the plotted series
checked by hand on a 3-layer graph and against ``cost --patch``'s figures on MobileNetV2; the CLI writes it."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from atomnet.analyze import analyze_model
from atomnet.boards import get_board
from atomnet.cli import main
from atomnet.cost import (
    get_planner,
    get_runtime,
    load_latency_model,
    patch_cost,
    plan_graph,
    plan_patches,
    plan_sram,
)
from atomnet.db import AtomDB
from atomnet.ops import Op
from atomnet.report import patch_plot_path, patch_sram_series, plot_patch_sram
from atomnet.report._html import Fig
from atomnet.spec import lower
from atomnet.zoo import get_zoo
from test_patch import _three_layers

MBV2 = "keras-mobilenet-v2-1.0-224-c1000"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    w, h = struct.unpack(">II", head[16:24])
    return int(w), int(h)


def test_series_by_hand() -> None:
    """2×2 patches over all 3 layers of the receptive-field graph (test_patch). The largest patch is the
    bottom-right one: input rows/cols [3,15] (13×13×3 = 507 B, aligned to 508), the stem's output [2,7]
    (6×6×8 = 288 B), the depthwise output [3,7] (5×5×8 = 200 B), the split output goes straight into the
    4×4×4 = 64 B assembly buffer. Each layer: its input + output + its own buffers at the patch's sizes
    (TinyEngine's im2col/kernel buffers, from the planner) + the assembly buffer; with the input image held
    whole, the 13×13 patch input is replaced by the 768 B image."""
    g = _three_layers().build(3)
    s = patch_sram_series(plan_graph(g, 2, 3), "tinyengine")
    planner = get_planner(get_runtime("tinyengine").planner)
    ex = [sum(planner.layer_extra(op, False)) for op in (
        Op("conv", 3, 13, 13, 8, 6, 6, 3, 2, 1), Op("depthwise", 8, 6, 6, 8, 5, 5, 3, 1, 8),
        Op("conv", 8, 5, 5, 4, 2, 2, 3, 2, 1))]
    asm, image = 64, 3 * 16 * 16
    assert s.patch_streamed_bytes == (508 + 288 + ex[0] + asm, 288 + 200 + ex[1] + asm, 200 + ex[2] + asm)
    assert s.patch_whole_bytes == (image + 288 + ex[0] + asm, 288 + 200 + ex[1] + asm + image,
                                   200 + ex[2] + asm + image)
    assert s.patch_streamed_bytes == (1400, 696, 1128)  # the numbers above, evaluated
    assert s.layer_bytes == tuple(planner.plan(g).live_bytes)
    assert s.split_index == 2 and s.split_layer == "s2.b0.conv" and s.plan == "2x2@3"
    assert s.peak_streamed_bytes >= max(s.patch_streamed_bytes)


def test_series_match_cost_patch(tmp_path: Path) -> None:
    """MobileNetV2 at 224, 4×4@5 on TinyEngine: the figure's series are the planner's per-layer numbers of
    ``cost``, its peaks ``cost --patch``'s; after the split the patch-based series is the layer-based one."""
    spec = get_zoo(MBV2)
    rep, pc = patch_cost(spec, "stm32h743", (4, 5), runtime="tinyengine")
    s = patch_sram_series(plan_patches(spec, "tinyengine", 4, 5), "tinyengine")
    # the memory lowering's layers (cost prices TinyEngine's latency on another lowering, so the report's layers
    # carry no live bytes here): the planner's of the whole model
    whole = plan_sram(spec, "tinyengine")
    assert s.layer_bytes == tuple(whole.live_bytes)
    assert s.layer_names == tuple(ly.name for ly in lower(spec, "tinyengine").layers)
    assert s.peak_layer_bytes == rep.peak_sram_bytes == pc.peak_sram_layer_bytes
    assert s.peak_streamed_bytes == pc.peak_sram_patch_input_streamed_bytes
    assert s.peak_whole_bytes == pc.peak_sram_patch_input_whole_bytes
    assert s.split_layer == pc.split_layer
    k = s.split_index + 1
    assert s.patch_streamed_bytes[k:] == s.layer_bytes[k:] == s.patch_whole_bytes[k:]
    # in the patch stage the patches cut the live bytes (the largest layer-based one: 1,375 KiB → 160 KiB)
    assert max(s.layer_bytes[:k]) > 8 * max(s.patch_streamed_bytes[:k])
    assert all(w > st for w, st in zip(s.patch_whole_bytes[:k], s.patch_streamed_bytes[:k], strict=True))
    out = plot_patch_sram(s, tmp_path / "f.png", board="stm32h743", board_sram_bytes=rep.board_sram_bytes)
    assert _png_size(out) == (1430, 572) and 20_000 < out.stat().st_size < 1_000_000


def test_cli_cost_patch_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in0.png"
    rc = main(["cost", "mcunet-in0", "--runtime", "tinyengine", "--patch", "auto", "--plot", str(f), "--no-layers"])
    assert rc == 0
    second = patch_plot_path(f)
    assert second == tmp_path / "in0_patch.png"
    assert _png_size(f)[0] > 1000 and _png_size(second) == (1430, 572)
    assert 20_000 < second.stat().st_size < 1_000_000
    assert "plots written to" in capsys.readouterr().out


def test_analysis_report_adds_the_figure_where_patches_help(public_db: AtomDB, tmp_path: Path) -> None:
    """analyze: mcunet-in4's peak falls with patches (its plan is cost --patch auto's), so its section gains the
    figure; on TFLM (no patch planner yet) or with ``patch=False`` there is none."""
    from atomnet.report._analysis import _model, _slug

    board = get_board("stm32h743")
    lm = load_latency_model(board, public_db)
    spec = get_zoo("mcunet-in4")
    m = analyze_model(spec, board, lm)
    _, pc = patch_cost(spec, board, "auto", runtime=m.cost.runtime, latency_model=lm)
    assert m.patch == pc and m.patch_plan is not None and m.patch_plan.label == pc.plan
    assert pc.peak_sram_patch_bytes < m.cost.peak_sram_bytes
    doc = _model(m, tmp_path)
    name = f"model_{_slug(m.name)}_patch.png"
    assert any(isinstance(e, Fig) and e.file == name for e in doc)
    assert _png_size(tmp_path / name) == (1430, 572)
    assert analyze_model(spec, board, lm, "tflm").patch is None
    assert analyze_model(spec, board, lm, patch=False).patch is None
    assert not any(isinstance(e, Fig) and "patch" in e.file for e in _model(analyze_model(spec, board, lm, "tflm"),
                                                                              tmp_path / "t"))
