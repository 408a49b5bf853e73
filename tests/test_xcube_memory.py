"""X-CUBE-AI's memory model per version family (issue 13, scope 4): leave-one-out errors on the public ST model zoo
rows, that each row's estimate comes from a fit without it, the data file's provenance, family selection."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path

import pytest

from atomnet.boards import get_board
from atomnet.cost import (
    LooError,
    XCubeMemoryModel,
    XCubeRow,
    cost_model,
    fit_xcube_memory,
    get_planner,
    get_xcube_model,
    load_latency_model,
    loo_errors,
    loo_summary,
    xcube_family,
)
from atomnet.cost._xcube_fit import PUBLISHED, public_xcube_rows
from atomnet.errors import InputError, UnknownNameError
from atomnet.runtimes import get_runtime, list_runtimes
from atomnet.spec import lower
from atomnet.zoo import get_zoo

QUANTITIES = ("activation", "runtime_ram", "code_flash")


@pytest.fixture(scope="module")
def rows() -> list[XCubeRow]:
    return public_xcube_rows()


@pytest.fixture(scope="module")
def loo(rows: list[XCubeRow]) -> dict[tuple[str, str], list[LooError]]:
    return {(f, q): loo_errors(rows, f, q) for f in ("7.x", "8.x", "10.x") for q in QUANTITIES}


def test_public_rows_per_family(rows: list[XCubeRow]) -> None:
    """The ST model zoo rows that are zoo specs: 45 README rows + 111 summary-table rows, by tool version."""
    assert len(rows) == 156
    assert {f: sum(r.family == f for r in rows) for f in ("7.x", "8.x", "10.x")} == {"7.x": 70, "8.x": 67, "10.x": 19}
    assert {r.tool_version for r in rows} == {"7.3.0", "8.1.0", "10.0.0"}
    assert all(r.activation_bytes for r in rows)
    assert sum(r.code_flash_bytes is not None for r in rows) == 45  # the READMEs print code and runtime RAM


def test_leave_one_out_activation_7x_and_8x(loo: dict[tuple[str, str], list[LooError]]) -> None:
    """The target (activation RAM within ±10 % on every row, median ≤ 5 %, leave-one-out) on 7.x; on 8.x every
    row but the four that print 50.2 KiB for MobileNet v1 0.25/96 RGB (README + 3 summary rows), 22 % above its
    grayscale twin and 30 % above the 7.3.0 figure of the same architecture: no rule that fits the other 63 rows
    gives it."""
    s7 = loo_summary(loo["7.x", "activation"])
    assert s7["n"] == 70 and s7["median_abs_pct"] < 0.5 and s7["max_abs_pct"] < 9.5
    assert s7["within_5_pct"] > 90 and s7["within_10_pct"] == 100
    worst7 = max(loo["7.x", "activation"], key=lambda e: abs(e.error_pct))
    assert worst7.model == "keras-mobilenet-v2-0.35-128-c2"  # the person rows: 21 KiB above the 5-class rows
    s8 = loo_summary(loo["8.x", "activation"])
    assert s8["n"] == 67 and s8["median_abs_pct"] < 1.5 and s8["max_abs_pct"] < 21
    over = [e for e in loo["8.x", "activation"] if abs(e.error_pct) > 10]
    assert [e.row_id for e in over] == ["stm32ai_modelzoo[40]", "stm32ai_modelzoo_summary_tables[106]",
                                        "stm32ai_modelzoo_summary_tables[107]", "stm32ai_modelzoo_summary_tables[108]"]
    assert {(e.model, e.measured_bytes) for e in over} == {("keras-mobilenet-v1-0.25-96-c5", round(50.2 * 1024))}
    assert max(abs(e.error_pct) for e in loo["8.x", "activation"] if e not in over) < 3


def test_leave_one_out_activation_10x_rules(rows: list[XCubeRow], loo: dict[tuple[str, str], list[LooError]]) -> None:
    """10.x runs a depthwise apart from its 1x1 conv and keeps a strided depthwise's input and output apart (the
    rule switches chosen by the 10.x rows' leave-one-out error among 32 combinations): the median halves
    (13.8 % under the 7.x rules, 7.8 % now) but the target is not reached — MobileNet v1 0.5/224 (+31/+36 %)
    and 0.25/96 RGB (−19 %) are off under every combination."""
    assert get_xcube_model("10.x").rules == ("no-sep-fusion", "no-dw-overlap") and get_xcube_model("7.x").rules == ()
    s = loo_summary(loo["10.x", "activation"])
    assert s["n"] == 19 and 5 < s["median_abs_pct"] < 9 and 30 < s["max_abs_pct"] < 40
    assert 50 < s["within_10_pct"] < 60
    old = loo_summary(loo_errors(rows, "10.x", "activation", ()))  # the 7.x rules on the 10.x rows
    assert old["median_abs_pct"] > 12 and old["within_10_pct"] < s["within_10_pct"]
    worst = max(loo["10.x", "activation"], key=lambda e: abs(e.error_pct))
    assert worst.model == "keras-mobilenet-v1-0.5-224-c1000"
    v2 = [e for e in loo["10.x", "activation"] if e.model.startswith("keras-mobilenet-v2-0.35-128")]
    assert v2 and all(abs(e.error_pct) < 2 for e in v2)  # expand output + stored depthwise output


def test_rule_switches_change_the_buffers() -> None:
    """Without fusion the depthwise output is stored: MobileNet v1 0.25/224's first pointwise holds its 8x112x112
    input and 16x112x112 output apart; an unknown switch in a data file is an InputError."""
    from atomnet.cost._xcube import activation_terms

    g = lower(get_zoo("keras-mobilenet-v1-0.25-224-c5"), "xcube-ai")
    fused, apart = activation_terms(g), activation_terms(g, rules=("no-sep-fusion", "no-dw-overlap"))
    assert float(apart.base.max()) >= 100_352 + 200_704 > float(fused.base.max())
    kept = activation_terms(g, rules=("input-kept",))
    assert float(kept.base[-1]) >= 150_528  # the input is still live at the classifier
    with pytest.raises(InputError, match="field 'rules': unknown bogus"):
        XCubeMemoryModel.from_dict({"family": "10.x", "rules": ["bogus"]})


def test_leave_one_out_runtime_ram_and_code_flash(loo: dict[tuple[str, str], list[LooError]]) -> None:
    for fam, n in (("7.x", 14), ("8.x", 12), ("10.x", 19)):
        rt, code = loo_summary(loo[fam, "runtime_ram"]), loo_summary(loo[fam, "code_flash"])
        assert rt["n"] == code["n"] == n
        assert rt["max_abs_pct"] < 10 and code["max_abs_pct"] < 7, fam
    assert loo_summary(loo["10.x", "runtime_ram"])["median_abs_pct"] < 2
    # 7.x/8.x runtime RAM: FD-MobileNet (25 layers), MobileNet v1 (29) and v2 (64) are not on one line
    assert 7 < loo_summary(loo["7.x", "runtime_ram"])["median_abs_pct"] < 10


def test_a_rows_estimate_comes_from_a_fit_without_it(rows: list[XCubeRow],
                                                     loo: dict[tuple[str, str], list[LooError]]) -> None:
    """Every row's fit saw neither the row nor any row of its architecture at its resolution (other classes,
    tables, boards); refitting without them by hand gives the same estimate."""
    by_id = {r.row_id: r for r in rows}
    for (fam, _q), errs in loo.items():
        for e in errs:
            group = by_id[e.row_id].group
            assert e.row_id not in e.fitted_on and all(by_id[x].group != group for x in e.fitted_on)
            assert e.fitted_on
            assert _q == "code_flash" or all(by_id[x].family == fam for x in e.fitted_on)  # code: shared slope
    e = next(x for x in loo["7.x", "activation"] if x.row_id == "stm32ai_modelzoo[12]")  # MobileNet v1 0.25/224
    rest = [r for r in rows if r.group != "keras-mobilenet-v1-0.25-224"]
    m = fit_xcube_memory(rest, "7.x", ("activation",))
    g = lower(get_zoo("keras-mobilenet-v1-0.25-224-c5"), "xcube-ai")
    assert e.estimated_bytes == m.activation_bytes(g) and e.measured_bytes == round(202.14 * 1024)
    assert abs(e.error_pct) < 1 and set(m.fitted_on_activation) == set(e.fitted_on)
    assert len(e.fitted_on) == 70 - 7  # the row, its c39 / c101 twins and their summary-table copies left out


def test_data_file_provenance(rows: list[XCubeRow]) -> None:
    """The embedded constants name the rows they were fitted on, come from the current public file, and a refit
    on those rows gives them back."""
    d = json.loads(files("atomnet").joinpath("data", "xcube_memory.json").read_text())
    assert d["format"] == "atomnet-xcube-memory" and set(d["families"]) == {"7.x", "8.x", "10.x"}
    ids = {r.row_id: r for r in rows}
    for fam, m in d["families"].items():
        model = get_xcube_model(fam)
        assert model.provenance["source_sha256"] == hashlib.sha256(Path(PUBLISHED).read_bytes()).hexdigest()
        assert model.fitted_on_activation and all(ids[x].family == fam for x in model.fitted_on_activation)
        assert all(ids[x].runtime_ram_bytes is not None for x in model.fitted_on_runtime_ram)
        assert set(model.fitted_on) >= set(model.fitted_on_activation)
        refit = fit_xcube_memory(rows, fam)
        for k in ("lead_rows_conv", "lead_rows_sep", "scratch_bytes", "runtime_ram_base_bytes",
                  "runtime_ram_per_layer_bytes", "code_base_bytes", "code_per_layer_bytes", "code_per_channel_bytes"):
            assert getattr(refit, k) == pytest.approx(m[k], rel=1e-6, abs=1e-6), (fam, k)
        assert d["leave_one_out"][fam]["activation"]["n"] == len(model.fitted_on_activation)


def test_family_selection() -> None:
    """``xcube-ai`` is the AtomDB's family (7.2 → 7.x); ``xcube-ai@8.x`` / ``@10.0.0`` select another family's
    constants without registering a runtime."""
    assert get_runtime("xcube-ai").version == "7.x" and "xcube-ai@8.x" not in list_runtimes()
    assert (xcube_family("7.2"), xcube_family("8.1.0"), xcube_family("10.0.0"), xcube_family("9.0")) == (
        "7.x", "8.x", "10.x", None)
    r10 = get_runtime("x-cube-ai@10.0.0")
    assert (r10.name, r10.planner, r10.lowering) == ("xcube-ai@10.x", "xcube-ai@10.x", "xcube-ai")
    assert get_runtime("xcube-ai@7.3.0") is get_runtime("xcube-ai")
    g = lower(get_zoo("keras-mobilenet-v1-0.25-224-c5"), "xcube-ai")
    p7, p10 = get_planner("xcube-ai").plan(g), get_planner("xcube-ai@10.x").plan(g)
    assert p7.arena_bytes == get_xcube_model("7.x").activation_bytes(g)
    assert p10.arena_bytes == get_xcube_model("10.x").activation_bytes(g) != p7.arena_bytes
    lm = load_latency_model(get_board("stm32h743"), None)
    rep = cost_model(get_zoo("keras-mobilenet-v1-0.25-224-c5"), "stm32h743", runtime="xcube-ai@8.x", latency_model=lm)
    assert rep.runtime == "xcube-ai@8.x" and rep.latency_runtime == "xcube-ai"
    assert rep.sram_breakdown["activations"] == get_xcube_model("8.x").activation_bytes(g)
    assert rep.flash_breakdown["code"] + rep.flash_breakdown["quant"] == get_xcube_model("8.x").code_flash_bytes(g)
    with pytest.raises(UnknownNameError, match=r"no version family '9\.0'; known: 7\.x, 8\.x, 10\.x"):
        get_runtime("xcube-ai@9.0")
    with pytest.raises(UnknownNameError, match="'tflm' has no version variants"):
        get_runtime("tflm@2.0")
    with pytest.raises(UnknownNameError, match=r"known families 7\.x, 8\.x, 10\.x"):
        get_planner("xcube-ai@6.x")


def test_io_allocated_option() -> None:
    """With I/O allocated (the ST zoo's setting) the uint8 input and float output are in the pool; without, the
    application owns them: FD-MobileNet's pool is the 150,528 B input plus a few KiB, then far less."""
    m = get_xcube_model("7.x")
    g = lower(get_zoo("fd-mobilenet-0.25-224-c5"), "xcube-ai")
    with_io, without = m.activation_bytes(g), m.activation_bytes(g, io_allocated=False)
    assert 150_528 < with_io < 160_000 and without < 110_000
    g2 = lower(get_zoo("keras-mobilenet-v2-0.35-224-c5"), "xcube-ai")
    assert m.activation_bytes(g2) - m.activation_bytes(g2, io_allocated=False) == 0  # input not live at its peak


def test_derived_rules_on_mobilenet() -> None:
    """The structure the constants sit on: MobileNet v2's expansion keeps input and output apart (8×112×112 +
    48×112×112), a fused depthwise→pointwise never stores the depthwise output, pads are folded."""
    m = get_xcube_model("7.x")
    g = lower(get_zoo("keras-mobilenet-v2-0.35-224-c5"), "xcube-ai")
    plan = m.plan(g)
    assert plan.arena_bytes == 100_352 + 602_112 + round(m.scratch_bytes)
    dw = g.layer("s1.b0.dw")  # MobileNet v2's first block: depthwise → project, fused
    assert plan.tensor_offsets[dw.output] == -1
    pad = g.layer("s2.b0.dw.pad")
    assert plan.tensor_offsets[pad.output] == plan.tensor_offsets[pad.inputs[0]] >= 0


def test_bad_input() -> None:
    with pytest.raises(InputError, match="unknown fields bogus"):
        XCubeMemoryModel.from_dict({"family": "7.x", "bogus": 1})
    with pytest.raises(InputError, match="field 'lead_rows_sep': expected a number"):
        XCubeMemoryModel.from_dict({"family": "7.x", "lead_rows_sep": "3"})
    with pytest.raises(InputError, match="expected one of activation, runtime_ram, code_flash"):
        loo_errors([], "7.x", "latency")
    assert XCubeMemoryModel.from_dict(get_xcube_model("8.x").to_dict()) == get_xcube_model("8.x")
